package schemas

import "embed"

// ClickHouse holds the ClickHouse migrations, clickhouse/NNNN_name.sql,
// applied in version order by chstore.Store.Migrate, which records each in
// cx_schema_migrations (a table the runner creates itself, before reading
// it). Each file holds one concern; its statements end with ";" at the end of
// a line and must be safe to run again, because a migration interrupted
// half-way is re-run whole and processes migrating at the same moment may
// each run it (Migrate takes no lock): CREATE TABLE IF NOT EXISTS, and ALTER
// TABLE t ADD COLUMN c with one column per statement, which the runner skips
// when the column exists (18.16 has no ADD COLUMN IF NOT EXISTS). They use
// the SQL subset common to ClickHouse 18.16 and current releases.
//
//go:embed clickhouse/*.sql
var ClickHouse embed.FS
