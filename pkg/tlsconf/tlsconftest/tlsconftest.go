// Package tlsconftest makes certificates for tests: a CA and a server
// certificate it signed for 127.0.0.1 and localhost, as PEM files.
package tlsconftest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Files are the PEM files of a test PKI.
type Files struct {
	CA         string // the CA certificate
	ServerCert string // a certificate for 127.0.0.1 and localhost, signed by the CA
	ServerKey  string // SEC 1 ("EC PRIVATE KEY")
	// ServerKeyPKCS8 is the same key as PKCS #8 ("PRIVATE KEY"), the form
	// Java servers (Kafka's PEM key store) read.
	ServerKeyPKCS8 string
}

// New writes a CA and a server certificate into a temporary directory of t.
func New(t testing.TB) Files {
	t.Helper()
	dir := t.TempDir()
	caKey := key(t)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cxstream test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey := key(t)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	f := Files{CA: filepath.Join(dir, "ca.pem"), ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server-key.pem")}
	write(t, f.CA, "CERTIFICATE", caDER)
	write(t, f.ServerCert, "CERTIFICATE", srvDER)
	kder, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, f.ServerKey, "EC PRIVATE KEY", kder)
	p8, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	f.ServerKeyPKCS8 = filepath.Join(dir, "server-key-pkcs8.pem")
	write(t, f.ServerKeyPKCS8, "PRIVATE KEY", p8)
	return f
}

func key(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func write(t testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Serve starts cmd, a TLS server of the test's own, with its output in the
// file out (created here); stops it when t ends; and waits until a TLS
// handshake on addr succeeds (any certificate will do: the test checks
// trust itself). If none does within the time, t fails with the content of
// out and of the files logs.
func Serve(t testing.TB, cmd *exec.Cmd, out, addr string, within time.Duration, logs ...string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
	})
	deadline := time.Now().Add(within)
	for {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			text := ""
			for _, p := range append([]string{out}, logs...) {
				b, _ := os.ReadFile(p)
				text += fmt.Sprintf("\n--- %s:\n%s", p, b)
			}
			t.Fatalf("%s did not serve TLS on %s within %s: %v%s", filepath.Base(cmd.Path), addr, within, err, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
