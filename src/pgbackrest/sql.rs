//! The SQL pgha runs for backups and their checks: the archiver's state, and the row counts a
//! restore test compares.

/// One query that counts every user table's rows exactly: `schema.table=count,...` (empty when
/// the database has no table). The same text on the leader and on a restored copy compares them.
pub const ROW_COUNTS_SQL: &str = "select coalesce(string_agg(format('%I.%I', schemaname, relname)      || '=' || (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I',      schemaname, relname), false, true, '')))[1]::text, ',' order by schemaname, relname), '')      from pg_stat_user_tables";

/// The databases a restore test compares (every one that accepts connections but the templates).
pub const DATABASES_SQL: &str =
    "select string_agg(datname, ',' order by datname) from pg_database where datallowconn and not datistemplate";

/// The SQL whose one text row `ArchiveStatus::parse` reads.
pub const ARCHIVER_SQL: &str = "select concat_ws('|', archived_count, failed_count,      coalesce(last_archived_wal, ''),      coalesce(extract(epoch from now() - last_archived_time)::bigint::text, ''),      coalesce(last_failed_wal, ''),      coalesce(extract(epoch from now() - last_failed_time)::bigint::text, ''))      from pg_stat_archiver";
