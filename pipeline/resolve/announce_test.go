package resolve

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
)

// A chain of merges in one call (A into B, then B into C) gives each
// merged-away id one cx.profiles message, pointing at where it ends, with
// the call's version; an id a re-derivation kept alive gets only its state.
func TestAnnouncerOneMessagePerKey(t *testing.T) {
	topics := kafkaio.Topics{Identity: "id", Profiles: "prof"}
	a := Announcer{Topics: topics, Model: profile.Default(), Now: func() time.Time { return time.Unix(0, 0) }}
	recs := []identity.Record{
		{Kind: identity.KindMerged, ProfileID: "B", FromProfileID: "A", Aliases: []string{"A"}},
		{Kind: identity.KindMerged, ProfileID: "C", FromProfileID: "B", Aliases: []string{"B", "A"}},
		{Kind: identity.KindMerged, ProfileID: "C", FromProfileID: "D", Aliases: []string{"D"}},
	}
	states := map[string]profile.State{
		"C": {profile.FieldEvents: "3", profile.FieldVersion: "7"},
		"D": {profile.FieldEvents: "1", profile.FieldVersion: "7"}, // kept alive by a later re-derivation
	}
	msgs, err := a.Messages("acme", recs, a.Render("acme", states))
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string][]string{}
	for _, m := range msgs {
		if m.Topic != topics.Profiles {
			continue
		}
		var headers = map[string]string{}
		for _, h := range m.Headers {
			headers[h.Key] = string(h.Value)
		}
		if headers[kafkaio.HeaderTenant] != "acme" || headers[kafkaio.HeaderVersion] != "7" {
			t.Errorf("%s: headers %v", m.Key, headers)
		}
		byKey[string(m.Key)] = append(byKey[string(m.Key)], string(m.Value))
	}
	for _, k := range []string{"A", "B"} {
		if got := byKey[k]; len(got) != 1 || got[0] != `{"merged_into":"C","version":7}` {
			t.Errorf("%s: %q, want one merged_into C", k, got)
		}
	}
	for _, k := range []string{"C", "D"} {
		var p profile.Profile
		if got := byKey[k]; len(got) != 1 || json.Unmarshal([]byte(got[0]), &p) != nil || p.Version != 7 || p.ProfileID != k {
			t.Errorf("%s: %q, want one profile of version 7", k, got)
		}
	}
}
