package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

// fakeStore implements Profiles and Timelines over fixed data: the real
// adapters are tested against Redis and ClickHouse in their own packages and
// in the end-to-end test.
type fakeStore struct {
	down   bool // Redis
	chDown bool // ClickHouse
	q      chstore.TimelineQuery
	limit  int
}

func (f *fakeStore) Resolve(_ context.Context, tenant, ref string) (string, profile.State, error) {
	switch {
	case f.down:
		return "", nil, errors.New("connection refused")
	case tenant == "acme" && (ref == "email:jane@example.com" || ref == "p-1"):
		return "p-1", profile.State{profile.FieldEvents: "3", "i:email:jane@example.com": "1"}, nil
	case ref == "email:broken":
		return "", nil, redisstore.ErrBadRef
	}
	return "", nil, redisstore.ErrNotFound
}

func (f *fakeStore) Timeline(_ context.Context, tenant, id string, q chstore.TimelineQuery) (chstore.TimelinePage, error) {
	f.q = q
	if q.Limit > chstore.MaxLimit {
		return chstore.TimelinePage{}, fmt.Errorf("%w: limit must be between 1 and %d", chstore.ErrBadQuery, chstore.MaxLimit)
	}
	return chstore.TimelinePage{Events: []chstore.TimelineEvent{{EventID: "e1", ProfileID: id, Channel: "web"}}}, nil
}

func (f *fakeStore) IdentityHistory(_ context.Context, tenant, id string, limit int) (chstore.History, error) {
	f.limit = limit
	switch {
	case f.chDown:
		return chstore.History{}, errors.New("dial tcp: connection refused")
	case limit > chstore.MaxHistoryLimit:
		return chstore.History{}, fmt.Errorf("%w: limit must be between 1 and %d", chstore.ErrBadQuery, chstore.MaxHistoryLimit)
	}
	return chstore.History{ProfileIDs: []string{id}, Records: []identity.Record{
		{Kind: identity.KindCreated, Tenant: tenant, ProfileID: id, EventID: "e1", At: time.UnixMilli(1).UTC()},
		{Kind: identity.KindLinked, Tenant: tenant, ProfileID: id, Identifier: "email:jane@example.com", EventID: "e1", At: time.UnixMilli(1).UTC()},
	}}, nil
}

func TestAPI(t *testing.T) {
	store := &fakeStore{}
	a, err := New(Config{Addr: ":0", Tokens: []Token{{Token: "acme-token-0123456789", Tenant: "acme"}, {Token: "other-token-0123456789", Tenant: "other"}}},
		store, store, profile.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		name, path, token string
		down, chDown      bool
		code              int
		body              string
	}{
		{"by identifier", "/v1/profiles/email:jane@example.com", "acme-token-0123456789", false, false, 200, `"profile_id":"p-1"`},
		{"by id", "/v1/profiles/p-1", "acme-token-0123456789", false, false, 200, `"events":3`},
		{"no token", "/v1/profiles/p-1", "", false, false, 401, "bearer token"},
		{"wrong token", "/v1/profiles/p-1", "acme-token-0123456780", false, false, 401, "bearer token"},
		{"other tenant cannot read", "/v1/profiles/p-1", "other-token-0123456789", false, false, 404, "no profile"},
		{"unknown", "/v1/profiles/email:nobody@example.com", "acme-token-0123456789", false, false, 404, "no profile"},
		{"bad reference", "/v1/profiles/email:broken", "acme-token-0123456789", false, false, 400, "bad profile reference"},
		{"store down", "/v1/profiles/p-1", "acme-token-0123456789", true, false, 503, "unavailable"},
		{"timeline", "/v1/profiles/p-1/events?channel=web&limit=5&from=2026-01-01T00:00:00Z", "acme-token-0123456789", false, false, 200, `"event_id":"e1"`},
		{"timeline bad time", "/v1/profiles/p-1/events?from=yesterday", "acme-token-0123456789", false, false, 400, "from: must be an RFC 3339"},
		{"timeline bad limit", "/v1/profiles/p-1/events?limit=ten", "acme-token-0123456789", false, false, 400, "limit"},
		{"timeline limit too large", "/v1/profiles/p-1/events?limit=5000", "acme-token-0123456789", false, false, 400, "bad query: limit"},
		{"timeline unknown", "/v1/profiles/email:nobody@example.com/events", "acme-token-0123456789", false, false, 404, "no profile"},
		{"identity", "/v1/profiles/email:jane@example.com/identity?limit=50", "acme-token-0123456789", false, false, 200, `"how":"identifier_linked"`},
		{"identity no token", "/v1/profiles/p-1/identity", "", false, false, 401, "bearer token"},
		{"identity other tenant", "/v1/profiles/p-1/identity", "other-token-0123456789", false, false, 404, "no profile"},
		{"identity unknown", "/v1/profiles/email:nobody@example.com/identity", "acme-token-0123456789", false, false, 404, "no profile"},
		{"identity bad reference", "/v1/profiles/email:broken/identity", "acme-token-0123456789", false, false, 400, "bad profile reference"},
		{"identity bad limit", "/v1/profiles/p-1/identity?limit=all", "acme-token-0123456789", false, false, 400, "limit"},
		{"identity limit too large", "/v1/profiles/p-1/identity?limit=100000", "acme-token-0123456789", false, false, 400, "bad query: limit"},
		{"identity profile store down", "/v1/profiles/p-1/identity", "acme-token-0123456789", true, false, 503, "profile store unavailable"},
		{"identity history store down", "/v1/profiles/p-1/identity", "acme-token-0123456789", false, true, 503, "identity history store unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store.down, store.chDown = tc.down, tc.chDown
			code, b := call(t, http.MethodGet, srv.URL+tc.path, tc.token, "")
			if code != tc.code || !strings.Contains(string(b), tc.body) {
				t.Errorf("GET %s = %d %s; want %d containing %q", tc.path, code, b, tc.code, tc.body)
			}
			if code == 200 && !json.Valid(b) {
				t.Errorf("body is not JSON: %s", b)
			}
			if tc.name == "timeline" && (store.q.Channel != "web" || store.q.Limit != 5 || store.q.From.IsZero()) {
				t.Errorf("timeline query not passed on: %+v", store.q)
			}
			if tc.name == "identity" && store.limit != 50 {
				t.Errorf("identity history limit = %d, want 50 passed on", store.limit)
			}
		})
	}
}

// call sends a request with an optional bearer token and body and returns
// the status code and body.
func call(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", Default(), true},
		{"short token", Config{Addr: ":1", Tokens: []Token{{Token: "short", Tenant: "a"}}}, false},
		{"duplicate", Config{Addr: ":1", Tokens: []Token{{Token: "0123456789abcdef", Tenant: "a"}, {Token: "0123456789abcdef", Tenant: "b"}}}, false},
		{"no tenant", Config{Addr: ":1", Tokens: []Token{{Token: "0123456789abcdef"}}}, false},
		{"no addr", Config{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}
