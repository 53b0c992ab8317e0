-- cx_events: the cross-channel timeline, one row per resolved event as it left
-- the resolver (cx.timeline). Rows are never rewritten: a later merge
-- re-attributes them at query time through cx_aliases (0007).
--
-- Times: event_time and received_at are DateTime('UTC') (whole seconds, the
-- partition and sort column); event_time_ms is the full event time in Unix
-- milliseconds, used for exact ordering, the pagination cursor and from/to
-- filters. DateTime64 is avoided because ClickHouse 18.16 lacks it.
--
-- identifiers are two parallel arrays (id_types[i], id_values[i]) because
-- Map and Nested-with-JSON are not in the 18.16 subset; traits, properties and
-- context are JSON text ('' when absent).
--
-- Engine: ReplacingMergeTree so that a redelivered event (same tenant,
-- profile_id, event_time, event_id) collapses when parts merge. Merges are
-- eventual and a replay may carry another profile_id, so every query still
-- deduplicates explicitly with LIMIT 1 BY event_id.
--
-- Sorting key (tenant, profile_id, event_time, event_id): the timeline query
-- reads one tenant's few profile ids (the profile and its aliases) over a time
-- range, so tenant and profile_id come first and the range on event_time is a
-- contiguous slice of each profile's granules; event_id last makes the key
-- identify an event so ReplacingMergeTree collapses only true duplicates.
-- Partitions are monthly: a few hundred parts per year, and retention can drop
-- whole months (ALTER TABLE ... DROP PARTITION) since TTL is not in 18.16.
CREATE TABLE IF NOT EXISTS cx_events
(
    tenant        String,
    event_id      String,
    profile_id    String,
    channel       String,
    type          String,
    name          String,
    event_time    DateTime('UTC'),
    event_time_ms Int64,
    received_at   DateTime('UTC'),
    id_types      Array(String),
    id_values     Array(String),
    traits        String,
    properties    String,
    context       String,
    inserted_at   DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (tenant, profile_id, event_time, event_id);
