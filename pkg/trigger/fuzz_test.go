package trigger

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/profile"
)

// FuzzNegativeFeedback checks, on arbitrary properties and event names,
// that reading feedback, deciding on it and building the trigger never
// panic, that the alert keeps its promises, and that ReadFeedback reads
// what the profile fold reads.
func FuzzNegativeFeedback(f *testing.F) {
	for _, seed := range []struct{ name, props string }{
		{"Survey Responded", `{"nps":3,"comment":"Very disappointed."}`},
		{"Survey Responded", `{"csat":1,"ticket_id":"48213"}`},
		{"Ticket Opened", `{"ticket_id":48213,"subject":"Shoes arrived damaged","tags":["damaged","complaint"]}`},
		{"Ticket Updated", `{"tags":"a, complaint","type":null,"category":[1,"x"]}`},
		{"Social Message Received", `{"comment":"terrible \xff\xfe"}`},
		{"Survey Responded", `{"nps":1e400,"csat":-0,"feedback":"","review":"awful"}`},
		{"Survey Responded", `{"\u006eps":2}`},
		{"", `[`},
		{"", ``},
	} {
		f.Add(seed.name, []byte(seed.props))
	}
	cfg := Default().NegativeFeedback
	pc := profile.DefaultConfig().Feedback
	p := jane()
	f.Fuzz(func(t *testing.T, name string, props []byte) {
		e := &event.Event{EventID: "e1", Tenant: "acme", Channel: "survey", Type: event.TypeTrack, Name: name,
			EventTime: t0, Properties: props}
		fb := ReadFeedback(pc, e)
		if json.Valid(props) {
			agree(t, string(props))
		}
		a, ok := NegativeFeedback(cfg, e, fb)
		if !ok {
			if a != nil {
				t.Fatal("an alert without ok")
			}
			return
		}
		if len(a.Signals) == 0 || !slices.IsSortedFunc(a.Signals, func(x, y string) int {
			return slices.Index(Signals, x) - slices.Index(Signals, y)
		}) {
			t.Errorf("signals %q", a.Signals)
		}
		for _, s := range a.Signals {
			if !slices.Contains(Signals, s) {
				t.Errorf("unknown signal %q", s)
			}
		}
		switch a.Scale {
		case "":
			if a.Score != nil {
				t.Error("a score without a scale")
			}
		case ScaleNPS:
			if *a.Score < 0 || *a.Score > 10 {
				t.Errorf("nps %v", *a.Score)
			}
		case ScaleCSAT:
			if *a.Score < 1 || *a.Score > 5 {
				t.Errorf("csat %v", *a.Score)
			}
		default:
			t.Errorf("scale %q", a.Scale)
		}
		if utf8.RuneCountInString(a.Text) > maxText || utf8.RuneCountInString(a.Subject) > maxText {
			t.Errorf("text of %d, subject of %d characters", utf8.RuneCountInString(a.Text), utf8.RuneCountInString(a.Subject))
		}
		tr := a.Trigger(cfg, p)
		if _, err := json.Marshal(tr); err != nil {
			t.Error(err)
		}
	})
}

// FuzzCartOf checks that any properties give a cart that marshals.
func FuzzCartOf(f *testing.F) {
	f.Add([]byte(`{"product_id":"p1","price":89.9,"quantity":2,"currency":"eur"}`))
	f.Add([]byte(`{"products":[{"quantity":3},{}],"value":"12.5"}`))
	f.Add([]byte(`{"products":{},"price":1e308,"quantity":1e9}`))
	f.Add([]byte(`nul`))
	cfg := Default().Cart
	f.Fuzz(func(t *testing.T, props []byte) {
		c := CartOf(cfg, &event.Event{EventID: "e1", Type: event.TypeTrack, Name: "Product Added", EventTime: t0, Properties: props})
		if c.Items < 0 {
			t.Errorf("items %d", c.Items)
		}
		if _, err := json.Marshal(c.Trigger(cfg, jane())); err != nil {
			t.Error(err)
		}
	})
}

// FuzzParseDuration checks that a parsed duration is never negative and
// reads back the same from its String.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1h", "7d", "1d12h", "90m", "0", "-1h", "1.5s", "99999d", "d1h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		// Only Go's notation can be negative ("-1h"); days cannot.
		if _, derr := time.ParseDuration(strings.TrimSpace(s)); d < 0 && derr != nil {
			t.Errorf("%q parsed as %s", s, time.Duration(d))
		}
		again, err := ParseDuration(d.String())
		if err != nil || again != d {
			t.Errorf("%q -> %s -> %v, %v", s, d, time.Duration(again), err)
		}
	})
}
