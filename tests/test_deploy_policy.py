"""Deployment policy, checked on the rendered docker-compose.yml (and on deploy/k8s when it exists):
what no service may have, what the platform's own containers must have, and that nothing but the
webhook is reachable from outside. Our own checks, offline (docs/security.md lists them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.helpers.compose import KBJU_SERVICES, compose_config, filled_env, rendered_compose

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> dict:
    return rendered_compose(tmp_path_factory.mktemp("policy"))["services"]


# The one service that may see Docker: Alloy lists the compose containers and reads their logs
# (discovery.docker, loki.source.docker), through this socket only, mounted read-only, on the backend
# network alone, with no capabilities and no published port (docs/monitoring.md, "Logs").
DOCKER_SOCKET = "/var/run/docker.sock:/var/run/docker.sock:ro"
SEES_DOCKER = {"alloy": DOCKER_SOCKET}


def test_no_service_is_privileged_or_shares_the_hosts_namespaces_or_docker(services):
    for name, service in services.items():
        assert not service.get("privileged"), name
        assert not service.get("cap_add"), name
        for namespace in ("network_mode", "pid", "ipc", "userns_mode"):
            assert service.get(namespace) != "host", (name, namespace)
        volumes = [str(v) for v in service.get("volumes", [])]
        if name in SEES_DOCKER:
            assert SEES_DOCKER[name] in volumes, (name, volumes)
            volumes.remove(SEES_DOCKER[name])
        mounts = " ".join(volumes)
        own_config = re.sub(r":/etc/(prometheus|grafana|postgres-exporter|blackbox|alertmanager/kbju|loki|alloy)\b",
                            "", mounts)
        assert "docker.sock" not in mounts and ":/etc" not in own_config, (name, mounts)


def test_the_service_that_sees_docker_is_confined(services):
    for name in SEES_DOCKER:
        service = services[name]
        assert service.get("read_only") is True and service.get("cap_drop") == ["ALL"], name
        assert set(service["networks"]) == {"backend"} and not service.get("ports"), name
        sockets = [v for v in service["volumes"] if "docker.sock" in str(v)]
        assert sockets == [DOCKER_SOCKET], name


def test_every_service_forbids_new_privileges(services):
    for name, service in services.items():
        assert "no-new-privileges:true" in service.get("security_opt", []), name


def test_the_platforms_containers_run_read_only_without_capabilities_and_not_as_root(services):
    for name in KBJU_SERVICES:
        service = services[name]
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"], name
        assert str(service.get("user", "")).split(":")[0] not in ("root", "0"), name  # else the image's USER 10001


def test_third_party_images_are_pinned_to_a_version(services):
    ours = services["bot"]["image"]
    for name, service in services.items():
        image = service["image"]
        if image == ours:
            continue
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest" or "@sha256:" in image, (name, image)


def test_only_the_webhook_is_published_and_the_backend_has_no_way_out(services, tmp_path):
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"bot"}
    rendered = yaml.safe_load(compose_config(filled_env(tmp_path)).stdout)
    assert rendered["networks"]["backend"].get("internal") is True
    for name in ("postgres", "postgres-exporter", "prometheus", "loki", "alloy"):
        assert set(services[name]["networks"]) == {"backend"}, name


# --- Kubernetes (deploy/k8s), when the repository has it ----------------------------------------

def _k8s_documents() -> list[dict]:
    documents = []
    for path in sorted(K8S.rglob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return documents


def _pod_specs(document: dict) -> list[dict]:
    spec = document.get("spec") or {}
    if document.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    template = spec.get("template", {}).get("spec")
    return [template] if template else []


@pytest.mark.skipif(not K8S.is_dir(), reason="no deploy/k8s in this repository")
def test_kubernetes_pods_are_unprivileged_and_backups_encrypted():
    pods = [(d["metadata"]["name"], spec) for d in _k8s_documents() for spec in _pod_specs(d)]
    assert pods
    for name, spec in pods:
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), name
        assert not [v for v in spec.get("volumes", []) if "hostPath" in v], name
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, (name, container["name"])
            assert not context.get("privileged"), (name, container["name"])
            assert context.get("capabilities", {}).get("drop") == ["ALL"], (name, container["name"])
    backups = [spec for name, spec in pods if "backup" in name]
    for spec in backups:  # encrypted by default: the recipient is required, plaintext only when asked for
        env = {e["name"] for c in spec["containers"] for e in c.get("env", [])}
        assert "BACKUP_ENCRYPT_TO" in env, "the backup job must be given BACKUP_ENCRYPT_TO"
