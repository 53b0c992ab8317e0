package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEndpoints(t *testing.T) {
	s := NewServer(Default(), NewRegistry(), NewLogger(io.Discard, Default()))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz before ready = %d, want 503", code)
	}
	s.SetReady(true)
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("readyz when ready = %d, want 200", code)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz = %d", code)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics = %d, missing go collector", code)
	}
}

func TestValidateLogLevel(t *testing.T) {
	for _, tc := range []struct {
		level string
		ok    bool
	}{{"debug", true}, {"INFO", true}, {"warn", true}, {"error", true}, {"loud", false}} {
		t.Run(tc.level, func(t *testing.T) {
			c := Default()
			c.LogLevel = tc.level
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate(%q) = %v", tc.level, err)
			}
		})
	}
}
