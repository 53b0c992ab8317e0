package redisstore_test

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/testenv"
	"github.com/cxstream/cxstream/pkg/tlsconf"
	"github.com/cxstream/cxstream/pkg/tlsconf/tlsconftest"
)

// startTLSRedis runs a redis-server of its own (the binary scripts/services.sh
// installs) that speaks only TLS and requires password; it stops with t.
func startTLSRedis(t *testing.T, pki tlsconftest.Files, password string) string {
	t.Helper()
	bin := testenv.Program(t, "redis-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", pki.ServerCert, "--tls-key-file", pki.ServerKey, "--tls-ca-cert-file", pki.CA,
		"--tls-auth-clients", "no", "--requirepass", password, "--save", "", "--appendonly", "no", "--dir", dir)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	tlsconftest.Serve(t, cmd, filepath.Join(dir, "redis.log"), addr, 10*time.Second)
	return addr
}

// TestIntegrationTLSAndAuth: the store reaches a Redis that speaks only TLS
// and requires a password when redis.tls trusts its CA and redis.password
// is right, and is refused otherwise.
func TestIntegrationTLSAndAuth(t *testing.T) {
	pki := tlsconftest.New(t)
	addr := startTLSRedis(t, pki, "s3cret-pw")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := redisstore.Default()
	cfg.Addr = addr
	cfg.Password = "s3cret-pw"
	cfg.TLS = tlsconf.Config{Enabled: true, CAFile: pki.CA}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := redisstore.New(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatalf("TLS and the right password: %v", err)
	}
	defer s.Close()
	e := ev(t, "tls", "e1", "web", time.Now().UTC(), "email:tls@example.com")
	if _, err := s.Apply(ctx, "tls", []redisstore.Item{item("cx.interactions/0", 0, e)}); err != nil {
		t.Fatalf("apply over TLS: %v", err)
	}
	if _, _, err := s.Resolve(ctx, "tls", "email:tls@example.com"); err != nil {
		t.Fatalf("resolve over TLS: %v", err)
	}

	refused := map[string]func(*redisstore.Config){
		"wrong password":           func(c *redisstore.Config) { c.Password = "wrong" },
		"no TLS":                   func(c *redisstore.Config) { c.TLS = tlsconf.Config{} },
		"the system's roots":       func(c *redisstore.Config) { c.TLS.CAFile = "" },
		"another name than the IP": func(c *redisstore.Config) { c.TLS.ServerName = "redis.example.com" },
	}
	for name, change := range refused {
		c := cfg
		change(&c)
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := redisstore.New(short, c, nil, nil)
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("%s: connected, want refused", name)
			continue
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
}
