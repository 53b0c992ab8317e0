-- cx_identity: the identity audit log (cx.identity), one row per record:
-- profile_created, identifier_linked, profiles_merged, and the kinds added
-- since (merge_blocked, identifier_moved, identifier_unlinked; see
-- identity.Kinds). It answers "why is this identifier on this profile" and is
-- the log from which the identity graph can be rebuilt.
--
-- at is the event time of the event that caused the change (DateTime('UTC'),
-- seconds); at_ms is the same instant in Unix milliseconds for exact order.
-- from_profile_id and identifier are '' when the kind has none; aliases is
-- the list of ids that forward to profile_id after a merge. Migration 0004
-- adds rule and identifiers, for the kinds of the identity rules.
--
-- Sorting key: (tenant, profile_id, at) first, because the explanation of a
-- profile reads one profile's history in time order. kind, event_id,
-- identifier and from_profile_id complete the key so that it identifies a
-- record: the sink is at-least-once, and ReplacingMergeTree collapses a
-- redelivered record (same key) when parts merge, where a plain MergeTree
-- would keep it forever. Readers that need exact counts before a merge use
-- LIMIT 1 BY (kind, event_id, identifier, from_profile_id).
CREATE TABLE IF NOT EXISTS cx_identity
(
    tenant          String,
    kind            String,
    profile_id      String,
    from_profile_id String,
    identifier      String,
    aliases         Array(String),
    event_id        String,
    at              DateTime('UTC'),
    at_ms           Int64,
    inserted_at     DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (tenant, profile_id, at, kind, event_id, identifier, from_profile_id);
