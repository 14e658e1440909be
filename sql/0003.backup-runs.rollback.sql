-- Undo 0003.backup-runs: the record of backups made (the backups themselves stay on disk).
DROP TABLE IF EXISTS backup_runs;
