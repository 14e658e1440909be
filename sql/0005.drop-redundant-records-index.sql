-- depends: 0004.roles
-- user_records_telegram_id_idx duplicated the leading column of the UNIQUE (telegram_id, date)
-- index: every lookup by telegram_id (a person's history, the newest record, ON DELETE CASCADE from
-- users) is served by user_records_one_per_day, while each insert paid for one more index and a
-- migration from SQLite rebuilt it for nothing (0.28 s of 1M records on 2 cores).

DROP INDEX IF EXISTS user_records_telegram_id_idx;
