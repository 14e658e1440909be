-- Undo 0043.stats.
DROP FUNCTION IF EXISTS kbju_stats_retention(date, integer, text, timestamptz);
DROP FUNCTION IF EXISTS kbju_stats_reminders(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS kbju_stats_consultation(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS kbju_stats_survey(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS kbju_stats_survey_abandoned(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS kbju_stats_registrations(date, text, text);
DROP FUNCTION IF EXISTS kbju_stats_people(timestamptz);
