-- Undo 0041.user-events.
DROP TABLE IF EXISTS user_events;
