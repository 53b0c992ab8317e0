package chstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// maxAliasDepth bounds how many links of alias chains profileIDs follows.
// Each merge record lists every id that forwards to its survivor, at a
// version above every earlier change, so one round finds all; chains appear
// only through rows of version 0 (records of earlier releases).
const maxAliasDepth = 8

// currentAliases selects the ids whose current target (see
// 0007_aliases.sql: highest version, then smallest profile_id) is in the
// bound set; a live profile's own row (id -> id) selects the id itself. The
// inner query narrows the scan to ids that ever pointed into the set; it
// reads the tenant's rows of cx_aliases (sorted by alias id), one per
// profile and alias, which stays small next to cx_events.
const currentAliases = `SELECT alias_id
FROM cx_aliases
WHERE tenant = ? AND alias_id IN (
    SELECT alias_id FROM cx_aliases WHERE tenant = ? AND profile_id IN ?
)
GROUP BY alias_id
HAVING argMin(profile_id, (toUInt64(18446744073709551615) - version, profile_id)) IN ?`

// profileIDs returns profileID and every id that currently forwards to it,
// directly or through a chain of aliases, in ascending order.
func (s *Store) profileIDs(ctx context.Context, tenant, profileID string) ([]string, error) {
	all := map[string]bool{profileID: true}
	frontier := []string{profileID}
	for depth := 0; len(frontier) > 0; depth++ {
		if depth == maxAliasDepth {
			return nil, fmt.Errorf("resolve aliases of profile %s: chain longer than %d links", profileID, maxAliasDepth)
		}
		found, err := s.aliasesOf(ctx, tenant, frontier)
		if err != nil {
			return nil, err
		}
		frontier = frontier[:0]
		for _, id := range found {
			if !all[id] {
				all[id] = true
				frontier = append(frontier, id)
			}
		}
	}
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// aliasesOf returns the ids whose current target is one of targets.
func (s *Store) aliasesOf(ctx context.Context, tenant string, targets []string) ([]string, error) {
	set := inSet(targets)
	rows, err := s.conn.Query(ctx, currentAliases, tenant, tenant, set, set)
	if err != nil {
		return nil, fmt.Errorf("query profile aliases: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan profile alias: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read profile aliases: %w", err)
	}
	return ids, nil
}

// inSet binds strings as the parenthesised list of an IN: clickhouse-go
// formats a plain slice as an array literal, which 18.16 does not accept
// after IN.
func inSet(ids []string) clickhouse.GroupSet {
	vs := make([]any, len(ids))
	for i, id := range ids {
		vs[i] = id
	}
	return clickhouse.GroupSet{Value: vs}
}
