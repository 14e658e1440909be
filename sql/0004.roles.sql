-- depends: 0001.initial
-- The bot's privileges: a NOLOGIN group role, kbju_bot, that may read and write rows but owns
-- nothing, so it can neither ALTER nor DROP a table nor CREATE one. Migrations and backups keep
-- running as the owner (the role applying this migration). Login roles with passwords are made
-- outside migrations by `kbjuctl roles ensure-login NAME --member-of kbju_bot`: a password must
-- never sit in a migration file, and roles belong to the whole server, not to one database.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kbju_bot') THEN
        CREATE ROLE kbju_bot NOLOGIN;
    END IF;
EXCEPTION
    -- Another database of the same server created it at the same moment.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- A no-op on PostgreSQL 15 and newer; on older servers PUBLIC may create tables in public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO kbju_bot;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO kbju_bot;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO kbju_bot;

-- yoyo's bookkeeping: the bot reads the schema version, and must never rewrite it.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'public' AND tablename IN ('_yoyo_migration', '_yoyo_log', '_yoyo_version', 'yoyo_lock')
    LOOP
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON public.%I FROM kbju_bot', t);
    END LOOP;
END
$$;

-- Tables that later migrations create (as the same owner) are granted the same way.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO kbju_bot;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO kbju_bot;
