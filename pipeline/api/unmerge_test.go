package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

// fakeSplitter answers Unmerge by the identifier's value.
type fakeSplitter struct{ got []string }

func (f *fakeSplitter) Unmerge(_ context.Context, tenant, pid string, id event.Identifier) (*redisstore.Split, error) {
	f.got = append(f.got, tenant+"/"+pid+"/"+id.String())
	split := &redisstore.Split{ProfileID: "p-2", Records: []identity.Record{{Kind: identity.KindCut, ProfileID: pid, Identifier: id.String()}}}
	switch id.Value {
	case "gone@example.com":
		return nil, redisstore.ErrNotFound
	case "other@example.com":
		return nil, redisstore.ErrNotInProfile
	case "alone@example.com":
		return nil, redisstore.ErrAlone
	case "huge@example.com":
		return nil, redisstore.ErrTooLarge
	case "down@example.com":
		return nil, errors.New("connection refused")
	case "quiet@example.com":
		return split, errors.New("kafka down")
	}
	return split, nil
}

func TestUnmerge(t *testing.T) {
	store := &fakeStore{}
	split := &fakeSplitter{}
	cfg := Config{Addr: ":0", Tokens: []Token{
		{Token: "acme-token-0123456789", Tenant: "acme"},
		{Token: "acme-admin-0123456789", Tenant: "acme", Admin: true},
		{Token: "other-admin-0123456789", Tenant: "other", Admin: true},
	}}
	newAPI := func() *API { return testAPI(t, cfg, store) }
	off := httptest.NewServer(newAPI().Handler())
	defer off.Close()
	on := httptest.NewServer(newAPI().WithSplitter(split).Handler())
	defer on.Close()
	const admin = "acme-admin-0123456789"
	for _, tc := range []struct {
		name, token, ref, body string
		srv                    *httptest.Server
		code                   int
		want                   string
	}{
		{"done", admin, "email:jane@example.com", `{"identifier":"email:Mary@Example.com"}`, on, 200, `"identifier_profile_id":"p-2"`},
		{"no token", "", "p-1", `{"identifier":"email:mary@example.com"}`, on, 401, "bearer token"},
		{"read-only token", "acme-token-0123456789", "p-1", `{"identifier":"email:mary@example.com"}`, on, 403, "admin token"},
		{"other tenant's profile", "other-admin-0123456789", "p-1", `{"identifier":"email:mary@example.com"}`, on, 404, "no profile"},
		{"not enabled", admin, "p-1", `{"identifier":"email:mary@example.com"}`, off, 501, "not enabled"},
		{"bad body", admin, "p-1", `{"id":"email:mary@example.com"}`, on, 400, "body"},
		{"bad identifier", admin, "p-1", `{"identifier":"mary"}`, on, 400, "type:value"},
		{"unknown identifier", admin, "p-1", `{"identifier":"email:gone@example.com"}`, on, 404, "no profile holds"},
		{"identifier of another profile", admin, "p-1", `{"identifier":"email:other@example.com"}`, on, 409, "does not belong"},
		{"only identifier", admin, "p-1", `{"identifier":"email:alone@example.com"}`, on, 409, "only one"},
		{"too large", admin, "p-1", `{"identifier":"email:huge@example.com"}`, on, 422, "rederive_max_edges"},
		{"store down", admin, "p-1", `{"identifier":"email:down@example.com"}`, on, 503, "unavailable"},
		{"not announced", admin, "p-1", `{"identifier":"email:quiet@example.com"}`, on, 200, `"announced":false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := call(t, http.MethodPost, tc.srv.URL+"/v1/profiles/"+tc.ref+"/unmerge", tc.token, tc.body)
			if code != tc.code || !strings.Contains(string(b), tc.want) {
				t.Errorf("POST = %d %s; want %d containing %q", code, b, tc.code, tc.want)
			}
		})
	}
	if len(split.got) == 0 || split.got[0] != "acme/p-1/email:Mary@Example.com" {
		t.Errorf("splitter got %q first; the profile must be resolved first and the tenant be the token's", split.got)
	}
}

// testAPI is the API of cfg over the fake store, logging nowhere.
func testAPI(t *testing.T, cfg Config, store *fakeStore) *API {
	t.Helper()
	a, err := New(cfg, store, store, profile.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
