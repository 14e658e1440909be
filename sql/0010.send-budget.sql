-- depends: 0005.drop-redundant-records-index
-- The bot-wide budget of bulk messages (funnel, reminders), shared by every replica: Telegram
-- allows a bot about 30 bulk notifications a second whatever the number of its processes. One
-- row per budget holds the moment its next message may go (bot/db/send_budget.py); a low
-- fillfactor keeps its frequent updates HOT.
CREATE TABLE send_budget (
    name    text PRIMARY KEY,
    next_at timestamptz NOT NULL
) WITH (fillfactor = 20);
