package trigger

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/profile"
)

func TestNegativeFeedback(t *testing.T) {
	long := strings.Repeat("é", 1200) // 2 bytes a character
	tests := []struct {
		name     string
		e        *event.Event
		alert    bool
		signals  []string
		score    float64 // if alert and a scale
		scale    string
		label    string // sentiment label, if text
		ticketID string
		subject  string
	}{
		// NPS, as the survey mapping writes it.
		{name: "nps detractor with text", e: track("Survey Responded", "survey",
			`{"survey":"nps","nps":3,"comment":"Delivery took two weeks and nobody answered my emails. Very disappointed."}`),
			alert: true, signals: []string{"nps"}, score: 3, scale: "nps", label: "negative"},
		{name: "nps 6 is a detractor", e: track("Survey Responded", "survey", `{"nps":6}`),
			alert: true, signals: []string{"nps"}, score: 6, scale: "nps"},
		{name: "nps 0", e: track("Survey Responded", "survey", `{"nps":0}`),
			alert: true, signals: []string{"nps"}, score: 0, scale: "nps"},
		{name: "nps 7 passive", e: track("Survey Responded", "survey", `{"nps":7}`)},
		{name: "nps 10 with negative text: the score decides", e: track("Survey Responded", "survey",
			`{"nps":10,"comment":"terrible, awful, worst"}`)},
		{name: "nps as a string is no answer (as in the profile)", e: track("Survey Responded", "survey", `{"nps":"3"}`)},
		{name: "nps out of range", e: track("Survey Responded", "survey", `{"nps":11}`)},
		{name: "nps negative out of range", e: track("Survey Responded", "survey", `{"nps":-1}`)},
		// CSAT, as the survey and help-desk mappings write it.
		{name: "csat 1 (help desk bad)", e: track("Survey Responded", "call_center",
			`{"survey":"csat","ticket_id":"48213","csat":1,"comment":"Still waiting."}`),
			alert: true, signals: []string{"csat"}, score: 1, scale: "csat", label: "neutral", ticketID: "48213"},
		{name: "csat 2", e: track("Survey Responded", "survey", `{"csat":2}`),
			alert: true, signals: []string{"csat"}, score: 2, scale: "csat"},
		{name: "csat 3", e: track("Survey Responded", "survey", `{"csat":3}`)},
		{name: "csat 5 (help desk good)", e: track("Survey Responded", "call_center",
			`{"ticket_id":"48213","csat":5,"comment":"Tom was very helpful, thank you!"}`)},
		{name: "csat 0 out of range", e: track("Survey Responded", "survey", `{"csat":0}`)},
		{name: "nps low and csat good", e: track("Survey Responded", "survey", `{"nps":2,"csat":5}`),
			alert: true, signals: []string{"nps"}, score: 2, scale: "nps"},
		{name: "csat low and nps good: the low one is shown", e: track("Survey Responded", "survey", `{"nps":9,"csat":1}`),
			alert: true, signals: []string{"csat"}, score: 1, scale: "csat"},
		// Free text without a score: social messages, reviews.
		{name: "negative social message", e: track("Social Message Received", "social",
			`{"platform":"x","comment":"@shop awful experience, the shoes fell apart 😡"}`),
			alert: true, signals: []string{"sentiment"}, label: "negative"},
		{name: "positive social message", e: track("Social Message Received", "social",
			`{"comment":"@shop my replacement shoes arrived today, great service 👍"}`)},
		{name: "neutral question", e: track("Social Message Received", "social",
			`{"comment":"Ciao, il negozio di Monaco è aperto domenica?"}`)},
		{name: "negative review (second text property)", e: track("Product Reviewed", "web",
			`{"feedback":"  ","review":"Terrible quality, it broke after a day."}`),
			alert: true, signals: []string{"sentiment"}, label: "negative"},
		{name: "text in a property the profile does not read", e: track("Note Added", "web", `{"note":"terrible"}`)},
		{name: "long negative text is cut", e: track("Social Message Received", "social",
			`{"comment":"terrible `+long+`"}`), alert: true, signals: []string{"sentiment"}, label: "negative"},
		// Complaint tickets, as the help-desk mapping writes them.
		{name: "complaint tag on a new ticket", e: track("Ticket Opened", "call_center",
			`{"ticket_id":"48213","subject":"Shoes arrived damaged","tags":["damaged","complaint"]}`),
			alert: true, signals: []string{"complaint"}, ticketID: "48213", subject: "Shoes arrived damaged"},
		{name: "complaint tag added in an update, upper case", e: track("Ticket Updated", "call_center",
			`{"ticket_id":48213,"tags":["Complaint"]}`), alert: true, signals: []string{"complaint"}, ticketID: "48213"},
		{name: "complaint as a type", e: track("Ticket Opened", "call_center", `{"type":"complaint"}`),
			alert: true, signals: []string{"complaint"}},
		{name: "complaint in space-separated tags", e: track("Ticket Opened", "call_center",
			`{"tags":"damaged complaint vip"}`), alert: true, signals: []string{"complaint"}},
		{name: "complaint in comma-separated category", e: track("Ticket Opened", "call_center",
			`{"category":"billing,complaint"}`), alert: true, signals: []string{"complaint"}},
		{name: "ticket without the tag", e: track("Ticket Opened", "call_center",
			`{"ticket_id":"1","subject":"Where is my order?","tags":["shipping"]}`)},
		{name: "complaint-ish word is not the tag", e: track("Ticket Opened", "call_center", `{"tags":["complaints_team"]}`)},
		{name: "solved complaint ticket does not alert again", e: track("Ticket Solved", "call_center",
			`{"ticket_id":"48213","tags":["damaged","complaint","replacement_sent"]}`)},
		{name: "complaint tag on another event", e: track("Survey Responded", "survey", `{"tags":["complaint"]}`)},
		{name: "complaint tag in another property", e: track("Ticket Opened", "call_center", `{"labels":["complaint"]}`)},
		// Several at once.
		{name: "complaint ticket with negative text", e: track("Ticket Opened", "call_center",
			`{"ticket_id":"7","tags":["complaint"],"comment":"awful"}`),
			alert: true, signals: []string{"sentiment", "complaint"}, label: "negative", ticketID: "7"},
		// Nothing to read.
		{name: "order", e: track("Order Completed", "web", `{"order_id":"o1","revenue":20}`)},
		{name: "no properties", e: &event.Event{Type: event.TypeIdentify}},
		{name: "properties not an object", e: track("Survey Responded", "survey", `[{"nps":1}]`)},
		{name: "escaped key", e: track("Survey Responded", "survey", `{"\u006eps":1}`),
			alert: true, signals: []string{"nps"}, score: 1, scale: "nps"},
	}
	cfg := Default().NegativeFeedback
	pc := profile.DefaultConfig().Feedback
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ReadFeedback(pc, tt.e)
			a, ok := NegativeFeedback(cfg, tt.e, f)
			if ok != tt.alert || (a != nil) != ok {
				t.Fatalf("alert %v (%+v), want %v", ok, a, tt.alert)
			}
			if !ok {
				return
			}
			if !slices.Equal(a.Signals, tt.signals) {
				t.Errorf("signals %q, want %q", a.Signals, tt.signals)
			}
			if a.Scale != tt.scale || (tt.scale != "" && *a.Score != tt.score) || (tt.scale == "" && a.Score != nil) {
				t.Errorf("score %v on %q, want %v on %q", a.Score, a.Scale, tt.score, tt.scale)
			}
			if (a.Sentiment == nil) != (tt.label == "") || (a.Sentiment != nil && a.Sentiment.Label != tt.label) {
				t.Errorf("sentiment %+v, want label %q", a.Sentiment, tt.label)
			}
			if a.TicketID != tt.ticketID || a.Subject != tt.subject {
				t.Errorf("ticket %q %q, want %q %q", a.TicketID, a.Subject, tt.ticketID, tt.subject)
			}
			if a.Channel != tt.e.Channel || a.EventID != tt.e.EventID || a.EventName != tt.e.Name || !a.EventAt.Equal(tt.e.EventTime) {
				t.Errorf("event fields %+v", a)
			}
			if n := len([]rune(a.Text)); n > 1000 || a.Truncated != (len([]rune(f.Text)) > 1000) {
				t.Errorf("text of %d characters, truncated %v", n, a.Truncated)
			}
			if a.Sentiment != nil && !strings.HasPrefix(f.Text, a.Text) {
				t.Errorf("text %q is not the start of the feedback", a.Text)
			}
		})
	}
}

func TestNegativeFeedbackConfig(t *testing.T) {
	pc := profile.DefaultConfig().Feedback
	low := track("Survey Responded", "survey", `{"nps":2,"csat":1}`)
	text := track("Social Message Received", "social", `{"comment":"terrible"}`)
	ticket := track("Ticket Opened", "call_center", `{"tags":["complaint"]}`)
	tests := []struct {
		name   string
		change func(*NegativeFeedbackConfig)
		e      *event.Event
		alert  bool
	}{
		{"disabled", func(c *NegativeFeedbackConfig) { c.Enabled = false }, low, false},
		{"nps and csat checks off", func(c *NegativeFeedbackConfig) { c.NPSAtMost, c.CSATAtMost = -1, -1 }, low, false},
		{"nps check off, csat on", func(c *NegativeFeedbackConfig) { c.NPSAtMost = -1 }, low, true},
		{"stricter nps", func(c *NegativeFeedbackConfig) { c.NPSAtMost, c.CSATAtMost = 1, -1 }, low, false},
		{"sentiment off", func(c *NegativeFeedbackConfig) { c.NegativeSentiment = false }, text, false},
		{"complaints off", func(c *NegativeFeedbackConfig) { c.Complaints.Events = nil }, ticket, false},
		{"other complaint word", func(c *NegativeFeedbackConfig) { c.Complaints.Values = []string{"escalation"} }, ticket, false},
	}
	for _, tt := range tests {
		cfg := Default().NegativeFeedback
		tt.change(&cfg)
		if _, ok := NegativeFeedback(cfg, tt.e, ReadFeedback(pc, tt.e)); ok != tt.alert {
			t.Errorf("%s: alert %v, want %v", tt.name, ok, tt.alert)
		}
	}
	// Property names follow the profile's configuration.
	pc.NPSProperty = "score"
	e := track("Survey Responded", "survey", `{"score":1,"nps":9}`)
	if a, ok := NegativeFeedback(Default().NegativeFeedback, e, ReadFeedback(pc, e)); !ok || *a.Score != 1 {
		t.Errorf("nps_property score: %v %+v", ok, a)
	}
}

// ReadFeedback reads what the profile fold reads: the same scores and the
// same sentiment score.
func TestReadFeedbackAgreesWithProfile(t *testing.T) {
	for _, props := range []string{
		`{"nps":3,"comment":"Very disappointed."}`, `{"nps":"3"}`, `{"nps":11}`, `{"nps":2.5}`, `{"csat":1}`,
		`{"csat":0}`, `{"csat":5,"nps":10}`, `{"feedback":"","comment":"bad","review":"good"}`, `{"comment":"  "}`,
		`{"comment":42}`, `{}`, `[]`, `null`, ``, `{"nps":-0}`, `{"nps":1e1}`, `{"\u0063omment":"awful"}`,
	} {
		agree(t, props)
	}
}

func agree(t *testing.T, props string) {
	t.Helper()
	m := profile.Default()
	e := track("Survey Responded", "survey", props)
	s := profile.State{}
	for _, u := range m.Updates(e) {
		s.Apply(u)
	}
	p := m.Render("acme", "p", s, profile.Meta{AsOf: t0})
	f := ReadFeedback(profile.DefaultConfig().Feedback, e)
	same := func(a *float64, b *profile.Score) bool {
		return (a == nil) == (b == nil) && (a == nil || *a == b.Score)
	}
	if !same(f.NPS, p.Psychographic.NPS) || !same(f.CSAT, p.Psychographic.CSAT) {
		t.Errorf("%s: trigger reads nps %v csat %v, profile %+v %+v", props, f.NPS, f.CSAT, p.Psychographic.NPS, p.Psychographic.CSAT)
	}
	ps := p.Psychographic.Sentiment
	if (f.Sentiment == nil) != (ps == nil) || (ps != nil && (f.Sentiment.Score != ps.Score || f.Sentiment.Label != ps.Label)) {
		t.Errorf("%s: trigger reads sentiment %+v, profile %+v", props, f.Sentiment, ps)
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		in, out string
		n       int
		cut     bool
	}{
		{"abc", "abc", 3, false},
		{"abcd", "abc", 3, true},
		{"héllo", "hé", 2, true},
		{"日本語", "日本語", 3, false},
		{"", "", 0, false},
		{"a", "", 0, true},
		{"\xff\xfeb", "\xff\xfe", 2, true},
	} {
		if out, cut := truncate(tt.in, tt.n); out != tt.out || cut != tt.cut {
			t.Errorf("truncate(%q, %d) = %q, %v; want %q, %v", tt.in, tt.n, out, cut, tt.out, tt.cut)
		}
	}
}

func TestAlertJSON(t *testing.T) {
	e := track("Survey Responded", "survey", `{"nps":3,"comment":"Very disappointed."}`)
	a, _ := NegativeFeedback(Default().NegativeFeedback, e, ReadFeedback(profile.DefaultConfig().Feedback, e))
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"channel":"survey","event_id":"e-survey-responded","event_name":"Survey Responded",` +
		`"event_at":"2026-03-12T18:20:00Z","signals":["nps"],"score":3,"scale":"nps",` +
		`"sentiment":{"label":"negative","score":-1000},"text":"Very disappointed."}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	var back Alert
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, a) {
		t.Errorf("round trip %v: %+v", err, back)
	}
}
