-- Undo 0002.migration-bookkeeping: the bookkeeping of migrate-from-sqlite (imported rows stay).
DROP TABLE IF EXISTS migration_quarantine;
DROP TABLE IF EXISTS migration_runs;
