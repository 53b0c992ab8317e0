package sink

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/chstore/chstoretest"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
)

// gateStore holds its first InsertEvents call until release is closed, and
// counts the events it is asked to insert.
type gateStore struct {
	*chstore.Store
	once     sync.Once
	started  chan struct{}
	release  chan struct{}
	inserted atomic.Int64
}

func (g *gateStore) InsertEvents(ctx context.Context, rs []event.Resolved) error {
	g.once.Do(func() {
		close(g.started)
		<-g.release
	})
	if err := g.Store.InsertEvents(ctx, rs); err != nil {
		return err
	}
	g.inserted.Add(int64(len(rs)))
	return nil
}

func TestIntegrationSinkDrainsOnShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kcfg := kafkaiotest.Config(t, 2)
	store := chstoretest.New(t)
	const tenant = "draintest"

	w := kafkaio.NewWriter(kcfg)
	defer w.Close()
	produce := func(from, to int) {
		t.Helper()
		var msgs []kafka.Message
		for i := from; i < to; i++ {
			// One key: one partition, so a redelivery would come before
			// anything produced later.
			msgs = append(msgs, jsonMessage(t, kcfg.Topics.Timeline, "one-profile", event.Resolved{ProfileID: "p", Event: &event.Event{
				EventID: fmt.Sprintf("ev-%d", i), Tenant: tenant, Channel: "web", Type: event.TypeTrack,
				EventTime: time.Date(2026, 2, 1, 10, 0, i, 0, time.UTC),
			}}))
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	produce(0, 20)

	cfg := Default()
	cfg.Group = "drain-test-" + kcfg.Topics.Timeline
	cfg.FlushInterval = 50 * time.Millisecond
	cfg.RetryMin, cfg.RetryMax = 10*time.Millisecond, 100*time.Millisecond
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))

	gate := &gateStore{Store: store, started: make(chan struct{}), release: make(chan struct{})}
	s, err := New(cfg, kcfg, gate, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	select {
	case <-gate.started:
	case <-time.After(time.Minute):
		t.Fatal("the sink never tried to insert")
	}
	// Shut down while the first batch is being inserted: Run must still
	// finish that insert (its context outlives runCtx) and commit it.
	stop()
	close(gate.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after shutdown = %v, want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the sink did not stop")
	}
	first := gate.inserted.Load()
	if first == 0 {
		t.Fatal("the batch in flight at shutdown was not inserted")
	}
	if n, err := store.CountEvents(ctx, tenant); err != nil || int64(n) != first {
		t.Fatalf("CountEvents = %d, %v; want the %d events inserted before Run returned", n, err, first)
	}

	// Restart: what was inserted was committed, so only the rest arrives.
	produce(20, 21)
	again := &gateStore{Store: store, started: make(chan struct{}), release: make(chan struct{})}
	close(again.release)
	s, err = New(cfg, kcfg, again, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop = context.WithCancel(ctx)
	go func() { done <- s.Run(runCtx) }()
	waitFor(t, ctx, "all 21 events", func() (bool, string) {
		n, err := store.CountEvents(ctx, tenant)
		return err == nil && n == 21, fmt.Sprintf("count = %d, err = %v", n, err)
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := again.inserted.Load(), 21-first; got != want {
		t.Errorf("after restart %d events were inserted, want %d: committed offsets were not respected", got, want)
	}
}
