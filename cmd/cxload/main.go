// Command cxload plays a synthetic multi-channel customer population (see
// pkg/synth) through the cxstream collector, the way SDKs and channel
// systems would, and reports what was sent and what a correct pipeline must
// end with.
//
//	cxload -config docs/cxstream.example.yaml -tenant demo -people 300
//
// Write keys are taken from the configuration's collector section: one per
// channel of the tenant.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/synth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cxload:", err)
		os.Exit(1)
	}
}

type options struct {
	config, tenant, collector, truth string
	people, batch, concurrency       int
	seed                             uint64
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cxload", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.config, "config", os.Getenv("CXSTREAM_CONFIG"), "cxstream YAML configuration (write keys)")
	fs.StringVar(&o.tenant, "tenant", "demo", "tenant whose write keys to use")
	fs.StringVar(&o.collector, "collector", "http://127.0.0.1:8080", "collector base URL")
	fs.StringVar(&o.truth, "truth", "", "write the ground truth (one JSON person per line) to this file")
	fs.IntVar(&o.people, "people", 300, "people in the population")
	fs.IntVar(&o.batch, "batch", 100, "messages per /v1/batch request")
	fs.IntVar(&o.concurrency, "concurrency", 4, "requests in flight")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := pipeline.Load(o.config, os.Getenv)
	if err != nil {
		return err
	}
	keys := map[string]string{}
	for _, k := range cfg.Collector.WriteKeys {
		if k.Tenant == o.tenant {
			keys[k.Channel] = k.Key
		}
	}
	for _, ch := range synth.Channels {
		if keys[ch] == "" {
			return fmt.Errorf("no write key for tenant %q channel %q in the collector configuration", o.tenant, ch)
		}
	}

	gen := synth.Default()
	gen.People, gen.Seed = o.people, o.seed
	pop := synth.Generate(gen)
	if o.truth != "" {
		if err := writeTruth(o.truth, pop); err != nil {
			return err
		}
	}

	start := time.Now()
	sent, failed := send(ctx, o, keys, pop)
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "cxload: people=%d messages=%d accepted=%d failed=%d expected_profiles=%d seconds=%.1f events_per_sec=%.0f\n",
		len(pop.People), len(pop.Messages), sent, failed, pop.ExpectedProfiles(), secs, float64(sent)/secs)
	if failed > 0 {
		return fmt.Errorf("%d messages were not accepted", failed)
	}
	return nil
}

// send posts the messages in time order, grouped per channel into batches,
// with o.concurrency requests in flight.
func send(ctx context.Context, o options, keys map[string]string, pop synth.Population) (sent, failed int64) {
	type req struct {
		channel string
		msgs    []synth.Message
	}
	reqs := make(chan req)
	var wg sync.WaitGroup
	var nSent, nFailed atomic.Int64
	client := &http.Client{Timeout: 30 * time.Second}
	for range o.concurrency {
		wg.Add(1)
		go func() { // exits when reqs is closed
			defer wg.Done()
			for r := range reqs {
				if err := post(ctx, client, o.collector, keys[r.channel], r.msgs); err != nil {
					fmt.Fprintf(os.Stderr, "cxload: %s batch of %d: %v\n", r.channel, len(r.msgs), err)
					nFailed.Add(int64(len(r.msgs)))
					continue
				}
				nSent.Add(int64(len(r.msgs)))
			}
		}()
	}
	pending := map[string][]synth.Message{}
	for _, m := range pop.Messages {
		pending[m.Channel] = append(pending[m.Channel], m)
		if len(pending[m.Channel]) == o.batch {
			reqs <- req{m.Channel, pending[m.Channel]}
			pending[m.Channel] = nil
		}
	}
	for _, ch := range synth.Channels {
		if len(pending[ch]) > 0 {
			reqs <- req{ch, pending[ch]}
		}
	}
	close(reqs)
	wg.Wait()
	return nSent.Load(), nFailed.Load()
}

func post(ctx context.Context, client *http.Client, base, key string, msgs []synth.Message) error {
	batch := make([]json.RawMessage, len(msgs))
	for i, m := range msgs {
		batch[i] = m.JSON()
	}
	body, _ := json.Marshal(map[string]any{"batch": batch, "sentAt": time.Now().UTC().Format(time.RFC3339Nano)})
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/batch", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.SetBasicAuth(key, "")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK:
				return nil
			case resp.StatusCode < 500:
				return fmt.Errorf("collector answered %d: %s", resp.StatusCode, bytes.TrimSpace(b))
			}
			err = fmt.Errorf("collector answered %d", resp.StatusCode)
		}
		if attempt == 5 || errors.Is(ctx.Err(), context.Canceled) {
			return err
		}
		time.Sleep(time.Duration(200<<attempt) * time.Millisecond) // the same messageIds are resent
	}
}

func writeTruth(path string, pop synth.Population) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, p := range pop.People {
		if err := enc.Encode(p); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
