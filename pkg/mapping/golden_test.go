package mapping

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/golden"
	"github.com/cxstream/cxstream/pkg/identity"
)

// Every golden input is received at goldenNow for the tenant acme.
var goldenNow = time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)

const goldenTenant = "acme"

// goldenRecord is what became of one record: its events (validated
// envelopes), its errors, or that it was skipped.
type goldenRecord struct {
	Index   int            `json:"index"`
	Line    int            `json:"line,omitempty"`
	Events  []*event.Event `json:"events,omitempty"`
	Errors  event.Errors   `json:"errors,omitempty"`
	Skipped bool           `json:"skipped,omitempty"`
}

type goldenResult struct {
	Records    []goldenRecord `json:"records"`
	InputError string         `json:"input_error,omitempty"`
}

// run maps every record of an input the way the collector and importer
// do: read, map, prepare under the default identity rules' normalisation,
// and reject events whose identifiers are all blocked values.
func run(t testing.TB, m *Mapping, f Format, input []byte) goldenResult {
	policy, err := identity.DefaultRules().Compile()
	if err != nil {
		t.Fatal(err)
	}
	lim := event.DefaultLimits()
	lim.Normalize = policy.Normalize
	var res goldenResult
	for rec, err := range m.Read(f, bytes.NewReader(input), 32<<10) {
		var ie *InputError
		if errors.As(err, &ie) {
			res.InputError = ie.Error()
			break
		}
		gr := goldenRecord{Index: rec.Index, Line: rec.Line}
		if err == nil {
			var mapped []Mapped
			mapped, err = m.Map(rec, goldenTenant, goldenNow)
			for _, mp := range mapped {
				if err == nil {
					err = mp.Prepare(lim)
				}
				if _, ok := policy.Strongest(mp.Event.Identifiers); err == nil && !ok {
					err = event.Errors{{Field: "identifiers", Reason: event.AllBlocked}}
				}
				gr.Events = append(gr.Events, mp.Event)
			}
			gr.Skipped = err == nil && len(mapped) == 0
		}
		if err != nil {
			gr.Events = nil
			if !errors.As(err, &gr.Errors) {
				t.Fatalf("record %d: error %v is not event.Errors", rec.Index, err)
			}
		}
		res.Records = append(res.Records, gr)
	}
	return res
}

// TestGolden maps every sample payload of schemas/mappings/samples (named
// after its mapping: pos.csv is read by pos) and every bad input of
// testdata/bad, and compares the outcome with testdata/golden/FILE.golden.json.
// Run with -update to rewrite the golden files, then review the diff.
func TestGolden(t *testing.T) {
	set, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	samples, _ := filepath.Glob(filepath.Join("..", "..", "schemas", "mappings", "samples", "*"))
	bad, _ := filepath.Glob(filepath.Join("testdata", "bad", "*"))
	inputs := append(samples, bad...)
	if len(samples) == 0 || len(bad) == 0 {
		t.Fatal("no golden inputs found")
	}
	for _, in := range inputs {
		file := filepath.Base(in)
		t.Run(file, func(t *testing.T) {
			name, _, _ := strings.Cut(file, ".")
			m, ok := set.Get(name)
			if !ok {
				t.Fatalf("no mapping %q for %s", name, file)
			}
			f, ok := FormatOfFile(file)
			if !ok {
				t.Fatalf("no format for %s", file)
			}
			input, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			golden.JSON(t, filepath.Join("testdata", "golden", file+".golden.json"), run(t, m, f, input))
		})
	}
}

// TestEverySampleMapsCleanly keeps the shipped samples good examples:
// every record of a sample is mapped or deliberately skipped, none is
// rejected, and every built-in mapping has a sample.
func TestEverySampleMapsCleanly(t *testing.T) {
	set, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	samples, _ := filepath.Glob(filepath.Join("..", "..", "schemas", "mappings", "samples", "*"))
	covered := map[string]bool{}
	for _, in := range samples {
		file := filepath.Base(in)
		name, _, _ := strings.Cut(file, ".")
		m, ok := set.Get(name)
		if !ok {
			t.Errorf("sample %s: no mapping %q", file, name)
			continue
		}
		covered[name] = true
		f, _ := FormatOfFile(file)
		input, _ := os.ReadFile(in)
		res := run(t, m, f, input)
		if res.InputError != "" || len(res.Records) == 0 {
			t.Errorf("sample %s: input error %q, %d records", file, res.InputError, len(res.Records))
		}
		for _, r := range res.Records {
			if len(r.Errors) > 0 {
				t.Errorf("sample %s record %d rejected: %v", file, r.Index, r.Errors)
			}
		}
	}
	for _, name := range set.Names() {
		if !covered[name] {
			t.Errorf("mapping %s has no sample in schemas/mappings/samples", name)
		}
	}
}
