"""The params and evidence of the rules on images in use (trusted registries, severity
threshold, grace period), calling the checks directly."""

from __future__ import annotations

from typing import Any

from auditor.checks import ecr_images
from auditor.checks.result import Outcome
from auditor.model import FixedClock, Resource, Scope, Snapshot, SnapshotView
from tests.checks.cases_images import HIT, REPO, content, critical, image
from tests.checks.resources import ACCOUNT, REGION, container, task_definition
from tests.conftest import NOW

CLOCK = FixedClock(NOW)


def _view(*resources: Resource) -> SnapshotView:
    scope = Scope((ACCOUNT,), (REGION,), ())
    return SnapshotView(Snapshot("s", NOW, NOW, scope, resources, (), {}))


def _vulns(scan: dict[str, Any], **params: Any) -> Any:
    merged = {"severity": "CRITICAL", "max_age_days": 0, "trusted_registries": [], **params}
    return ecr_images.ecr_image_vulnerabilities(
        task_definition(), merged, _view(image(scan=scan), REPO), CLOCK
    )


def test_trusted_registry_is_skipped_and_others_stay_unknown() -> None:
    """An image from a registry in `trusted_registries` is not judged; one from any other
    registry outside ECR is unknown with the registry named."""
    subject = task_definition(
        container(name="a", image="public.ecr.aws/nginx/nginx:1.27"),
        container(name="b", image="ghcr.io/acme/tool:2"),
    )
    params = {"allowlist": [], "trusted_registries": ["public.ecr.aws"]}
    result = ecr_images.ecr_image_secrets(subject, params, _view(), CLOCK)
    assert Outcome.UNKNOWN == result.outcome
    assert ["ghcr.io"] == [i["registry"] for i in result.evidence["images"]]
    everything = {"allowlist": [], "trusted_registries": ["public.ecr.aws", "ghcr.*"]}
    assert Outcome.PASS == ecr_images.ecr_image_secrets(subject, everything, _view(), CLOCK).outcome


def test_docker_hub_short_names_are_docker_io() -> None:
    """`nginx`, `library/nginx` and `localhost:5000/x` name their registries correctly."""
    assert "docker.io" == ecr_images.registry_of("nginx:1.27")
    assert "docker.io" == ecr_images.registry_of("library/nginx")
    assert "localhost:5000" == ecr_images.registry_of("localhost:5000/x")


def test_severity_threshold_and_evidence() -> None:
    """HIGH findings fail only when the threshold is HIGH or lower; the evidence has the
    counts by severity and the oldest finding's age."""
    scan = critical(45, HIGH=3)
    assert Outcome.PASS == _vulns(scan).outcome
    result = _vulns(scan, severity="HIGH")
    assert Outcome.FAIL == result.outcome
    found = result.evidence["images"][0]
    assert ({"HIGH": 3}, 3, 45) == (
        found["counts"],
        found["at_or_above_threshold"],
        found["oldest_finding_age_days"],
    )


def test_grace_period() -> None:
    """Critical findings first seen fewer than `max_age_days` ago pass; older ones fail."""
    assert Outcome.PASS == _vulns(critical(5), max_age_days=30).outcome
    assert Outcome.FAIL == _vulns(critical(45), max_age_days=30).outcome


def test_secret_evidence_is_location_detector_hash() -> None:
    """The evidence of a secret in an image names container, digest and location, the
    detector and the short hash: never a value."""
    params = {"allowlist": [], "trusted_registries": []}
    view = _view(image(imageContent=content(HIT)), REPO)
    result = ecr_images.ecr_image_secrets(task_definition(), params, view, CLOCK)
    assert Outcome.FAIL == result.outcome
    [hit] = result.evidence["secrets"]
    assert hit["location"].endswith("config env DB_PASSWORD")
    assert (HIT["detector"], HIT["hash"]) == (hit["detector"], hit["hash"])
    allowed = {**params, "allowlist": [{"hash": HIT["hash"], "expires": "2099-01-01"}]}
    assert (
        Outcome.PASS
        == ecr_images.ecr_image_secrets(task_definition(), allowed, view, CLOCK).outcome
    )
