DROP TABLE IF EXISTS scheduled_jobs;
DROP TABLE IF EXISTS processed_updates;
DROP TABLE IF EXISTS conversations;
DROP TABLE IF EXISTS user_food_preferences;
DROP TABLE IF EXISTS user_records;
DROP TABLE IF EXISTS users;
