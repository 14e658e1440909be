"""The compose topology without containers: the bot, the stand-in, postgres_exporter and Prometheus as processes.

The bot is `kbjuctl run --webhook` connecting as a login of the restricted kbju_bot role;
postgres_exporter (Debian's, the version compose pins) runs with monitoring/'s extra queries as
a pg_monitor login; Prometheus loads monitoring/prometheus.yml with its discovery replaced by
these local ports and its intervals shortened, and the real rule files. Every metric name a rule
or a dashboard uses must be on the bot's or the exporter's /metrics page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from kbjuctl import localpg, roles
from tests.helpers.bot_harness import TOKEN, kbjuctl_env
from tests.helpers.monitoring import (
    KUBERNETES_SERIES,
    MONITORING,
    PROMETHEUS_SERIES,
    all_used_names,
    dashboard_exprs,
    exposed_names,
    recorded_names,
    rule_exprs,
)
from tests.helpers.roles import as_role
from tests.helpers.stack import Stack, get, timestamp, wait_for

ROOT = Path(__file__).resolve().parents[1]
EXPORTER = shutil.which("prometheus-postgres-exporter") or shutil.which("postgres_exporter")
PROMETHEUS = shutil.which("prometheus")
BLACKBOX = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
NODE = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (EXPORTER and PROMETHEUS and BLACKBOX and NODE),
                       reason="prometheus / prometheus-postgres-exporter / prometheus-blackbox-exporter / "
                              "prometheus-node-exporter missing: ./scripts/system-deps.sh"),
]


def prometheus_config(stack: Stack) -> dict:
    """monitoring/prometheus.yml with local static targets, 1 s intervals and absolute rule paths."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = {"kbju-bot": stack.ports["metrics"], "postgres": stack.ports["exporter"],
               "prometheus": stack.ports["prometheus"], "kbju-healthz": stack.ports["webhook"],
               "node": stack.ports["node"]}
    assert {job["job_name"] for job in config["scrape_configs"]} == set(targets), \
        "a scrape job was added or renamed: start it here too"
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    # Copies of the rule files without the groups' own intervals (kbju-slo-period's 5 min): every group
    # is evaluated at the shortened global interval, so the 30-day SLIs exist at once.
    rules = stack.tmp / "rules"
    rules.mkdir(exist_ok=True)
    for path in MONITORING.glob(config["rule_files"][0]):
        document = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            group.pop("interval", None)
        (rules / path.name).write_text(yaml.safe_dump(document, sort_keys=False))
    config["rule_files"] = [str(rules / "*.yml")]
    config.pop("alerting")  # no Alertmanager here: tests/test_alerting.py delivers alerts through one
    for job in config["scrape_configs"]:
        for key in [k for k in job if k.endswith("_sd_configs") or k == "static_configs"]:
            del job[key]
        job["static_configs"] = [{"targets": [f"127.0.0.1:{targets[job['job_name']]}"]}]
        for relabel in job.get("relabel_configs", []):  # the probe's target stays the bot, the scrape goes
            if relabel.get("target_label") == "__address__":  # to the local blackbox exporter
                relabel["replacement"] = f"127.0.0.1:{stack.ports['blackbox']}"
    return config


@pytest.fixture(scope="module")
def stack(pg_admin_url, migrated_template, tmp_path_factory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("ops-stack")
    db_name = localpg.unique_name("kbju_ops")
    owner_url = localpg.create_database(pg_admin_url, db_name, template=migrated_template)
    bot_login, monitor_login = (f"kbju_bot_s_{secrets.token_hex(3)}", f"kbju_mon_s_{secrets.token_hex(3)}")
    bot_password, monitor_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    with psycopg.connect(owner_url) as conn:  # statistics with labels exist once there is something to count
        conn.execute("INSERT INTO users (telegram_id, sex, created_at) "
                     "VALUES (4343, 'male', now() - interval '9 days');"
                     "INSERT INTO user_records (telegram_id, date, weight, waist, neck, height, goal, steps, "
                     "sport_type, sport_freq) VALUES (4343, current_date - 9, 80, 90, 40, 180, 'healthy', '0-3000', "
                     "'none', '1-2');"
                     "INSERT INTO user_events (telegram_id, kind, detail, at) VALUES "
                     "(4344, 'survey_abandoned', 'height', now())")
    roles.ensure_login(owner_url, bot_login, bot_password, "kbju_bot")
    roles.ensure_login(owner_url, monitor_login, monitor_password, "pg_monitor")
    s = Stack(tmp, ("standin", "webhook", "metrics", "exporter", "prometheus", "blackbox", "node"))
    try:
        s.start("standin", [sys.executable, "-m", "tgstandin", "--port", str(s.ports["standin"])])
        wait_for("the stand-in", lambda: get(s.url("standin", "/")) is not None, procs=s.procs)
        webhook_path = "/telegram/webhook"
        s.start("bot", [sys.executable, "-m", "kbjuctl", "run", "--webhook"], kbjuctl_env(
            BOT_TOKEN=TOKEN, DATABASE_URL=as_role(owner_url, bot_login, bot_password),
            TELEGRAM_API_URL=s.url("standin"), WEBHOOK_URL=s.url("webhook", webhook_path),
            WEBHOOK_SECRET=secrets.token_urlsafe(16), WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(s.ports["webhook"]), WEBHOOK_PATH=webhook_path, METRICS_HOST="127.0.0.1",
            METRICS_PORT=str(s.ports["metrics"]), DB_POOL_MIN="1", DB_POOL_MAX="4", FUNNEL_DELAY_SECONDS="1"))
        exporter_dsn = as_role(owner_url, monitor_login, monitor_password) + "?sslmode=disable"
        s.start("exporter", [EXPORTER, f"--web.listen-address=127.0.0.1:{s.ports['exporter']}",
                             f"--extend.query-path={MONITORING / 'postgres-exporter' / 'queries.yaml'}",
                             "--log.level=warn"],
                {"PATH": os.environ.get("PATH", ""), "DATA_SOURCE_NAME": exporter_dsn})
        s.start("blackbox", [BLACKBOX, f"--config.file={MONITORING / 'blackbox' / 'blackbox.yml'}",
                             f"--web.listen-address=127.0.0.1:{s.ports['blackbox']}", "--log.level=warn"])
        s.start("node", [NODE, "--collector.disable-defaults", "--collector.filesystem",
                         f"--web.listen-address=127.0.0.1:{s.ports['node']}", "--log.level=warn"])
        config = tmp / "prometheus.yml"
        config.write_text(yaml.safe_dump(prometheus_config(s)))
        s.start("prometheus", [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                               f"--web.listen-address=127.0.0.1:{s.ports['prometheus']}", "--log.level=warn"])
        wait_for("the bot's /healthz", lambda: get(s.url("webhook", "/healthz"))[0] == 200, 30, s.procs)
        yield s
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- bot log:\n{s.log('bot')}") from None
    finally:
        s.stop()
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{bot_login}"')
            conn.execute(f'DROP ROLE IF EXISTS "{monitor_login}"')


@pytest.fixture(scope="module")
def scraped(stack) -> dict[str, set[str]]:
    """Names on the bot's and the exporter's /metrics pages, after one person wrote to the bot."""
    from tgstandin.client import StandinClient

    async def one_person() -> None:
        async with StandinClient(stack.url("standin"), token=TOKEN) as client:
            await client.person(4242, "Ops").say("/start")

    asyncio.run(one_person())
    bot = get(stack.url("metrics", "/metrics"))
    exporter = wait_for("the exporter's per-table rows",
                        lambda: (p := get(stack.url("exporter", "/metrics")))[0] == 200
                        and "pg_stat_user_tables_n_live_tup" in p[1] and p)
    assert bot[0] == 200
    probe = get(stack.url("blackbox", "/probe?module=kbju_healthz&target=" + stack.url("webhook", "/healthz")))
    assert probe[0] == 200 and "probe_success 1" in probe[1], probe
    node = get(stack.url("node", "/metrics"))
    assert node[0] == 200 and "node_filesystem_avail_bytes" in node[1]
    return {"bot": exposed_names(bot[1]),
            "exporter": exposed_names(exporter[1]) | exposed_names(probe[1]) | exposed_names(node[1])}


def test_metrics_are_on_their_own_port_and_never_on_the_webhook(stack):
    assert get(stack.url("webhook", "/metrics"))[0] == 404
    status, body = get(stack.url("metrics", "/metrics"))
    assert status == 200 and "kbju_updates_total" in body


def test_every_name_in_rules_and_dashboards_is_exposed_by_the_bot_or_the_exporter(scraped):
    exposed = scraped["bot"] | scraped["exporter"] | PROMETHEUS_SERIES | recorded_names() | KUBERNETES_SERIES
    missing = {name: sorted(where) for name, where in all_used_names().items()
               if name not in exposed}
    assert missing == {}, "used in monitoring/ but exposed by nobody"


def test_the_bot_exposes_the_whole_metric_contract(scraped):
    contract = {
        "kbju_updates_received_total", "kbju_commands_total", "kbju_update_handling_seconds_bucket",
        "kbju_updates_total", "kbju_active_users", "kbju_bot_api_requests_total", "kbju_bot_api_request_seconds_bucket",
        "kbju_bot_api_retry_after_seconds_total", "kbju_db_query_seconds_bucket", "kbju_db_pool_connections",
        "kbju_errors_total", "kbju_survey_started_total", "kbju_survey_completed_total", "kbju_survey_abandoned_total",
        "kbju_survey_in_progress", "kbju_registrations_total", "kbju_scheduled_jobs", "kbju_update_lag_seconds_bucket",
        "kbju_goal_users", "kbju_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
        "process_start_time_seconds",
    }
    assert contract - scraped["bot"] == set()
    assert {"pg_up", "pg_stat_database_numbackends", "pg_settings_max_connections", "pg_database_size_bytes",
            "pg_stat_user_tables_n_live_tup", "pg_stat_activity_max_tx_duration"} - scraped["exporter"] == set()
    # The users dashboard's statistics: kbjuctl stats' SQL, read by the exporter's pg_monitor login.
    assert {"kbju_stats_people_registered", "kbju_stats_survey_30d_started", "kbju_stats_consultation_30d_funnel_sent",
            "kbju_stats_reminders_30d_enabled"} - scraped["exporter"] == set()


def test_prometheus_scrapes_every_target_and_evaluates_every_rule(stack):
    def targets_up():
        active = stack.prometheus_api("/api/v1/targets")["activeTargets"]
        return len(active) == 5 and all(t["health"] == "up" for t in active) and active

    targets = wait_for("every target up", targets_up, 20, stack.procs)
    assert {t["labels"]["job"] for t in targets} == {"kbju-bot", "postgres", "prometheus", "kbju-healthz", "node"}
    all_scraped = max(timestamp(t["lastScrape"]) for t in targets)

    def rules_evaluated():
        groups = stack.prometheus_api("/api/v1/rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        # Evaluated with every target's data: a rule evaluated before the first scrape may be pending.
        done = all(r["health"] == "ok" and timestamp(r["lastEvaluation"]) > all_scraped for r in rules)
        return done and rules

    rules = wait_for("every rule evaluated", rules_evaluated, 20, stack.procs)
    assert {r["name"] for r in rules} == set(rule_exprs())
    # The bot and the database are healthy, so their down-alerts stay quiet.
    firing = {r["name"] for r in rules if r["type"] == "alerting" and r["state"] != "inactive"}
    assert not firing & {"KbjuBotDown", "KbjuBotNotScraped", "KbjuDatabaseDown", "KbjuPostgresExporterDown",
                         "KbjuHealthzProbeFailing", "KbjuBotDatabaseUnreachable"}


def test_dashboard_queries_return_the_bots_data_through_prometheus(stack, scraped):
    def value(expr: str) -> float | None:
        result = stack.prometheus_api("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))["result"]
        return float(result[0]["value"][1]) if result else None

    wait_for("the /start update in Prometheus",
             lambda: (value('sum(kbju_updates_received_total{job="kbju-bot"})') or 0) >= 1, 15, stack.procs)
    assert value('max(kbju_build_info{job="kbju-bot"})') == 1
    # The version label is the package's, the revision this checkout's (bot.buildinfo).
    from bot import buildinfo

    build = f'version="{buildinfo.version()}",revision="{buildinfo.revision()}"'
    assert buildinfo.version() != "unknown" and value(f'max(kbju_build_info{{job="kbju-bot",{build}}})') == 1
    assert value('sum(pg_stat_database_numbackends{job="postgres"})'
                 ' / max(pg_settings_max_connections{job="postgres"})') > 0
    # The users dashboard's statistics (kbjuctl stats' SQL): the seeded person, measured in week 1 of 1.
    wait_for("the statistics in Prometheus", lambda: value('max(kbju_stats_people_registered{job="postgres"})') == 1,
             15, stack.procs)
    assert value('max by (cohort, week) (kbju_stats_retention_retained{week="1"})'
                 ' / max by (cohort, week) (kbju_stats_retention_eligible{week="1"})') == 0
    assert value('max by (step) (kbju_stats_survey_abandoned_30d_people{step="height"})') == 1


# Panels that are empty on a stack where nothing went wrong and nobody finished a survey, each with why.
# Everything else must return data: a panel that is empty here names a label value or a series that
# does not exist (as a stat once did with datname="kbju", a database name the operator may not use).
EMPTY_WHEN_ALL_IS_WELL = {
    # The one person here sent /start and is not in a survey; a gauge with a label per step has no
    # series until somebody is.
    "kbju-users.json / In the survey now, by step / A",
    # Nobody left a survey, and kbju_survey_abandoned_total gets a series per step only when one does.
    "kbju-users.json / Survey funnel per hour / C",
    "kbju-users.json / Survey abandoned, by step (in range) / A",
    # Nothing fires.
    "kbju-system.json / Firing alerts / A",
}


def _grafana_variables(stack: Stack) -> dict[str, str]:
    """What Grafana puts for the dashboards' variables, with values this stack has."""
    databases = wait_for("the exporter's databases in Prometheus", lambda: stack.prometheus_api(
        "/api/v1/label/datname/values?" + urllib.parse.urlencode(
            {"match[]": 'pg_database_size_bytes{job="postgres", datname!~"template.*|postgres"}'})), 20, stack.procs)
    return {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "$datname": databases[0]}


def test_every_dashboard_query_is_accepted_and_shows_the_live_stacks_data(stack, scraped):
    variables = _grafana_variables(stack)

    def query(expr: str) -> list:
        for name, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
            expr = expr.replace(name, value)
        assert "$" not in expr, f"a variable this test does not know: {expr}"
        status, body = get(stack.url("prometheus", "/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
        assert status == 200, (expr, body)
        return json.loads(body)["data"]["result"]

    exprs = dashboard_exprs()
    assert set(exprs) >= EMPTY_WHEN_ALL_IS_WELL, "an allowed empty panel was renamed or removed"
    seen: dict[str, set[str]] = {}

    def all_have_data() -> bool:  # a rate needs two scrapes of a series: asked again until then
        seen["empty"] = {where for where, expr in exprs.items() if not query(expr)}
        return not seen["empty"] - EMPTY_WHEN_ALL_IS_WELL

    with contextlib.suppress(AssertionError):
        wait_for("data in every panel", all_have_data, 20, stack.procs)
    assert seen["empty"] - EMPTY_WHEN_ALL_IS_WELL == set(), "panels without data on a working stack"
