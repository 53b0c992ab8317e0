-- cx_profile_snapshots: the profiles for analysts, one row per cx.profiles
-- message (key: profile_id; headers cx-tenant and cx-version):
--
--   a profile state  merged_into = '', deleted = 0, the summary columns
--                    filled and profile = the message value (the full profile
--                    document as JSON text);
--   a merge          merged_into = the profile the id now forwards to;
--   a tombstone      deleted = 1 (the profile was deleted).
--
-- Merges and tombstones carry only tenant, profile_id, version and as_of;
-- their summary columns are zero or '' and profile is ''. The summary columns
-- copy the document: first_seen, last_seen and events from behavioral;
-- orders, lifetime_value (lifetime_value_reporting, in the reporting
-- currency) and currency from transactional; lifecycle from derived; email
-- from demographic ('' when absent). Anything else is read from profile with
-- visitParamExtract* (JSONExtract and the JSON type are not in 18.16).
--
-- Times are DateTime('UTC'), whole seconds; DateTime64 is avoided because
-- 18.16 lacks it. as_of is the document's as_of, or the Kafka timestamp of a
-- message that has none (merges, tombstones). A time DateTime cannot hold
-- (unknown, before 1970, after 2105) is stored as the nearest bound, 1970 for
-- unknown; profile keeps the exact value.
--
-- version is the cx-version header: the tenant's state version, which grows
-- with every change, so a profile's highest version is its latest state
-- whatever order the messages were delivered or inserted in. A profile
-- changes at most once per version, so rows with equal versions are copies of
-- one message (redelivery) and differ only in inserted_at.
--
-- Engine: ReplacingMergeTree(version) keeps, per sorting key, the row with the
-- highest version when parts merge, so the table converges to one row per
-- profile: older versions are not kept, and this table is the latest state
-- per profile, not its history. Merges are eventual and FINAL is expensive (a
-- merge at query time), so queries never rely on either; they pick the
-- latest row themselves, which makes them correct before, during and after
-- merges:
--
--   SELECT ... FROM cx_profile_snapshots WHERE tenant = ?
--   ORDER BY profile_id, version DESC LIMIT 1 BY profile_id
--
-- or argMax(column, version) ... GROUP BY profile_id. A profile is current
-- when its latest row has merged_into = '' and deleted = 0; filter on these
-- after picking the latest row, never before (a WHERE deleted = 0 in the same
-- query would bring back the state a tombstone replaced).
--
-- Sorting key (tenant, profile_id): the replacing key (one row per profile)
-- and the two reads, one tenant's profiles and one profile. PARTITION BY
-- tuple(): one partition, because rows of different partitions are never
-- merged together; with monthly partitions a profile's versions from
-- different months would stay forever. The table holds about one row per
-- profile ever created, which one partition handles.
CREATE TABLE IF NOT EXISTS cx_profile_snapshots
(
    tenant         String,
    profile_id     String,
    version        UInt64,
    as_of          DateTime('UTC'),
    merged_into    String,
    deleted        UInt8,
    first_seen     DateTime('UTC'),
    last_seen      DateTime('UTC'),
    events         UInt64,
    orders         UInt64,
    lifetime_value Float64,
    currency       String,
    lifecycle      String,
    email          String,
    profile        String,
    inserted_at    DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY tuple()
ORDER BY (tenant, profile_id);
