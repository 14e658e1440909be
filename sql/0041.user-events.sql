-- depends: 0040.reminders
-- What people did that the operators' statistics need after the fact (`kbjuctl stats`, the users
-- dashboard): survey started / completed / abandoned at a step, the consultation opened, reminders
-- set, declined, turned off and followed, data exported. Prometheus counters say how often; these
-- rows say who and when, so completion and retention can be counted per person and per week.
-- Written in the same transaction as the turn that caused them; erased with the person.

CREATE TABLE user_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    telegram_id bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('survey_started', 'survey_completed', 'survey_abandoned',
                                              'consult_opened', 'reminder_set', 'reminder_declined',
                                              'reminder_off', 'reminder_opened', 'export')),
    detail      text,                        -- survey_abandoned: the step; consult_opened: where from
    at          timestamptz NOT NULL         -- the bot's clock
);

CREATE INDEX user_events_kind_at_idx ON user_events (kind, at);
CREATE INDEX user_events_telegram_id_idx ON user_events (telegram_id);
