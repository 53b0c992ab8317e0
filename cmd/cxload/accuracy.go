package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/synth"
)

// lookupFunc returns the live profile id of an identifier, "" when no
// profile holds it.
type lookupFunc func(ctx context.Context, id event.Identifier) (string, error)

// storeLookup looks identifiers up in the tenant's identity graph in Redis.
func storeLookup(st *redisstore.Store, tenant string) lookupFunc {
	return func(ctx context.Context, id event.Identifier) (string, error) {
		pid, _, err := st.Lookup(ctx, tenant, id)
		if errors.Is(err, redisstore.ErrNotFound) {
			return "", nil
		}
		return pid, err
	}
}

// lookupWorkers is how many look-ups run at once.
const lookupWorkers = 16

// lookupAll looks up every identifier ("type:value") and returns those
// that have a profile, with its id.
func lookupAll(ctx context.Context, lookup lookupFunc, ids []string) (map[string]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		profiles = make(map[string]string, len(ids))
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan string)
	for range lookupWorkers {
		wg.Add(1)
		go func() { // exits when work is closed
			defer wg.Done()
			for s := range work {
				id, ok := event.ParseIdentifier(s)
				if !ok {
					continue
				}
				pid, err := lookup(ctx, id)
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = fmt.Errorf("look up %s: %w", s, err)
					cancel()
				case err == nil && pid != "":
					profiles[s] = pid
				}
				mu.Unlock()
			}
		}()
	}
	for _, s := range ids {
		if ctx.Err() != nil {
			break
		}
		work <- s
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return profiles, ctx.Err()
}

// caughtUp is the outcome of waitForPipeline.
type caughtUp struct {
	profiles map[string]string // identifier -> profile, at the last look-up
	resolved int               // of the identifiers that must resolve
	waited   time.Duration
	ok       bool // everything resolved and stopped changing
}

// waitForPipeline looks up ids every poll until each of mustResolve has a
// profile and two look-ups in a row gave the same answers (so that merges
// still in flight have landed), or until timeout.
func waitForPipeline(ctx context.Context, lookup lookupFunc, ids, mustResolve []string, timeout, poll time.Duration) (caughtUp, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	var prev map[string]string
	for {
		cur, err := lookupAll(ctx, lookup, ids)
		if err != nil {
			return caughtUp{}, err
		}
		res := caughtUp{profiles: cur, waited: time.Since(start)}
		for _, id := range mustResolve {
			if cur[id] != "" {
				res.resolved++
			}
		}
		if res.resolved == len(mustResolve) && prev != nil && maps.Equal(prev, cur) {
			res.ok = true
			return res, nil
		}
		if !time.Now().Add(poll).Before(deadline) {
			return res, nil
		}
		prev = cur
		select {
		case <-ctx.Done():
			return caughtUp{}, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// measure waits for the pipeline, then prints how well it resolved the
// population: a summary line, then details.
func measure(ctx context.Context, w io.Writer, o options, lookup lookupFunc, strongest func([]event.Identifier) (event.Identifier, bool), pop synth.Population) error {
	truth := pop.IdentifierTruth()
	must := slices.Sorted(maps.Keys(truth))
	for _, s := range slices.Sorted(maps.Keys(pop.Shared)) {
		must = append(must, s)
	}
	ids := append(slices.Clone(must), pop.Junk...)
	wait, err := waitForPipeline(ctx, lookup, ids, must, o.wait, o.poll)
	if err != nil {
		return fmt.Errorf("-accuracy: %w", err)
	}
	acc := pop.ScoreIdentifiers(wait.profiles)
	events, err := pop.ScoreEvents(wait.profiles, strongest)
	if err != nil {
		return fmt.Errorf("-accuracy: %w", err)
	}
	fmt.Fprintf(w, "cxload: accuracy precision=%.4f recall=%.4f people=%d profiles=%d over_merged=%d split=%d unresolved=%d\n",
		acc.Precision(), acc.Recall(), acc.People, acc.Profiles, acc.OverMerged, acc.Split, acc.Unresolved)
	fmt.Fprintf(w, "  identifier pairs: %d identifiers; pairs of one person %d, in one profile %d, both %d; f1=%.4f\n",
		acc.Items, acc.TruePairs, acc.PredictedPairs, acc.CorrectPairs, acc.F1())
	if acc.OverMerged > 0 {
		fmt.Fprintf(w, "  worst over-merge: one profile holds identifiers of %d people\n", acc.LargestOverMerge)
	}
	if acc.Split > 0 {
		fmt.Fprintf(w, "  worst split: one person's identifiers are spread over %d profiles (unresolved ones count one each)\n", acc.WorstSplit)
	}
	fmt.Fprintf(w, "  events (filed under their strongest identifier's profile): precision=%.4f recall=%.4f over %d events; over_merged=%d split=%d unresolved=%d\n",
		events.Precision(), events.Recall(), events.Items, events.OverMerged, events.Split, events.Unresolved)
	linked := 0
	for _, s := range pop.Junk {
		if wait.profiles[s] != "" {
			linked++
		}
	}
	fmt.Fprintf(w, "  junk identifiers: %d sent (%v), %d linked to a profile (want 0)\n", len(pop.Junk), pop.Junk, linked)
	fmt.Fprintf(w, "  shared tablets: %d identifiers used by two people each (each joins one of them; not scored)\n", len(pop.Shared))
	if !wait.ok {
		fmt.Fprintf(w, "  the pipeline did not catch up within %s: %d of %d identifiers resolved\n", o.wait, wait.resolved, len(must))
		return fmt.Errorf("the pipeline did not catch up within %s (-wait): %d of %d identifiers resolved", o.wait, wait.resolved, len(must))
	}
	fmt.Fprintf(w, "  caught up after %s: all %d identifiers resolved, unchanged over %s\n", wait.waited.Round(time.Millisecond), len(must), o.poll)
	return nil
}
