-- depends: 0042.erasure
-- The operators' statistics, as functions: `kbjuctl stats` and the users dashboard (through
-- postgres_exporter, monitoring/postgres-exporter/queries.yaml) call the same SQL, so a number on
-- the dashboard and in the terminal is one definition. Aggregates only, never a person's row:
-- SECURITY DEFINER lets postgres_exporter's pg_monitor login call them without the right to read
-- the tables. `as_of` is "now" (tests pass a fixed moment); `tz` names the zone whose calendar
-- days and weeks (Monday first) count.

-- People: registered (a users row), active (sent the bot anything) in the last 7 and 30 days,
-- with a reminder on, and whose chat refused the bot's last message with 403 (blocked it).
CREATE FUNCTION kbju_stats_people(as_of timestamptz DEFAULT now())
RETURNS TABLE (registered bigint, active_7d bigint, active_30d bigint, reminders_enabled bigint, blocked bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT (SELECT count(*) FROM users),
           (SELECT count(*) FROM conversations WHERE updated_at > as_of - interval '7 days'),
           (SELECT count(*) FROM conversations WHERE updated_at > as_of - interval '30 days'),
           (SELECT count(*) FROM reminders WHERE enabled),
           (SELECT count(*) FROM conversations WHERE blocked_at IS NOT NULL)
$$;

-- Registrations per calendar day or week (bucket 'day' | 'week') since a day.
CREATE FUNCTION kbju_stats_registrations(since date, bucket text, tz text)
RETURNS TABLE (period date, registrations bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT date_trunc(bucket, u.created_at AT TIME ZONE tz)::date, count(*)
    FROM users u
    WHERE (u.created_at AT TIME ZONE tz)::date >= since
    GROUP BY 1
    ORDER BY 1
$$;

-- Where the survey was abandoned, by step: people who left it there (/cancel, /start or the menu
-- in the middle of it) and people who stopped answering there (no answer for a day).
CREATE FUNCTION kbju_stats_survey_abandoned(since timestamptz, as_of timestamptz DEFAULT now())
RETURNS TABLE (step text, left_it bigint, went_silent bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH left_at AS (
        SELECT coalesce(detail, 'unknown') AS step, count(DISTINCT telegram_id) AS n FROM user_events
        WHERE kind = 'survey_abandoned' AND at >= since AND at <= as_of
        GROUP BY 1
    ), silent_at AS (
        SELECT coalesce(c.step, 'unknown') AS step, count(*) AS n FROM conversations c
        WHERE c.flow = 'survey' AND c.updated_at >= since AND c.updated_at <= as_of - interval '1 day'
        GROUP BY 1
    )
    SELECT coalesce(l.step, s.step), coalesce(l.n, 0), coalesce(s.n, 0)
    FROM left_at l FULL JOIN silent_at s ON s.step = l.step
    ORDER BY coalesce(l.n, 0) + coalesce(s.n, 0) DESC, 1
$$;

-- The survey since a moment: people who started it, completed it, abandoned it (see below), and
-- who are in it now (answered within the last day).
CREATE FUNCTION kbju_stats_survey(since timestamptz, as_of timestamptz DEFAULT now())
RETURNS TABLE (started bigint, completed bigint, abandoned bigint, in_progress bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT (SELECT count(DISTINCT telegram_id) FROM user_events
            WHERE kind = 'survey_started' AND at >= since AND at <= as_of),
           (SELECT count(DISTINCT telegram_id) FROM user_events
            WHERE kind = 'survey_completed' AND at >= since AND at <= as_of),
           (SELECT coalesce(sum(left_it + went_silent), 0)::bigint FROM kbju_stats_survey_abandoned(since, as_of)),
           (SELECT count(*) FROM conversations
            WHERE flow = 'survey' AND updated_at > as_of - interval '1 day')
$$;

-- From the funnel to the consultation since a moment: people the funnel message reached, people
-- who opened the consultation (its link is behind a URL button, whose presses Telegram does not
-- report to bots: what is counted is opening the «Консультация» screen), and those of them who
-- had the funnel message before.
CREATE FUNCTION kbju_stats_consultation(since timestamptz, as_of timestamptz DEFAULT now())
RETURNS TABLE (funnel_sent bigint, consult_opened bigint, opened_after_funnel bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH funnel AS (
        SELECT chat_id, min(done_at) AS done_at FROM scheduled_jobs
        WHERE kind = 'funnel' AND status = 'done' AND done_at >= since AND done_at <= as_of
        GROUP BY chat_id
    ), opened AS (
        SELECT telegram_id, max(at) AS at FROM user_events
        WHERE kind = 'consult_opened' AND at >= since AND at <= as_of
        GROUP BY telegram_id
    )
    SELECT (SELECT count(*) FROM funnel),
           (SELECT count(*) FROM opened),
           (SELECT count(*) FROM opened o JOIN funnel f ON f.chat_id = o.telegram_id AND o.at >= f.done_at)
$$;

-- Reminders since a moment: people registered and with a reminder on (the opt-in), reminders
-- sent, sent ones followed by a measurement within a week of their day (the person's own day),
-- reminders not sent because the person had measured that week, and not sent to a blocked chat.
CREATE FUNCTION kbju_stats_reminders(since timestamptz, as_of timestamptz DEFAULT now())
RETURNS TABLE (registered bigint, enabled bigint, sent bigint, measured_after bigint, skipped_measured bigint,
               blocked bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH sends AS (
        SELECT s.telegram_id, s.outcome, (s.slot_at AT TIME ZONE coalesce(r.timezone, 'UTC'))::date AS day
        FROM reminder_sends s LEFT JOIN reminders r ON r.telegram_id = s.telegram_id
        WHERE s.slot_at >= since AND s.slot_at <= as_of
    )
    SELECT (SELECT count(*) FROM users),
           (SELECT count(*) FROM reminders WHERE enabled),
           (SELECT count(*) FROM sends WHERE outcome = 'sent'),
           (SELECT count(*) FROM sends s WHERE s.outcome = 'sent' AND EXISTS (
                SELECT FROM user_records d
                WHERE d.telegram_id = s.telegram_id AND d.date >= s.day AND d.date < s.day + 7)),
           (SELECT count(*) FROM sends WHERE outcome = 'measured'),
           (SELECT count(*) FROM sends WHERE outcome = 'blocked')
$$;

-- Retention by registration week: for each cohort (people registered in one calendar week since a
-- day), and each of the weeks 1..weeks after a person's own registration day, how many measured in
-- that week, out of those for whom that week has begun by as_of (`eligible`).
CREATE FUNCTION kbju_stats_retention(since date, weeks integer, tz text, as_of timestamptz DEFAULT now())
RETURNS TABLE (cohort date, people bigint, week integer, eligible bigint, retained bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH members AS (
        SELECT u.telegram_id, (u.created_at AT TIME ZONE tz)::date AS registered_on,
               date_trunc('week', u.created_at AT TIME ZONE tz)::date AS cohort
        FROM users u
        WHERE (u.created_at AT TIME ZONE tz)::date >= since
    )
    SELECT m.cohort,
           count(*),
           w.week,
           count(*) FILTER (WHERE m.registered_on + 7 * w.week <= (as_of AT TIME ZONE tz)::date),
           count(*) FILTER (WHERE EXISTS (
                SELECT FROM user_records d WHERE d.telegram_id = m.telegram_id
                  AND d.date >= m.registered_on + 7 * w.week AND d.date < m.registered_on + 7 * (w.week + 1)))
    FROM members m CROSS JOIN generate_series(1, weeks) AS w (week)
    GROUP BY m.cohort, w.week
    ORDER BY 1, 3
$$;

-- Aggregates only, and read by postgres_exporter's pg_monitor login: not for everyone.
REVOKE EXECUTE ON FUNCTION kbju_stats_people(timestamptz), kbju_stats_registrations(date, text, text),
    kbju_stats_survey(timestamptz, timestamptz), kbju_stats_survey_abandoned(timestamptz, timestamptz),
    kbju_stats_consultation(timestamptz, timestamptz), kbju_stats_reminders(timestamptz, timestamptz),
    kbju_stats_retention(date, integer, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kbju_stats_people(timestamptz), kbju_stats_registrations(date, text, text),
    kbju_stats_survey(timestamptz, timestamptz), kbju_stats_survey_abandoned(timestamptz, timestamptz),
    kbju_stats_consultation(timestamptz, timestamptz), kbju_stats_reminders(timestamptz, timestamptz),
    kbju_stats_retention(date, integer, text, timestamptz) TO kbju_bot, pg_monitor;
