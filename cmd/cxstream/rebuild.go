package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
)

const rebuildUsage = "usage: cxstream rebuild -tenant TENANT [-check]"

// maxShownDifferences bounds the differences `rebuild -check` prints; the
// count covers them all.
const maxShownDifferences = 100

// checkOutput is what `cxstream rebuild -check` prints.
type checkOutput struct {
	Report pipeline.RebuildReport `json:"report"`
	// DifferenceCount is the number of differences, Differences the first
	// maxShownDifferences of them.
	DifferenceCount int                   `json:"difference_count"`
	Differences     []pipeline.Difference `json:"differences"`
}

// rebuild runs `cxstream rebuild`: without -check it deletes the tenant's
// Redis state and rebuilds it from the identity log in ClickHouse (stop the
// resolvers and let the sink catch up first; see pipeline.RebuildInPlace)
// and prints the report. With -check it rebuilds into a scratch key space,
// prints the report and the differences from the live graph, and fails if
// there are any.
func rebuild(ctx context.Context, cfg pipeline.Config, tenant string, check bool, args []string, stdout io.Writer, log *slog.Logger) error {
	if tenant == "" || len(args) != 0 {
		return errors.New(rebuildUsage)
	}
	if !event.ValidTenant(tenant) {
		return fmt.Errorf("-tenant %q: %s", tenant, event.TenantRule)
	}
	rs, err := pipeline.OpenRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer rs.Close()
	ch, err := chstore.Open(ctx, cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if !check {
		rep, err := pipeline.RebuildInPlace(ctx, rs, ch, tenant, log)
		if err != nil {
			return err
		}
		return enc.Encode(rep)
	}
	rep, diffs, err := pipeline.CheckRebuild(ctx, rs, ch, tenant, log)
	if err != nil {
		return err
	}
	out := checkOutput{Report: rep, DifferenceCount: len(diffs), Differences: diffs[:min(len(diffs), maxShownDifferences)]}
	if out.Differences == nil {
		out.Differences = []pipeline.Difference{}
	}
	if err := enc.Encode(out); err != nil {
		return err
	}
	if len(diffs) > 0 {
		return fmt.Errorf("rebuild check of tenant %s: the rebuild differs from the live graph in %d places", tenant, len(diffs))
	}
	return nil
}
