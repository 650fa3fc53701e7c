"""What deploy/ ships runs as written: every overlay renders, every workload is hardened and
pinned, the configs it mounts are valid auditor configs, and the alerts and dashboard only
use metrics the daemon exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.metrics import Metrics
from auditor.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(p.name for p in (KUBE / "overlays").iterdir() if p.is_dir())


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with kustomize) is part of the machine"
    out = subprocess.run(
        [kubectl, "kustomize", str(KUBE / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "Deployment"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_pinned_and_hardened(overlay: str) -> None:
    """Digest-pinned image, read-only root, no privilege, limits, no token, secrets as files."""
    problems = []
    deployments = workloads(render(overlay))
    assert deployments
    for dep in deployments:
        pod = dep["spec"]["template"]["spec"]
        name = dep["metadata"]["name"]
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: service-account token mounted")
        if pod["securityContext"].get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: no RuntimeDefault seccomp")
        for c in pod["containers"]:
            where = f"{name}/{c['name']}"
            if not re.search(r"@sha256:[0-9a-f]{64}$", c["image"]):
                problems.append(f"{where}: image not pinned by digest")
            sc = c.get("securityContext", {})
            if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation", True):
                problems.append(f"{where}: writable root or privilege escalation")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: capabilities not dropped")
            if not {"requests", "limits"} <= set(c.get("resources", {})):
                problems.append(f"{where}: no requests/limits")
            if any("valueFrom" in e for e in c.get("env", [])):
                problems.append(f"{where}: a secret in the environment")
    assert [] == problems


def test_production_runs_daemon_workers_and_serve_single_runs_one_pod() -> None:
    """production: 2 daemon replicas, workers, serve; single: one daemon pod with serve beside it."""
    prod = {d["metadata"]["name"]: d for d in workloads(render("production"))}
    assert {"auditor-daemon", "auditor-worker", "auditor-serve"} == set(prod)
    assert 2 == prod["auditor-daemon"]["spec"]["replicas"]
    single = {d["metadata"]["name"]: d for d in workloads(render("single"))}
    assert ["auditor-daemon"] == list(single)
    pod = single["auditor-daemon"]["spec"]["template"]["spec"]
    assert {"auditor", "serve"} == {c["name"] for c in pod["containers"]}
    assert 1 == single["auditor-daemon"]["spec"]["replicas"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "persistentVolumeClaim" in volumes["work"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_denies_by_default(overlay: str) -> None:
    """Every pod is covered by a default-deny policy; ingress only to serve and metrics."""
    policies = [d for d in render(overlay) if d["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert 1 == len(deny)
    assert {"Ingress", "Egress"} == set(deny[0]["spec"]["policyTypes"])
    ports = sorted(
        port["port"]
        for p in policies
        for rule in p["spec"].get("ingress", [])
        for port in rule.get("ports", [])
    )
    assert [8080, 9464] == ports


def _config_with_secrets(path: Path, tmp_path: Path) -> Path:
    """The config as mounted, with its secret files replaced by local stand-ins."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "store_url_file" in data:
        url = tmp_path / "store-url"
        url.write_text("postgresql+psycopg://auditor:pw@db/auditor\n", encoding="utf-8")
        data["store_url_file"] = str(url)
    out = tmp_path / "auditor.yaml"
    out.write_text(yaml.safe_dump(data), encoding="utf-8")
    return out


CONFIGS = sorted(
    [*(KUBE / "overlays").glob("*/auditor.yaml"), ROOT / "deploy" / "compose" / "auditor.yaml"]
)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_configs_are_valid(config: Path, tmp_path: Path) -> None:
    """The auditor.yaml each deployment mounts passes the product's own validation."""
    settings = load_settings(_config_with_secrets(config, tmp_path))
    assert settings.metrics.listen.endswith(":9464")


def _alerts(rules: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    return {r["alert"]: (" ".join(r["expr"].split()), r.get("for")) for r in rules}


def test_prometheus_rule_matches_the_documented_alerts() -> None:
    """docs/operations.md "Alerts to set" and the shipped PrometheusRule say the same thing."""
    docs = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    block = docs.split("### Alerts to set", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    documented = _alerts(yaml.safe_load(block)["groups"][0]["rules"])
    monitoring = list(yaml.safe_load_all((KUBE / "base" / "monitoring.yaml").read_text("utf-8")))
    rule = next(d for d in monitoring if d["kind"] == "PrometheusRule")
    shipped = _alerts(rule["spec"]["groups"][0]["rules"])
    assert documented == shipped


def _exported_metric_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        names.update(s.name for s in family.samples)
    return names


def test_alerts_and_dashboard_use_only_exported_metrics() -> None:
    """A renamed metric breaks an alert silently; this catches it."""
    exported = _exported_metric_names()
    monitoring = (KUBE / "base" / "monitoring.yaml").read_text(encoding="utf-8")
    dashboard = json.loads(
        (ROOT / "deploy" / "grafana" / "auditor-dashboard.json").read_text(encoding="utf-8")
    )
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set(re.findall(r"\bauditor_[a-z_]+", monitoring + "\n".join(exprs)))
    used = {
        re.sub(r"_(bucket|count|sum)$", "", u) if u.endswith("_seconds_bucket") else u for u in used
    }
    assert set() == used - exported
