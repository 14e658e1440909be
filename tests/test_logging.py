"""Logs, shipped: Loki's configuration (monitoring/loki/loki.yml), Alloy's pipeline (monitoring/alloy/
config.alloy for compose, deploy/k8s/components/logging/config.alloy for Kubernetes), the compose
services that run them and Grafana's datasources.

Neither Loki nor Alloy is packaged for Debian or on PyPI (Debian's `loki` is a genetics program), so
their own checks (`loki -verify-config`, `alloy validate`) run in CI's `logging` job
(.github/workflows/ci.yml) on the very image tags compose runs. Here: what can be checked offline and
honestly, above all that the JMESPath expressions Alloy's stage.json declares find their fields in the
bot's JSON lines, evaluated with the jmespath package on lines the bot's own formatter writes.
"""

from __future__ import annotations

import http.server
import json
import logging
import re
import subprocess
import threading
import urllib.parse
from datetime import datetime
from pathlib import Path

import jmespath
import pytest
import yaml

from tests.helpers.compose import rendered_compose

ROOT = Path(__file__).resolve().parents[1]
LOKI = ROOT / "monitoring" / "loki" / "loki.yml"
ALLOY_COMPOSE = ROOT / "monitoring" / "alloy" / "config.alloy"
ALLOY_K8S = ROOT / "deploy" / "k8s" / "components" / "logging" / "config.alloy"
DATASOURCES = ROOT / "monitoring" / "grafana" / "provisioning" / "datasources"
# Never labels: one value per update or per person would make a stream each (and a label is indexed).
HIGH_CARDINALITY = {"update_id", "user", "flow", "step", "outcome", "duration_ms", "replica", "message", "ts",
                    "exc", "count", "source", "status", "version", "logger"}

# Lines as bot/logging.py's contract describes them (one per kind): a step of an update, the update's
# last line, a rejected webhook request, and kbjuctl's.
CONTRACT_LINES = [
    {"ts": "2026-12-05T10:25:33.123Z", "level": "INFO", "logger": "bot.flows.survey", "message": "step answered",
     "service": "kbju-bot", "version": "1.4.0", "replica": "kbju-bot-7c9d-abcde", "update_id": 123456789,
     "user": "u0123456789ab", "flow": "survey", "step": "weight"},
    {"ts": "2026-12-05T10:25:33.456Z", "level": "INFO", "logger": "bot.app", "message": "update handled",
     "service": "kbju-bot", "version": "1.4.0", "replica": "kbju-bot-7c9d-abcde", "update_id": 123456789,
     "user": "u0123456789ab", "flow": "survey", "step": "weight", "outcome": "ok", "duration_ms": 1234.5},
    {"ts": "2026-12-05T10:25:34.000Z", "level": "WARNING", "logger": "bot.transport.webhook",
     "message": "webhook request rejected", "service": "kbju-bot", "version": "1.4.0", "replica": "host-1",
     "source": "203.0.113.0/24", "status": 403, "count": 3},
    {"ts": "2026-12-05T03:00:00.001Z", "level": "ERROR", "logger": "kbjuctl.backup", "message": "backup failed",
     "service": "kbjuctl", "version": "1.4.0", "replica": "kbju-backup-29123-x", "exc": "Traceback ..."},
]


# --- reading the Alloy configuration ---------------------------------------------------------------

def pipeline(path: Path) -> str:
    text = path.read_text()
    start, end = text.index("// BEGIN kbju pipeline"), text.index("// END kbju pipeline")
    return text[start:end]


def block(text: str, name: str) -> str:
    """The body of the first `name {` block (braces balanced)."""
    start = re.search(re.escape(name) + r"\s*(?:=\s*)?\{", text).end()
    depth, i = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[start:i - 1]


def assignments(body: str) -> dict[str, str]:
    return dict(re.findall(r'^\s*([A-Za-z_]\w*)\s*=\s*"((?:[^"\\]|\\.)*)"', body, flags=re.MULTILINE))


def stage_json_expressions(path: Path) -> dict[str, str]:
    return assignments(block(block(pipeline(path), "stage.json"), "expressions"))


def promoted_labels(path: Path) -> set[str]:
    """Every label either pipeline can set: stage.labels' keys and relabel rules' target_label."""
    text = path.read_text()
    labels = set(assignments(block(block(pipeline(path), "stage.labels"), "values")))
    return labels | set(re.findall(r'target_label\s*=\s*"([^"]+)"', text))


def bot_formatter_line(**fields) -> dict:
    """One line as bot/logging.py's JsonFormatter writes it, extra fields passed as the record's extras."""
    from bot.logging import JsonFormatter

    record = logging.LogRecord("bot.app", logging.INFO, __file__, 1, "update handled", None, None)
    for key, value in fields.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter().format(record))


def test_both_configurations_run_the_same_pipeline():
    assert pipeline(ALLOY_COMPOSE) == pipeline(ALLOY_K8S)
    assert "loki.source.docker" in ALLOY_COMPOSE.read_text() and "discovery.docker" in ALLOY_COMPOSE.read_text()
    assert "loki.source.kubernetes" in ALLOY_K8S.read_text() and "discovery.kubernetes" in ALLOY_K8S.read_text()
    for path in (ALLOY_COMPOSE, ALLOY_K8S):
        assert re.search(r"forward_to\s*=\s*\[loki\.process\.kbju\.receiver\]", path.read_text()), path


@pytest.mark.parametrize("line", CONTRACT_LINES, ids=lambda line: line["message"])
def test_every_field_stage_json_declares_is_in_the_bots_lines(line):
    expressions = stage_json_expressions(ALLOY_COMPOSE)
    assert {"ts", "level", "service"} <= set(expressions)
    for name, expression in expressions.items():
        assert jmespath.search(expression, line) is not None, f"{name}: {expression} finds nothing"
    assert jmespath.search(expressions["service"], line) in ("kbju-bot", "kbjuctl")


def test_the_bots_own_formatter_writes_what_the_pipeline_reads():
    line = bot_formatter_line()
    expressions = stage_json_expressions(ALLOY_COMPOSE)
    for name in ("ts", "level"):  # what every line of JsonFormatter has had from the start
        assert jmespath.search(expressions[name], line) is not None, name
    timestamp = block(pipeline(ALLOY_COMPOSE), "stage.timestamp")
    settings = assignments(timestamp)
    assert settings == {"source": "ts", "format": "RFC3339Nano"}
    # RFC3339Nano accepts the formatter's "2026-12-05T10:25:33.123Z": UTC, milliseconds, a Z.
    ts = jmespath.search(expressions["ts"], line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ts), ts
    assert datetime.fromisoformat(ts).utcoffset().total_seconds() == 0


def test_only_low_cardinality_labels_are_promoted():
    for path in (ALLOY_COMPOSE, ALLOY_K8S):
        labels = promoted_labels(path)
        assert labels & HIGH_CARDINALITY == set(), path
        assert {"level", "service"} <= labels, path
        # A label from the line must be one stage.json extracted.
        from_line = set(assignments(block(block(pipeline(path), "stage.labels"), "values")))
        assert from_line <= set(stage_json_expressions(path)), path
    assert promoted_labels(ALLOY_COMPOSE) == {"level", "service", "compose_project", "compose_service"}
    assert promoted_labels(ALLOY_K8S) == {"level", "service", "namespace", "app", "container"}
    # Each label's values on the contract lines: a handful, whatever the number of updates.
    expressions = stage_json_expressions(ALLOY_COMPOSE)
    for label in ("level", "service"):
        values = {jmespath.search(expressions[label], line) for line in CONTRACT_LINES}
        assert values <= {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "kbju-bot", "kbjuctl"}, values


def test_the_person_is_never_more_than_the_salted_hash_in_a_shipped_line():
    for line in CONTRACT_LINES:
        if "user" in line:
            assert re.fullmatch(r"u[0-9a-f]{12}", line["user"])
    assert "user" not in promoted_labels(ALLOY_COMPOSE) | promoted_labels(ALLOY_K8S)


# --- Loki ------------------------------------------------------------------------------------------

def test_loki_runs_alone_on_the_filesystem_with_tsdb_v13_and_retention():
    config = yaml.safe_load(LOKI.read_text())
    assert config["auth_enabled"] is False
    assert config["server"]["http_listen_port"] == 3100
    assert config["common"]["replication_factor"] == 1
    assert config["common"]["ring"]["kvstore"]["store"] == "inmemory"
    assert config["common"]["storage"]["filesystem"]["chunks_directory"].startswith(config["common"]["path_prefix"])
    (period,) = config["schema_config"]["configs"]
    assert period["store"] == "tsdb" and period["schema"] == "v13" and period["object_store"] == "filesystem"
    assert period["index"]["period"] == "24h"  # TSDB requires 24h index periods
    datetime.strptime(period["from"], "%Y-%m-%d")
    compactor = config["compactor"]
    assert compactor["retention_enabled"] is True and compactor["delete_request_store"] == "filesystem"
    assert compactor["working_directory"].startswith(config["common"]["path_prefix"])
    hours = int(re.fullmatch(r"(\d+)h", config["limits_config"]["retention_period"]).group(1))
    assert hours == 30 * 24
    assert config["limits_config"]["allow_structured_metadata"] is True  # v13 schema; Loki 3's default
    assert config["analytics"]["reporting_enabled"] is False


def test_the_kubernetes_component_runs_the_same_loki_configuration():
    assert (ROOT / "deploy" / "k8s" / "components" / "logging" / "loki.yml").read_text() == LOKI.read_text()


# --- compose ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def services(tmp_path_factory) -> dict:
    return rendered_compose(tmp_path_factory.mktemp("logging"))["services"]


def test_compose_runs_loki_and_alloy_on_the_tested_files(services):
    loki, alloy = services["loki"], services["alloy"]
    assert f"{LOKI}:/etc/loki/loki.yml:ro" in loki["volumes"]
    assert "-config.file=/etc/loki/loki.yml" in loki["command"]
    assert any(str(v).startswith("loki:/loki") for v in loki["volumes"]), "Loki's data on its named volume"
    assert loki["healthcheck"]["test"] == ["CMD", "/usr/bin/loki", "-health"]
    assert f"{ALLOY_COMPOSE}:/etc/alloy/config.alloy:ro" in alloy["volumes"]
    assert alloy["command"][:2] == ["run", "/etc/alloy/config.alloy"]
    for service in (loki, alloy):
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert service["deploy"]["resources"]["limits"]["memory"]
        assert service["networks"] == {"backend": None} or set(service["networks"]) == {"backend"}
    assert "loki" in services["grafana"]["depends_on"]


def test_the_alloy_healthcheck_asks_its_ready_endpoint(services, tmp_path):
    """The image has no curl or wget: the healthcheck is bash talking HTTP itself. Run it against a
    server answering /-/ready with 200, then with 503."""
    command = services["alloy"]["healthcheck"]["test"]
    assert command[:3] == ["CMD", "bash", "-c"]
    status = {"code": 200}
    paths = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            paths.append(self.path)
            self.send_response(status["code"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = command[3].replace("/12345 ", f"/{server.server_port} ")
        assert script != command[3]
        healthy = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10, check=False)
        status["code"] = 503
        unhealthy = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10, check=False)
    finally:
        server.shutdown()
    assert healthy.returncode == 0, healthy.stderr
    assert unhealthy.returncode != 0
    assert paths == ["/-/ready", "/-/ready"]


def test_prometheus_keeps_exemplars(services):
    assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]


def test_ci_checks_the_configurations_with_the_images_compose_runs(services):
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = " ".join(step.get("run", "") for step in workflow["jobs"]["logging"]["steps"])
    for name, check in (("loki", "-verify-config"), ("alloy", "validate")):
        # The image is read from docker-compose.yml: the same tag, whatever Renovate moves it to.
        assert f"(grafana\\/{name}:[^[:space:]]+)" in steps and services[name]["image"].startswith(f"grafana/{name}:")
        assert f'"$image" {check}' in steps or f'"$image" -config.file=/etc/loki/loki.yml {check}' in steps, name
    assert steps.count("docker-compose.yml") == 2 and "docker run --rm" in steps
    assert "monitoring/loki/loki.yml" in steps and "monitoring/alloy/config.alloy" in steps
    assert "deploy/k8s/components/logging/config.alloy" in steps


# --- Grafana ---------------------------------------------------------------------------------------

def _provisioned(text: str) -> str:
    """A provisioning value as Grafana uses it: $$ is a literal $ (else $NAME is expanded)."""
    assert "$" not in text.replace("$$", ""), "an unescaped $: Grafana would expand it at start"
    return text.replace("$$", "$")


def test_grafana_has_loki_and_an_exemplar_opens_its_updates_lines():
    (loki,) = yaml.safe_load((DATASOURCES / "loki.yml").read_text())["datasources"]
    assert (loki["uid"], loki["type"], loki["url"]) == ("loki", "loki", "http://loki:3100")
    (prometheus,) = yaml.safe_load((DATASOURCES / "prometheus.yml").read_text())["datasources"]
    (destination,) = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    assert destination["name"] == "update_id"  # the exemplar's label (kbju_update_handling_seconds)
    url = _provisioned(destination["url"])
    path, _, query = url.partition("?")
    assert path == "/explore"
    params = dict(urllib.parse.parse_qsl(query))
    panes = json.loads(params["panes"])
    (pane,) = panes.values()
    (target,) = pane["queries"]
    assert pane["datasource"] == "loki" and target["datasource"] == {"type": "loki", "uid": "loki"}
    assert target["expr"] == '{service="kbju-bot"} | json | update_id=`${__value.raw}`'
    assert pane["range"] == {"from": "${__from}", "to": "${__to}"}
