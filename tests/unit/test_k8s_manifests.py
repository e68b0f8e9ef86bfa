"""deploy/k8s: the manifests parse, follow the base's hygiene, and share what the services must share (pure
YAML; `kubectl kustomize` renders the overlay too where kubectl is installed). No cluster."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from quorum_consolidation.settings import ConsolidationSettings
from quorum_inference.settings import InferenceSettings
from quorum_jobs.settings import JobsSettings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
BASE = K8S / "base"
GPU = K8S / "overlays" / "gpu"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def _base() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in _docs(BASE / name)]


def _deployment(name: str) -> dict[str, Any]:
    return _objects(_base(), "Deployment")[name]


def _server(deployment: dict[str, Any]) -> dict[str, Any]:
    (server,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "server"]
    return server


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def _mounts(deployment: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """mountPath -> (what the volume is, its mount) of the server container."""
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes", [])}
    out = {}
    for mount in _server(deployment).get("volumeMounts", []):
        volume = volumes[mount["name"]]
        claim = volume.get("persistentVolumeClaim", {}).get("claimName")
        out[mount["mountPath"]] = (f"pvc:{claim}" if claim else mount["name"], mount)
    return out


def test_every_manifest_parses_and_every_base_file_is_listed() -> None:
    files = sorted(K8S.rglob("*.yaml"))
    assert files
    for path in files:
        for doc in _docs(path):
            assert isinstance(doc, dict), path
    for folder in (BASE, GPU):
        listed = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
        for name in listed:
            assert (folder / name).exists(), f"{folder}/kustomization.yaml lists a missing {name}"
    listed = set(yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"])
    assert {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"} == listed


def test_every_deployment_keeps_the_base_hygiene() -> None:
    for name, deployment in _objects(_base(), "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"] + pod.get("initContainers", []):
            context, where = container["securityContext"], (name, container["name"])
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
        for container in pod["containers"]:
            assert {"readinessProbe", "livenessProbe"} <= container.keys(), name
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), name
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), name


def test_consolidation_and_jobs_share_the_label_files_claim_at_one_path() -> None:
    # The settings the env vars feed (no prefix: the field's name, upper-cased).
    assert "label_files_dir" in ConsolidationSettings.model_fields
    assert "label_files_dir" in JobsSettings.model_fields
    claims = _objects(_base(), "PersistentVolumeClaim")
    assert claims["label-files"]["spec"]["accessModes"] == ["ReadWriteMany"]

    consolidation, jobs = _deployment("consolidation"), _deployment("jobs")
    folder = _env(_server(consolidation))["LABEL_FILES_DIR"]
    assert folder.startswith("/") and _env(_server(jobs))["LABEL_FILES_DIR"] == folder
    for deployment in (consolidation, jobs):
        what, _ = _mounts(deployment)[folder]
        assert what == "pvc:label-files", deployment["metadata"]["name"]
    assert not _mounts(consolidation)[folder][1].get("readOnly", False)  # the writer

    # workforce shows a chained adjustment job's previous mask: same claim, same path.
    assert _mounts(_deployment("workforce"))[folder][0] == "pvc:label-files"


def test_inference_keeps_its_models_on_a_claim_and_has_room_for_torch() -> None:
    assert "models_dir" in InferenceSettings.model_fields
    inference = _deployment("inference")
    server = _server(inference)
    env = _env(server)
    models = env["MODELS_DIR"]
    what, mount = _mounts(inference)[models]
    assert what.startswith("pvc:") and not mount.get("readOnly", False)
    assert what.removeprefix("pvc:") in _objects(_base(), "PersistentVolumeClaim")
    assert "/tmp" in _mounts(inference)  # pytriton's workspace on a read-only root
    assert env["INFERENCE_BACKEND"] == "torch"
    requests, limits = server["resources"]["requests"], server["resources"]["limits"]
    assert float(requests["cpu"]) >= 1 and float(limits["cpu"]) >= float(requests["cpu"])
    assert limits["memory"].endswith("Gi") and int(limits["memory"][:-2]) >= 4


def test_the_gpu_overlay_runs_inference_on_triton_with_one_gpu() -> None:
    kustomization = yaml.safe_load((GPU / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["../../base"]
    (patch,) = [_docs(GPU / p["path"])[0] for p in kustomization["patches"]]
    assert (patch["kind"], patch["metadata"]["name"]) == ("Deployment", "inference")
    pod = patch["spec"]["template"]["spec"]
    assert pod["nodeSelector"] and pod["tolerations"]
    server = _server(patch)
    assert _env(server)["INFERENCE_BACKEND"] == "triton"
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_gpu_overlay_over_the_base() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(GPU)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    docs = [doc for doc in yaml.safe_load_all(rendered) if doc]
    inference = _objects(docs, "Deployment")["inference"]
    server = _server(inference)
    env = _env(server)
    assert env["INFERENCE_BACKEND"] == "triton"
    assert env["MODELS_DIR"] in _mounts(inference)  # the base's volumes survive the patch
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    assert all(doc["metadata"].get("namespace", "quorum") == "quorum" for doc in docs)
