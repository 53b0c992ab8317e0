package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pipeline/resolve"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/segment"
)

// printProfile prints the profile REF resolves to, as JSON.
func printProfile(ctx context.Context, cfg pipeline.Config, tenant, ref string, provenance bool, stdout io.Writer) error {
	rs, err := pipeline.OpenRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer rs.Close()
	id, st, err := rs.Resolve(ctx, tenant, ref)
	if err != nil {
		return fmt.Errorf("profile %s: %w", ref, err)
	}
	segs, err := segment.Compile(cfg.Segments)
	if err != nil {
		return err
	}
	p := rs.Model().Render(tenant, id, st, profile.Meta{AsOf: time.Now(), Provenance: provenance})
	if p.Segments, _ = segs.Evaluate(p, p.AsOf); p.Segments == nil {
		p.Segments = []string{}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// printTimeline prints the cross-channel timeline of the profile REF
// resolves to, one event a line.
func printTimeline(ctx context.Context, cfg pipeline.Config, tenant, ref string, limit int, stdout io.Writer) error {
	rs, err := pipeline.OpenRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer rs.Close()
	id, _, err := rs.Resolve(ctx, tenant, ref)
	if err != nil {
		return fmt.Errorf("profile %s: %w", ref, err)
	}
	ch, err := chstore.Open(ctx, cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	page, err := ch.Timeline(ctx, tenant, id, chstore.TimelineQuery{Limit: limit})
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "EVENT TIME\tCHANNEL\tTYPE\tNAME\tIDENTIFIERS\tRECORDED UNDER\n")
	for _, e := range page.Events {
		ids := make([]string, len(e.Identifiers))
		for i, x := range e.Identifiers {
			ids[i] = x.String()
		}
		recorded := "this profile"
		if e.RecordedProfileID != id {
			recorded = "merged " + e.RecordedProfileID[:8]
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.EventTime.Format(time.DateTime), e.Channel, e.Type, e.Name, strings.Join(ids, " "), recorded)
	}
	return w.Flush()
}

// Stats is what `cxstream stats` prints: the tenant's counts in Redis and
// ClickHouse.
type Stats struct {
	Tenant      string `json:"tenant"`
	Events      uint64 `json:"events"`
	Profiles    int64  `json:"profiles"`
	Merges      int64  `json:"merges"`
	Identifiers int64  `json:"identifiers"`
}

func printStats(ctx context.Context, cfg pipeline.Config, tenant string, stdout io.Writer) error {
	rs, err := pipeline.OpenRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer rs.Close()
	graph, err := rs.TenantStats(ctx, tenant)
	if err != nil {
		return err
	}
	ch, err := chstore.Open(ctx, cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	events, err := ch.CountEvents(ctx, tenant)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(Stats{Tenant: tenant, Events: events, Profiles: graph.Profiles, Merges: graph.Merges, Identifiers: graph.Identifiers})
}

// unmerge takes identifier out of the profile REF resolves to, prints the
// outcome as JSON and announces it on cx.identity and cx.profiles.
func unmerge(ctx context.Context, cfg pipeline.Config, tenant, ref, identifier string, stdout io.Writer) error {
	id, ok := event.ParseIdentifier(identifier)
	if !ok {
		return fmt.Errorf("-identifier %q: must be type:value, e.g. email:jane@example.com", identifier)
	}
	rs, err := pipeline.OpenRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer rs.Close()
	pid, _, err := rs.Resolve(ctx, tenant, ref)
	if err != nil {
		return fmt.Errorf("profile %s: %w", ref, err)
	}
	act, err := pipeline.NewActivator(cfg, rs, nil)
	if err != nil {
		return err
	}
	w := kafkaio.NewWriter(cfg.Kafka)
	defer w.Close()
	sp, err := (&resolve.Splitter{Store: rs, Writer: w,
		Announcer: resolve.Announcer{Topics: cfg.Kafka.Topics, Model: rs.Model()}, Activator: act}).Unmerge(ctx, tenant, pid, id)
	if sp == nil {
		return fmt.Errorf("unmerge %s from %s: %w", identifier, pid, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if encErr := enc.Encode(map[string]any{
		"profile_id": pid, "identifier": identifier, "identifier_profile_id": sp.ProfileID, "records": sp.Records,
	}); encErr != nil {
		return encErr
	}
	return err
}

// printIdentifier prints ref as the pipeline stores it: normalised under the
// identity rules and, for a type with hash: true, its keyed hash. Analysts
// query ClickHouse (id_values, cx_identity, cx_aliases) with it. It needs no
// service, only the configuration and, for hashed types, the key.
func printIdentifier(cfg pipeline.Config, tenant, ref string, stdout io.Writer) error {
	id, ok := event.ParseIdentifier(ref)
	if !ok {
		return fmt.Errorf("identifier %q: want type:value, e.g. email:jane@example.com", ref)
	}
	policy, err := cfg.Identity.Compile()
	if err != nil {
		return err
	}
	id, err = policy.Canonical(tenant, id)
	if err != nil {
		return fmt.Errorf("identifier %q: %v", ref, err)
	}
	_, err = fmt.Fprintln(stdout, id.String())
	return err
}
