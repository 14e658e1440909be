-- Undo 0040.reminders.
ALTER TABLE conversations DROP COLUMN IF EXISTS blocked_at;
DROP TABLE IF EXISTS reminder_sends;
DROP TABLE IF EXISTS reminders;
