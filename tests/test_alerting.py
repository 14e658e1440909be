"""Alerts that reach people: monitoring/alertmanager/ rendered by its render.sh and checked by
Alertmanager's own amtool (configuration, routing, templates), the compose service and the
Kubernetes component that run it."""

from __future__ import annotations

import pytest
import yaml

from tests.helpers.alerting import ALERTMANAGER_DIR, AMTOOL, amtool, for_debian_alertmanager, render
from tests.helpers.bot_harness import ROOT

pytestmark = pytest.mark.skipif(AMTOOL is None, reason="amtool missing: ./scripts/system-deps.sh installs it")

EMAIL = {"ALERT_EMAIL_TO": "ops@example.org", "ALERT_EMAIL_FROM": "alerts@example.org",
         "ALERT_SMTP_SMARTHOST": "smtp.example.org:587", "ALERT_SMTP_USERNAME": "alerts"}


@pytest.fixture(params=["telegram", "telegram+email"])
def rendered(request, tmp_path):
    settings = {"ALERT_TELEGRAM_CHAT_ID": "-1001234567890", "ALERT_LANGUAGE": "en"}
    if request.param == "telegram+email":
        settings.update(EMAIL)
    done = render(tmp_path / "am", **settings)
    assert done.returncode == 0, done.stderr
    return tmp_path / "am" / "alertmanager.yml"


def test_amtool_accepts_the_configuration_with_and_without_email(rendered):
    text = rendered.read_text()
    assert "${" not in text and "@email-" not in text
    assert ("smtp_auth_password_file: /run/secrets/alertmanager_smtp_password" in text) == ("ops@example.org" in text)
    checked = amtool("check-config", str(for_debian_alertmanager(rendered)))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_the_telegram_receiver_reads_its_token_from_a_file_and_its_chat_from_the_settings(rendered):
    config = yaml.safe_load(rendered.read_text())
    (telegram,) = next(r for r in config["receivers"] if r["name"] == "operators-telegram")["telegram_configs"]
    assert telegram["bot_token_file"] == "/run/secrets/alertmanager_telegram_token" and "bot_token" not in telegram
    assert telegram["chat_id"] == -1001234567890
    assert telegram["parse_mode"] == "HTML" and telegram["send_resolved"] is True
    assert telegram["message"] == '{{ template "kbju.telegram.en" . }}'


def test_routing_groups_and_repeats_without_spamming(rendered):
    config = yaml.safe_load(rendered.read_text())
    route = config["route"]
    assert route["group_by"] == ["alertname", "severity"]
    seconds = {"s": 1, "m": 60, "h": 3600}

    def duration(text: str) -> int:
        return int(text[:-1]) * seconds[text[-1]]

    assert duration(route["group_wait"]) <= 60 and duration(route["group_interval"]) >= 300
    assert duration(route["repeat_interval"]) >= 4 * 3600
    critical = next(r for r in route["routes"] if r.get("matchers") == ['severity="critical"'])
    assert 3600 <= duration(critical["repeat_interval"]) < duration(route["repeat_interval"])
    email = "ops@example.org" in rendered.read_text()
    runnable = for_debian_alertmanager(rendered)

    def receivers(*labels: str) -> str:
        result = amtool("config", "routes", "test", f"--config.file={runnable}", *labels)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    expected = "operators-email,operators-telegram" if email else "operators-telegram"
    assert receivers("alertname=KbjuBotDown", "severity=critical") == expected
    assert receivers("alertname=KbjuSlowQueries", "severity=warning") == expected


def test_a_database_outage_silences_what_follows_from_it(rendered):
    rules = yaml.safe_load(rendered.read_text())["inhibit_rules"]

    def silenced_by(source: str) -> str:
        (rule,) = [r for r in rules if r["source_matchers"] == [f'alertname="{source}"']]
        return rule["target_matchers"][0]

    for source in ("KbjuDatabaseDown", "KbjuBotDatabaseUnreachable"):
        targets = silenced_by(source)
        for consequence in ("KbjuNoUpdatesHandled", "KbjuErrorRatioHigh", "KbjuSlowUpdateHandling",
                            "KbjuScheduledJobsOverdue"):
            assert consequence in targets, (source, consequence)
        assert source not in targets, "an alert that silences itself is never heard"
    assert "KbjuBotDatabaseUnreachable" in silenced_by("KbjuDatabaseDown")
    # Every name an inhibition matches is an alert of the rules (a renamed alert would slip through).
    from tests.helpers.monitoring import rule_exprs

    alerts = {name for name in rule_exprs() if ":" not in name}
    for rule in rules:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            if matcher.startswith("alertname"):
                names = set(matcher.split("=", 1)[1].lstrip("~").strip('"').split("|"))
                assert names <= alerts, names - alerts


@pytest.mark.parametrize(("settings", "named"), [
    ({}, "ALERT_TELEGRAM_CHAT_ID"),
    ({"ALERT_TELEGRAM_CHAT_ID": "@operators"}, "ALERT_TELEGRAM_CHAT_ID"),
    ({"ALERT_TELEGRAM_CHAT_ID": "12-3"}, "ALERT_TELEGRAM_CHAT_ID"),
    ({"ALERT_TELEGRAM_CHAT_ID": "42", "ALERT_LANGUAGE": "de"}, "ALERT_LANGUAGE"),
    ({"ALERT_TELEGRAM_CHAT_ID": "42", "ALERT_RUNBOOK_URL": "https://x/a|b"}, "ALERT_RUNBOOK_URL"),
    ({"ALERT_TELEGRAM_CHAT_ID": "42", "ALERT_TELEGRAM_API_URL": "ftp://x"}, "ALERT_TELEGRAM_API_URL"),
    ({"ALERT_TELEGRAM_CHAT_ID": "42", "ALERT_EMAIL_TO": "ops@example.org"}, "ALERT_EMAIL_FROM"),
    ({"ALERT_TELEGRAM_CHAT_ID": "42", **EMAIL, "ALERT_EMAIL_TO": "a@b.c\nx: y"}, "ALERT_EMAIL_TO"),
])
def test_a_bad_setting_stops_rendering_with_its_name(tmp_path, settings, named):
    done = render(tmp_path / "am", **settings)
    assert done.returncode == 2 and named in done.stderr, done.stderr
    assert not (tmp_path / "am" / "alertmanager.yml").exists()


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_messages_are_html_telegram_accepts_with_the_runbook_link(tmp_path, language):
    from tgstandin.textparse import parse_html

    done = render(tmp_path / "am", ALERT_TELEGRAM_CHAT_ID="42", ALERT_LANGUAGE=language,
                  ALERT_RUNBOOK_URL="https://docs.example.org/monitoring.md")
    assert done.returncode == 0, done.stderr
    # amtool renders with its own example data: two alerts, one of them on instance foo.bar:1234.
    shown = amtool("template", "render", f"--template.glob={tmp_path / 'am' / 'templates' / '*.tmpl'}",
                   f'--template.text={{{{ template "kbju.telegram.{language}" . }}}}')
    assert shown.returncode == 0, shown.stderr
    text, entities = parse_html(shown.stdout)
    assert "foo.bar:1234" in text
    assert ("Инструкция" if language == "ru" else "Runbook") in text
    links = [e["url"] for e in entities if e["type"] == "text_link"]
    assert links and all(u.startswith("https://docs.example.org/monitoring.md#") for u in links)


def test_the_compose_service_and_the_kubernetes_component_run_the_tested_files():
    component = ROOT / "deploy" / "k8s" / "components" / "alertmanager"
    assert (component / "alertmanager.yml").read_text() == (ALERTMANAGER_DIR / "alertmanager.yml").read_text()
    assert (component / "render.sh").read_text() == (ALERTMANAGER_DIR / "render.sh").read_text()
    assert (component / "kbju.tmpl").read_text() == (ALERTMANAGER_DIR / "templates" / "kbju.tmpl").read_text()
    assert sorted(p.name for p in (ALERTMANAGER_DIR / "templates").iterdir()) == ["kbju.tmpl"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["alertmanager"]
    assert "./monitoring/alertmanager:/etc/alertmanager/kbju:ro" in service["volumes"]
    assert "render.sh /etc/alertmanager/kbju" in service["command"][0]
    prometheus = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    (alertmanagers,) = prometheus["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_every_alert_has_a_runbook_heading_the_messages_link_to():
    from tests.helpers.monitoring import rule_exprs

    headings = {line[4:].strip() for line in (ROOT / "docs" / "monitoring.md").read_text().splitlines()
                if line.startswith("### ")}
    alerts = {name for name in rule_exprs() if not name.islower() and ":" not in name}
    assert alerts - headings == set(), "alerts without a runbook heading in docs/monitoring.md"
    template = (ALERTMANAGER_DIR / "templates" / "kbju.tmpl").read_text()
    assert '{{ define "kbju.runbook" }}{{ template "kbju.runbook_url" }}#{{ .Labels.alertname | toLower }}' in template
