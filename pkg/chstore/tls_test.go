package chstore

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/testenv"
	"github.com/cxstream/cxstream/pkg/tlsconf"
	"github.com/cxstream/cxstream/pkg/tlsconf/tlsconftest"
)

const tlsUser, tlsPassword = "cx", "clickhouse-secret-0123"

// startTLSClickHouse runs a clickhouse-server of the test's own (the binary
// scripts/services.sh installs) whose only port is the native protocol over
// TLS (tcp_port_secure), with a certificate of a test CA and one user with
// a password. It returns the port's address and the PKI.
func startTLSClickHouse(t *testing.T) (string, tlsconftest.Files) {
	t.Helper()
	bin := testenv.Program(t, "clickhouse-server")
	pki := tlsconftest.New(t)
	dir := t.TempDir()
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	config := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>%[1]s/log/server.log</log><errorlog>%[1]s/log/server.err.log</errorlog></logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port_secure>%[2]s</tcp_port_secure>
    <openSSL>
        <server>
            <certificateFile>%[3]s</certificateFile>
            <privateKeyFile>%[4]s</privateKeyFile>
            <verificationMode>none</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <disableProtocols>sslv2,sslv3</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>
    <max_connections>64</max_connections>
    <max_concurrent_queries>16</max_concurrent_queries>
    <mark_cache_size>67108864</mark_cache_size>
    <path>%[1]s/data/</path>
    <tmp_path>%[1]s/tmp/</tmp_path>
    <user_files_path>%[1]s/user_files/</user_files_path>
    <format_schema_path>%[1]s/format_schemas/</format_schema_path>
    <users_config>%[1]s/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
`, dir, port, pki.ServerCert, pki.ServerKey)
	users := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>1000000000</max_memory_usage></default></profiles>
    <users>
        <%[1]s>
            <password>%[2]s</password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </%[1]s>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`, tlsUser, tlsPassword)
	for name, content := range map[string]string{"config.xml": config, "users.xml": users} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv := exec.Command(bin, "--config-file="+filepath.Join(dir, "config.xml"))
	srv.Dir = dir
	tlsconftest.Serve(t, srv, filepath.Join(dir, "log", "stdout.log"), addr, 60*time.Second, filepath.Join(dir, "log", "server.err.log"))
	return addr, pki
}

// TestIntegrationTLSAndPassword migrates a database, inserts and counts
// events over the native protocol with TLS and a user with a password, and
// checks that a wrong password, a plaintext connection and an untrusted
// certificate are each refused without the password in the error.
func TestIntegrationTLSAndPassword(t *testing.T) {
	addr, pki := startTLSClickHouse(t)
	cfg := Default()
	cfg.Addr, cfg.Database = addr, "cxstream_tls"
	cfg.Username, cfg.Password = tlsUser, tlsPassword
	cfg.TLS = tlsconf.Config{Enabled: true, CAFile: pki.CA}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open over TLS: %v", err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate over TLS: %v", err)
	}
	evs := []event.Resolved{
		resolved("tls-1", "A", "web", event.TypePage, 0),
		resolved("tls-2", "A", "store", event.TypeTrack, time.Minute),
	}
	if err := s.InsertEvents(ctx, evs); err != nil {
		t.Fatalf("insert over TLS: %v", err)
	}
	if n, err := s.CountEvents(ctx, "t1"); err != nil || n != 2 {
		t.Errorf("count over TLS = %d, %v; want 2", n, err)
	}

	wrong := cfg
	wrong.Password += "x"
	plain := cfg
	plain.TLS = tlsconf.Config{}
	untrusted := cfg
	untrusted.TLS = tlsconf.Config{Enabled: true} // the system's roots do not know the test CA
	// Each refusal, and a word of the reason it must be refused for.
	for name, r := range map[string]struct {
		cfg    Config
		reason string
	}{"wrong password": {wrong, "Wrong password"}, "no TLS": {plain, "handshake"}, "untrusted certificate": {untrusted, "unknown authority"}} {
		c := r.cfg
		c.DialTimeout = 3 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		s, err := Open(ctx, c)
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("%s: connected", name)
			continue
		}
		if !strings.Contains(err.Error(), r.reason) {
			t.Errorf("%s: refused with %v; want a reason containing %q", name, err, r.reason)
		}
		if strings.Contains(err.Error(), tlsPassword) {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
}
