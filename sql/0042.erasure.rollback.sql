-- Undo 0042.erasure (the ledger of erasures goes with it).
DROP FUNCTION IF EXISTS kbju_person_data(bigint);
DROP FUNCTION IF EXISTS kbju_erase_person(bigint, text);
DROP FUNCTION IF EXISTS kbju_person_rows(bigint);
DROP TABLE IF EXISTS erasures;
