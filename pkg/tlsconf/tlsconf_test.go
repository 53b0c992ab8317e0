package tlsconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/tlsconf/tlsconftest"
)

// writeCert writes a test PKI and returns its server certificate and key:
// a certificate that also serves as a CA bundle and a client pair.
func writeCert(t *testing.T, _ string) (certFile, keyFile string) {
	t.Helper()
	f := tlsconftest.New(t)
	return f.ServerCert, f.ServerKey
}

func TestOffIsPlaintext(t *testing.T) {
	c, err := Config{}.Load()
	if c != nil || err != nil {
		t.Errorf("zero config: %v, %v; want nil, nil (plaintext)", c, err)
	}
	if err := (Config{}).Validate("x.tls"); err != nil {
		t.Error(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	c, err := Config{Enabled: true, CAFile: cert, CertFile: cert, KeyFile: key, ServerName: "redis.internal"}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.RootCAs == nil || len(c.Certificates) != 1 || c.ServerName != "redis.internal" || c.InsecureSkipVerify || c.MinVersion < 0x0303 {
		t.Errorf("tls config %+v: want the CA, one client certificate, the server name, verification on, TLS 1.2+", c)
	}
	sys, err := Config{Enabled: true}.Load()
	if err != nil || sys == nil || sys.RootCAs != nil {
		t.Errorf("enabled without a CA: %+v, %v; want TLS with the system's roots", sys, err)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	tests := []struct {
		name string
		c    Config
		want string // in Validate's error, or else in Load's
	}{
		{"settings while off", Config{CAFile: cert}, "kafka.tls: settings given but enabled is false"},
		{"cert without key", Config{Enabled: true, CertFile: cert}, "kafka.tls.cert_file and kafka.tls.key_file"},
		{"missing CA file", Config{Enabled: true, CAFile: filepath.Join(dir, "nope.pem")}, "kafka.tls.ca_file"},
		{"CA file without a certificate", Config{Enabled: true, CAFile: notPEM}, "no PEM certificate"},
		{"key that does not match", Config{Enabled: true, CertFile: cert, KeyFile: notPEM}, "load client certificate"},
	}
	_ = key
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate("kafka.tls")
			if err == nil {
				_, err = tc.c.Load()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
