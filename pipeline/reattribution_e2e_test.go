package pipeline_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
)

// A merge re-attributes a timeline in ClickHouse and an unmerge takes it
// back, with no row rewritten: Jo browses anonymously on the web, buys in a
// store by email, then logs in on the web with that email, which merges the
// two profiles; the timeline of the survivor, served from ClickHouse, shows
// the store's events. An operator then takes the email out again: the store
// profile comes back under its old id with its events, and the survivor's
// timeline no longer shows them.
func TestIntegrationMergeAndUnmergeReattributeTheTimeline(t *testing.T) {
	cfg, suffix := testConfig(t)
	cfg.API.Tokens[0].Admin = true
	startPipeline(t, cfg)
	key := func(ch string) string { return ch + "-" + suffix }
	base := "http://" + cfg.API.Addr + "/v1/profiles/"
	t0 := time.Now().UTC().Add(-6 * time.Hour).Truncate(time.Second)
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }

	web := []string{"w1", "w2", "w3"}
	for i, id := range web {
		track(t, cfg, key("web"), "/v1/track", map[string]any{"messageId": id, "anonymousId": "jo-anon", "event": "Product Viewed",
			"properties": map[string]any{"sku": fmt.Sprint("SKU-", i)}, "timestamp": at(time.Duration(i) * time.Minute)})
	}
	store := []string{"s1", "s2"}
	for i, id := range store {
		track(t, cfg, key("store"), "/v1/track", map[string]any{"messageId": id, "event": "Order Completed",
			"properties": map[string]any{"order_id": "POS-" + id, "revenue": 20.0 + float64(i)},
			"context":    map[string]any{"traits": map[string]any{"email": "jo@example.com"}}, "timestamp": at(time.Hour + time.Duration(i)*time.Minute)})
	}
	anon, mail := profileOf(t, base, "anonymous_id:jo-anon", 3), profileOf(t, base, "email:jo@example.com", 2)
	if anon == mail {
		t.Fatalf("before the login both identifiers are in profile %s", anon)
	}
	waitForTimeline(t, base, mail, store)

	// The login: both identifiers on one event. The older profile (the web
	// one, created first) survives.
	track(t, cfg, key("web"), "/v1/identify", map[string]any{"messageId": "login", "anonymousId": "jo-anon",
		"traits": map[string]any{"email": "jo@example.com"}, "timestamp": at(2 * time.Hour)})
	survivor := profileOf(t, base, "email:jo@example.com", 6)
	if survivor != anon {
		t.Fatalf("after the login the email is in %s, want the older profile %s", survivor, anon)
	}
	merged := append(slices.Clone(web), append(slices.Clone(store), "login")...)
	slices.Sort(merged)
	waitForTimeline(t, base, survivor, merged)

	// The unmerge.
	body, _ := json.Marshal(map[string]string{"identifier": "email:jo@example.com"})
	req, _ := http.NewRequest(http.MethodPost, base+survivor+"/unmerge", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("unmerge: %s %s", resp.Status, b)
	}
	var split struct {
		IdentifierProfileID string            `json:"identifier_profile_id"`
		Records             []identity.Record `json:"records"`
		Announced           bool              `json:"announced"`
	}
	if err := json.Unmarshal(b, &split); err != nil {
		t.Fatal(err)
	}
	if split.IdentifierProfileID != mail || !split.Announced {
		t.Fatalf("unmerge put the email in %q (announced %t), want it back in its old profile %s", split.IdentifierProfileID, split.Announced, mail)
	}
	// The store profile takes back its events; the login, recorded under the
	// survivor while the two were one, stays there: rows are never
	// rewritten (docs/analytics.md, "What the schema does not tell").
	waitForTimeline(t, base, mail, store)
	waitForTimeline(t, base, survivor, append(slices.Clone(web), "login"))

	var p profile.Profile
	if code := getJSON(t, base+"email:jo@example.com", &p); code != http.StatusOK || p.ProfileID != mail || p.Transactional.Orders != 2 {
		t.Errorf("email's profile after the unmerge: %d %s with %d orders, want %s with 2", code, p.ProfileID, p.Transactional.Orders, mail)
	}
	t.Logf("merge then unmerge: %s's timeline held %d events merged and %d after; %s got its %d back",
		survivor, len(merged), len(web)+1, mail, len(store))
}

// profileOf waits until ref resolves to a profile with events events and
// returns its id.
func profileOf(t *testing.T, base, ref string, events int) string {
	t.Helper()
	var p profile.Profile
	eventually(t, time.Minute, ref+"'s profile", func() (bool, string) {
		code := getJSON(t, base+ref, &p)
		return code == http.StatusOK && p.Behavioral.Events == int64(events), fmt.Sprintf("%d: %d events", code, p.Behavioral.Events)
	})
	return p.ProfileID
}

// waitForTimeline waits until the ClickHouse timeline of profile holds
// exactly the events with the message ids want (Segment's messageId is the
// event id).
func waitForTimeline(t *testing.T, base, profile string, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	eventually(t, time.Minute, profile+"'s timeline", func() (bool, string) {
		var page chstore.TimelinePage
		if code := getJSON(t, base+profile+"/events?limit=1000", &page); code != http.StatusOK {
			return false, fmt.Sprint(code)
		}
		var got []string
		for _, e := range page.Events {
			got = append(got, e.EventID)
		}
		slices.Sort(got)
		return slices.Equal(got, want), strings.Join(got, ",")
	})
}
