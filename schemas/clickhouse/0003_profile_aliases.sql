-- cx_profile_aliases: merged-away profile id -> the profile it forwards to.
-- Written from profiles_merged identity records, one row per id in the
-- record's aliases (the merged-away id and every id merged into it before),
-- so one level of lookup finds all of a profile's aliases; queries still
-- follow chains, which appear when merges are recorded out of event-time order.
--
-- version is the record's event time in Unix milliseconds: deterministic, so a
-- replayed record writes the same row again (and collapses) instead of
-- winning over newer ones. The current target of an alias is the profile_id of
-- its highest version; on equal versions the smallest profile_id wins (with
-- time-ordered UUIDv7 ids, the older profile, which is the one merges keep).
-- Queries compute this with argMin(profile_id, (maxUInt64 - version,
-- profile_id)) and never rely on FINAL or on merges having happened:
-- ReplacingMergeTree only bounds the table's size, and on equal versions it
-- keeps the last inserted row, which queries do not depend on.
--
-- Sorting key (tenant, alias_id): the replacing key (one current row per
-- alias) and the look-up "where does this id forward to".
CREATE TABLE IF NOT EXISTS cx_profile_aliases
(
    tenant      String,
    alias_id    String,
    profile_id  String,
    version     UInt64,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY tuple()
ORDER BY (tenant, alias_id);
