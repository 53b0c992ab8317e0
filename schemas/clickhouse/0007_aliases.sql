-- 0007: aliases ordered by when the graph changed, so an unmerge shows.
--
-- cx_profile_aliases (0003) versioned an alias by the event time of the
-- merge. An unmerge revives a merged-away id with a profile_created record
-- at its creating event's old time, which can never beat the merge, and a
-- late event's merge sorted before merges made earlier: neither could be
-- told from the rows. Identity records now carry a version (identity.Record
-- Version) from the tenant's counter in Redis, the one that also versions
-- profile states: every change takes the next version, in the order changes
-- are made. This migration records it in cx_identity, replaces
-- cx_profile_aliases by cx_aliases, which is versioned by it, and fills
-- cx_aliases from the profile snapshots (their versions come from the same
-- counter).
--
-- Upgrading: stop the sinks of earlier releases before running it; they
-- write cx_profile_aliases, which this migration drops.

ALTER TABLE cx_identity ADD COLUMN version UInt64 DEFAULT 0;

-- cx_aliases: where a profile id forwards. The sink writes one row per id
-- in a profiles_merged record's aliases (the merged-away id and every id
-- merged into it before, -> the surviving profile_id), and one row id -> id
-- for each profile_created record: the id is a profile of its own (again,
-- when an unmerge or a re-derivation revives a merged-away id).
--
-- version is the record's version. An id's current target is the
-- profile_id of its highest version; an id whose current target is itself,
-- or that has no row, is a live profile (or was deleted). Each merge lists
-- every id forwarding to the merged-away profile, so an id's newest row
-- names its current profile directly: following a further link is needed
-- only for rows written with version 0 by resolvers of earlier releases. On
-- equal versions (only such rows) the smallest profile_id wins. Queries
-- compute the target with argMin(profile_id, (maxUInt64 - version,
-- profile_id)) and do not rely on FINAL or on merges of parts having
-- happened: ReplacingMergeTree(version) only bounds the table's size. A
-- replayed record writes the same rows again, which collapse.
--
-- Sorting key (tenant, alias_id): the replacing key (one current row per
-- id) and the look-up "where does this id forward to".
CREATE TABLE IF NOT EXISTS cx_aliases
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

-- Every state the snapshots hold of an id that was ever merged away: where
-- it forwarded (merged_into) or that it was live, at that state's version.
-- The resolver announces every id a merge forwards on cx.profiles, and the
-- sink has stored those messages since 0005, so this covers every alias of
-- cx_profile_aliases; a row of that table whose id has no snapshot (the
-- snapshot flow's messages lost) is not carried over. Running it again
-- inserts the same rows, which change no answer.
INSERT INTO cx_aliases (tenant, alias_id, profile_id, version)
SELECT tenant, profile_id, if(merged_into = '', profile_id, merged_into), version
FROM cx_profile_snapshots
WHERE (tenant, profile_id) IN
(
    SELECT tenant, profile_id
    FROM cx_profile_snapshots
    WHERE merged_into != ''
);

DROP TABLE IF EXISTS cx_profile_aliases;
