"""Lint of the deployment files in deploy/: they parse, reference only what exists and run real commands.

No container runtime or cluster is available here, so nothing is deployed; `docker compose config`
and `kubectl kustomize` run when those tools work on the machine.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from brightline.cli.app import app

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
K8S = DEPLOY / "k8s"
WORKLOADS = {"Deployment", "StatefulSet", "Job"}


def _manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def _commands() -> set[str]:
    return {name for name in (c.name for c in app.registered_commands) if name} | {
        g.name for g in app.registered_groups if g.name
    }


def _check_command(command: list[str]) -> None:
    if command[0] == "brightline":
        assert command[1] in _commands(), f"unknown brightline command {command[1]!r}"
    else:
        assert command[0] in {"ray", "pg_isready", "python", "CMD", "CMD-SHELL"}, command


def test_every_manifest_is_well_formed() -> None:
    docs = _manifests()
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "StatefulSet", "Service", "ConfigMap", "Secret", "Job"} <= kinds
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"].get("name"), doc
        if doc["kind"] in {"Deployment", "StatefulSet"}:
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items(), doc["metadata"]["name"]
        if doc["kind"] in WORKLOADS:
            for container in _pod_spec(doc)["containers"]:
                assert container["image"] and container["name"]
                if "command" in container:
                    _check_command(container["command"])


def test_services_select_a_workload_and_references_exist() -> None:
    docs = _manifests()
    workloads = [d for d in docs if d["kind"] in WORKLOADS]
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for service in (d for d in docs if d["kind"] == "Service"):
        selector = service["spec"]["selector"].items()
        assert any(selector <= w["spec"]["template"]["metadata"]["labels"].items() for w in workloads), service
    for workload in workloads:
        for container in _pod_spec(workload)["containers"]:
            for source in container.get("envFrom", []):
                kind = "ConfigMap" if "configMapRef" in source else "Secret"
                ref = source.get("configMapRef") or source.get("secretRef")
                assert (kind, ref["name"]) in names, f"{workload['metadata']['name']} needs {kind} {ref['name']}"
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert all((K8S / name).is_file() for name in kustomization["resources"])


def test_the_service_replicas_are_probed_on_readiness_and_health() -> None:
    service = next(d for d in _manifests() if d["kind"] == "Deployment" and d["metadata"]["name"] == "brightline")
    assert service["spec"]["replicas"] >= 2
    container = _pod_spec(service)["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_compose_file_is_consistent() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "brightline", "ray-head", "ray-worker"} <= services.keys()
    for name, service in services.items():
        assert service.get("image") or service.get("build"), name
        depends = service.get("depends_on", [])
        assert set(depends) <= services.keys(), name
        if "command" in service:
            _check_command(service["command"])
        if name != "postgres":
            assert "BRIGHTLINE_DATABASE_URL" in service["environment"], name
    assert (DEPLOY / "Dockerfile").is_file()


def _works(*command: str) -> bool:
    if shutil.which(command[0]) is None:
        return False
    return subprocess.run(command, capture_output=True, check=False, timeout=60).returncode == 0


def test_kubectl_kustomize_builds_the_manifests() -> None:
    if not _works("kubectl", "version", "--client"):
        pytest.skip("kubectl not installed")
    built = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=False, timeout=60)
    assert built.returncode == 0, built.stderr
    docs = list(yaml.safe_load_all(built.stdout))
    assert all(doc["metadata"].get("namespace", "brightline") == "brightline" for doc in docs)


def test_docker_compose_config_accepts_the_file() -> None:
    if not _works("docker", "compose", "version"):
        pytest.skip("docker compose not available")
    env = {"POSTGRES_PASSWORD": "x", "BRIGHTLINE_SECRET_KEY": "y", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    checked = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOY / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
