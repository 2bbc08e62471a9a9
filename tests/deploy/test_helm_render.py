"""The Helm chart rendered by ``helm template`` with the values files under its ci/ folder.

Skipped when ``helm`` is not on PATH (it is not part of this project's test tools).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "fastagentic"
HELM = shutil.which("helm")

pytestmark = pytest.mark.skipif(HELM is None, reason="helm is not installed: chart not rendered")


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    return subprocess.run([HELM, *args], capture_output=True, text=True, timeout=60)


def render(*args: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The manifests by ``(kind, name)``."""
    result = helm("template", "rel", str(CHART), *args)
    assert result.returncode == 0, result.stderr
    manifests = {}
    for doc in yaml.safe_load_all(result.stdout):
        if doc:
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in manifests, key
            manifests[key] = doc
    return manifests


def container(manifests: dict[tuple[str, str], dict[str, Any]], kind: str, name: str
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = manifests[(kind, name)]["spec"]["template"]["spec"]
    (only,) = pod["containers"]
    return pod, only


def test_lint_passes_strict() -> None:
    result = helm("lint", str(CHART), "--strict", "-f", str(CHART / "ci" / "postgres-values.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_chart_secret_postgres_and_autoscaling() -> None:
    manifests = render("-f", str(CHART / "ci" / "postgres-values.yaml"))
    assert set(manifests) == {
        ("ServiceAccount", "rel-fastagentic"), ("Secret", "rel-fastagentic"),
        ("Secret", "rel-fastagentic-migrate"), ("Service", "rel-fastagentic-api"),
        ("Deployment", "rel-fastagentic-api"), ("Deployment", "rel-fastagentic-worker"),
        ("HorizontalPodAutoscaler", "rel-fastagentic-api"),
        ("HorizontalPodAutoscaler", "rel-fastagentic-worker"),
        ("PodDisruptionBudget", "rel-fastagentic-api"),
        ("PodDisruptionBudget", "rel-fastagentic-worker"), ("Job", "rel-fastagentic-migrate")}

    secret = manifests[("Secret", "rel-fastagentic")]
    assert set(secret["data"]) == {
        "FASTAGENTIC_DURABLE_STORE", "FASTAGENTIC_CHECKPOINT_STORE", "FASTAGENTIC_ARCHIVE_STORE",
        "FASTAGENTIC_RATE_LIMIT_STORE", "FASTAGENTIC_MCP_STATE_SECRET"}
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded["FASTAGENTIC_DURABLE_STORE"] == \
        "postgresql://fastagentic:secret@postgres:5432/fastagentic"
    assert decoded["FASTAGENTIC_ARCHIVE_STORE"] == "s3://fastagentic-archive/prod"
    hook_secret = manifests[("Secret", "rel-fastagentic-migrate")]
    assert hook_secret["data"] == secret["data"]
    assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"

    for component, port in (("api", "http"), ("worker", "health")):
        pod, main = container(manifests, "Deployment", f"rel-fastagentic-{component}")
        assert "replicas" not in manifests[("Deployment", f"rel-fastagentic-{component}")]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["serviceAccountName"] == "rel-fastagentic"
        assert main["securityContext"]["readOnlyRootFilesystem"] is True
        assert main["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": port}
        assert main["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": port}
        assert main["envFrom"] == [{"secretRef": {"name": "rel-fastagentic"}}]
        assert {"name": "tmp", "mountPath": "/tmp"} in main["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
        assert main["resources"]["requests"]
        annotations = manifests[("Deployment", f"rel-fastagentic-{component}")][
            "spec"]["template"]["metadata"]["annotations"]
        assert len(annotations["checksum/secret"]) == 64

        hpa = manifests[("HorizontalPodAutoscaler", f"rel-fastagentic-{component}")]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"rel-fastagentic-{component}"
        pdb = manifests[("PodDisruptionBudget", f"rel-fastagentic-{component}")]
        selector = manifests[("Deployment", f"rel-fastagentic-{component}")]["spec"]["selector"]
        assert pdb["spec"]["selector"] == selector

    _, api = container(manifests, "Deployment", "rel-fastagentic-api")
    assert api["args"][:2] == ["run", "app.py"] and "--no-worker" in api["args"]
    service = manifests[("Service", "rel-fastagentic-api")]
    assert service["spec"]["selector"] == \
        manifests[("Deployment", "rel-fastagentic-api")]["spec"]["selector"]["matchLabels"]

    pod, worker = container(manifests, "Deployment", "rel-fastagentic-worker")
    assert worker["args"][:2] == ["worker", "app.py"]
    assert "--concurrency=16" in worker["args"] and "--drain=30" in worker["args"]
    assert pod["terminationGracePeriodSeconds"] > 30

    job = manifests[("Job", "rel-fastagentic-migrate")]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    hook_weights = (int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]),
                    int(job["metadata"]["annotations"]["helm.sh/hook-weight"]))
    assert hook_weights[0] < hook_weights[1], "the hook's Secret exists before the Job"
    pod, migrate = container(manifests, "Job", "rel-fastagentic-migrate")
    assert migrate["args"] == ["store", "migrate"] and "command" not in migrate
    assert migrate["envFrom"] == [{"secretRef": {"name": "rel-fastagentic-migrate"}}]
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True


def test_existing_secret_and_fixed_replicas() -> None:
    manifests = render("-f", str(CHART / "ci" / "redis-existing-secret-values.yaml"))
    assert not [key for key in manifests if key[0] in ("Secret", "HorizontalPodAutoscaler")]
    assert manifests[("Deployment", "rel-fastagentic-api")]["spec"]["replicas"] == 3
    assert manifests[("Deployment", "rel-fastagentic-worker")]["spec"]["replicas"] == 4
    for kind, name in (("Deployment", "rel-fastagentic-api"),
                       ("Deployment", "rel-fastagentic-worker"),
                       ("Job", "rel-fastagentic-migrate")):
        _, main = container(manifests, kind, name)
        assert main["envFrom"] == [{"secretRef": {"name": "fastagentic-stores"}}], name
    pod, worker = container(manifests, "Deployment", "rel-fastagentic-worker")
    assert "--drain=60" in worker["args"] and pod["terminationGracePeriodSeconds"] == 90


def test_refuses_a_missing_store_and_a_grace_period_shorter_than_the_drain() -> None:
    missing = helm("template", "rel", str(CHART))
    assert missing.returncode != 0 and "secret.durableStore" in missing.stderr
    short = helm("template", "rel", str(CHART), "--set", "secret.durableStore=redis://r:6379/0",
                 "--set", "worker.drainSeconds=60")
    assert short.returncode != 0 and "drainSeconds" in short.stderr
