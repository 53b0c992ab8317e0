package pipeline_test

import (
	"reflect"
	"testing"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pipeline/resolve"
	"github.com/cxstream/cxstream/pkg/segment"
	"github.com/cxstream/cxstream/pkg/trigger"
)

// TestExampleConfigLoads keeps docs/cxstream.example.yaml true: it loads
// as cxstream loads it (unknown keys are errors, every section validated),
// and its segments, triggers and resolver timers are the shipped defaults
// spelled out. (pkg/identity and pkg/profile check their own sections.)
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := pipeline.Load("../docs/cxstream.example.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if want := segment.Default(); !reflect.DeepEqual(cfg.Segments, want) {
		t.Errorf("example segments differ from segment.Default():\n got %#v\nwant %#v", cfg.Segments, want)
	}
	if want := trigger.Default(); !reflect.DeepEqual(cfg.Triggers, want) {
		t.Errorf("example triggers differ from trigger.Default():\n got %#v\nwant %#v", cfg.Triggers, want)
	}
	if want := resolve.DefaultTimers(); cfg.Resolver.Timers != want {
		t.Errorf("example resolver.timers = %+v, want resolve.DefaultTimers() %+v", cfg.Resolver.Timers, want)
	}
	if _, err := segment.Compile(cfg.Segments); err != nil {
		t.Errorf("example segments do not compile: %v", err)
	}
}
