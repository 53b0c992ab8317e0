package collect

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
	"github.com/cxstream/cxstream/pkg/mapping"
)

func newTestImporter(t *testing.T, name string, pub Publisher) *Importer {
	t.Helper()
	return newImporterTopics(t, name, kafkaio.DefaultTopics(), pub)
}

func newImporterTopics(t *testing.T, name string, topics kafkaio.Topics, pub Publisher) *Importer {
	t.Helper()
	set, err := mapping.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := set.Get(name)
	im, err := NewImporter(ImportConfig{Mapping: m, Tenant: "acme", Rules: identity.DefaultRules(), Topics: topics,
		Limits: event.DefaultLimits(), BatchSize: 2}, pub)
	if err != nil {
		t.Fatal(err)
	}
	im.now = func() time.Time { return channelNow }
	return im
}

func TestImporterBatchesAndDeadLetters(t *testing.T) {
	pub := &fakePublisher{}
	im := newTestImporter(t, "pos", pub)
	ndjson := `{"kind":"sale","receipt_id":"R-1","store_id":"S1","completed_at":"2026-02-27 10:00:00","loyalty_card":"LC-1","total":1}
{"kind":"sale","receipt_id":"R-2","store_id":"S1","completed_at":"2026-02-27 10:00:00","total":1}

{"kind":"sale","receipt_id":"R-3","store_id":"S1","completed_at":"2026-02-27 10:00:00","loyalty_card":"LC-3","total":1}
{"kind":"sale","receipt_id":"R-4","store_id":"S1","completed_at":"2026-02-27 10:00:00","loyalty_card":"LC-4","total":1}
`
	res, err := im.Import(context.Background(), "receipts.ndjson", mapping.NDJSON, strings.NewReader(ndjson))
	if err != nil {
		t.Fatal(err)
	}
	if res != (ImportResult{Records: 4, Events: 3, Rejected: 1}) {
		t.Errorf("result %+v", res)
	}
	if len(pub.calls) != 2 {
		t.Errorf("%d publish calls, want 2 (batch size 2)", len(pub.calls))
	}
	var dead int
	for _, m := range pub.published() {
		if m.Topic != kafkaio.DefaultTopics().DeadLetter {
			continue
		}
		dead++
		if header(m, headerSource) != "receipts.ndjson" || header(m, headerRecordLine) != "2" || header(m, kafkaio.HeaderStage) != "import" ||
			!strings.Contains(string(m.Value), `"R-2"`) || !strings.Contains(header(m, kafkaio.HeaderError), "none of these identifiers") {
			t.Errorf("dead letter %s %v", m.Value, m.Headers)
		}
	}
	if dead != 1 {
		t.Errorf("%d dead letters", dead)
	}

	// An unreadable input stops the import with an error naming it.
	_, err = im.Import(context.Background(), "broken.json", mapping.JSON, strings.NewReader(`[{"a":`))
	if err == nil || !strings.Contains(err.Error(), "broken.json: the body is not a JSON array") {
		t.Errorf("error %v", err)
	}
	// A failing publish is an error, never a silent success.
	failing := newTestImporter(t, "pos", &fakePublisher{err: errors.New("broker down")})
	if _, err := failing.Import(context.Background(), "x.ndjson", mapping.NDJSON, strings.NewReader(ndjson)); err == nil || !strings.Contains(err.Error(), "broker down") {
		t.Errorf("error %v", err)
	}
}

func TestNewImporterChecks(t *testing.T) {
	_, err := NewImporter(ImportConfig{Tenant: "Bad Tenant", Rules: identity.DefaultRules(), Topics: kafkaio.DefaultTopics()}, nil)
	for _, want := range []string{"a mapping is required", "tenant \"Bad Tenant\"", "a publisher is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}

// TestIntegrationImport imports the shipped POS CSV sample and a bad row
// into the real Kafka and reads back the envelopes and the dead letter.
func TestIntegrationImport(t *testing.T) {
	cfg := kafkaiotest.Config(t, 2)
	w := kafkaio.NewWriter(cfg)
	t.Cleanup(func() { _ = w.Close() })
	im := newImporterTopics(t, "pos", cfg.Topics, w)
	input := append(sample(t, "pos.csv"), []byte("sale,R-9,MUC-02,Munich,2026-03-02 09:45:00,LC-9,,,,,lots,EUR,3,card,,\n")...)
	res, err := im.Import(context.Background(), "pos.csv", mapping.CSV, bytes.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if res != (ImportResult{Records: 4, Events: 3, Rejected: 1}) {
		t.Errorf("result %+v", res)
	}
	envelopes := readTopic(t, cfg, cfg.Topics.Interactions, 3)
	for _, m := range envelopes {
		e, err := event.Decode(m.Value)
		if err != nil || e.Channel != "store" || string(m.Key) != e.Identifiers[0].String() {
			t.Errorf("envelope %s key %s: %v", m.Value, m.Key, err)
		}
	}
	dead := readTopic(t, cfg, cfg.Topics.DeadLetter, 1)[0]
	if string(dead.Value) != "sale,R-9,MUC-02,Munich,2026-03-02 09:45:00,LC-9,,,,,lots,EUR,3,card,," ||
		!strings.HasPrefix(header(dead, headerCSVHeader), "kind,receipt_id") || header(dead, headerRecordLine) != "5" {
		t.Errorf("dead letter %s %v", dead.Value, dead.Headers)
	}
	t.Logf("dead letter: %s; cx-error=%q line=%s", dead.Value, header(dead, kafkaio.HeaderError), header(dead, headerRecordLine))
}
