// Package schemas embeds cxstream's published contracts so that the binary
// and the tests use exactly the files that are documented:
//
//   - envelope.schema.json: the event envelope on cx.interactions
//   - timeline.schema.json: resolved events on cx.timeline
//   - profile.schema.json: profile states on cx.profiles
//   - identity.schema.json: identity-log records on cx.identity
//   - trigger.schema.json: trigger messages on cx.triggers (pkg/trigger)
//   - mappings/NAME.yaml: the built-in channel mappings (POS, help desk,
//     email service, surveys, social), with sample payloads in
//     mappings/samples; see pkg/mapping
//   - clickhouse/NNNN_name.sql: ClickHouse migrations, applied in order by
//     `cxstream migrate` (see ClickHouse in clickhouse.go)
package schemas

import "embed"

// JSON holds the JSON Schemas of the topic contracts.
//
//go:embed *.schema.json
var JSON embed.FS

// Mappings holds the built-in channel mappings, mappings/*.yaml; their
// sample payloads (mappings/samples) are documentation and test input.
//
//go:embed mappings/*.yaml
var Mappings embed.FS
