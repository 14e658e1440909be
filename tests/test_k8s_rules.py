"""The alert and recording rules reach a Kubernetes cluster's Prometheus Operator as one PrometheusRule,
generated from monitoring/rules/ (the promtool-tested source), and every job a rule selects is a job
the ServiceMonitors produce."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.test_deploy_k8s import objects, render

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "render-prometheusrule.py"
# Jobs no ServiceMonitor scrapes, each with why its rules are still right in a cluster.
NOT_IN_KUBERNETES = {
    # The blackbox exporter probing /healthz from outside runs in compose; in a cluster the kubelet's
    # readiness probe checks the same endpoint and takes a failing replica out of the Service.
    # probe_success has no series there, so KbjuHealthzProbeFailing stays silent (never a false alarm).
    "kbju-healthz",
}


def _rule_groups() -> list[dict]:
    groups = []
    for path in sorted((ROOT / "monitoring" / "rules").glob("*.yml")):
        groups += yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return groups


def test_the_generated_prometheusrule_is_current():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60,
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
