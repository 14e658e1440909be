-- depends: 0020.backup-verifications
-- Weekly reminders to measure (docs/bot.md, "Reminders"). One row per person: the chosen local
-- weekday and hour in the chosen zone, and the next slot. A slot is the start of that local hour
-- as a moment (slot_at); each person's reminder goes out at a fixed minute of that hour (due_at),
-- so that many people who chose the same hour are spread over it. Claimed with FOR UPDATE SKIP
-- LOCKED under a lease (locked_until) by any replica, at the bot's own clock.

CREATE TABLE reminders (
    telegram_id  bigint PRIMARY KEY REFERENCES users (telegram_id) ON DELETE CASCADE,
    chat_id      bigint NOT NULL,
    weekday      smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),   -- 0 = Monday
    hour         smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),     -- local hour of `timezone`
    timezone     text NOT NULL,                                        -- IANA name
    enabled      boolean NOT NULL DEFAULT true,
    slot_at      timestamptz NOT NULL,       -- the next slot: its local hour's start
    due_at       timestamptz NOT NULL,       -- when within that hour this person's reminder goes
    locked_until timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reminders_due_in_slot CHECK (due_at >= slot_at AND due_at < slot_at + interval '1 hour')
);

CREATE INDEX reminders_due_idx ON reminders (due_at) WHERE enabled;

-- One row per person and slot, written BEFORE the message is sent: a slot that has a row is never
-- sent again, whichever replica, lease or restart (at most once per slot). `sending` that never
-- became `sent`: the sender died between claiming the slot and Telegram's answer.
CREATE TABLE reminder_sends (
    telegram_id bigint NOT NULL REFERENCES users (telegram_id) ON DELETE CASCADE,
    slot_at     timestamptz NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('sending', 'sent', 'measured', 'quiet', 'missed', 'blocked',
                                                 'failed')),
    at          timestamptz NOT NULL,        -- the bot's clock when the outcome was decided
    PRIMARY KEY (telegram_id, slot_at)
);

CREATE INDEX reminder_sends_slot_at_idx ON reminder_sends (slot_at);

-- Set when a message to the chat was refused with 403 (the person blocked the bot): reminders and
-- the funnel skip the chat. Any update from the person clears it (conversation_commit_turn).
ALTER TABLE conversations ADD COLUMN blocked_at timestamptz;
