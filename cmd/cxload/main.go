// Command cxload plays a synthetic multi-channel customer population (see
// pkg/synth) through the cxstream collector, the way SDKs and channel
// systems would, and reports what was sent and what a correct pipeline must
// end with.
//
//	cxload -config docs/cxstream.example.yaml -tenant demo -people 300
//
// With -to kafka it writes the same messages to cx.interactions directly,
// each encoded exactly as the collector would (no write keys needed): the
// fast way to preload a backlog for a benchmark.
//
// Write keys are taken from the configuration's collector section: one per
// channel of the tenant. The population carries identity hazards (shared
// family tablets, junk identifiers from broken integrations, second emails,
// phone-only events; see pkg/synth), each a share set by a flag.
//
// With -accuracy, cxload then waits until the pipeline has caught up (every
// identifier of the ground truth resolves in Redis and the answers stop
// changing, up to -wait), looks up every identifier's profile and prints the
// resolver's pairwise precision and recall against the ground truth:
//
//	cxload -config docs/cxstream.example.yaml -accuracy
//
// Redis is the configuration's redis section (CXSTREAM_REDIS_ADDR), or the
// -redis address.
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
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/redisstore"
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
	to                               string // collector or kafka
	people, batch, concurrency       int
	seed                             uint64
	// Shares of the population (synth.Config).
	known, sharedDevices, junk, secondEmails, phoneOnly float64

	accuracy bool
	redis    string
	wait     time.Duration
	poll     time.Duration // between look-ups while waiting; not a flag
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cxload", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.config, "config", os.Getenv("CXSTREAM_CONFIG"), "cxstream YAML configuration (write keys)")
	fs.StringVar(&o.tenant, "tenant", "demo", "tenant whose write keys to use")
	fs.StringVar(&o.collector, "collector", "http://127.0.0.1:8080", "collector base URL")
	fs.StringVar(&o.to, "to", "collector", "where to send: collector (HTTP /v1/batch with the tenant's write keys) or kafka (straight to cx.interactions, encoded as the collector would)")
	fs.StringVar(&o.truth, "truth", "", "write the ground truth (one JSON person per line) to this file")
	fs.IntVar(&o.people, "people", 300, "people in the population")
	fs.IntVar(&o.batch, "batch", 100, "messages per /v1/batch request")
	fs.IntVar(&o.concurrency, "concurrency", 4, "requests in flight")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed")
	def := synth.Default()
	fs.Float64Var(&o.known, "known", def.KnownShare, "share of people who identify themselves (the rest stay anonymous)")
	fs.Float64Var(&o.sharedDevices, "shared-devices", def.SharedDeviceShare, "share of known customers who share a family tablet with another")
	fs.Float64Var(&o.junk, "junk", def.JunkShare, "share of people with a message carrying a junk identifier (\"undefined\", test@test.com, ...)")
	fs.Float64Var(&o.secondEmails, "second-emails", def.SecondEmailShare, "share of known customers who also use a work email")
	fs.Float64Var(&o.phoneOnly, "phone-only", def.PhoneOnlyShare, "share of known non-loyalty customers seen by a till or the call center by phone only")
	fs.BoolVar(&o.accuracy, "accuracy", false, "after sending, wait for the pipeline and print its accuracy against the ground truth (reads Redis)")
	fs.StringVar(&o.redis, "redis", "", "Redis address for -accuracy (default: the configuration's redis.addr)")
	fs.DurationVar(&o.wait, "wait", 2*time.Minute, "how long -accuracy waits for the pipeline to catch up")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.to != "collector" && o.to != "kafka" {
		return fmt.Errorf("-to %q: want collector or kafka", o.to)
	}
	if o.batch < 1 || o.concurrency < 1 {
		return fmt.Errorf("-batch and -concurrency must be at least 1, got %d and %d", o.batch, o.concurrency)
	}
	if o.accuracy && o.wait <= 0 {
		return fmt.Errorf("-wait must be positive, got %s", o.wait)
	}
	gen := def
	gen.People, gen.Seed = o.people, o.seed
	gen.KnownShare, gen.SharedDeviceShare, gen.JunkShare, gen.SecondEmailShare, gen.PhoneOnlyShare = o.known, o.sharedDevices, o.junk, o.secondEmails, o.phoneOnly
	if err := gen.Validate(); err != nil {
		return fmt.Errorf("population: %w", err)
	}
	cfg, err := pipeline.Load(o.config, os.Getenv)
	if err != nil {
		return err
	}
	if o.redis != "" {
		cfg.Redis.Addr = o.redis
	}
	keys := map[string]string{}
	for _, k := range cfg.Collector.WriteKeys {
		if k.Tenant == o.tenant {
			keys[k.Channel] = k.Key
		}
	}
	for _, ch := range synth.Channels {
		if keys[ch] == "" && o.to == "collector" {
			return fmt.Errorf("no write key for tenant %q channel %q in the collector configuration", o.tenant, ch)
		}
	}

	// Connect before sending, so that a wrong address fails at once.
	var lookup lookupFunc
	var policy *identity.Policy
	if o.accuracy {
		if policy, err = cfg.Identity.Compile(); err != nil {
			return fmt.Errorf("identity rules: %w", err)
		}
		st, err := redisstore.New(ctx, cfg.Redis, policy, nil)
		if err != nil {
			return fmt.Errorf("-accuracy: %w", err)
		}
		defer st.Close()
		lookup = storeLookup(st, o.tenant)
	}

	pop := synth.Generate(gen)
	if o.truth != "" {
		if err := writeTruth(o.truth, pop); err != nil {
			return err
		}
	}

	start := time.Now()
	var sent, failed int64
	if o.to == "kafka" {
		if sent, failed, err = sendKafka(ctx, cfg, o.tenant, pop); err != nil {
			return err
		}
	} else {
		sent, failed = send(ctx, o, keys, pop)
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "cxload: people=%d messages=%d accepted=%d failed=%d expected_profiles=%d seconds=%.1f events_per_sec=%.0f\n",
		len(pop.People), len(pop.Messages), sent, failed, pop.ExpectedProfiles(), secs, float64(sent)/secs)
	hz := pop.Hazards()
	fmt.Fprintf(stdout, "cxload: hazards (people) shared_device=%d junk=%d second_email=%d phone_only=%d\n",
		hz[synth.HazardSharedDevice], hz[synth.HazardJunk], hz[synth.HazardSecondEmail], hz[synth.HazardPhoneOnly])
	if failed > 0 {
		return fmt.Errorf("%d messages were not accepted", failed)
	}
	if !o.accuracy {
		return nil
	}
	if o.poll <= 0 {
		o.poll = 500 * time.Millisecond
	}
	return measure(ctx, stdout, o, lookup, policy.Strongest, pop)
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
				accepted, err := post(ctx, client, o.collector, keys[r.channel], r.msgs)
				if err != nil {
					fmt.Fprintf(os.Stderr, "cxload: %s batch of %d: %v\n", r.channel, len(r.msgs), err)
				}
				nSent.Add(int64(accepted))
				nFailed.Add(int64(len(r.msgs) - accepted))
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

// post sends msgs as one /v1/batch request, retrying while the collector
// answers 5xx or cannot be reached, and returns how many it accepted: all
// of them on 200; on a 4xx answer, the count the collector reports (it
// publishes the valid items of a batch and answers 400 for the others),
// else none.
func post(ctx context.Context, client *http.Client, base, key string, msgs []synth.Message) (accepted int, err error) {
	batch := make([]json.RawMessage, len(msgs))
	for i, m := range msgs {
		batch[i] = m.JSON()
	}
	body, _ := json.Marshal(map[string]any{"batch": batch, "sentAt": time.Now().UTC().Format(time.RFC3339Nano)})
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/batch", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.SetBasicAuth(key, "")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK:
				return len(msgs), nil
			case resp.StatusCode < 500:
				var answer struct {
					Accepted int `json:"accepted"`
				}
				if json.Unmarshal(b, &answer) == nil && answer.Accepted > 0 && answer.Accepted <= len(msgs) {
					accepted = answer.Accepted
				}
				return accepted, fmt.Errorf("collector answered %d: %s", resp.StatusCode, bytes.TrimSpace(b))
			}
			err = fmt.Errorf("collector answered %d", resp.StatusCode)
		}
		if attempt == 5 || errors.Is(ctx.Err(), context.Canceled) {
			return 0, err
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
