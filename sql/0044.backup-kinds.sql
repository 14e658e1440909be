-- depends: 0043.stats
-- backup_runs records pgBackRest's backups too (`kbjuctl backup create --physical` with a database
-- URL), each by its type, so the bot exports the newest success of each kind
-- (kbju_backup_last_success_timestamp_seconds{kind}) and an alert fits each schedule: a daily
-- pg_dump, a weekly full physical backup. Expand only: a physical backup has no archive checksum,
-- so that column admits NULL; the previous release's INSERT (logical, with a checksum) still fits.

ALTER TABLE backup_runs
    ADD COLUMN kind text NOT NULL DEFAULT 'logical' CHECK (kind IN ('logical', 'full', 'diff', 'incr')),
    ALTER COLUMN archive_sha256 DROP NOT NULL,
    ADD CONSTRAINT backup_runs_logical_has_checksum CHECK (kind <> 'logical' OR archive_sha256 IS NOT NULL);

CREATE INDEX backup_runs_kind_idx ON backup_runs (kind, finished_at);
