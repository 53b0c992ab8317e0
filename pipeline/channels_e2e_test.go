package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pipeline/collect"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/mapping"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/sentiment"
)

// postSample posts a shipped sample payload to a channel endpoint, with the
// write key as the query parameter as a webhook sender would, and returns
// the answer.
func postSample(t *testing.T, addr, name, key, file string) map[string]any {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "schemas", "mappings", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+addr+"/v1/channels/"+name+"?write_key="+key, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %s", file, resp.Status, b)
	}
	var answer map[string]any
	if err := json.Unmarshal(b, &answer); err != nil {
		t.Fatal(err)
	}
	return answer
}

// Jane reaches the brand through every channel the built-in mappings read,
// with the shipped sample payloads: a store receipt and a return (imported
// from the till's NDJSON export), a help-desk ticket opened and solved and
// rated, marketing emails delivered, opened and clicked, an NPS survey and a
// message on X. Each channel knows her by other identifiers (loyalty card,
// help-desk id, phone, email, customer id, X handle); one identify on the
// web ties the X handle to her customer id. The pipeline must end with ONE
// profile holding all of it, and Sam, who unsubscribed, must have lost his
// consent to email.
func TestIntegrationEveryChannelFormsOneCustomer(t *testing.T) {
	cfg, suffix := testConfig(t)
	tenant := "e2e-" + suffix
	keys := map[string]string{}
	for _, ch := range []string{"call_center", "email", "social"} {
		keys[ch] = ch + "-" + suffix
		cfg.Collector.WriteKeys = append(cfg.Collector.WriteKeys, collect.WriteKey{Key: keys[ch], Tenant: tenant, Channel: ch})
	}
	startPipeline(t, cfg)
	addr := cfg.Collector.Addr

	answers := map[string]map[string]any{
		"helpdesk": postSample(t, addr, "helpdesk", keys["call_center"], "helpdesk.json"),
		"email":    postSample(t, addr, "email", keys["email"], "email.json"),
		"survey":   postSample(t, addr, "survey", "survey-"+suffix, "survey.json"),
		"social":   postSample(t, addr, "social", keys["social"], "social.json"),
	}
	if a := answers["email"]; a["records"] != 7.0 || a["events"] != 5.0 || a["skipped"] != 2.0 {
		t.Errorf("email answer %v, want 7 records, 5 events, 2 skipped", a)
	}
	// The till's exports, the way `cxstream import` publishes them.
	set, err := mapping.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	pos, _ := set.Get("pos")
	w := kafkaio.NewWriter(cfg.Kafka)
	defer w.Close()
	im, err := collect.NewImporter(collect.ImportConfig{Mapping: pos, Tenant: tenant, Rules: cfg.Identity,
		Topics: cfg.Kafka.Topics, Limits: cfg.Limits}, w)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"pos.ndjson", "pos.csv"} {
		f, _ := mapping.FormatOfFile(file)
		in, err := os.Open(filepath.Join("..", "schemas", "mappings", "samples", file))
		if err != nil {
			t.Fatal(err)
		}
		res, err := im.Import(context.Background(), file, f, in)
		in.Close()
		if err != nil || res != (collect.ImportResult{Records: 3, Events: 3}) {
			t.Fatalf("import %s: %+v %v", file, res, err)
		}
	}
	// The web identify that ties Jane's X handle to her customer id.
	track(t, cfg, "web-"+suffix, "/v1/identify", map[string]any{
		"userId": "cust-1001", "messageId": "link-x-" + suffix, "timestamp": "2026-03-12T10:00:00Z",
		"context": map[string]any{"externalIds": []map[string]any{{"id": "JaneDoe_42", "type": "x_handle", "collection": "users", "encoding": "none"}}},
	})

	base := "http://" + cfg.API.Addr + "/v1/profiles/"
	var jane profile.Profile
	wantChannels := map[string]int64{"store": 2, "call_center": 3, "email": 3, "survey": 1, "social": 1, "web": 1}
	eventually(t, time.Minute, "one profile for Jane across every channel", func() (bool, string) {
		jane = profile.Profile{}
		code := getJSON(t, base+"email:jane.doe@example.com", &jane)
		return code == http.StatusOK && maps.Equal(jane.Behavioral.Channels, wantChannels),
			fmt.Sprintf("status %d, channels %v", code, jane.Behavioral.Channels)
	})

	wantIDs := map[string][]string{
		"email": {"jane.doe@example.com"}, "helpdesk_id": {"90817"}, "loyalty_id": {"LC-448812"},
		"phone": {"+4915112345678"}, "user_id": {"cust-1001"}, "x_handle": {"janedoe_42"},
	}
	if !maps.EqualFunc(jane.Identifiers, wantIDs, slices.Equal) {
		t.Errorf("identifiers = %v, want %v", jane.Identifiers, wantIDs)
	}
	// Every reference resolves to the one profile.
	for _, ref := range []string{"loyalty_id:LC-448812", "helpdesk_id:90817", "x_handle:janedoe_42", "phone:+49 151 1234 5678", "user_id:cust-1001"} {
		var other profile.Profile
		if code := getJSON(t, base+ref, &other); code != http.StatusOK || other.ProfileID != jane.ProfileID {
			t.Errorf("%s: status %d, profile %s, want %s", ref, code, other.ProfileID, jane.ProfileID)
		}
	}
	tr := jane.Transactional
	if tr.Orders != 1 || tr.Refunds != 1 || !maps.Equal(tr.Revenue, map[string]float64{"EUR": 89.9}) ||
		!maps.Equal(tr.Refunded, map[string]float64{"EUR": 9.95}) || !maps.Equal(tr.LifetimeValue, map[string]float64{"EUR": 79.95}) {
		t.Errorf("transactional = %+v, want one 89.90 EUR order with 9.95 EUR refunded", tr)
	}
	ps := jane.Psychographic
	if ps.NPS == nil || ps.NPS.Score != 3 || ps.NPS.Channel != "survey" {
		t.Errorf("nps = %+v, want 3 from the survey", ps.NPS)
	}
	if ps.CSAT == nil || ps.CSAT.Score != 5 || ps.CSAT.Channel != "call_center" {
		t.Errorf("csat = %+v, want 5 (a good rating) from the help desk", ps.CSAT)
	}
	// Three texts: the help-desk rating's comment, the X message and the
	// survey's comment, which is the latest.
	latest := "Delivery took two weeks and nobody answered my emails. Very disappointed."
	if s := ps.Sentiment; s == nil || s.Responses != 3 || s.Score != sentiment.Analyze(latest).Score || s.Label != "negative" {
		t.Errorf("sentiment = %+v, want 3 responses, the latest negative", s)
	}
	if jane.Demographic.Name != "Jane Doe" || jane.Behavioral.LastChannel != "survey" {
		t.Errorf("name %q, last channel %q", jane.Demographic.Name, jane.Behavioral.LastChannel)
	}

	var sam profile.Profile
	eventually(t, 30*time.Second, "Sam's profile", func() (bool, string) {
		code := getJSON(t, base+"email:sam.lee@example.org", &sam)
		return code == http.StatusOK && sam.Transactional.Orders == 1, fmt.Sprintf("status %d orders %d", code, sam.Transactional.Orders)
	})
	if !maps.Equal(sam.Psychographic.Consent, map[string]bool{"email": false}) || !maps.Equal(sam.Transactional.Revenue, map[string]float64{"EUR": 1049}) {
		t.Errorf("sam: consent %v, revenue %v; want email consent withdrawn, 1049 EUR", sam.Psychographic.Consent, sam.Transactional.Revenue)
	}
}
