"""Prometheus metrics of the bot: names and labels are a contract with monitoring (docs/bot.md).

Every label takes values from a small fixed set, so no person, chat or free text ever becomes a
series. Gauges computed from the database are refreshed by the job loop, not per update.
"""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics, start_http_server

log = logging.getLogger(__name__)

# No `<counter>_created` series: a second series per counter and histogram, holding the process's start
# time, which nothing here queries (process_start_time_seconds says it once per replica).
disable_created_metrics()

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_DB_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)

UPDATE_KINDS = ("message", "command", "callback", "other")
COMMANDS = ("start", "menu", "data", "cancel", "reminders", "export", "delete_me", "privacy", "other")
OUTCOMES = ("ok", "duplicate", "error", "db_unavailable", "ignored")
ERROR_KINDS = ("handler", "db_unavailable", "job")
# Things people did that are not the survey (bot.db.events.PERSISTED keeps the same kinds per person).
USER_ACTIONS = ("consult_opened", "reminder_set", "reminder_declined", "reminder_off", "reminder_opened", "export",
                "erased")
# What became of a due reminder (reminder_sends.outcome; "sending": the send itself failed and was not retried).
REMINDER_OUTCOMES = ("sent", "measured", "quiet", "missed", "blocked", "failed")

updates_received = Counter("kbju_updates_received", "Updates received, by kind", ["kind"])
commands = Counter("kbju_commands", "Commands received", ["command"])
update_handling = Histogram("kbju_update_handling_seconds", "Time to handle one update (DB work and replies)",
                            ["flow", "step"], buckets=_LATENCY_BUCKETS)
updates = Counter("kbju_updates", "Updates handled, by outcome", ["outcome"])
# Per replica, from bot.transport.updates.InFlight (Telegram's own backlog, from getWebhookInfo, is
# bot.webhook_watch's).
oldest_unhandled_update_age = Gauge(
    "kbju_oldest_unhandled_update_age_seconds",
    "Age of the oldest update this replica has taken and not finished handling (0: none)")
# Requests the webhook server refused, by why: forbidden (wrong secret), too_large, bad_update, timeout.
WEBHOOK_REJECTIONS = ("forbidden", "too_large", "bad_update", "timeout")
webhook_rejected = Counter("kbju_webhook_rejected_requests", "Webhook requests refused, by reason", ["reason"])
# A turn whose optimistic write lost to another turn of the same chat is run again ("retried");
# after three losses it runs with the conversation row locked ("fallback").
turn_conflicts = Counter("kbju_turn_conflicts", "Turns that lost their write to another turn of the chat",
                         ["outcome"])
active_users = Gauge("kbju_active_users", "Chats that sent an update within the window", ["window"])
bot_api_requests = Counter("kbju_bot_api_requests", "Bot API requests, by method and outcome",
                           ["method", "outcome"])
# getUpdates is left out: its long poll lasts as long as Telegram has nothing to send (up to the poll
# timeout), which is no latency of Telegram's and would drown the methods people wait for.
bot_api_request_seconds = Histogram("kbju_bot_api_request_seconds", "Bot API request duration (getUpdates excepted)",
                                    ["method"], buckets=_LATENCY_BUCKETS)
bot_api_retry_after = Counter("kbju_bot_api_retry_after_seconds", "Seconds waited because of flood control")
# scope: chat (a 429 on a reply: that chat waits), bulk (on a bulk send: every replica's bulk sends
# wait), global (on a call without a chat: every call waits).
bot_api_flood_waits = Counter("kbju_bot_api_flood_waits", "429 answers honoured, by what waited", ["scope"])
# lane: reply and bulk (the chat's pace and 429 holds, bot.transport.sender), bulk_budget (a bulk
# message's wait for the bot-wide budget and for people's replies, bot.bulk).
send_wait = Histogram("kbju_send_wait_seconds", "Time a Bot API call waited for its turn", ["lane"],
                      buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))
db_query_seconds = Histogram("kbju_db_query_seconds", "Duration of each named SQL statement", ["query"],
                             buckets=_DB_BUCKETS)
# A turn's transaction (BEGIN ... COMMIT/ROLLBACK: two round trips besides its statements); a turn
# that only moves the conversation on has none (bot.db.conversations).
db_transactions = Counter("kbju_db_transactions", "Turn transactions, by how they ended", ["outcome"])
# The replica's own view of its database (its /healthz connection, asked every few seconds): the
# exporter may still reach a database this replica cannot (a revoked login, a network policy).
db_up = Gauge("kbju_db_up", "1 while this replica's own connection to the database answers SELECT 1")
# Parts only (idle + in_use = the connections open), so sum() over state is the total; the limit is its
# own gauge.
db_pool_connections = Gauge("kbju_db_pool_connections", "asyncpg pool connections open, by state", ["state"])
db_pool_max = Gauge("kbju_db_pool_max_connections", "Most connections the pool opens (DB_POOL_MAX)")
errors = Counter("kbju_errors", "Errors, by kind", ["kind"])
survey_started = Counter("kbju_survey_started", "Registration surveys started")
survey_completed = Counter("kbju_survey_completed", "Registration surveys completed")
survey_abandoned = Counter("kbju_survey_abandoned", "Registration surveys cancelled, by step", ["step"])
survey_in_progress = Gauge("kbju_survey_in_progress", "Chats currently in the survey, by step", ["step"])
registrations = Counter("kbju_registrations", "New people registered")
scheduled_jobs = Gauge("kbju_scheduled_jobs", "Scheduled jobs not yet done", ["state"])
update_lag = Histogram("kbju_update_lag_seconds", "Reply sent minus the update's Telegram date",
                       buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0))
goal_users = Gauge("kbju_goal_users", "People by the goal of their latest record", ["goal"])
BACKUP_KINDS = ("logical", "full", "diff", "incr")
# Per kind: pg_dump archives (logical) and pgBackRest's full/diff/incr backups (backup_runs.kind). 0
# until a row of the kind exists: "never backed up" reads as infinitely old, so KbjuBackupTooOld fires
# on a deployment that has no logical backup at all (absent would silently never fire).
backup_last_success = Gauge("kbju_backup_last_success_timestamp_seconds",
                            "Unix time of the newest successful `kbjuctl backup create` of each kind (0: none)",
                            ["kind"])
# Per kind of backup: pg_dump archives (logical) and pgBackRest's full/diff/incr backups. 0 until a
# verification is recorded, so "never verified" reads as infinitely old.
backup_last_verified = Gauge("kbju_backup_last_verified_timestamp_seconds",
                             "Unix time of the newest successful `kbjuctl backup verify` of each kind (0: none)",
                             ["kind"])
polling_leader = Gauge("kbju_polling_leader",
                       "1 while this replica holds the polling lease and calls getUpdates (polling mode)")
user_actions = Counter("kbju_user_actions", "Things people did besides the survey, by action", ["action"])
reminders = Counter("kbju_reminders", "Due reminders, by what became of them", ["outcome"])
reminders_enabled = Gauge("kbju_reminders_enabled", "People with a weekly reminder on")
# A message to a chat was refused with 403 (the person blocked the bot): reminders and the funnel stop
# for the chat until the person writes again.
blocked = Counter("kbju_blocked", "Chats found blocked by a bulk send (funnel, reminder)", ["source"])
people_blocked = Gauge("kbju_people_blocked", "Chats whose person blocked the bot and has not written since")
build_info = Gauge("kbju_build_info", "Version and git revision of the bot, and the schema it runs on",
                   ["version", "revision", "schema_version"])

# Pre-create the bounded label sets so dashboards see zeros instead of missing series.
for _kind in UPDATE_KINDS:
    updates_received.labels(_kind)
for _command in COMMANDS:
    commands.labels(_command)
for _kind in ERROR_KINDS:
    errors.labels(_kind)
for _outcome in OUTCOMES:
    updates.labels(_outcome)
for _outcome in ("retried", "fallback"):
    turn_conflicts.labels(_outcome)
for _window in ("5m", "24h", "30d"):
    active_users.labels(_window)
for _state in ("pending", "overdue"):
    scheduled_jobs.labels(_state)
for _kind in BACKUP_KINDS:
    backup_last_verified.labels(_kind)
for _action in USER_ACTIONS:
    user_actions.labels(_action)
for _outcome in REMINDER_OUTCOMES:
    reminders.labels(_outcome)
for _source in ("funnel", "reminder"):
    blocked.labels(_source)
for _outcome in ("commit", "rollback"):
    db_transactions.labels(_outcome)
for _scope in ("chat", "bulk", "global"):
    bot_api_flood_waits.labels(_scope)
for _lane in ("reply", "bulk", "bulk_budget"):
    send_wait.labels(_lane)
for _reason in WEBHOOK_REJECTIONS:
    webhook_rejected.labels(_reason)


def command_label(command: str) -> str:
    return command if command in COMMANDS else "other"


def start_server(host: str, port: int):
    """Serve /metrics on its own port (never on the webhook's); port 0 turns it off.

    Returns the server (call .shutdown() to stop it), or None when turned off.
    """
    if not port:
        return None
    server, _ = start_http_server(port, addr=host, registry=REGISTRY)
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server
