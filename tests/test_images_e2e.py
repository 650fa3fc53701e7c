"""Images in use, end to end (issue 18): moto ECS and ECR, real image blobs on 127.0.0.1,
full cycles with the layer scan on, and the signed report.

Proves each verdict of the three image rules in the report (secret in ENV, in a RUN line,
in a layer file; clean; unscanned; CRITICAL findings; a Docker Hub image; a blob the
server refuses), that no canary secret value reaches the store, the report bundle or the
logs, and that the second cycle reads no blob and no manifest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import sqlalchemy as sa
from moto import mock_aws

from auditor.aws import AwsSessions
from auditor.demo.registry import BlobServer, build_image, push, serve_download_urls
from auditor.model import FixedClock
from auditor.pipeline import CycleResult, run_cycle
from auditor.report.signing import generate_ed25519_pem, write_private_key
from auditor.secrets import short_hash
from auditor.settings import Settings
from auditor.store import Store
from tests.conftest import NOW

REGION = "us-east-1"
ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
CANARY = "Canary-e2e-5b1f8a-Sup3rS3cret"
LAYER_CANARY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYe2eCANARYz"
RULES = ("ecr.image_secrets", "ecr.image_not_scanned", "ecr.image_vulnerabilities")
CREDENTIALS = (
    f"[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLF\naws_secret_access_key = {LAYER_CANARY}\n"
).encode()

# family -> expected status per rule (None: passes, no finding)
EXPECTED: dict[str, tuple[str | None, str | None, str | None]] = {
    "env-secret": ("fail", None, None),
    "run-secret": ("fail", None, None),
    "layer-secret": ("fail", None, None),
    "clean": (None, None, None),
    "unscanned": (None, "fail", "unknown"),
    "critical": (None, None, "fail"),
    "docker-hub": ("unknown", "unknown", "unknown"),
    "broken-blob": ("unknown", None, None),
}


@dataclass
class Estate:
    settings: Settings
    blobs: BlobServer
    work: Path


def _critical(digest: str, repository: str) -> dict[str, Any]:
    return {
        "imageScanFindings": {
            "imageScanCompletedAt": "2026-10-01T00:00:00Z",
            "findings": [{"name": "CVE-2026-0001", "severity": "CRITICAL"}],
            "findingSeverityCounts": {"CRITICAL": 1},
        },
        "registryId": ACCOUNT,
        "repositoryName": repository,
        "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE"},
    }


def _seed(blobs: BlobServer) -> None:
    ecr = boto3.client("ecr", region_name=REGION)
    ecs = boto3.client("ecs", region_name=REGION)
    ecr.create_repository(repositoryName="shop", imageScanningConfiguration={"scanOnPush": True})
    ecr.create_repository(repositoryName="legacy")
    images = {
        "env-secret": ("shop", build_image(env=(f"DB_PASSWORD={CANARY}",))),
        "run-secret": (
            "shop",
            build_image(history=(f"/bin/sh -c curl -u deploy:{CANARY} https://repo.example/",)),
        ),
        "layer-secret": (
            "shop",
            build_image(layers=({"app/x.py": b"x\n"}, {"root/.aws/credentials": CREDENTIALS})),
        ),
        "clean": ("shop", build_image(docker=True)),
        "unscanned": ("legacy", build_image(env=("MODE=legacy",))),
        "critical": ("shop", build_image(env=("MODE=critical",))),
        "broken-blob": ("shop", build_image(env=("MODE=broken",))),
    }
    custom = []
    for family, (repository, image) in images.items():
        blobs.add(image)
        digest = push(ecr, repository, image, family)
        if repository == "shop":
            ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})
        if family == "critical":
            custom.append(_critical(digest, repository))
        if family == "broken-blob":
            blobs.failing.add(json.loads(image.manifest)["config"]["digest"])
    requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/ecr/scan-finding-results",
        json={"results": custom, "region": REGION},
        timeout=10,
    )
    ecs.create_cluster(clusterName="prod")
    refs = {f: f"{REGISTRY}/{images[f][0]}:{f}" for f in images} | {"docker-hub": "nginx:1.27"}
    for family, image_ref in refs.items():
        ecs.register_task_definition(
            family=family,
            containerDefinitions=[{"name": "app", "image": image_ref, "memory": 128}],
        )
        ecs.create_service(
            cluster="prod", serviceName=family, taskDefinition=family, desiredCount=0
        )


@pytest.fixture
def estate(tmp_path: Path) -> Iterator[Estate]:
    key = tmp_path / "signing.key"
    write_private_key(key, generate_ed25519_pem())
    with mock_aws(), BlobServer() as blobs, serve_download_urls(blobs):
        _seed(blobs)
        yield Estate(
            Settings(
                regions=[REGION],  # type: ignore[arg-type]
                services=["ecs", "ecr"],  # type: ignore[arg-type]
                store=f"sqlite:///{tmp_path / 'auditor.db'}",
                reports={"dir": str(tmp_path / "reports"), "formats": ["json", "csv"]},  # type: ignore[arg-type]
                signing={"key_file": str(key)},  # type: ignore[arg-type]
                collect={"images": {"layers": {"enabled": True}}},  # type: ignore[arg-type]
            ),
            blobs,
            tmp_path,
        )


def _cycle(settings: Settings, n: int) -> CycleResult:
    clock = FixedClock(NOW + timedelta(minutes=15 * n))
    return run_cycle(
        settings, clock=clock, sessions=AwsSessions(base=boto3.Session(region_name=REGION))
    )


def _verdicts(report: dict[str, Any]) -> dict[str, tuple[str | None, ...]]:
    found: dict[tuple[str, str], str] = {}
    for f in report["findings"]:
        if f["rule_id"] in RULES:
            found[(f["resource"]["id"].split(":")[0], f["rule_id"])] = f["status"]
    return {family: tuple(found.get((family, r)) for r in RULES) for family in EXPECTED}


def _written(work: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(work.rglob("*")) if p.is_file())


def test_image_rules_end_to_end(estate: Estate, capfd: pytest.CaptureFixture[str]) -> None:
    """Every image verdict is in the signed report; no canary value is written anywhere;
    the warm cycle downloads nothing."""
    first = _cycle(estate.settings, 1)
    assert first.report_dir is not None
    report = json.loads((first.report_dir / "report.json").read_text())
    assert EXPECTED == _verdicts(report)
    assert not report["coverage"]["complete"]  # the refused blob is a gap, named
    assert [("ecr:LayerDownload", "HTTP500")] == [
        (g["operation"], g["error_code"]) for g in report["coverage"]["gaps"]
    ]
    assert short_hash(CANARY) in json.dumps(report)  # the evidence is there, by hash
    assert first.snapshot.api_calls.get("ecr:LayerDownload", 0) >= 7

    downloads = len(estate.blobs.requests)
    second = _cycle(estate.settings, 2)
    assert downloads + 1 == len(estate.blobs.requests)  # only the refused blob, again
    calls = second.snapshot.api_calls
    assert 1 == calls.get("ecr:LayerDownload")
    assert 1 == sum(n for k, n in calls.items() if k.endswith(":BatchGetImage"))

    out, err = capfd.readouterr()
    written = _written(estate.work) + (out + err).encode()
    for secret in (CANARY, LAYER_CANARY):
        assert secret.encode() not in written


def _cache_rows(settings: Settings) -> int:
    store = Store.open(settings.store)
    try:
        with store.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM image_content")).scalar_one())
    finally:
        store.close()


def test_an_image_back_in_use_after_a_pause_is_not_read_again(estate: Estate) -> None:
    """The `env-secret` service runs another image in cycle 2 (its image leaves the
    snapshot) and its own again in cycle 3: the verdict comes back from the store's cache by
    digest without reading the image's blobs; unchanged cycles add no cache row."""
    ecs = boto3.client("ecs", region_name=REGION)
    ecr = boto3.client("ecr", region_name=REGION)
    image = ecr.batch_get_image(repositoryName="shop", imageIds=[{"imageTag": "env-secret"}])
    config = json.loads(image["images"][0]["imageManifest"])["config"]["digest"]

    _cycle(estate.settings, 1)
    stored = _cache_rows(estate.settings)
    assert stored >= 6  # every image read (not the refused blob, not Docker Hub)
    assert config in estate.blobs.requests
    arn = {
        f: ecs.describe_task_definition(taskDefinition=f)["taskDefinition"]["taskDefinitionArn"]
        for f in ("clean", "env-secret")
    }
    ecs.update_service(cluster="prod", service="env-secret", taskDefinition=arn["clean"])
    second = _cycle(estate.settings, 2)
    assert not any(
        r.id.startswith("shop@") and r.attributes.get("imageTags") == ["env-secret"]
        for r in second.snapshot.resources
    )
    ecs.update_service(cluster="prod", service="env-secret", taskDefinition=arn["env-secret"])
    seen = len(estate.blobs.requests)
    third = _cycle(estate.settings, 3)
    assert config not in estate.blobs.requests[seen:]
    assert third.report_dir is not None
    report = json.loads((third.report_dir / "report.json").read_text())
    assert [g["operation"] for g in report["coverage"]["gaps"]] == ["ecr:LayerDownload"]
    assert EXPECTED["env-secret"] == _verdicts(report)["env-secret"]
    assert stored == _cache_rows(estate.settings)
