package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/profile"
)

// Snapshot is a tenant's identity partition and profile contents, free of
// what may differ between two equal states: profile ids, versions and the
// ids merged away. Each entry maps one profile's identifiers ("type:value",
// sorted, comma-joined) to the profile rendered as of one fixed instant.
type Snapshot map[string]string

// snapshotAsOf is the instant snapshots render derived fields for, so that
// two snapshots taken apart compare equal.
var snapshotAsOf = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// TakeSnapshot reads the tenant's identifier index and renders every
// profile it points to.
func TakeSnapshot(ctx context.Context, cfg pipeline.Config, tenant string) (Snapshot, error) {
	st, err := pipeline.OpenRedis(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	graph, err := st.Graph(ctx, tenant)
	if err != nil {
		return nil, err
	}
	members := map[string][]string{} // profile id -> identifiers
	for id, pid := range graph {
		if pid != "" && !strings.HasPrefix(pid, "~") {
			members[pid] = append(members[pid], id)
		}
	}
	model := st.Model()
	snap := make(Snapshot, len(members))
	for pid, ids := range members {
		live, state, err := st.Profile(ctx, tenant, pid)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", pid, err)
		}
		p := model.Render(tenant, live, state, profile.Meta{AsOf: snapshotAsOf})
		p.ProfileID, p.Version, p.MergedFrom = "", 0, nil
		b, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		slices.Sort(ids)
		snap[strings.Join(ids, ",")] = string(b)
	}
	return snap, nil
}

// Diff compares two snapshots: the number of profiles that are in one and
// not the other or differ, and a description of the first max of them.
func Diff(before, after Snapshot, max int) (int, []string) {
	var n int
	var shown []string
	note := func(format string, args ...any) {
		n++
		if len(shown) < max {
			shown = append(shown, fmt.Sprintf(format, args...))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(before)) {
		a, ok := after[k]
		switch {
		case !ok:
			note("profile of %s: before only", k)
		case a != before[k]:
			note("profile of %s differs:\n  before %s\n  after  %s", k, before[k], a)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[k]; !ok {
			note("profile of %s: after only", k)
		}
	}
	return n, shown
}
