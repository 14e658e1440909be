-- Undo 0044.backup-kinds: the physical backups' rows go (pgBackRest's own `info` still lists them).
DELETE FROM backup_runs WHERE kind <> 'logical';
DROP INDEX IF EXISTS backup_runs_kind_idx;
ALTER TABLE backup_runs
    DROP CONSTRAINT IF EXISTS backup_runs_logical_has_checksum,
    ALTER COLUMN archive_sha256 SET NOT NULL,
    DROP COLUMN IF EXISTS kind;
