CREATE INDEX IF NOT EXISTS user_records_telegram_id_idx ON user_records (telegram_id);
