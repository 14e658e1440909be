-- depends: 0010.send-budget
-- One row per successful verification of a backup: `kbjuctl backup verify` of a logical (pg_dump)
-- backup, or of the physical (pgBackRest) backups it checked, each by its type (full, diff, incr).
-- The bot exports max(verified_at) per kind as kbju_backup_last_verified_timestamp_seconds{kind}, so
-- an alert fires when no backup of a kind has been proven restorable for too long. A failed
-- verification writes no row: it shows as the age of the last good one.

CREATE TABLE backup_verifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    verified_at  timestamptz NOT NULL DEFAULT now(),
    kind         text NOT NULL CHECK (kind IN ('logical', 'full', 'diff', 'incr')),
    label        text NOT NULL,                 -- the logical backup's folder, or pgBackRest's label
    deep         boolean NOT NULL DEFAULT false -- logical: restored and compared (verify --deep)
);

CREATE INDEX backup_verifications_kind_idx ON backup_verifications (kind, verified_at);
