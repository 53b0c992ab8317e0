package trigger

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/sentiment"
)

// Feedback is what one event says about how the customer feels, read as
// the profile fold reads it (profile.FeedbackConfig): the NPS answer if
// its property holds a number from 0 to 10, the CSAT answer if its
// property holds a number from 1 to 5, and the first text property that
// is a non-blank string, with its sentiment.
type Feedback struct {
	NPS, CSAT *float64
	// Text is the feedback text, whole.
	Text      string
	Sentiment *sentiment.Result // of Text; nil without text
}

// ReadFeedback returns the feedback in e's properties.
func ReadFeedback(pc profile.FeedbackConfig, e *event.Event) Feedback {
	var f Feedback
	if !mentionsAny(e.Properties, pc) {
		return f
	}
	props := objectOf(e.Properties)
	if v, ok := numberOf(props[pc.NPSProperty]); ok && v >= 0 && v <= 10 {
		f.NPS = &v
	}
	if v, ok := numberOf(props[pc.CSATProperty]); ok && v >= 1 && v <= 5 {
		f.CSAT = &v
	}
	for _, k := range pc.TextProperties {
		if text, ok := stringOf(props[k]); ok && strings.TrimSpace(text) != "" {
			r := sentiment.Analyze(text)
			f.Text, f.Sentiment = text, &r
			break
		}
	}
	return f
}

// mentionsAny reports whether the properties may hold one of the feedback
// properties: a key spelled with an escape is not searched for, so any
// backslash counts. It spares decoding the properties of most events.
func mentionsAny(raw []byte, pc profile.FeedbackConfig) bool {
	if bytes.IndexByte(raw, '\\') >= 0 {
		return true
	}
	if quoted(raw, pc.NPSProperty) || quoted(raw, pc.CSATProperty) {
		return true
	}
	return slices.ContainsFunc(pc.TextProperties, func(k string) bool { return quoted(raw, k) })
}

// quoted reports whether raw contains "name" in double quotes.
func quoted(raw []byte, name string) bool {
	if name == "" {
		return false
	}
	for i := 0; ; {
		j := bytes.Index(raw[i:], []byte(name))
		if j < 0 {
			return false
		}
		j += i
		if j > 0 && raw[j-1] == '"' && j+len(name) < len(raw) && raw[j+len(name)] == '"' {
			return true
		}
		i = j + 1
	}
}

// The checks of an alert, in Alert.Signals.
const (
	SignalNPS       = "nps"
	SignalCSAT      = "csat"
	SignalSentiment = "sentiment"
	SignalComplaint = "complaint"
)

// Signals lists the checks, in the order an alert lists them.
var Signals = []string{SignalNPS, SignalCSAT, SignalSentiment, SignalComplaint}

// The survey scales of Alert.Scale.
const (
	ScaleNPS  = "nps"  // 0 to 10
	ScaleCSAT = "csat" // 1 to 5
)

// Alert is negative feedback from one event: a low survey answer,
// negative free text, or a complaint ticket.
type Alert struct {
	Channel   string    `json:"channel"`
	EventID   string    `json:"event_id"`
	EventName string    `json:"event_name"`
	EventAt   time.Time `json:"event_at"`
	// Signals lists the checks that fired, in the order of Signals.
	Signals []string `json:"signals"`
	// Score is the survey answer, on Scale: the one that fired, else the
	// one the event carried (NPS first).
	Score *float64 `json:"score,omitempty"`
	Scale string   `json:"scale,omitempty"`
	// Sentiment is that of Text.
	Sentiment *Sentiment `json:"sentiment,omitempty"`
	// Text is the feedback text, cut after 1,000 characters (Truncated).
	Text      string `json:"text,omitempty"`
	Truncated bool   `json:"text_truncated,omitempty"`
	// TicketID and Subject are the help-desk ticket's, if the event names
	// one (properties ticket_id and subject, as the help-desk mapping
	// writes them; the subject cut after 1,000 characters).
	TicketID string `json:"ticket_id,omitempty"`
	Subject  string `json:"subject,omitempty"`
}

// Sentiment is a text's sentiment (see pkg/sentiment).
type Sentiment struct {
	Label string `json:"label"`
	Score int    `json:"score"`
}

// NegativeFeedback decides whether event e, whose feedback is f
// (ReadFeedback), is negative feedback under cfg, and if so returns the
// alert. It fires on any of:
//   - an NPS answer at most cfg.NPSAtMost;
//   - a CSAT answer at most cfg.CSATAtMost;
//   - text labelled negative, on an event without an NPS or CSAT answer
//     (an answer outweighs the lexicon's reading of one message);
//   - a complaint: an event named in cfg.Complaints.Events whose
//     properties mark it as one.
func NegativeFeedback(cfg NegativeFeedbackConfig, e *event.Event, f Feedback) (*Alert, bool) {
	if !cfg.Enabled {
		return nil, false
	}
	var signals []string
	npsLow := f.NPS != nil && cfg.NPSAtMost >= 0 && *f.NPS <= cfg.NPSAtMost
	csatLow := f.CSAT != nil && cfg.CSATAtMost >= 0 && *f.CSAT <= cfg.CSATAtMost
	if npsLow {
		signals = append(signals, SignalNPS)
	}
	if csatLow {
		signals = append(signals, SignalCSAT)
	}
	if cfg.NegativeSentiment && f.NPS == nil && f.CSAT == nil && f.Sentiment != nil && f.Sentiment.Label == "negative" {
		signals = append(signals, SignalSentiment)
	}
	var props map[string]json.RawMessage
	if cc := cfg.Complaints; slices.Contains(cc.Events, e.Name) {
		props = objectOf(e.Properties)
		if complaint(cc, props) {
			signals = append(signals, SignalComplaint)
		}
	}
	if len(signals) == 0 {
		return nil, false
	}
	if props == nil {
		props = objectOf(e.Properties)
	}
	a := &Alert{Channel: e.Channel, EventID: e.EventID, EventName: e.Name,
		EventAt: e.EventTime.UTC().Truncate(time.Millisecond), Signals: signals}
	switch {
	case npsLow || (!csatLow && f.NPS != nil):
		v := *f.NPS
		a.Score, a.Scale = &v, ScaleNPS
	case f.CSAT != nil:
		v := *f.CSAT
		a.Score, a.Scale = &v, ScaleCSAT
	}
	if f.Sentiment != nil {
		a.Sentiment = &Sentiment{Label: f.Sentiment.Label, Score: f.Sentiment.Score}
		a.Text, a.Truncated = truncate(f.Text, maxText)
	}
	a.TicketID = textOf(props["ticket_id"])
	if s, ok := stringOf(props["subject"]); ok {
		a.Subject, _ = truncate(strings.TrimSpace(s), maxText)
	}
	return a, true
}

// complaint reports whether one of the properties holds a complaint value.
func complaint(cc ComplaintConfig, props map[string]json.RawMessage) bool {
	is := func(s string) bool {
		s = strings.TrimSpace(s)
		return slices.ContainsFunc(cc.Values, func(v string) bool { return strings.EqualFold(s, strings.TrimSpace(v)) })
	}
	for _, k := range cc.Properties {
		raw := props[k]
		if s, ok := stringOf(raw); ok {
			if is(s) {
				return true
			}
			words := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
			if slices.ContainsFunc(words, is) {
				return true
			}
			continue
		}
		var list []json.RawMessage
		if raw = bytes.TrimSpace(raw); len(raw) > 0 && raw[0] == '[' && json.Unmarshal(raw, &list) == nil {
			for _, item := range list {
				if s, ok := stringOf(item); ok && is(s) {
					return true
				}
			}
		}
	}
	return false
}

// Trigger returns the alert.negative_feedback trigger of a about p, at the
// event's time. Its key is the event's id, or for a complaint the
// ticket's id, so that the updates of one complaint ticket raise one
// alert.
func (a *Alert) Trigger(cfg NegativeFeedbackConfig, p *profile.Profile) *Trigger {
	key := string(TypeNegativeFeedback) + "/event/" + a.EventID
	if a.TicketID != "" && slices.Contains(a.Signals, SignalComplaint) {
		key = string(TypeNegativeFeedback) + "/ticket/" + a.TicketID
	}
	var why []string
	for _, s := range a.Signals {
		switch s {
		case SignalNPS:
			why = append(why, "NPS "+a.scoreOn(ScaleNPS)+"<= "+formatScore(cfg.NPSAtMost))
		case SignalCSAT:
			why = append(why, "CSAT "+a.scoreOn(ScaleCSAT)+"<= "+formatScore(cfg.CSATAtMost))
		case SignalSentiment:
			w := "negative text"
			if a.Sentiment != nil {
				w += " (sentiment " + strconv.Itoa(a.Sentiment.Score) + ")"
			}
			why = append(why, w)
		case SignalComplaint:
			c := "complaint"
			if a.TicketID != "" {
				c += " ticket " + a.TicketID
			}
			why = append(why, c)
		}
	}
	reason := "negative feedback: " + strings.Join(why, "; ") + " (" + a.EventName + " on " + a.Channel + ")"
	t := New(TypeNegativeFeedback, key, p, a.EventAt, reason, cfg.Purpose)
	t.Alert = a
	return t
}

// scoreOn returns the alert's score and a space if it is on scale.
func (a *Alert) scoreOn(scale string) string {
	if a.Score == nil || a.Scale != scale {
		return ""
	}
	return formatScore(*a.Score) + " "
}

func formatScore(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
