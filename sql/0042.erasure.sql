-- depends: 0041.user-events
-- The right to be forgotten and the subject access request, in one place for the bot (/delete_me,
-- /export) and kbjuctl (`users erase`, `users export`): every table that holds a person's data is
-- named here and nowhere else. processed_updates is not among them: it holds update ids and times
-- only, nothing that names a person. Functions run with the caller's privileges, inside the
-- caller's transaction, so an erasure is one transaction with whatever else the caller does.

-- The ledger of erasures: who was erased and when, and nothing else. It outlives the person on
-- purpose: `kbjuctl backup restore` re-applies every erasure newer than the backup it restores,
-- and `kbjuctl backup create` copies it beside the backups (docs/backup.md, "Erasures").
CREATE TABLE erasures (
    telegram_id bigint NOT NULL,
    erased_at   timestamptz NOT NULL,
    source      text NOT NULL CHECK (source IN ('bot', 'kbjuctl', 'restore')),
    PRIMARY KEY (telegram_id, erased_at)
);

-- How many rows of each table belong to the person (what an erasure would remove).
CREATE FUNCTION kbju_person_rows(person bigint)
RETURNS TABLE (table_name text, row_count bigint)
LANGUAGE sql STABLE AS $$
    SELECT 'users', count(*) FROM users WHERE telegram_id = person
    UNION ALL SELECT 'user_records', count(*) FROM user_records WHERE telegram_id = person
    UNION ALL SELECT 'user_food_preferences', count(*) FROM user_food_preferences WHERE telegram_id = person
    UNION ALL SELECT 'reminders', count(*) FROM reminders WHERE telegram_id = person
    UNION ALL SELECT 'reminder_sends', count(*) FROM reminder_sends WHERE telegram_id = person
    UNION ALL SELECT 'user_events', count(*) FROM user_events WHERE telegram_id = person
    UNION ALL SELECT 'conversations', count(*) FROM conversations WHERE chat_id = person OR user_id = person
    UNION ALL SELECT 'scheduled_jobs', count(*) FROM scheduled_jobs WHERE chat_id = person
    UNION ALL SELECT 'migration_quarantine', count(*) FROM migration_quarantine
        WHERE original_row ->> 'telegram_id' = person::text OR (source_table = 'users' AND source_id = person)
$$;

-- Delete every row of the person (a private chat's id is its person's id); the rows removed per
-- table, in the order above. With `ledger_source`, an erasure that removed anything is recorded
-- in `erasures`. Deleting nothing is not an error: a second erasure removes nothing and says so.
CREATE FUNCTION kbju_erase_person(person bigint, ledger_source text DEFAULT NULL)
RETURNS TABLE (table_name text, row_count bigint)
LANGUAGE plpgsql AS $$
DECLARE
    total bigint := 0;
BEGIN
    -- Children first, so that each table's own count is reported (ON DELETE CASCADE would hide them).
    DELETE FROM reminder_sends WHERE telegram_id = person;
    GET DIAGNOSTICS row_count = ROW_COUNT;
    table_name := 'reminder_sends'; total := total + row_count; RETURN NEXT;
    DELETE FROM reminders WHERE telegram_id = person;
    GET DIAGNOSTICS row_count = ROW_COUNT;
    table_name := 'reminders'; total := total + row_count; RETURN NEXT;
    DELETE FROM user_food_preferences WHERE telegram_id = person;
    GET DIAGNOSTICS row_count = ROW_COUNT;
    table_name := 'user_food_preferences'; total := total + row_count; RETURN NEXT;
    DELETE FROM user_records WHERE telegram_id = person;
    GET DIAGNOSTICS row_count = ROW_COUNT;
    table_name := 'user_records'; total := total + row_count; RETURN NEXT;
    DELETE FROM users WHERE telegram_id = person;
    GET DIAGNOSTICS row_count = ROW_COUNT;
    table_name := 'users'; total := total + row_count; RETURN NEXT;
    DELETE FROM user_events WHERE telegram_id = person;
    GET DIAGNOSTICS row_count = ROW_COUNT;
    table_name := 'user_events'; total := total + row_count; RETURN NEXT;
    DELETE FROM conversations WHERE chat_id = person OR user_id = person;
    GET DIAGNOSTICS row_count = ROW_COUNT;
    table_name := 'conversations'; total := total + row_count; RETURN NEXT;
    DELETE FROM scheduled_jobs WHERE chat_id = person;
    GET DIAGNOSTICS row_count = ROW_COUNT;
    table_name := 'scheduled_jobs'; total := total + row_count; RETURN NEXT;
    DELETE FROM migration_quarantine
    WHERE original_row ->> 'telegram_id' = person::text OR (source_table = 'users' AND source_id = person);
    GET DIAGNOSTICS row_count = ROW_COUNT;
    table_name := 'migration_quarantine'; total := total + row_count; RETURN NEXT;
    IF total > 0 AND ledger_source IS NOT NULL THEN
        INSERT INTO erasures (telegram_id, erased_at, source) VALUES (person, now(), ledger_source)
        ON CONFLICT DO NOTHING;
    END IF;
END
$$;

-- Everything stored about the person, one JSON object with a list of rows per table (the
-- subject access request; the bot's /export reads its measurements from here too).
CREATE FUNCTION kbju_person_data(person bigint)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'telegram_id', person,
        'users', coalesce((SELECT jsonb_agg(to_jsonb(t)) FROM users t WHERE t.telegram_id = person), '[]'),
        'user_records', coalesce((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.date, t.id) FROM user_records t
                                  WHERE t.telegram_id = person), '[]'),
        'user_food_preferences', coalesce((SELECT jsonb_agg(to_jsonb(t)) FROM user_food_preferences t
                                           WHERE t.telegram_id = person), '[]'),
        'reminders', coalesce((SELECT jsonb_agg(to_jsonb(t)) FROM reminders t WHERE t.telegram_id = person), '[]'),
        'reminder_sends', coalesce((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.slot_at) FROM reminder_sends t
                                    WHERE t.telegram_id = person), '[]'),
        'user_events', coalesce((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.id) FROM user_events t
                                 WHERE t.telegram_id = person), '[]'),
        'conversations', coalesce((SELECT jsonb_agg(to_jsonb(t)) FROM conversations t
                                   WHERE t.chat_id = person OR t.user_id = person), '[]'),
        'scheduled_jobs', coalesce((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.id) FROM scheduled_jobs t
                                    WHERE t.chat_id = person), '[]'),
        'migration_quarantine', coalesce((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.id) FROM migration_quarantine t
                                          WHERE t.original_row ->> 'telegram_id' = person::text
                                             OR (t.source_table = 'users' AND t.source_id = person)), '[]'),
        'erasures', coalesce((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.erased_at) FROM erasures t
                              WHERE t.telegram_id = person), '[]')
    )
$$;
