package resolve_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pipeline/resolve"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

// TestIntegrationSplitterAnnouncesTheSplit joins a shared email to a
// customer, unmerges it and checks that cx.identity carries the cut and the
// move, and cx.profiles both profiles' new state.
func TestIntegrationSplitterAnnouncesTheSplit(t *testing.T) {
	kcfg := kafkaiotest.Config(t, 1)
	store, tenant := redisstoretest.New(t)
	ctx := context.Background()
	policy := identity.MustCompile(identity.DefaultRules())
	t0 := time.Now().UTC().Add(-time.Hour)
	var items []redisstore.Item
	for i, ids := range [][]string{
		{"user_id:jane", "anonymous_id:a-1"},
		{"email:family@example.com", "anonymous_id:a-1"}, // the family's shared email
		{"email:family@example.com"},
	} {
		e := &event.Event{EventID: "e" + string(rune('1'+i)), Tenant: tenant, Channel: "web", Type: event.TypeTrack,
			Name: "Viewed", EventTime: t0.Add(time.Duration(i) * time.Minute), ReceivedAt: t0}
		for _, s := range ids {
			id, _ := event.ParseIdentifier(s)
			e.Identifiers = append(e.Identifiers, id)
		}
		it, _ := redisstore.NewItem("in/0", int64(i), e, policy, profile.Default())
		items = append(items, it)
	}
	if _, err := store.Apply(ctx, tenant, items); err != nil {
		t.Fatal(err)
	}
	jane, _, err := store.Resolve(ctx, tenant, "user_id:jane")
	if err != nil {
		t.Fatal(err)
	}
	if fam, _, _ := store.Resolve(ctx, tenant, "email:family@example.com"); fam != jane {
		t.Fatalf("setup: the email is on %s, not on Jane's %s", fam, jane)
	}
	w := kafkaio.NewWriter(kcfg)
	defer w.Close()
	sp, err := (&resolve.Splitter{Store: store, Writer: w, Announcer: resolve.Announcer{Topics: kcfg.Topics, Model: profile.Default()}}).Unmerge(ctx, tenant, jane, event.Identifier{Type: "email", Value: "Family@Example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if sp.ProfileID == "" || sp.ProfileID == jane {
		t.Fatalf("the email should have a profile of its own (it anchored events e2 and e3), got %q", sp.ProfileID)
	}
	kinds := map[identity.Kind]int{}
	for _, m := range readAll(t, kcfg.Brokers, kcfg.Topics.Identity, len(sp.Records)) {
		var rec identity.Record
		if err := json.Unmarshal(m.Value, &rec); err != nil {
			t.Fatal(err)
		}
		kinds[rec.Kind]++
	}
	if kinds[identity.KindCut] != 1 || kinds[identity.KindMoved]+kinds[identity.KindCreated] == 0 {
		t.Errorf("cx.identity kinds %v: want the cut and the re-derivation's moves", kinds)
	}
	states := map[string]profile.Profile{}
	for _, m := range readAll(t, kcfg.Brokers, kcfg.Topics.Profiles, len(sp.Profiles)) {
		var p profile.Profile
		if err := json.Unmarshal(m.Value, &p); err != nil {
			t.Fatal(err)
		}
		states[string(m.Key)] = p
	}
	if got := states[jane].Identifiers["email"]; len(got) != 0 {
		t.Errorf("Jane's announced profile still has emails %v", got)
	}
	if got := states[sp.ProfileID].Identifiers["email"]; len(got) != 1 || states[sp.ProfileID].Behavioral.Events != 2 { // e2 and e3 are anchored at the email
		t.Errorf("the email's announced profile: %+v", states[sp.ProfileID])
	}
}
