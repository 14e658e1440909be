-- Takes back every privilege 0004.roles gave kbju_bot in this database. The role itself is
-- dropped only when no other database of the server still grants it anything (roles are
-- server-wide); login roles made by `kbjuctl roles ensure-login` are left to the operator.
-- CREATE on schema public is not handed back to PUBLIC: PostgreSQL 15 does not grant it either.

ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM kbju_bot;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM kbju_bot;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM kbju_bot;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM kbju_bot;
REVOKE USAGE ON SCHEMA public FROM kbju_bot;

DO $$
BEGIN
    DROP ROLE IF EXISTS kbju_bot;
EXCEPTION
    WHEN dependent_objects_still_exist THEN NULL;  -- still granted in another database
END
$$;
