package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/synth"
	"github.com/cxstream/cxstream/pkg/testenv"
)

// fakeGraph is an identity graph as a resolver might leave it: identifier
// -> profile id. Each identifier answers "" to its first lag look-ups, like
// a pipeline still catching up.
type fakeGraph struct {
	mu     sync.Mutex
	of     map[string]string
	lag    int
	calls  map[string]int
	failOn string
}

func (g *fakeGraph) lookup(_ context.Context, id event.Identifier) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := id.String()
	if s == g.failOn {
		return "", errors.New("connection reset")
	}
	if g.calls == nil {
		g.calls = map[string]int{}
	}
	g.calls[s]++
	if g.calls[s] <= g.lag {
		return "", nil
	}
	return g.of[s], nil
}

// perfectGraph is what a correct resolver ends with: one profile per
// person, a shared tablet's identifiers with its first user, junk nowhere.
func perfectGraph(pop synth.Population) map[string]string {
	of := map[string]string{}
	for _, p := range pop.People {
		for _, id := range p.Identifiers {
			of[id] = fmt.Sprint("profile-", p.Index)
		}
	}
	for id, users := range pop.Shared {
		of[id] = fmt.Sprint("profile-", users[0])
	}
	return of
}

func TestMeasure(t *testing.T) {
	pop := population(t, 200)
	if len(pop.Junk) == 0 || len(pop.Shared) == 0 {
		t.Fatalf("population without junk (%v) or shared tablets (%d)", pop.Junk, len(pop.Shared))
	}
	var withJunk []int // people whose messages carry junk
	for _, p := range pop.People {
		for _, h := range p.Hazards {
			if h == synth.HazardJunk {
				withJunk = append(withJunk, p.Index)
			}
		}
	}
	strongest := identity.MustCompile(identity.DefaultRules()).Strongest
	tests := []struct {
		name    string
		graph   func() *fakeGraph
		wait    time.Duration
		wantErr string
		want    []string
	}{
		{
			name:  "a correct resolver, caught up after a few polls",
			graph: func() *fakeGraph { return &fakeGraph{of: perfectGraph(pop), lag: 3} },
			wait:  5 * time.Second,
			want: []string{
				"cxload: accuracy precision=1.0000 recall=1.0000 people=200 profiles=200 over_merged=0 split=0 unresolved=0\n",
				"identifier pairs: ", "events (filed under",
				fmt.Sprintf("junk identifiers: %d sent", len(pop.Junk)), "0 linked to a profile",
				fmt.Sprintf("shared tablets: %d identifiers", len(pop.Shared)),
				"caught up after",
			},
		},
		{
			name: "junk merged everyone who sent it",
			graph: func() *fakeGraph {
				of := perfectGraph(pop)
				for _, p := range withJunk {
					for _, id := range pop.People[p].Identifiers {
						of[id] = "junk-profile"
					}
				}
				for _, id := range pop.Junk {
					of[id] = "junk-profile"
				}
				return &fakeGraph{of: of}
			},
			wait: 5 * time.Second,
			want: []string{
				fmt.Sprintf("people=200 profiles=%d over_merged=1 split=0 unresolved=0\n", 200-len(withJunk)+1),
				fmt.Sprintf("worst over-merge: one profile holds identifiers of %d people\n", len(withJunk)),
				fmt.Sprintf("%d linked to a profile (want 0)", len(pop.Junk)),
			},
		},
		{
			name: "a person split in two",
			graph: func() *fakeGraph {
				of := perfectGraph(pop)
				p := pop.People[len(pop.People)-1]
				for _, p = range pop.People {
					if len(p.Identifiers) > 2 {
						break
					}
				}
				of[p.Identifiers[0]] = "stray-profile"
				return &fakeGraph{of: of}
			},
			wait: 5 * time.Second,
			want: []string{"people=200 profiles=201 over_merged=0 split=1 unresolved=0\n", "worst split: one person's identifiers are spread over 2 profiles"},
		},
		{
			name: "never catches up",
			graph: func() *fakeGraph {
				of := perfectGraph(pop)
				delete(of, pop.People[0].Identifiers[0])
				return &fakeGraph{of: of}
			},
			wait:    100 * time.Millisecond,
			wantErr: "did not catch up within 100ms",
			want:    []string{"recall=", "unresolved=1\n", "did not catch up"},
		},
		{
			name:    "a look-up fails",
			graph:   func() *fakeGraph { return &fakeGraph{of: perfectGraph(pop), failOn: pop.People[3].Identifiers[0]} },
			wait:    5 * time.Second,
			wantErr: "connection reset",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.graph()
			var out bytes.Buffer
			o := options{wait: tt.wait, poll: 10 * time.Millisecond}
			err := measure(context.Background(), &out, o, g.lookup, strongest, pop)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("measure: %v\n%s", err, out.String())
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("measure: error %v, want one containing %q", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			t.Logf("\n%s", out.String())
		})
	}
}

// waitForPipeline needs two equal look-ups in a row: an answer that is
// still changing (a merge landing) is not final.
func TestWaitForPipelineWaitsForStableAnswers(t *testing.T) {
	var mu sync.Mutex
	round := 0 // look-ups of b
	lookup := func(_ context.Context, id event.Identifier) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if id.Value != "b" {
			return "p", nil
		}
		round++
		if round < 4 {
			return fmt.Sprint("moving-", round), nil // re-pointed by merges
		}
		return "p", nil
	}
	res, err := waitForPipeline(context.Background(), lookup, []string{"x:a", "x:b"}, []string{"x:a", "x:b"}, 5*time.Second, time.Millisecond)
	if err != nil || !res.ok {
		t.Fatalf("waitForPipeline = %+v, %v", res, err)
	}
	if round != 5 || res.profiles["x:b"] != "p" {
		t.Errorf("done after %d look-ups with b in %q, want 5 and the settled profile p", round, res.profiles["x:b"])
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := waitForPipeline(ctx, lookup, []string{"x:a"}, []string{"x:a"}, time.Second, time.Millisecond); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}

func TestRunFlags(t *testing.T) {
	t.Setenv("CXSTREAM_CONFIG", "")
	for _, name := range pipeline.EnvVars() {
		t.Setenv(name, "")
	}
	config := writeKeysConfig(t, "demo", synth.Channels)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"junk share above 1", []string{"-junk", "1.5"}, "junk share"},
		{"negative shared devices", []string{"-shared-devices", "-0.1"}, "shared device share"},
		{"second emails not a number", []string{"-second-emails", "many"}, "invalid value"},
		{"phone-only above 1", []string{"-phone-only", "2"}, "phone-only share"},
		{"known above 1", []string{"-known", "1.2"}, "known share"},
		{"negative people", []string{"-people", "-3"}, "people"},
		{"no batch", []string{"-batch", "0"}, "-batch"},
		{"no chunk", []string{"-chunk", "0"}, "-chunk must be at least 1"},
		{"negative events", []string{"-events", "-2"}, "events: must be between 0"},
		{"merge rate above 1", []string{"-merge-rate", "1.5"}, "merge rate: must be between 0 and 1"},
		{"more hot keys than people", []string{"-hot-keys", "6"}, "hot keys: must be at most people (5)"},
		{"hot share without hot keys", []string{"-events", "20", "-hot-share", "0.5"}, "hot share: 0.5 of the filler events needs hot keys > 0"},
		{"hot share without events", []string{"-hot-keys", "2", "-hot-share", "0.5"}, "needs events > 0"},
		{"no wait", []string{"-accuracy", "-wait", "0s"}, "-wait"},
		{"a stray argument", []string{"extra"}, "unexpected arguments"},
		{"unreachable redis", []string{"-accuracy", "-redis", "127.0.0.1:1"}, "-accuracy: reach redis at 127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests int
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				requests++
				mu.Unlock()
				io.Copy(io.Discard, r.Body)
			}))
			defer srv.Close()
			args := append([]string{"-config", config, "-collector", srv.URL, "-people", "5"}, tt.args...)
			err := run(context.Background(), args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run: error %v, want one containing %q", err, tt.wantErr)
			}
			if requests != 0 {
				t.Errorf("run sent %d requests before failing", requests)
			}
		})
	}
}

// The hazard flags shape the population that is sent.
func TestRunHazardFlags(t *testing.T) {
	t.Setenv("CXSTREAM_CONFIG", "")
	for _, name := range pipeline.EnvVars() {
		t.Setenv(name, "")
	}
	config := writeKeysConfig(t, "demo", synth.Channels)
	count := func(args ...string) (junk int) {
		t.Helper()
		c := &collector{}
		srv := httptest.NewServer(c)
		defer srv.Close()
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"-config", config, "-collector", srv.URL, "-people", "60"}, args...), &out); err != nil {
			t.Fatalf("run %v: %v", args, err)
		}
		for _, r := range c.received() {
			for _, m := range r.body.Batch {
				if m["anonymousId"] == "undefined" || m["anonymousId"] == "null" || strings.Contains(fmt.Sprint(m), "test@test.com") ||
					strings.Contains(fmt.Sprint(m), "00000000-0000-0000-0000-000000000000") {
					junk++
				}
			}
		}
		return junk
	}
	if n := count("-junk", "0"); n != 0 {
		t.Errorf("-junk 0: %d messages with junk identifiers", n)
	}
	if n := count("-junk", "1"); n != 60 {
		t.Errorf("-junk 1: %d messages with junk identifiers, want one per person (60)", n)
	}
}

// Against a real Redis with nothing resolved (a tenant nobody writes),
// -accuracy waits, reports every identifier unresolved and fails.
func TestIntegrationRunAccuracyTimesOut(t *testing.T) {
	addr := testenv.Redis(t)
	t.Setenv("CXSTREAM_CONFIG", "")
	for _, name := range pipeline.EnvVars() {
		t.Setenv(name, "")
	}
	b := make([]byte, 4)
	rand.Read(b)
	tenant := "cxload-" + hex.EncodeToString(b)
	srv := httptest.NewServer(&collector{})
	defer srv.Close()
	var out bytes.Buffer
	err := run(context.Background(), []string{"-config", writeKeysConfig(t, tenant, synth.Channels), "-tenant", tenant,
		"-collector", srv.URL, "-people", "20", "-accuracy", "-redis", addr, "-wait", "700ms"}, &out)
	if err == nil || !strings.Contains(err.Error(), "did not catch up within 700ms") {
		t.Fatalf("run: error %v, want a timeout\n%s", err, out.String())
	}
	pop := population(t, 20)
	n := len(pop.IdentifierTruth())
	for _, want := range []string{
		"cxload: people=20 ",
		fmt.Sprintf("cxload: accuracy precision=1.0000 recall=0.0000 people=20 profiles=0 over_merged=0 split=%d unresolved=%d\n", countSplittable(pop), n),
		fmt.Sprintf(": 0 of %d identifiers resolved", n+len(pop.Shared)),
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// countSplittable counts the people with more than one identifier: those a
// graph that resolves nothing splits.
func countSplittable(pop synth.Population) int {
	n := 0
	for _, p := range pop.People {
		if len(p.Identifiers) > 1 {
			n++
		}
	}
	return n
}
