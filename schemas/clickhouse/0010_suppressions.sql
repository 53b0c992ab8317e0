-- 0010: forgotten people (`cxstream forget`, DELETE /v1/profiles/{ref};
-- pipeline/privacy).
--
-- Forgetting a person deletes their rows from cx_events, cx_identity,
-- cx_profile_snapshots (all but the tombstone) and cx_aliases, and adds one
-- row here per identifier of theirs, so that `cxstream rebuild` restores the
-- suppression after Redis was lost: a replay or a new event carrying one of
-- those identifiers does not bring the person back. The table never holds
-- an identifier: id_hash is the lower-case hex SHA-1 of
-- "cxstream-suppress/<type:value>" (redisstore.SuppressionHash).
--
--   id_hash       the suppressed identifier's hash
--   profile_id    the profile forgotten with it
--   merged_from   the ids of the profiles merged into that profile
--   version       the tenant's state version of the erasure
--   forgotten_at  when
CREATE TABLE IF NOT EXISTS cx_suppressions
(
    tenant       String,
    id_hash      String,
    profile_id   String,
    merged_from  Array(String),
    version      UInt64,
    forgotten_at DateTime('UTC'),
    inserted_at  DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY tuple()
ORDER BY (tenant, id_hash);
