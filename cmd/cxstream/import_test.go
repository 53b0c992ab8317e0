package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
)

// TestImportDryRun maps the shipped POS samples and a file with a bad row
// without Kafka: the envelopes go to stdout, the bad row to stderr with its
// file and line, and the last line counts them.
func TestImportDryRun(t *testing.T) {
	clearEnv(t)
	cfg := writeConfig(t, validConfig)
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("kind,receipt_id,store_id,completed_at,loyalty_card,total\nsale,R-1,S1,2026-03-02 10:00:00,,5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	samples := filepath.Join("..", "..", "schemas", "mappings", "samples")
	var stdout, stderr bytes.Buffer
	args := []string{"import", "-config", cfg, "-tenant", "t1", "-mapping", "pos", "-dry-run",
		filepath.Join(samples, "pos.ndjson"), filepath.Join(samples, "pos.csv"), bad}
	if err := run(context.Background(), args, &stdout, &stderr); err == nil || err.Error() != "1 records rejected (listed on stderr)" {
		t.Fatalf("run: %v, want the rejected record to fail the command\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 7 || lines[6] != "import (dry run, nothing published): mapping=pos records=7 events=6 rejected=1 skipped=0" {
		t.Fatalf("stdout:\n%s", stdout.String())
	}
	for _, l := range lines[:6] {
		e, err := event.Decode([]byte(l))
		if err != nil || e.Tenant != "t1" || e.Channel != "store" {
			t.Errorf("envelope %s: %v", l, err)
		}
	}
	if want := bad + ": line 2: loyalty_card, email, phone: the record has none of these identifiers; at least one is required\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

func TestImportErrors(t *testing.T) {
	clearEnv(t)
	cfg := writeConfig(t, validConfig)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"import", "-config", cfg, "-tenant", "t1", "x.csv"}, "usage: cxstream import"},
		{[]string{"import", "-config", cfg, "-tenant", "t1", "-mapping", "fax", "x.csv"}, `unknown mapping "fax"`},
		{[]string{"import", "-config", cfg, "-tenant", "t1", "-mapping", "pos", "-dry-run", "x.txt"}, "cannot tell the format"},
		{[]string{"import", "-config", cfg, "-tenant", "t1", "-mapping", "pos", "-dry-run", "missing.csv"}, "no such file"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tt.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestMappingsLists(t *testing.T) {
	clearEnv(t)
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"mappings", "-config", writeConfig(t, validConfig)}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"email", "helpdesk", "pos", "social", "survey"} {
		if !strings.Contains(stdout.String(), `"endpoint":"POST /v1/channels/`+name+`"`) {
			t.Errorf("%s missing:\n%s", name, stdout.String())
		}
	}
}
