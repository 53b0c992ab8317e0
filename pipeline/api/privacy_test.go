package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pipeline/internal/limit"
	"github.com/cxstream/cxstream/pipeline/privacy"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

// fakePrivacy answers by reference.
type fakePrivacy struct{ forgot []string }

func (f *fakePrivacy) Forget(_ context.Context, tenant, ref string) (privacy.Report, error) {
	f.forgot = append(f.forgot, tenant+"/"+ref)
	switch ref {
	case "email:gone@example.com":
		return privacy.Report{}, redisstore.ErrNotFound
	case "email:broken":
		return privacy.Report{}, redisstore.ErrBadRef
	case "email:down@example.com":
		return privacy.Report{}, errors.New("connection refused")
	case "email:half@example.com":
		return privacy.Report{ProfileID: "p-3"}, errors.New("clickhouse down")
	case "email:slow@example.com":
		return privacy.Report{ProfileID: "p-4", SinkBehind: 12}, nil
	}
	return privacy.Report{ProfileID: "p-1", Complete: true}, nil
}

func (f *fakePrivacy) Export(_ context.Context, tenant, ref string) (*privacy.Export, error) {
	if tenant != "acme" || ref != "email:jane@example.com" {
		return nil, redisstore.ErrNotFound
	}
	return &privacy.Export{Tenant: tenant, ProfileID: "p-1", Consent: map[string]bool{"marketing": true}}, nil
}

func TestForgetAndExport(t *testing.T) {
	store := &fakeStore{}
	priv := &fakePrivacy{}
	cfg := Config{Addr: ":0", Tokens: []Token{
		{Token: "acme-token-0123456789", Tenant: "acme"},
		{Token: "acme-admin-0123456789", Tenant: "acme", Admin: true},
	}}
	newAPI := func() *API { return testAPI(t, cfg, store) }
	off := httptest.NewServer(newAPI().Handler())
	defer off.Close()
	on := httptest.NewServer(newAPI().WithPrivacy(priv).Handler())
	defer on.Close()
	tests := []struct {
		name, method, token, ref string
		off                      bool
		code                     int
		body                     string
	}{
		{"forget", http.MethodDelete, "acme-admin-0123456789", "email:jane@example.com", false, 200, `"complete":true`},
		{"read token cannot forget", http.MethodDelete, "acme-token-0123456789", "email:jane@example.com", false, 403, "admin token"},
		{"no token", http.MethodDelete, "", "email:jane@example.com", false, 401, "bearer token"},
		{"unknown person", http.MethodDelete, "acme-admin-0123456789", "email:gone@example.com", false, 404, "no profile"},
		{"malformed", http.MethodDelete, "acme-admin-0123456789", "email:broken", false, 400, "bad profile reference"},
		{"store down", http.MethodDelete, "acme-admin-0123456789", "email:down@example.com", false, 503, "unavailable"},
		{"half done", http.MethodDelete, "acme-admin-0123456789", "email:half@example.com", false, 503, "repeat the request"},
		{"sink behind", http.MethodDelete, "acme-admin-0123456789", "email:slow@example.com", false, 202, `"sink_behind":12`},
		{"forget not enabled", http.MethodDelete, "acme-admin-0123456789", "email:jane@example.com", true, 501, "not enabled"},
		{"export", http.MethodGet, "acme-token-0123456789", "email:jane@example.com/export", false, 200, `"marketing":true`},
		{"export unknown", http.MethodGet, "acme-token-0123456789", "email:gone@example.com/export", false, 404, "no profile"},
		{"export not enabled", http.MethodGet, "acme-token-0123456789", "email:jane@example.com/export", true, 501, "not enabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := on.URL
			if tc.off {
				base = off.URL
			}
			req, _ := http.NewRequest(tc.method, base+"/v1/profiles/"+tc.ref, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.body) {
				t.Errorf("%s %s = %d %s; want %d containing %q", tc.method, tc.ref, resp.StatusCode, b, tc.code, tc.body)
			}
		})
	}
	for _, f := range priv.forgot {
		if !strings.HasPrefix(f, "acme/") {
			t.Errorf("forget called for %s: only the token's tenant may be named", f)
		}
	}
}

func TestRateLimitPerToken(t *testing.T) {
	store := &fakeStore{}
	cfg := Config{Addr: ":0", RateLimit: limit.Rate{PerSecond: 0.001, Burst: 1}, Tokens: []Token{
		{Token: "acme-token-0123456789", Tenant: "acme"},
		{Token: "acme-other-0123456789", Tenant: "acme"},
	}}
	srv := httptest.NewServer(testAPI(t, cfg, store).Handler())
	defer srv.Close()
	get := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/profiles/p-1", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	if code, _ := get("acme-token-0123456789"); code != http.StatusOK {
		t.Fatalf("first request: %d", code)
	}
	if code, retry := get("acme-token-0123456789"); code != http.StatusTooManyRequests || retry == "" {
		t.Errorf("second request at once: %d, Retry-After %q; want 429 with Retry-After", code, retry)
	}
	if code, _ := get("acme-other-0123456789"); code != http.StatusOK {
		t.Errorf("another token: %d, want 200", code)
	}
	if code, _ := get("not-a-token-0123456789"); code != http.StatusUnauthorized {
		t.Errorf("unknown token: %d, want 401", code)
	}
}
