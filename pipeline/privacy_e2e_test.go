package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pipeline/api"
	"github.com/cxstream/cxstream/pipeline/privacy"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

// apiDo sends an API request with a bearer token.
func apiDo(t *testing.T, method, token, u string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp.StatusCode, body
}

// chCounter returns a function that runs a count() query on the
// pipeline's ClickHouse database.
func chCounter(t *testing.T, cfg pipeline.Config) func(query string, args ...any) int {
	t.Helper()
	ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{cfg.ClickHouse.Addr}, Auth: clickhouse.Auth{
		Database: cfg.ClickHouse.Database, Username: cfg.ClickHouse.Username, Password: cfg.ClickHouse.Password}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return func(query string, args ...any) int {
		t.Helper()
		var n uint64
		if err := ch.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return int(n)
	}
}

// wipeAndRebuild deletes tenant from Redis, as a Redis loss would, and
// rebuilds it in place from ClickHouse.
func wipeAndRebuild(t *testing.T, cfg pipeline.Config, rs *redisstore.Store, tenant string) pipeline.RebuildReport {
	t.Helper()
	chs, err := chstore.Open(context.Background(), cfg.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	defer chs.Close()
	if _, err := rs.DeleteTenant(context.Background(), tenant); err != nil {
		t.Fatal(err)
	}
	rb, err := pipeline.RebuildInPlace(context.Background(), rs, chs, tenant, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return rb
}

// TestIntegrationForgetAndExport: Ann browses anonymously, identifies with
// her email (two profiles merge), orders and grants marketing consent; Bob
// shops too. Ann's export holds her profile, consent, every event and her
// identity history. A read token cannot forget her; an admin token can:
// afterwards no profile, no identifier and no ClickHouse row of hers is
// left (but the tombstone snapshot), cx.profiles ends with tombstones for
// her ids, and Bob is untouched. New events and a replay of her old ones
// (as a producer re-sending them) do not bring her back, nor does a rebuild
// of the tenant from ClickHouse after Redis lost its state.
func TestIntegrationForgetAndExport(t *testing.T) {
	cfg, suffix := testConfig(t)
	tenant := cfg.API.Tokens[0].Tenant
	admin := "e2e-admin-" + suffix + "-0123456789"
	cfg.API.Tokens = append(cfg.API.Tokens, api.Token{Token: admin, Tenant: tenant, Admin: true})
	startPipeline(t, cfg)
	web := "web-" + suffix
	t0 := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	anon, email := "ann-anon-"+suffix, "ann-"+suffix+"@example.com"
	annEvents := []struct {
		path string
		msg  map[string]any
	}{
		{"/v1/page", map[string]any{"messageId": "ann-1", "anonymousId": anon, "name": "Home", "timestamp": at(0)}},
		{"/v1/identify", map[string]any{"messageId": "ann-2", "userId": "ann-u-" + suffix, "traits": map[string]any{"email": email, "name": "Ann"},
			"timestamp": at(time.Minute)}},
		{"/v1/track", map[string]any{"messageId": "ann-3", "anonymousId": anon, "userId": "ann-u-" + suffix, "event": "Order Completed",
			"properties": map[string]any{"order_id": "A-1", "revenue": 42.5, "currency": "EUR"},
			"context":    map[string]any{"consent": map[string]any{"categoryPreferences": map[string]any{"marketing": true, "analytics": false}}},
			"timestamp":  at(2 * time.Minute)}},
	}
	for _, e := range annEvents {
		track(t, cfg, web, e.path, e.msg)
	}
	track(t, cfg, web, "/v1/track", map[string]any{"messageId": "bob-1", "userId": "bob-" + suffix, "event": "Order Completed",
		"properties": map[string]any{"order_id": "B-1", "revenue": 10.0}, "timestamp": at(3 * time.Minute)})

	count := chCounter(t, cfg)
	annRows := func() int {
		return count(`SELECT count() FROM cx_events WHERE tenant = ? AND (has(id_values, ?) OR has(id_values, ?))`, tenant, email, anon)
	}
	eventually(t, time.Minute, "Ann's and Bob's events in ClickHouse", func() (bool, string) {
		n := count(`SELECT uniqExact(event_id) FROM cx_events WHERE tenant = ?`, tenant)
		return n == 4, fmt.Sprintf("%d events", n)
	})

	base := "http://" + cfg.API.Addr + "/v1/profiles/"
	// The timeline joins the events recorded under the merged-away profile
	// once the merge's alias row is stored too (the sink's identity flow).
	var (
		exp  privacy.Export
		code int
		body []byte
	)
	eventually(t, time.Minute, "Ann's export with her 3 events", func() (bool, string) {
		exp = privacy.Export{}
		code, body = apiDo(t, http.MethodGet, apiToken, base+"email:"+email+"/export")
		return code == http.StatusOK && json.Unmarshal(body, &exp) == nil && len(exp.Events) == 3, fmt.Sprintf("%d %.300s", code, body)
	})
	if len(exp.Events) != 3 || exp.Profile == nil || exp.Profile.Transactional.Orders != 1 || exp.Profile.Transactional.LifetimeValue["EUR"] != 42.5 {
		t.Errorf("export: %d events, profile %+v; want Ann's 3 events, 1 order of 42.5", len(exp.Events), exp.Profile)
	}
	if !exp.Consent["marketing"] || exp.Consent["analytics"] || len(exp.Consent) != 2 {
		t.Errorf("export consent = %v, want marketing granted, analytics refused", exp.Consent)
	}
	if len(exp.Identity) == 0 || !strings.Contains(string(body), email) {
		t.Errorf("export: %d identity records, email in the document: %v", len(exp.Identity), strings.Contains(string(body), email))
	}
	annID := exp.ProfileID

	if code, body := apiDo(t, http.MethodDelete, apiToken, base+"email:"+email); code != http.StatusForbidden {
		t.Fatalf("DELETE with a read token: %d %s, want 403", code, body)
	}
	code, body = apiDo(t, http.MethodDelete, admin, base+"email:"+email)
	if code != http.StatusOK {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	var rep privacy.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ProfileID != annID || len(rep.MergedFrom) != 1 || rep.Suppressed != 3 || !rep.Complete ||
		rep.ClickHouse.Rows["cx_events"] != 3 || rep.Tombstones != 2 {
		t.Errorf("report %s; want profile %s, one merged in, 3 identifiers, 3 events, 2 tombstones, complete", body, annID)
	}
	for _, ref := range []string{"email:" + email, "anonymous_id:" + anon, annID, rep.MergedFrom[0]} {
		if code, body := apiDo(t, http.MethodGet, apiToken, base+ref); code != http.StatusNotFound {
			t.Errorf("GET %s after forget: %d %s, want 404", ref, code, body)
		}
		if code, _ := apiDo(t, http.MethodGet, apiToken, base+ref+"/export"); code != http.StatusNotFound {
			t.Errorf("export %s after forget: %d, want 404", ref, code)
		}
	}
	if code, body := apiDo(t, http.MethodGet, apiToken, base+"user_id:bob-"+suffix); code != http.StatusOK {
		t.Errorf("Bob after Ann was forgotten: %d %s", code, body)
	}
	ids := append([]string{annID}, rep.MergedFrom...)
	eventually(t, time.Minute, "Ann's rows deleted by ClickHouse", func() (bool, string) {
		n := annRows() + count(`SELECT count() FROM cx_identity WHERE tenant = ? AND (profile_id IN (?, ?) OR from_profile_id IN (?, ?))`, tenant, ids[0], ids[1], ids[0], ids[1]) +
			count(`SELECT count() FROM cx_profile_snapshots WHERE tenant = ? AND profile_id IN (?, ?) AND deleted = 0`, tenant, ids[0], ids[1])
		return n == 0, fmt.Sprintf("%d rows", n)
	})
	if n := count(`SELECT count() FROM cx_events WHERE tenant = ? AND event_id = 'bob-1'`, tenant); n == 0 {
		t.Error("Bob's event was deleted too")
	}
	tombs := tombstones(t, cfg, tenant)
	for _, id := range ids {
		if !tombs[id] {
			t.Errorf("no tombstone on cx.profiles for %s (tombstones: %v)", id, tombs)
		}
	}

	// New events and a producer replaying her old ones: suppressed. Bob's
	// second event, written after them on the same key, marks the end.
	track(t, cfg, web, "/v1/track", map[string]any{"messageId": "ann-4", "userId": "ann-u-" + suffix, "anonymousId": anon, "event": "Product Viewed",
		"context": map[string]any{"traits": map[string]any{"email": email}}, "timestamp": at(4 * time.Minute)})
	for _, e := range annEvents {
		track(t, cfg, web, e.path, e.msg)
	}
	track(t, cfg, web, "/v1/track", map[string]any{"messageId": "bob-2", "userId": "bob-" + suffix, "event": "Product Viewed", "timestamp": at(5 * time.Minute)})
	eventually(t, time.Minute, "Bob's second event stored", func() (bool, string) {
		n := count(`SELECT count() FROM cx_events WHERE tenant = ? AND event_id = 'bob-2'`, tenant)
		return n > 0, fmt.Sprintf("%d rows", n)
	})
	// The resolver handles a partition in order, but Ann's events may sit on
	// other partitions: wait for the resolver's group to have nothing left.
	resolverCaughtUp(t, cfg)
	for _, ref := range []string{"email:" + email, "anonymous_id:" + anon, "user_id:ann-u-" + suffix} {
		if code, body := apiDo(t, http.MethodGet, apiToken, base+ref); code != http.StatusNotFound {
			t.Errorf("GET %s after new events: %d %s, want 404 (suppressed)", ref, code, body)
		}
	}
	if n := annRows(); n != 0 {
		t.Errorf("%d rows of Ann's identifiers in cx_events after new events", n)
	}

	// Redis loses the tenant; the rebuild restores the suppressions from
	// ClickHouse, so her events replayed once more stay out.
	rs, err := pipeline.OpenRedis(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	rb := wipeAndRebuild(t, cfg, rs, tenant)
	if rb.Suppressions != 3 {
		t.Errorf("rebuild restored %d suppressions, want 3", rb.Suppressions)
	}
	if _, err := rs.Forget(context.Background(), tenant, "email:"+email, time.Now()); err != nil {
		t.Errorf("after the rebuild, forgetting her again does not find the erasure: %v", err)
	}
	track(t, cfg, web, "/v1/identify", map[string]any{"messageId": "ann-5", "traits": map[string]any{"email": email}, "timestamp": at(6 * time.Minute)})
	track(t, cfg, web, "/v1/track", map[string]any{"messageId": "bob-3", "userId": "bob-" + suffix, "event": "Product Viewed", "timestamp": at(7 * time.Minute)})
	eventually(t, time.Minute, "Bob's third event stored", func() (bool, string) {
		n := count(`SELECT count() FROM cx_events WHERE tenant = ? AND event_id = 'bob-3'`, tenant)
		return n > 0, fmt.Sprintf("%d rows", n)
	})
	resolverCaughtUp(t, cfg)
	if _, _, err := rs.Resolve(context.Background(), tenant, "email:"+email); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("after the rebuild and a new event, her email resolves: %v", err)
	}
}

// resolverCaughtUp waits until the resolvers' group has committed every
// message of cx.interactions.
func resolverCaughtUp(t *testing.T, cfg pipeline.Config) {
	t.Helper()
	client := kafkaio.Client(cfg.Kafka)
	eventually(t, time.Minute, "resolver caught up", func() (bool, string) {
		marks, err := kafkaio.HighWatermarks(context.Background(), client, cfg.Kafka.Topics.Interactions)
		if err != nil {
			return false, err.Error()
		}
		n, err := kafkaio.Behind(context.Background(), client, cfg.Resolver.Group, marks)
		return err == nil && n == 0, fmt.Sprintf("%d behind (%v)", n, err)
	})
}

// tombstones reads cx.profiles and returns the keys whose last message for
// tenant is a tombstone.
func tombstones(t *testing.T, cfg pipeline.Config, tenant string) map[string]bool {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Kafka.Brokers, Topic: cfg.Kafka.Topics.Profiles,
		GroupID: "tombstones-" + tenant, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	marks, err := kafkaio.HighWatermarks(context.Background(), kafkaio.Client(cfg.Kafka), cfg.Kafka.Topics.Profiles)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, off := range marks[cfg.Kafka.Topics.Profiles] {
		total += off
	}
	out := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range total {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read cx.profiles: %v", err)
		}
		out[string(m.Key)] = len(m.Value) == 0
	}
	for k, dead := range out {
		if !dead {
			delete(out, k)
		}
	}
	return out
}

// TestIntegrationHashedIdentifiersAtRest runs the pipeline with every
// identifier type of the test hashed (identity rules, hash: true). Ann and
// Bob shop through the collector; then:
//   - the Profile API finds Ann by her raw email and by its hash, and her
//     profile lists only hashes;
//   - no ClickHouse row (cx_events.id_values, cx_identity, the snapshot
//     documents) and no Redis key, field, value or member of the tenant
//     holds a raw identifier, while the hashes are there;
//   - forgetting her by her raw email works;
//   - a rebuild from ClickHouse after Redis lost the tenant finds Bob by
//     his raw user id again, with his order.
func TestIntegrationHashedIdentifiersAtRest(t *testing.T) {
	cfg, suffix := testConfig(t)
	for _, typ := range []string{"email", "phone", "user_id", "anonymous_id"} {
		rule := cfg.Identity.Types[typ]
		rule.Hash = true
		cfg.Identity.Types[typ] = rule
	}
	cfg.Identity.HashKey = "e2e-hash-key-" + suffix + "-0123456789abcdef"
	policy, err := cfg.Identity.Compile()
	if err != nil {
		t.Fatal(err)
	}
	tenant := cfg.API.Tokens[0].Tenant
	admin := "e2e-admin-" + suffix + "-0123456789"
	cfg.API.Tokens = append(cfg.API.Tokens, api.Token{Token: admin, Tenant: tenant, Admin: true})
	startPipeline(t, cfg)
	web := "web-" + suffix
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	anon, email, phone, user := "ann-anon-"+suffix, "ann-"+suffix+"@example.com", "+4915112345678", "ann-u-"+suffix
	bob := "bob-" + suffix
	track(t, cfg, web, "/v1/page", map[string]any{"messageId": "h-1", "anonymousId": anon, "name": "Home", "timestamp": at(0)})
	track(t, cfg, web, "/v1/identify", map[string]any{"messageId": "h-2", "anonymousId": anon, "userId": user,
		"traits":  map[string]any{"email": strings.ToUpper(email[:1]) + email[1:], "phone": phone, "name": "Ann"},
		"context": map[string]any{"traits": map[string]any{"phone": phone}}, "timestamp": at(time.Minute)})
	track(t, cfg, web, "/v1/track", map[string]any{"messageId": "h-3", "userId": user, "event": "Order Completed",
		"properties": map[string]any{"order_id": "A-1", "revenue": 42.5, "currency": "EUR"}, "timestamp": at(2 * time.Minute)})
	track(t, cfg, web, "/v1/track", map[string]any{"messageId": "h-4", "userId": bob, "event": "Order Completed",
		"properties": map[string]any{"order_id": "B-1", "revenue": 10.0, "currency": "EUR"}, "timestamp": at(3 * time.Minute)})

	count := chCounter(t, cfg)
	// Ann's identify links her user id, email and phone to her anonymous
	// profile: three identifier_linked records.
	eventually(t, time.Minute, "the 4 events and Ann's links in ClickHouse", func() (bool, string) {
		n := count(`SELECT uniqExact(event_id) FROM cx_events WHERE tenant = ?`, tenant)
		m := count(`SELECT count() FROM cx_identity WHERE tenant = ? AND kind = 'identifier_linked'`, tenant)
		return n == 4 && m >= 3, fmt.Sprintf("%d events, %d links", n, m)
	})
	hashOf := func(typ, value string) string {
		id, err := policy.Canonical(tenant, event.Identifier{Type: typ, Value: value})
		if err != nil || !strings.HasPrefix(id.Value, identity.HashPrefix) {
			t.Fatalf("canonical %s:%s = %v, %v", typ, value, id, err)
		}
		return id.Value
	}

	base := "http://" + cfg.API.Addr + "/v1/profiles/"
	var byRaw, byHash profile.Profile
	for ref, into := range map[string]*profile.Profile{"email:" + email: &byRaw, "email:" + hashOf("email", email): &byHash} {
		code, body := apiDo(t, http.MethodGet, apiToken, base+url.PathEscape(ref))
		if code != http.StatusOK || json.Unmarshal(body, into) != nil {
			t.Fatalf("GET %s: %d %s", ref, code, body)
		}
	}
	if byRaw.ProfileID == "" || byRaw.ProfileID != byHash.ProfileID {
		t.Fatalf("raw email finds %q, its hash %q", byRaw.ProfileID, byHash.ProfileID)
	}
	if byRaw.Transactional.Orders != 1 || string(byRaw.Traits["name"]) != `"Ann"` {
		t.Errorf("Ann's profile has %d orders and name %s, want 1 and Ann", byRaw.Transactional.Orders, byRaw.Traits["name"])
	}
	if got, want := string(byRaw.Traits["email"]), `"`+hashOf("email", email)+`"`; got != want || byRaw.Demographic.Email != "" {
		t.Errorf("Ann's email trait %s and demographic email %q; want the hash %s and none", got, byRaw.Demographic.Email, want)
	}
	for typ, want := range map[string]string{"email": hashOf("email", email), "phone": hashOf("phone", phone),
		"user_id": hashOf("user_id", user), "anonymous_id": hashOf("anonymous_id", anon)} {
		if got := byRaw.Identifiers[typ]; len(got) != 1 || got[0] != want {
			t.Errorf("profile identifiers[%s] = %v, want [%s]", typ, got, want)
		}
	}

	raws := []string{anon, email, phone, user, bob}
	for _, raw := range raws {
		n := count(`SELECT count() FROM cx_events WHERE tenant = ? AND (has(id_values, ?) OR positionCaseInsensitive(traits, ?) > 0
			OR positionCaseInsensitive(properties, ?) > 0 OR positionCaseInsensitive(context, ?) > 0)`, tenant, raw, raw, raw, raw) +
			count(`SELECT count() FROM cx_identity WHERE tenant = ? AND positionCaseInsensitive(identifier, ?) > 0`, tenant, raw) +
			count(`SELECT count() FROM cx_profile_snapshots WHERE tenant = ? AND (positionCaseInsensitive(profile, ?) > 0
			OR positionCaseInsensitive(email, ?) > 0)`, tenant, raw, raw)
		if n != 0 {
			t.Errorf("%d ClickHouse rows hold the raw identifier %q", n, raw)
		}
	}
	if n := count(`SELECT count() FROM cx_events WHERE tenant = ? AND has(id_values, ?)`, tenant, hashOf("email", email)); n == 0 {
		t.Error("no cx_events row holds Ann's hashed email: the check above proves nothing")
	}
	rs, err := pipeline.OpenRedis(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if m := redisstoretest.Mentions(t, rs, tenant, raws); len(m) > 0 {
		t.Errorf("raw identifiers in Redis: %v", m)
	}
	if m := redisstoretest.Mentions(t, rs, tenant, []string{hashOf("email", email)}); len(m) == 0 {
		t.Error("Ann's hashed email is nowhere in Redis: the check above proves nothing")
	}

	code, body := apiDo(t, http.MethodDelete, admin, base+"email:"+email)
	if code != http.StatusOK {
		t.Fatalf("DELETE by raw email: %d %s", code, body)
	}
	if code, body := apiDo(t, http.MethodGet, apiToken, base+"phone:"+url.PathEscape(phone)); code != http.StatusNotFound {
		t.Errorf("Ann by raw phone after forget: %d %s, want 404", code, body)
	}

	wipeAndRebuild(t, cfg, rs, tenant)
	code, body = apiDo(t, http.MethodGet, apiToken, base+"user_id:"+bob)
	var b profile.Profile
	if code != http.StatusOK || json.Unmarshal(body, &b) != nil || b.Transactional.Orders != 1 {
		t.Errorf("Bob by raw user id after the rebuild: %d %s, want his profile with 1 order", code, body)
	}
	if _, _, err := rs.Resolve(context.Background(), tenant, "email:"+email); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("Ann's email resolves after the rebuild: %v", err)
	}
}
