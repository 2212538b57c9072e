"""The deployment recipe: Helm chart, plain manifests, Dockerfile and lock files agree with
each other and with the runtime, and pass Helm's linter, the Kubernetes schemas and hadolint."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from naftiko.model import ExposesControl
from naftiko.settings import Settings
from naftiko.spec.loader import load
from tests.support.process import naftiko_run
from tests.support.yamlio import dump_yaml, load_yaml

ROOT = Path(__file__).resolve().parent.parent


def _documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def _kind(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in documents if d["kind"] == kind)


def _schema_errors(documents: list[dict[str, Any]]) -> list[str]:
    # Imported here, as `deploy.render` (helm) is, not by every test worker's collection.
    import kubernetes_validate

    errors = []
    # The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the newest schemas.
    for version in ["1.25.0", kubernetes_validate.latest_version()]:
        for document in documents:
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                name = f"{document['kind']}/{document['metadata']['name']}"
                errors.append(f"{version} {name}: {exc.message} at {list(exc.path)}")
    return errors


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    from deploy import render

    return _documents(render.MANIFESTS.read_text())


def test_the_chart_passes_helm_lint_and_renders_exactly_the_committed_manifests() -> None:
    from deploy import render

    assert render.lint() == []
    assert render.render() == render.MANIFESTS.read_text(), "run `python deploy/render.py`"


def test_the_manifests_pass_the_kubernetes_schemas(manifests: list[dict[str, Any]]) -> None:
    kinds = sorted(d["kind"] for d in manifests)
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Service",
    ]
    assert _schema_errors(manifests) == []


def test_the_schema_check_refuses_a_misspelt_field(manifests: list[dict[str, Any]]) -> None:
    deployment = _kind(manifests, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    assert _schema_errors([broken])
    container_typo = {**container, "livenessprobe": container["livenessProbe"]}
    del container_typo["livenessProbe"]
    pod = {**deployment["spec"]["template"]["spec"], "containers": [container_typo]}
    template = {**deployment["spec"]["template"], "spec": pod}
    assert _schema_errors([{**deployment, "spec": {**deployment["spec"], "template": template}}])


def test_chart_options_render_valid_objects(tmp_path: Path) -> None:
    from deploy import render

    orders = "naftiko: 1.0.0-alpha2\n"
    values = {
        "autoscaling": {"enabled": False},
        "replicaCount": 3,
        "podDisruptionBudget": {"enabled": False},
        "binds": {"values": {"ORDERS_TOKEN": "s3cret"}},
        "specs": {"orders.yaml": orders, "billing.yaml": orders},
        "extraArgs": ["--timeout", "30"],
        "env": [{"name": "NAFTIKO_ALLOW_ORIGINS", "value": "https://app.example"}],
    }
    documents = _documents(render.render(values))
    assert sorted(d["kind"] for d in documents) == ["ConfigMap", "Deployment", "Secret", "Service"]
    assert _schema_errors(documents) == []
    secret = _kind(documents, "Secret")
    assert secret["stringData"] == {"ORDERS_TOKEN": "s3cret"}
    deployment = _kind(documents, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    assert container["args"][-4:] == [
        "--timeout",
        "30",
        "/specs/billing.yaml",
        "/specs/orders.yaml",
    ]
    assert _kind(documents, "ConfigMap")["data"] == values["specs"]


def test_the_pod_runs_as_non_root_on_a_read_only_root_filesystem(
    manifests: list[dict[str, Any]],
) -> None:
    pod = _kind(manifests, "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]) == {"requests", "limits"}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/specs"]["readOnly"] is True
    assert "/tmp" in mounts


def test_the_grace_period_covers_the_pre_stop_wait_and_the_runtime_drain(
    manifests: list[dict[str, Any]],
) -> None:
    pod = _kind(manifests, "Deployment")["spec"]["template"]["spec"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = Settings().drain_seconds  # what `naftiko run` waits for in-flight requests
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + drain


def test_the_probes_answer_on_the_control_port_of_the_spec_the_config_map_carries(
    manifests: list[dict[str, Any]], tmp_path: Path
) -> None:
    config = _kind(manifests, "ConfigMap")["data"]
    container = _kind(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    specs = []
    for name, text in config.items():
        path = tmp_path / name
        path.write_text(text)
        specs.append(path)
        exposed = load(path).body.exposes
        # The pod declares exactly the ports the spec's adapters listen on.
        assert sorted(a.port or 0 for a in exposed) == sorted(ports.values())
        control = next(a for a in exposed if isinstance(a, ExposesControl))
        assert control.port == ports["control"]
        assert control.authentication is None, "the kubelet's probes carry no credentials"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "control"
    args = container["args"]
    assert args[0] == "run"
    assert [a for a in args[1:] if a.startswith("/specs/")] == [f"/specs/{n}" for n in config]
    # The pod's command, on loopback and free ports instead of the pod's fixed ones.
    for path in specs:
        data = load_yaml(path.read_text())
        for adapter in data["capability"]["exposes"]:
            adapter["port"] = 0
        path.write_text(dump_yaml(data, sort_keys=False))
    flags = [a for a in args[1:] if not a.startswith("/specs/") and a not in ("--host", "0.0.0.0")]
    env = {"GROQ_API_KEY": "gsk_test"}
    with naftiko_run(*specs, args=tuple(flags), env=env, adapters=len(ports)) as running:
        control_url = running.url("groq-batch-control")
        for probe in ("livenessProbe", "readinessProbe"):
            answer = httpx.get(control_url + container[probe]["httpGet"]["path"])
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == "UP"


def _pins(lock: Path) -> dict[str, set[str]]:
    pins: dict[str, set[str]] = {}
    for match in re.finditer(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", lock.read_text(), re.M):
        pins.setdefault(canonicalize_name(match[1]), set()).add(match[2])
    return pins


def test_the_lock_files_pin_what_pyproject_declares_at_the_same_versions() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(r) for r in project["dependencies"]]
    dev = [Requirement(r) for r in project["optional-dependencies"]["dev"]]
    locks = {"requirements.lock": runtime, "requirements-dev.lock": runtime + dev}
    stale = []
    for lock, requirements in locks.items():
        pins = _pins(ROOT / lock)
        for requirement in requirements:
            versions = pins.get(canonicalize_name(requirement.name), set())
            if not any(requirement.specifier.contains(v, prereleases=True) for v in versions):
                stale.append(f"{lock}: {requirement} (locked: {sorted(versions) or 'none'})")
    assert stale == [], "run `bash .ci/lock`"
    runtime_pins, dev_pins = (
        _pins(ROOT / "requirements.lock"),
        _pins(ROOT / "requirements-dev.lock"),
    )
    assert {n: v for n, v in dev_pins.items() if n in runtime_pins} == runtime_pins


def test_the_mcp_sdk_is_a_test_dependency_held_to_one_minor_series() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(r).name for r in project["dependencies"]]
    mcp = next(
        Requirement(r) for r in project["optional-dependencies"]["dev"] if r.startswith("mcp")
    )
    assert "mcp" not in runtime and "mcp" not in _pins(ROOT / "requirements.lock")
    assert mcp.specifier.contains("2.3.9") and not mcp.specifier.contains("2.4.0")


def test_the_dockerfile_passes_hadolint_and_installs_the_runtime_lock_in_two_stages() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    linted = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    assert len(stages) == 2
    build, final = stages
    assert "--require-hashes" in build and "requirements.lock" in build
    assert "--only-binary=:all:" in build  # so no stage needs a compiler
    assert "COPY --from=build /opt/naftiko /opt/naftiko" in final
    assert re.search(r"^USER 10001:10001$", final, re.M)
    assert not re.search(r"apt-get|gcc|build-essential|pip install", final)
