package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/chstore/chstoretest"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ms is t as a state field value.
func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func at(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}

func TestIdentityView(t *testing.T) {
	// A: created by e1 with email; B (created by e2 with anonymous_id and
	// device_id) merged into A by e3; phone moved to A by a re-derivation;
	// user_id linked in Redis but not yet in ClickHouse.
	st := profile.State{
		profile.IDField("email:jane@example.com"): ms(t0),
		profile.IDField("anonymous_id:a-1"):       ms(t0.Add(-time.Hour)), // a late event: earlier than its link
		profile.IDField("device_id:d-1"):          ms(t0.Add(time.Minute)),
		profile.IDField("phone:+33600000000"):     ms(t0.Add(3 * time.Minute)),
		profile.IDField("user_id:u-1"):            ms(t0.Add(4 * time.Minute)),
		profile.IDField("email:b@example.com"):    "not a number",
		profile.MergedField("B"):                  ms(t0.Add(2 * time.Minute)),
		profile.FieldEvents:                       "5",
	}
	linked := func(p, id, ev string, d time.Duration) identity.Record {
		return identity.Record{Kind: identity.KindLinked, Tenant: "acme", ProfileID: p, Identifier: id, EventID: ev, At: t0.Add(d)}
	}
	moved := identity.Record{Kind: identity.KindMoved, Tenant: "acme", ProfileID: "A", FromProfileID: "X",
		Identifier: "phone:+33600000000", Rule: "rederive", EventID: "e5", At: t0.Add(3 * time.Minute)}
	h := chstore.History{ProfileIDs: []string{"A", "B"}, Records: []identity.Record{
		{Kind: identity.KindCreated, Tenant: "acme", ProfileID: "A", EventID: "e1", At: t0},
		linked("A", "email:jane@example.com", "e1", 0),
		linked("X", "phone:+33600000000", "e0", 0), // on another profile first
		linked("B", "anonymous_id:a-1", "e2", time.Minute),
		linked("B", "device_id:d-1", "e2", time.Minute),
		{Kind: identity.KindMerged, Tenant: "acme", ProfileID: "A", FromProfileID: "B", Aliases: []string{"B"}, EventID: "e3", At: t0.Add(2 * time.Minute)},
		moved,
	}, Truncated: true}

	v := identityView(profile.Default(), "acme", "A", st, h)
	want := []IdentifierLink{
		{Type: "anonymous_id", Value: "a-1", LinkedAt: at(-time.Hour), EventID: "e2", How: identity.KindLinked, ViaProfileID: "B"},
		{Type: "device_id", Value: "d-1", LinkedAt: at(time.Minute), EventID: "e2", How: identity.KindLinked, ViaProfileID: "B"},
		{Type: "email", Value: "b@example.com"},
		{Type: "email", Value: "jane@example.com", LinkedAt: at(0), EventID: "e1", How: identity.KindLinked},
		{Type: "phone", Value: "+33600000000", LinkedAt: at(3 * time.Minute), EventID: "e5", How: identity.KindMoved, Rule: "rederive"},
		{Type: "user_id", Value: "u-1", LinkedAt: at(4 * time.Minute)},
	}
	if !reflect.DeepEqual(v.Identifiers, want) {
		t.Errorf("identifiers:\n%s\nwant:\n%s", must(json.MarshalIndent(v.Identifiers, "", " ")), must(json.MarshalIndent(want, "", " ")))
	}
	if v.ProfileID != "A" || v.Tenant != "acme" || !reflect.DeepEqual(v.MergedFrom, []string{"B"}) ||
		!v.HistoryTruncated || len(v.History) != len(h.Records) {
		t.Errorf("view = %+v", v)
	}

	t.Run("empty history", func(t *testing.T) {
		v := identityView(profile.Default(), "acme", "A", profile.State{}, chstore.History{})
		b := must(json.Marshal(v))
		if string(b) != `{"profile_id":"A","tenant":"acme","identifiers":[],"history":[],"history_truncated":false,"merged_from":[]}` {
			t.Errorf("empty view = %s", b)
		}
	})
}

// profileOf is a Profiles that resolves every reference of tenant acme to
// one profile. The Redis store is tested in its own package.
type profileOf struct {
	id string
	st profile.State
}

func (p profileOf) Resolve(_ context.Context, tenant, _ string) (string, profile.State, error) {
	if tenant != "acme" {
		return "", nil, redisstore.ErrNotFound
	}
	return p.id, p.st, nil
}

// The identity endpoint over the real ClickHouse store: what the sink wrote
// comes back in the documented shape.
func TestIntegrationIdentity(t *testing.T) {
	ch := chstoretest.New(t)
	ctx := context.Background()
	blocked := identity.Record{Kind: identity.KindBlocked, Tenant: "acme", ProfileID: "C", FromProfileID: "A",
		Identifier: "email:jane@example.com", Rule: "limit:email", Identifiers: []string{"user_id:u-9", "email:jane@example.com"},
		EventID: "e4", At: t0.Add(3 * time.Minute)}
	recs := []identity.Record{
		{Kind: identity.KindCreated, Tenant: "acme", ProfileID: "A", EventID: "e1", At: t0},
		{Kind: identity.KindLinked, Tenant: "acme", ProfileID: "A", Identifier: "email:jane@example.com", EventID: "e1", At: t0},
		{Kind: identity.KindCreated, Tenant: "acme", ProfileID: "B", EventID: "e2", At: t0.Add(time.Minute)},
		{Kind: identity.KindLinked, Tenant: "acme", ProfileID: "B", Identifier: "anonymous_id:a-1", EventID: "e2", At: t0.Add(time.Minute)},
		{Kind: identity.KindMerged, Tenant: "acme", ProfileID: "A", FromProfileID: "B", Aliases: []string{"B"}, EventID: "e3", At: t0.Add(2 * time.Minute)},
		blocked,
	}
	if err := ch.InsertIdentity(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := ch.InsertIdentity(ctx, recs); err != nil { // redelivered
		t.Fatal(err)
	}
	st := profile.State{
		profile.IDField("email:jane@example.com"): ms(t0),
		profile.IDField("anonymous_id:a-1"):       ms(t0.Add(time.Minute)),
		profile.MergedField("B"):                  ms(t0.Add(2 * time.Minute)),
	}
	a, err := New(Config{Addr: ":0", Tokens: []Token{{Token: "acme-token-0123456789", Tenant: "acme"}}},
		profileOf{id: "A", st: st}, ch, profile.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/profiles/email:jane@example.com/identity", nil)
	req.Header.Set("Authorization", "Bearer acme-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET identity = %d %s", resp.StatusCode, b)
	}
	var got IdentityView
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := IdentityView{
		ProfileID: "A", Tenant: "acme",
		Identifiers: []IdentifierLink{
			{Type: "anonymous_id", Value: "a-1", LinkedAt: at(time.Minute), EventID: "e2", How: identity.KindLinked, ViaProfileID: "B"},
			{Type: "email", Value: "jane@example.com", LinkedAt: at(0), EventID: "e1", How: identity.KindLinked},
		},
		History:    recs, // in time order already, each once
		MergedFrom: []string{"B"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GET identity =\n%s\nwant:\n%s", must(json.MarshalIndent(got, "", " ")), must(json.MarshalIndent(want, "", " ")))
	}
}
