package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

func TestRebuildCommandLine(t *testing.T) {
	clearEnv(t)
	cfg := writeConfig(t, validConfig)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"without tenant", []string{"rebuild", "-config", cfg}, rebuildUsage},
		{"check without tenant", []string{"rebuild", "-config", cfg, "-check"}, rebuildUsage},
		{"with an argument", []string{"rebuild", "-config", cfg, "-tenant", "t1", "email:a@example.com"}, rebuildUsage},
		{"invalid tenant", []string{"rebuild", "-config", cfg, "-tenant", "T*1", "-check"}, `-tenant "T*1"`},
		{"misspelt flag", []string{"rebuild", "-config", cfg, "-tenant", "t1", "-chek"}, "-chek"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run %v: error %v, want one containing %q", tt.args, err, tt.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("run %v printed to stdout: %q", tt.args, stdout.String())
			}
		})
	}

	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "\n  rebuild ") || !strings.Contains(stdout.String(), "[-check]") {
		t.Errorf("usage does not describe rebuild:\n%s", stdout.String())
	}
}

// TestIntegrationRebuildVerb plays a few events into a tenant and its log,
// then: the check passes; after corrupting the graph the check fails and
// prints the difference; an in-place rebuild repairs the graph.
func TestIntegrationRebuildVerb(t *testing.T) {
	s := newServicesConfig(t)
	ctx := context.Background()
	ch, err := chstore.Open(ctx, s.ch)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if _, err := ch.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rcfg := redisstore.Default()
	rcfg.Addr = s.redis
	rs, err := redisstore.New(ctx, rcfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // cleanups run last first: delete, then close
		rs.Close()
	})
	t.Cleanup(func() { redisstoretest.DeleteTenant(t, rs, s.tenant) })

	t0 := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	ids := [][]string{
		{"anonymous_id:a1"}, {"anonymous_id:a1", "email:jane@example.com"}, {"user_id:u1", "email:jane@example.com"},
		{"anonymous_id:a2"}, {"phone:+4915112345678", "anonymous_id:a2"}, {"user_id:u2", "anonymous_id:a3"},
	}
	var items []redisstore.Item
	var rows []event.Resolved
	for i, set := range ids {
		e := &event.Event{EventID: fmt.Sprintf("e%d", i), Tenant: s.tenant, Channel: "web", Type: event.TypeTrack,
			Name: "Viewed", EventTime: t0.Add(time.Duration(len(ids)-i) * time.Minute)} // newest first
		for _, x := range set {
			id, _ := event.ParseIdentifier(x)
			e.Identifiers = append(e.Identifiers, id)
		}
		it, ok := redisstore.NewItem("cx.interactions/0", int64(i), e, rs.Policy(), rs.Model())
		if !ok {
			t.Fatal("blocked")
		}
		items = append(items, it)
		rows = append(rows, event.Resolved{ProfileID: "p", Event: e})
	}
	if _, err := rs.Apply(ctx, s.tenant, items); err != nil {
		t.Fatal(err)
	}
	if err := ch.InsertEvents(ctx, rows); err != nil {
		t.Fatal(err)
	}

	check := func() (checkOutput, error) {
		t.Helper()
		out, err := cxstream(t, "rebuild", "-config", s.path, "-tenant", s.tenant, "-check")
		var got checkOutput
		if jerr := json.Unmarshal([]byte(out), &got); jerr != nil {
			t.Fatalf("rebuild -check printed %q (%v): %v", out, err, jerr)
		}
		return got, err
	}
	got, err := check()
	if err != nil || got.DifferenceCount != 0 || got.Report.Replayed != len(ids) || got.Report.Profiles != 3 {
		t.Fatalf("check of an intact graph: %v, %+v", err, got)
	}

	// jane's email moved to u2's profile in the index only.
	u2, _, err := rs.Resolve(ctx, s.tenant, "user_id:u2")
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Client().HSet(ctx, "cx:{"+s.tenant+"}:idx", "email:jane@example.com", u2).Err(); err != nil {
		t.Fatal(err)
	}
	got, err = check()
	if err == nil || !strings.Contains(err.Error(), "differs") || got.DifferenceCount == 0 ||
		got.Differences[0].Kind != pipeline.DiffProfile {
		t.Fatalf("check of a corrupted graph: %v, %+v", err, got)
	}

	out, err := cxstream(t, "rebuild", "-config", s.path, "-tenant", s.tenant)
	if err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	var rep pipeline.RebuildReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Into != s.tenant || rep.DeletedKeys == 0 || rep.Replayed != len(ids) {
		t.Fatalf("rebuild printed %q (%v)", out, err)
	}
	if got, err := check(); err != nil || got.DifferenceCount != 0 {
		t.Fatalf("check after the rebuild: %v, %+v", err, got)
	}
	if pid, _, err := rs.Resolve(ctx, s.tenant, "email:jane@example.com"); err != nil || pid == u2 {
		t.Errorf("after the rebuild jane's email is on %s (%v), u2's profile is %s", pid, err, u2)
	}
}
