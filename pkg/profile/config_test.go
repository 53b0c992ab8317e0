package profile

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestExampleConfigMatchesDefaults keeps the profile section of
// docs/cxstream.example.yaml true to DefaultConfig: it must load with
// unknown keys as errors, and read over an empty Config spell out every
// default, but for the exchange rates it shows (there are none by default).
func TestExampleConfigMatchesDefaults(t *testing.T) {
	b, err := os.ReadFile("../../docs/cxstream.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]yaml.Node
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	node, ok := file["profile"]
	if !ok {
		t.Fatal("no profile section")
	}
	section, err := yaml.Marshal(&node)
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	dec := yaml.NewDecoder(bytes.NewReader(section))
	dec.KnownFields(true)
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("profile section: %v", err)
	}
	if len(got.Currency.Rates) == 0 {
		t.Error("the example shows no exchange rates")
	}
	got.Currency.Rates = map[string]float64{}
	if want := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("example profile section differs from DefaultConfig:\n got %+v\nwant %+v", got, want)
	}
	if _, err := got.Compile(); err != nil { // rates checked with the rest by pipeline.Load
		t.Error(err)
	}
}
