-- cx_daily_channels: the channel mix per day for analysts' dashboards, one
-- row per (tenant, day, channel, type) once parts have merged, kept up to
-- date by the materialized view cx_daily_channels_mv on cx_events. Read it
-- with chstore.Store.DailyChannels, or in SQL with the -Merge combinators and
-- a GROUP BY on the whole key (rows are partial aggregates until merged, and
-- merges are eventual):
--
--   SELECT day, channel, type,
--          uniqExactMerge(events) AS events, uniqExactMerge(profiles) AS profiles,
--          minMerge(first_event_ms) AS first_event_ms, maxMerge(last_event_ms) AS last_event_ms
--   FROM cx_daily_channels
--   WHERE tenant = 'acme' AND day >= '2026-03-01' AND day < '2026-04-01'
--   GROUP BY day, channel, type
--   ORDER BY day, channel, type
--
-- Columns:
--
--   day             toDate(event_time): the UTC day of the event time.
--   events          uniqExact state of event_id: the set of distinct events.
--                   A redelivered event (a retried batch, a replay) adds its
--                   id to the set again and is counted once, before and after
--                   merges of either table. Exact, at the price of keeping
--                   every event id's 128-bit hash (about 16 bytes an event):
--                   this table grows like cx_events' event_id column, not
--                   like the number of groups.
--   profiles        uniqExact state of profile_id: distinct profiles as
--                   recorded, that is the profile the resolver assigned at the
--                   time; profiles merged since count separately, and an
--                   event replayed under another profile adds that profile.
--   first_event_ms  min and max of event_time_ms (Unix milliseconds), the
--   last_event_ms   exact event times, as the timeline uses.
--
-- Events add up across channels, types and days (an event has one of each);
-- profiles do not (a profile active on two days or channels counts in each).
--
-- Every aggregate is idempotent, a union of sets or a min or max: aggregating
-- the same cx_events row twice changes nothing. There is deliberately no
-- count() or sum(), which would count redelivered rows and backfill overlaps.
-- That is what lets the view, the backfill below and any re-run of them
-- overlap without double counting.
--
-- Engine: AggregatingMergeTree combines the states of rows with equal sorting
-- keys when parts merge, so the sorting key is exactly the grouping key.
-- Order (tenant, day, channel, type): the dashboards read one tenant over a
-- range of days, every channel and type of each day, which is a contiguous
-- slice of the key; channel and type then complete the group. Partitions are
-- monthly like cx_events', so retention drops the same months from both
-- (ALTER TABLE ... DROP PARTITION on each: the aggregates do not follow
-- deletions from cx_events, nor do they follow any later change of a row).
-- Types stay in the 18.16 subset: AggregateFunction, no SimpleAggregateFunction
-- or LowCardinality.
CREATE TABLE IF NOT EXISTS cx_daily_channels
(
    tenant         String,
    day            Date,
    channel        String,
    type           String,
    events         AggregateFunction(uniqExact, String),
    profiles       AggregateFunction(uniqExact, String),
    first_event_ms AggregateFunction(min, Int64),
    last_event_ms  AggregateFunction(max, Int64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, day, channel, type);

-- The view aggregates each block inserted into cx_events and inserts the
-- states into cx_daily_channels (TO: the table above, not a hidden inner
-- table, so it can be backfilled, and the view dropped and re-created without
-- losing data). Output columns match the target's by name. ClickHouse
-- qualifies cx_events and cx_daily_channels with the current database when
-- it stores the view.
--
-- A materialized view sees only the blocks inserted after it exists: rows
-- already in cx_events reach the table through the backfill below. An insert
-- into cx_events fails if the view's insert fails; the sink then retries the
-- batch, which the idempotent aggregates absorb.
CREATE MATERIALIZED VIEW IF NOT EXISTS cx_daily_channels_mv
TO cx_daily_channels
AS SELECT
    tenant,
    toDate(event_time) AS day,
    channel,
    type,
    uniqExactState(event_id) AS events,
    uniqExactState(profile_id) AS profiles,
    minState(event_time_ms) AS first_event_ms,
    maxState(event_time_ms) AS last_event_ms
FROM cx_events
GROUP BY tenant, day, channel, type;

-- Backfill: aggregate what cx_events held before the view existed. It runs
-- after the view is created, so no row falls between the two: a row inserted
-- meanwhile is aggregated by both, which changes nothing (see above). For the
-- same reason a re-run is harmless: an interrupted migration re-runs whole,
-- adding a second copy of every state, and uniqExactMerge of two copies of a
-- set is the set; the copies collapse when parts merge. The only gap is an
-- insert already in flight when the view was created and committed after this
-- statement began reading; re-running this statement by hand repairs it, and
-- repairs the table after any doubt (it is also how to rebuild it: TRUNCATE
-- TABLE cx_daily_channels, then this statement).
--
-- It reads all of cx_events once and holds the event id hashes of the groups
-- it aggregates in memory; beyond 1 GB it writes partial aggregates to disk
-- and merges them at the end (max_bytes_before_external_group_by; 18.16 does
-- this with aggregate states too). One group, a tenant's channel and type on
-- one day, must still fit in memory.
INSERT INTO cx_daily_channels (tenant, day, channel, type, events, profiles, first_event_ms, last_event_ms)
SELECT
    tenant,
    toDate(event_time) AS day,
    channel,
    type,
    uniqExactState(event_id) AS events,
    uniqExactState(profile_id) AS profiles,
    minState(event_time_ms) AS first_event_ms,
    maxState(event_time_ms) AS last_event_ms
FROM cx_events
GROUP BY tenant, day, channel, type
SETTINGS max_bytes_before_external_group_by = 1000000000;
