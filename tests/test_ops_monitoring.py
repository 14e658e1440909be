"""Alert rules and dashboards (monitoring/): promtool checks and unit tests, provisioning, PromQL names.

`metric_names` and `exposed_names` are used by test_ops_stack.py, which compares the names
every rule and panel uses with what a running bot and postgres_exporter really expose.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.monitoring import (
    DASHBOARDS,
    KUBERNETES_SERIES,
    LOG_FIELDS,
    MONITORING,
    PROMETHEUS_SERIES,
    RULE_TESTS,
    RULES,
    all_used_names,
    dashboard_exprs,
    dashboard_logql,
    dashboard_panels,
    exposed_names,
    logql_fields,
    logql_stream_labels,
    metric_names,
    recorded_names,
    rule_exprs,
)

ROOT = Path(__file__).resolve().parents[1]

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None,
                                    reason="promtool missing: ./scripts/system-deps.sh installs it")

# --- PromQL names ------------------------------------------------------------------------------


@pytest.mark.parametrize(("expr", "names"), [
    ('up{job="kbju-bot"} == 0', {"up"}),
    ('absent(up{job="kbju-bot"})', {"up"}),
    ("histogram_quantile(0.95, sum by (le, step) (rate(kbju_update_handling_seconds_bucket[$__rate_interval])))",
     {"kbju_update_handling_seconds_bucket"}),
    ("sum(rate(a_sum[5m])) / sum(rate(a_count[5m])) > 1e3", {"a_sum", "a_count"}),
    ('sum(x_total{outcome=~"error|db_unavailable"}) by (instance) / ignoring(outcome) group_left y',
     {"x_total", "y"}),
    ('label_replace(m, "dst", "$1", "src", "(.*)") and on (instance) n offset 5m', {"m", "n"}),
    ("time() - max(kbju_backup_last_success_timestamp_seconds) > 26 * 3600",
     {"kbju_backup_last_success_timestamp_seconds"}),
    ("rate(c[5m:30s]) unless bool d @ 1609746000", {"c", "d"}),
    ('sum(increase(kbju_registrations_total[$__range]))', {"kbju_registrations_total"}),
    ('ALERTS{alertstate="firing"}', {"ALERTS"}),
])
def test_metric_names_are_parsed_out_of_promql(expr, names):
    assert metric_names(expr) == names


def test_exposed_names_follow_the_type_of_each_family():
    page = """# HELP h_seconds a histogram nobody observed yet
# TYPE h_seconds histogram
# TYPE c_total counter
c_total 1.0
c_created 1.7e9
# TYPE g gauge
g{state="x"} 2
# TYPE pg_commits counter
pg_commits{datname="kbju"} 5
"""  # pg_commits: the Go client writes counters without _total
    names = exposed_names(page)
    assert {"h_seconds_bucket", "h_seconds_sum", "h_seconds_count", "c_total", "g", "pg_commits"} <= names
    assert not {"h_seconds", "g_bucket", "g_count", "c"} & names


# --- rules ---------------------------------------------------------------------------------------

def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], check=False, capture_output=True, text=True, timeout=60)


@needs_promtool
def test_the_blackbox_exporter_accepts_its_config_and_refuses_a_broken_one(tmp_path):
    exporter = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if exporter is None:
        pytest.skip("prometheus-blackbox-exporter missing: ./scripts/system-deps.sh installs it")

    def check(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([exporter, "--config.check", f"--config.file={path}"], capture_output=True, text=True,
                              timeout=30, check=False)

    ours = check(MONITORING / "blackbox" / "blackbox.yml")
    assert ours.returncode == 0, ours.stderr
    broken = tmp_path / "blackbox.yml"
    broken.write_text((MONITORING / "blackbox" / "blackbox.yml").read_text().replace("valid_status_codes",
                                                                                     "valid_status_code"))
    assert check(broken).returncode != 0


@needs_promtool
def test_promtool_accepts_the_rules_and_the_prometheus_config():
    checked = promtool("check", "rules", *map(str, RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = promtool("check", "config", str(MONITORING / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


@needs_promtool
def test_promtool_unit_tests_of_the_alerts_pass():
    result = promtool("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_not_firing():
    alerts = {name for name in rule_exprs() if ":" not in name}
    firing, quiet = set(), set()
    for path in RULE_TESTS:
        for group in yaml.safe_load(path.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert alerts - firing == set(), "alerts never shown firing"
    assert alerts - quiet == set(), "alerts never shown quiet"
    assert (firing | quiet) <= alerts, "tests of alerts that do not exist"


def test_every_alert_says_what_is_wrong_and_what_to_do():
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    continue
                notes = rule.get("annotations", {})
                assert notes.get("summary"), rule["alert"]
                assert len(notes.get("description", "")) > 80, f"{rule['alert']}: say what to do"
                assert rule.get("labels", {}).get("severity") in {"critical", "warning"}, rule["alert"]


def test_the_slos_burn_rate_alerts_follow_the_sre_workbook():
    rules = [rule for path in RULES for group in yaml.safe_load(path.read_text())["groups"]
             for rule in group["rules"] if rule.get("alert", "").endswith("BudgetBurn")]
    window = r"ratio_rate(\w+) > \(([\d.]+) \* ([\d.]+)\)"
    pairs = {}
    for rule in rules:
        found = re.findall(window + r"\s+and \S+" + window, rule["expr"])
        pairs[(rule["alert"], rule["labels"]["severity"])] = {(lw, sw, float(f)) for lw, f, _b, sw, _f, _ in found}
        budget = "0.001" if rule["labels"]["slo"] == "availability" else "0.05"
        assert {b for _lw, f, b, _sw, f2, b2 in found for b in (b, b2)} == {budget}, rule["alert"]
        assert all(f == f2 for _lw, f, _b, _sw, f2, _b2 in found), rule["alert"]
    page, ticket = {("1h", "5m", 14.4), ("6h", "30m", 6.0)}, {("1d", "2h", 3.0), ("3d", "6h", 1.0)}
    assert pairs == {(alert, severity): page if severity == "critical" else ticket
                     for alert in ("KbjuAvailabilityBudgetBurn", "KbjuLatencyBudgetBurn")
                     for severity in ("critical", "warning")}


def test_the_required_alerts_exist():
    names = set(rule_exprs())
    assert {"KbjuBotDown", "KbjuBotNotScraped", "KbjuNoUpdatesHandled", "KbjuErrorRatioHigh",
            "KbjuSlowUpdateHandling", "KbjuBotApiErrors", "KbjuFloodControlWaits", "KbjuDatabaseDown",
            "KbjuDatabaseConnectionsNearLimit", "KbjuSlowQueries", "KbjuScheduledJobsOverdue",
            "KbjuBackupTooOld"} <= names
    assert "> 1" in rule_exprs()["KbjuSlowUpdateHandling"] and "0.95" in rule_exprs()["KbjuSlowUpdateHandling"]
    assert "26 * 3600" in rule_exprs()["KbjuBackupTooOld"]


# --- dashboards ----------------------------------------------------------------------------------

def test_dashboards_are_provisioned_from_files_with_the_provisioned_datasource():
    provisioning = MONITORING / "grafana" / "provisioning"
    datasources = [d for path in sorted((provisioning / "datasources").glob("*.yml"))
                   for d in yaml.safe_load(path.read_text())["datasources"]]
    uids = {d["uid"] for d in datasources}
    assert {(d["uid"], d["type"]) for d in datasources} == {("prometheus", "prometheus"), ("loki", "loki")}
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "kbju.yml").read_text())["providers"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in compose["services"]["grafana"]["volumes"]
                  if v.startswith("./"))
    assert mounts["./monitoring/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./monitoring/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert {p.stem for p in DASHBOARDS} == {"kbju-system", "kbju-users", "kbju-performance", "kbju-database"}
    seen_uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"] == path.stem and board["uid"] not in seen_uids
        seen_uids.add(board["uid"])
    for name, panel in dashboard_panels():
        if panel.get("type") == "row":
            continue
        assert panel["targets"], f"{name}: {panel['title']} has no query"
        for ref in [panel["datasource"], *(t["datasource"] for t in panel["targets"])]:
            assert ref["uid"] in uids, f"{name}: {panel['title']} names an unprovisioned datasource"


def test_dashboards_show_what_the_issue_asks_for():
    exprs = dashboard_exprs()

    def used(board: str) -> set[str]:
        return {n for where, e in exprs.items() if where.startswith(board) for n in metric_names(e)}

    assert {"up", "process_start_time_seconds", "process_cpu_seconds_total",
            "process_resident_memory_bytes"} <= used("kbju-system")
    assert {"kbju_active_users", "kbju_registrations_total", "kbju_survey_abandoned_total",
            "kbju_survey_started_total", "kbju_survey_completed_total", "kbju_goal_users"} <= used("kbju-users")
    assert {"kbju_updates_received_total", "kbju_update_handling_seconds_bucket",
            "kbju_bot_api_request_seconds_bucket", "kbju_update_lag_seconds_bucket"} <= used("kbju-performance")
    assert {"pg_stat_database_numbackends", "kbju_db_query_seconds_bucket", "pg_database_size_bytes",
            "pg_stat_user_tables_n_live_tup"} <= used("kbju-database")
    by_step = [e for w, e in exprs.items() if "kbju_update_handling_seconds_bucket" in e and "step" in e]
    assert {q for q in ("0.5", "0.95", "0.99") if any(f"histogram_quantile({q}," in e for e in by_step)} == \
        {"0.5", "0.95", "0.99"}


def test_replica_gauges_from_the_database_are_never_summed():
    """Every replica reports the same database-wide value: a sum would count it once per replica."""
    shared = {"kbju_active_users", "kbju_goal_users", "kbju_survey_in_progress", "kbju_scheduled_jobs",
              "kbju_backup_last_success_timestamp_seconds"}
    for where, expr in {**rule_exprs(), **dashboard_exprs()}.items():
        for name in shared & metric_names(expr):
            assert not re.search(rf"\b(sum|count)\b[^()]*\([^()]*\b{name}\b", expr), f"{where}: {expr}"


def test_no_name_is_used_that_is_not_prometheus_own_or_a_bot_or_exporter_name():
    """Cheap static half of test_ops_stack's live check: only our namespaces appear."""
    for name, where in all_used_names().items():
        known = PROMETHEUS_SERIES | recorded_names()
        assert name in known or name.startswith(("kbju_", "pg_", "process_", "probe_", "node_filesystem_")) \
            or name in KUBERNETES_SERIES, (name, where)
    assert all(name.startswith("kbju:") for name in recorded_names())


def test_log_panels_read_the_bots_lines_by_the_fields_it_writes():
    """The LogQL of the dashboards selects the bot's stream and filters on fields of its JSON lines
    (docs/bot.md, Logging; tests/test_log_context.py checks a real line has them)."""
    queries = dashboard_logql()
    assert queries, "the performance dashboard has log panels"
    for where, expr in queries.items():
        assert logql_stream_labels(expr) == {"service": "kbju-bot"}, where
        assert logql_fields(expr) <= LOG_FIELDS, (where, logql_fields(expr) - LOG_FIELDS)
    assert any("$update_id" in expr for expr in queries.values())
    board = json.loads((MONITORING / "grafana" / "dashboards" / "kbju-performance.json").read_text())
    assert "update_id" in {v["name"] for v in board["templating"]["list"]}
    exemplars = [t for _, panel in dashboard_panels() for t in panel.get("targets", []) if t.get("exemplar")]
    assert exemplars and all("kbju_update_handling_seconds_bucket" in t["expr"] for t in exemplars)
    provisioned = yaml.safe_load((MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
                                 .read_text())["datasources"][0]["jsonData"]["exemplarTraceIdDestinations"]
    assert [d["name"] for d in provisioned] == ["update_id"]  # tests/test_logging.py reads its link's query
