-- depends: 0001.initial
-- One row per successful `kbjuctl backup create`, written after the archive, its sha256 and the
-- manifest are on disk (so a row always means "a complete backup exists at path"). The bot
-- exports max(finished_at) as the "last successful backup" Prometheus gauge. The row is written
-- outside the backup's own snapshot: a backup never contains its own row.

CREATE TABLE backup_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finished_at     timestamptz NOT NULL,
    path            text NOT NULL,          -- the backup folder, absolute, on the machine that made it
    size_bytes      bigint NOT NULL CHECK (size_bytes >= 0),   -- the folder: archive + manifest + sums
    total_rows      bigint NOT NULL CHECK (total_rows >= 0),   -- rows in every table of the archive
    archive_sha256  text NOT NULL CHECK (archive_sha256 ~ '^[0-9a-f]{64}$')
);

CREATE INDEX backup_runs_finished_at_idx ON backup_runs (finished_at);
