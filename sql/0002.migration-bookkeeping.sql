-- depends: 0001.initial
-- Bookkeeping of `kbjuctl migrate-from-sqlite`: one row per verified import of a DEV SQLite
-- file, and every source row that could not become a PROD row, kept whole with its reason.
-- A run is written in the same transaction as the rows it imports, so a row here always means
-- "imported and verified"; a failed or killed run leaves nothing behind.

CREATE TABLE migration_runs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_path    text NOT NULL,
    -- The same file (by content) is recognised on a rerun, which then only verifies.
    source_sha256  text NOT NULL CHECK (source_sha256 ~ '^[0-9a-f]{64}$'),
    source_bytes   bigint NOT NULL,
    -- The imported_at of every row this run wrote: it tells this run's rows from any other's.
    imported_at    timestamptz NOT NULL UNIQUE,
    status         text NOT NULL CHECK (status IN ('loading', 'verified')),
    on_conflict    text NOT NULL CHECK (on_conflict IN ('fail', 'skip')),
    -- {"users": {"source": n, "migrated": n, "quarantined": n}, ...}
    counts         jsonb NOT NULL DEFAULT '{}'::jsonb,
    tool_version   text NOT NULL,
    finished_at    timestamptz
);

CREATE INDEX migration_runs_source_sha256_idx ON migration_runs (source_sha256);

CREATE TABLE migration_quarantine (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        bigint NOT NULL REFERENCES migration_runs (id) ON DELETE CASCADE,
    source_table  text NOT NULL CHECK (source_table IN ('users', 'user_records', 'user_food_preferences')),
    -- users.telegram_id, or the id of a user_records / user_food_preferences row.
    source_id     bigint NOT NULL,
    reason_code   text NOT NULL,
    reason        text NOT NULL,
    -- The whole source row: text as is, integers and REALs as JSON numbers (a REAL written with
    -- Python's repr, which jsonb keeps digit for digit: 70.30000000000001 stays that double).
    original_row  jsonb NOT NULL,
    imported_at   timestamptz NOT NULL,
    CONSTRAINT migration_quarantine_one_per_source_row UNIQUE (run_id, source_table, source_id)
);

CREATE INDEX migration_quarantine_reason_idx ON migration_quarantine (source_table, reason_code);
