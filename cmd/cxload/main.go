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
// Load knobs shape the traffic without changing who is who:
//
//   - -events N: mean events per person; the journeys (about 8 events per
//     person) are topped up with filler activity (page and screen views,
//     email opens and clicks) on identifiers each person already used on
//     that channel. 0 keeps the journeys as they are.
//   - -merge-rate R: share of known customers who browse anonymously in an
//     extra browser before logging in there (one more anonymous to known
//     merge).
//   - -hot-keys N and -hot-share S: N very active people (a kiosk, a
//     bot-like heavy user) who get the share S of the filler events,
//     skewing the key distribution. -hot-share needs -events.
//
// The population is generated and sent in chunks of -chunk people (10,000
// by default), each from its own random stream (synth.Config.Chunk), the
// next one generated while the last is sent, so that a million people
// stream with bounded memory:
//
//	cxload -config docs/cxstream.example.yaml -tenant bench -to kafka -people 1000000 -events 12 -merge-rate 0.2 -hot-keys 10 -hot-share 0.05
//
// A population of up to -chunk people is synth.Generate's; a larger one
// depends on -chunk too. Messages are sent in time order within a chunk,
// chunk after chunk. -truth is written chunk by chunk; -accuracy keeps the
// whole population in memory to score it.
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
	"bufio"
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
	// Load knobs (synth.Config) and the people per generated chunk.
	events, mergeRate, hotShare float64
	hotKeys, chunk              int

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
	fs.Float64Var(&o.events, "events", def.Events, "mean events per person: filler activity on identifiers each person already used tops the journeys (about 8 per person) up to it; 0 keeps the journeys")
	fs.Float64Var(&o.mergeRate, "merge-rate", def.MergeRate, "share of known customers who browse anonymously in an extra browser before logging in there (an anonymous to known merge)")
	fs.IntVar(&o.hotKeys, "hot-keys", def.HotKeys, "number of hot people (the lowest indexes): very active customers such as a kiosk or a bot-like heavy user")
	fs.Float64Var(&o.hotShare, "hot-share", def.HotShare, "share of the filler events (-events) that go to the -hot-keys people")
	fs.IntVar(&o.chunk, "chunk", 10000, "people generated and sent at a time (memory is bounded by two chunks); a population of up to -chunk people is synth.Generate's")
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
	if o.chunk < 1 {
		return fmt.Errorf("-chunk must be at least 1, got %d", o.chunk)
	}
	if o.accuracy && o.wait <= 0 {
		return fmt.Errorf("-wait must be positive, got %s", o.wait)
	}
	gen := def
	gen.People, gen.Seed = o.people, o.seed
	gen.KnownShare, gen.SharedDeviceShare, gen.JunkShare, gen.SecondEmailShare, gen.PhoneOnlyShare = o.known, o.sharedDevices, o.junk, o.secondEmails, o.phoneOnly
	gen.Events, gen.MergeRate, gen.HotKeys, gen.HotShare = o.events, o.mergeRate, o.hotKeys, o.hotShare
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

	var kafkaOut *kafkaSink
	if o.to == "kafka" {
		if kafkaOut, err = newKafkaSink(ctx, cfg, o.tenant); err != nil {
			return err
		}
		defer kafkaOut.Close()
	}
	var truth *truthWriter
	if o.truth != "" {
		if truth, err = createTruth(o.truth); err != nil {
			return err
		}
		defer truth.Close()
	}

	// Generate the next chunk while the last one is sent.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan synth.Population)
	go func() { // exits when the chunks are done or run returns
		defer close(chunks)
		for c := range gen.Chunks(o.chunk) {
			select {
			case chunks <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	var (
		start        time.Time
		sent, failed int64
		tot          = stats{hotKeys: gen.HotKeys}
		whole        []synth.Population // for -accuracy
	)
	for pop := range chunks {
		if start.IsZero() {
			start = time.Now()
		}
		tot.add(pop)
		if truth != nil {
			if err := truth.write(pop); err != nil {
				return err
			}
		}
		var s, f int64
		if kafkaOut != nil {
			s, f, err = kafkaOut.send(ctx, pop)
		} else {
			s, f = send(ctx, o, keys, pop)
		}
		sent, failed = sent+s, failed+f
		if err != nil {
			return err
		}
		if o.accuracy {
			whole = append(whole, pop)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if truth != nil {
		if err := truth.Close(); err != nil {
			return fmt.Errorf("-truth: %w", err)
		}
	}
	secs := time.Since(start).Seconds()
	if start.IsZero() {
		secs = 0
	}
	fmt.Fprintf(stdout, "cxload: people=%d messages=%d accepted=%d failed=%d expected_profiles=%d seconds=%.1f events_per_sec=%.0f\n",
		tot.people, tot.messages, sent, failed, tot.people, secs, float64(sent)/max(secs, 1e-9))
	fmt.Fprintf(stdout, "cxload: hazards (people) shared_device=%d junk=%d second_email=%d phone_only=%d\n",
		tot.hazards[synth.HazardSharedDevice], tot.hazards[synth.HazardJunk], tot.hazards[synth.HazardSecondEmail], tot.hazards[synth.HazardPhoneOnly])
	fmt.Fprintf(stdout, "cxload: load chunks=%d chunk_people=%d events_per_person=%.2f filler=%d extra_browser_merges=%d hot_people=%d hot_events=%d\n",
		tot.chunks, o.chunk, float64(tot.messages)/float64(max(tot.people, 1)), tot.filler, tot.merges, gen.HotKeys, tot.hotEvents)
	if failed > 0 {
		return fmt.Errorf("%d messages were not accepted", failed)
	}
	if !o.accuracy {
		return nil
	}
	if o.poll <= 0 {
		o.poll = 500 * time.Millisecond
	}
	return measure(ctx, stdout, o, lookup, policy.Strongest, synth.Concat(whole...))
}

// stats sums what was generated, chunk by chunk.
type stats struct {
	chunks, people, messages  int
	filler, merges, hotEvents int
	hazards                   map[string]int
	hotKeys                   int // the hot people are those below
}

func (s *stats) add(pop synth.Population) {
	s.chunks++
	s.people += len(pop.People)
	s.messages += len(pop.Messages)
	if s.hazards == nil {
		s.hazards = map[string]int{}
	}
	for h, n := range pop.Hazards() {
		s.hazards[h] += n
	}
	for _, p := range pop.People {
		if p.ExtraBrowser != "" {
			s.merges++
		}
	}
	for _, m := range pop.Messages {
		if m.Filler {
			s.filler++
			if m.Person < s.hotKeys {
				s.hotEvents++
			}
		}
	}
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

// truthWriter writes the ground truth, one JSON person per line, chunk by
// chunk.
type truthWriter struct {
	f      *os.File
	w      *bufio.Writer
	enc    *json.Encoder
	closed bool
}

func createTruth(path string) (*truthWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	return &truthWriter{f: f, w: w, enc: json.NewEncoder(w)}, nil
}

func (t *truthWriter) write(pop synth.Population) error {
	for _, p := range pop.People {
		if err := t.enc.Encode(p); err != nil {
			return fmt.Errorf("-truth: %w", err)
		}
	}
	return nil
}

// Close flushes and closes the file; closing again does nothing.
func (t *truthWriter) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	err := t.w.Flush()
	return errors.Join(err, t.f.Close())
}
