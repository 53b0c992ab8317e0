package kafkaio

import (
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/tlsconf"
)

func TestSecurityDefaultsToPlaintext(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tr, d := cfg.transport(), cfg.dialer()
	if tr != nil || d.TLS != nil || d.SASLMechanism != nil || NewWriter(cfg).Transport != nil || Client(cfg).Transport != nil {
		t.Errorf("default: transport %+v, dialer %+v; want kafka-go's shared transport, no TLS, no SASL", tr, d)
	}
}

func TestSecurityApplies(t *testing.T) {
	for _, mech := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		cfg := Default()
		cfg.TLS = tlsconf.Config{Enabled: true, ServerName: "kafka.internal"}
		cfg.SASL = SASL{Mechanism: mech, Username: "cx", Password: "s3cret"}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		tr, d, w, r := cfg.transport(), cfg.dialer(), NewWriter(cfg), NewReader(cfg, "g", "t")
		if tr.TLS == nil || tr.TLS.ServerName != "kafka.internal" || tr.SASL == nil || !strings.EqualFold(tr.SASL.Name(), strings.ReplaceAll(mech, "scram-", "SCRAM-")) {
			t.Errorf("%s: transport TLS %+v, SASL %v", mech, tr.TLS, tr.SASL)
		}
		if d.TLS == nil || d.SASLMechanism == nil {
			t.Errorf("%s: dialer %+v without TLS or SASL", mech, d)
		}
		if w.Transport == nil || r.Config().Dialer == nil || r.Config().Dialer.SASLMechanism == nil {
			t.Errorf("%s: the writer or the reader does not use them", mech)
		}
		r.Close()
		w.Close()
	}
}

func TestSecurityErrors(t *testing.T) {
	tests := []struct {
		name string
		sasl SASL
		want string
	}{
		{"unknown mechanism", SASL{Mechanism: "gssapi", Username: "u", Password: "p"}, `kafka.sasl.mechanism: unknown mechanism "gssapi"`},
		{"no password", SASL{Mechanism: "plain", Username: "u"}, "kafka.sasl.username and kafka.sasl.password: required"},
	}
	for _, tc := range tests {
		cfg := Default()
		cfg.SASL = tc.sasl
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
		if err := cfg.Validate(); err != nil && strings.Contains(err.Error(), "p\"") {
			t.Errorf("%s: the error shows the password: %v", tc.name, err)
		}
	}
}
