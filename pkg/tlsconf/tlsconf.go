// Package tlsconf is the TLS section shared by the Kafka, Redis and
// ClickHouse connections: whether to use TLS, which CA to trust, and an
// optional client certificate for mutual TLS.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Config is one connection's TLS settings. The zero value is plaintext.
type Config struct {
	// Enabled turns TLS on. With no CAFile the system's roots are trusted.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the certificate authorities to trust
	// instead of the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// servers that require mutual TLS; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked against the server's
	// certificate (default: the host of the address dialled).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate. For tests only: it
	// gives up the protection TLS is for.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Validate checks that the settings hang together; field is the section's
// name in the configuration ("kafka.tls"), for the messages.
func (c Config) Validate(field string) error {
	var errs []error
	if !c.Enabled {
		if c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" || c.InsecureSkipVerify {
			errs = append(errs, fmt.Errorf("%s: settings given but enabled is false; set %s.enabled: true or remove them", field, field))
		}
		return errors.Join(errs...)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, fmt.Errorf("%s.cert_file and %s.key_file: give both (mutual TLS) or neither", field, field))
	}
	for name, path := range map[string]string{"ca_file": c.CAFile, "cert_file": c.CertFile, "key_file": c.KeyFile} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("%s.%s: %w", field, name, err))
		}
	}
	return errors.Join(errs...)
}

// Load returns the tls.Config of the settings, or nil when TLS is off.
func (c Config) Load() (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	out := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // opt-in, documented as test-only
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", c.CAFile)
		}
		out.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		out.Certificates = []tls.Certificate{cert}
	}
	return out, nil
}
