"""ECR collector against moto: repositories, images resolved from ECS image references."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest

from auditor.aws import ApiCallCounter
from auditor.collect import ecr
from auditor.collect.base import UnitContext
from auditor.demo.registry import BlobServer, build_image, push, serve_download_urls
from auditor.model import Kind, Resource
from tests.collect.conftest import ACCOUNT, REGION

REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


_BLOBS = BlobServer()


@pytest.fixture(autouse=True)
def _blobs(aws: None) -> Iterator[None]:
    """Real blobs behind GetDownloadUrlForLayer (moto does not serve them)."""
    with _BLOBS, serve_download_urls(_BLOBS):
        yield


def _push(client: Any, repository: str, tag: str, layer: str) -> str:
    image = build_image(env=(f"LAYER={layer}",))
    _BLOBS.add(image)
    return push(client, repository, image, tag)


def _seed() -> dict[str, str]:
    client = boto3.client("ecr", region_name=REGION)
    client.create_repository(repositoryName="team/web", imageTagMutability="MUTABLE")
    client.create_repository(
        repositoryName="api",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
    )
    return {
        "web_v1": _push(client, "team/web", "v1", "a"),
        "web_v2": _push(client, "team/web", "v2", "b"),
        "api_1": _push(client, "api", "1.0", "c"),
    }


def _ecr_calls(counter: ApiCallCounter, operation: str) -> int:
    """ECR's endpoint prefix is `api.ecr`; count by operation name whatever the prefix."""
    return sum(n for k, n in counter.calls.items() if "ecr:" in k and k.endswith(f":{operation}"))


def _by_kind(resources: tuple[Resource, ...], kind: Kind) -> list[Resource]:
    return sorted((r for r in resources if r.kind is kind), key=lambda r: r.id)


def test_repositories_report_tag_mutability_and_scanning(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """MUTABLE and IMMUTABLE repositories are told apart, with scanOnPush and the
    documented attributes; repository tags are not fetched (one call per repository)."""
    _seed()
    result = ecr.collect_ecr(make_ctx())

    assert result.gaps == ()
    api, web = _by_kind(result.resources, Kind.ECR_REPOSITORY)
    assert (web.id, web.attributes["imageTagMutability"]) == ("team/web", "MUTABLE")
    assert (api.id, api.attributes["imageTagMutability"]) == ("api", "IMMUTABLE")
    assert api.attributes["imageScanningConfiguration"] == {"scanOnPush": True}
    assert web.attributes["imageScanningConfiguration"] == {"scanOnPush": False}
    assert web.arn == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team/web"
    assert web.attributes["repositoryUri"] == f"{REGISTRY}/team/web"
    assert web.attributes["registryId"] == ACCOUNT
    assert str(web.attributes["createdAt"]).endswith("+00:00")
    assert set(web.attributes) <= {
        "repositoryName",
        "repositoryArn",
        "repositoryUri",
        "registryId",
        "imageTagMutability",
        "imageTagMutabilityExclusionFilters",
        "imageScanningConfiguration",
        "registryScanning",
        "createdAt",
    }
    assert dict(web.tags) == {}
    assert _by_kind(result.resources, Kind.ECR_IMAGE) == []


def test_image_refs_by_tag_and_digest_resolve_in_one_call_per_repository(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """Refs by tag, by digest and bare (meaning :latest) into this registry become
    ecr.image resources with imagePushedAt; refs to other registries or regions cost no
    call; the same image named twice is one resource."""
    digests = _seed()
    refs = (
        f"{REGISTRY}/team/web:v1",
        f"{REGISTRY}/team/web@{digests['web_v1']}",  # the same image again
        f"{REGISTRY}/team/web@{digests['web_v2']}",
        f"{REGISTRY}/api:1.0",
        f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/api:1.0",
        f"210987654321.dkr.ecr.{REGION}.amazonaws.com/api:1.0",
        "public.ecr.aws/nginx/nginx:latest",
        "nginx",
    )
    result = ecr.collect_ecr(make_ctx(image_refs=refs))

    assert result.gaps == ()
    images = _by_kind(result.resources, Kind.ECR_IMAGE)
    assert [i.id for i in images] == sorted(
        [
            f"api@{digests['api_1']}",
            f"team/web@{digests['web_v1']}",
            f"team/web@{digests['web_v2']}",
        ]
    )
    web_v1 = next(i for i in images if i.id == f"team/web@{digests['web_v1']}")
    assert web_v1.arn == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team/web@{digests['web_v1']}"
    assert web_v1.attributes["imageTags"] == ["v1"]
    assert web_v1.attributes["repositoryName"] == "team/web"
    assert web_v1.attributes["imageDigest"] == digests["web_v1"]
    assert str(web_v1.attributes["imagePushedAt"]).endswith("+00:00")
    assert set(web_v1.attributes) <= {
        "repositoryName",
        "registryId",
        "imageDigest",
        "imageTags",
        "imagePushedAt",
        "imageSizeInBytes",
        "imageManifestMediaType",
        "imageContent",
        "scan",
    }
    assert _ecr_calls(counter, "DescribeImages") == 2
    assert _ecr_calls(counter, "DescribeRepositories") == 1


def test_missing_image_is_dropped_and_the_rest_still_resolved(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """A tag that no longer exists fails the batch with ImageNotFoundException: the batch
    is retried without it, the existing images are resolved, and no gap is recorded (the
    image is absent, not unseen)."""
    digests = _seed()
    refs = (
        f"{REGISTRY}/team/web:v1",
        f"{REGISTRY}/team/web:gone",
        f"{REGISTRY}/team/web@sha256:{'f' * 64}",
        f"{REGISTRY}/team/web:v2",
        f"{REGISTRY}/no-such-repo:1",
    )
    result = ecr.collect_ecr(make_ctx(image_refs=refs))

    assert result.gaps == ()
    assert [i.id for i in _by_kind(result.resources, Kind.ECR_IMAGE)] == sorted(
        [f"team/web@{digests['web_v1']}", f"team/web@{digests['web_v2']}"]
    )
    assert _ecr_calls(counter, "DescribeImages") == 3  # two misses, then the good batch


def test_batches_hold_at_most_the_api_maximum_of_ids(
    make_ctx: Callable[..., UnitContext],
    counter: ApiCallCounter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Image ids of one repository are split into batches of the API maximum."""
    _seed()
    monkeypatch.setattr(ecr, "DESCRIBE_IMAGES_BATCH", 1)
    refs = (f"{REGISTRY}/team/web:v1", f"{REGISTRY}/team/web:v2")

    result = ecr.collect_ecr(make_ctx(image_refs=refs))

    assert len(_by_kind(result.resources, Kind.ECR_IMAGE)) == 2
    assert _ecr_calls(counter, "DescribeImages") == 2


def _deny(client: Any, operation: str) -> None:
    def refuse(**_: Any) -> None:
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, operation
        )

    client.meta.events.register(f"before-call.ecr.{operation}", refuse)


def test_denied_repository_listing_is_a_gap_while_images_are_resolved(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """DescribeRepositories denied: a gap over ecr.repository, images still resolved."""
    digests = _seed()
    ctx = make_ctx(image_refs=(f"{REGISTRY}/api:1.0",))
    _deny(ctx.client("ecr"), "DescribeRepositories")

    result = ecr.collect_ecr(ctx)

    assert [r.id for r in result.resources] == [f"api@{digests['api_1']}"]
    assert [(g.operation, g.kinds, g.error_code) for g in result.gaps] == [
        ("ecr:DescribeRepositories", (Kind.ECR_REPOSITORY,), "AccessDeniedException")
    ]


def test_denied_describe_images_is_a_gap_asked_once(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """DescribeImages denied: repositories still collected, one gap over ecr.image."""
    _seed()
    ctx = make_ctx(image_refs=(f"{REGISTRY}/api:1.0", f"{REGISTRY}/team/web:v1"))
    _deny(ctx.client("ecr"), "DescribeImages")

    result = ecr.collect_ecr(ctx)

    assert len(_by_kind(result.resources, Kind.ECR_REPOSITORY)) == 2
    assert _by_kind(result.resources, Kind.ECR_IMAGE) == []
    assert [(g.operation, g.kinds) for g in result.gaps] == [
        ("ecr:DescribeImages", (Kind.ECR_IMAGE,))
    ]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (f"{REGISTRY}/team/web:v1", ecr.ImageRef("team/web", "v1", None)),
        (f"{REGISTRY}/web", ecr.ImageRef("web", None, None)),
        (f"{REGISTRY}/web:v1@sha256:ab", ecr.ImageRef("web", "v1", "sha256:ab")),
        (f"{ACCOUNT}.dkr.ecr-fips.{REGION}.amazonaws.com/web:1", ecr.ImageRef("web", "1", None)),
        (f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/web:1", None),
        ("docker.io/library/nginx:1.25", None),
    ],
)
def test_parse_ref(ref: str, expected: ecr.ImageRef | None) -> None:
    """Only this account and region's registry is resolved; a bare ref means :latest."""
    assert ecr.parse_ref(ref, ACCOUNT, REGION) == expected


def test_bare_ref_means_latest() -> None:
    """A reference without tag or digest is looked up as the `latest` tag."""
    assert ecr.ImageRef("web", None, None).image_id == {"imageTag": "latest"}


def test_mutability_with_exclusions_keeps_its_filters(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """IMMUTABLE_WITH_EXCLUSION is reported as is, with the tag filters that stay mutable."""
    client: Any = boto3.client("ecr", region_name=REGION)
    filters = [{"filterType": "WILDCARD", "filter": "latest*"}]
    client.create_repository(
        repositoryName="mixed",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=filters,
    )

    (repo,) = ecr.collect_ecr(make_ctx()).resources

    assert (
        repo.attributes["imageTagMutability"],
        repo.attributes["imageTagMutabilityExclusionFilters"],
    ) == ("IMMUTABLE_WITH_EXCLUSION", filters)


def test_unreadable_not_found_message_falls_back_to_halving_the_batch(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """When the error does not say which id is missing, halving the batch still isolates it
    and resolves every image that exists."""
    digests = _seed()
    ctx = make_ctx(
        image_refs=(
            f"{REGISTRY}/team/web:gone",
            f"{REGISTRY}/team/web:v1",
            f"{REGISTRY}/team/web:v2",
        )
    )

    def vague(params: dict[str, Any], **_: Any) -> None:
        if {"imageTag": "gone"} in params["imageIds"]:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "ImageNotFoundException", "Message": "not found"}},
                "DescribeImages",
            )

    ctx.client("ecr").meta.events.register("provide-client-params.ecr.DescribeImages", vague)

    result = ecr.collect_ecr(ctx)

    assert result.gaps == ()
    assert [i.id for i in _by_kind(result.resources, Kind.ECR_IMAGE)] == sorted(
        [f"team/web@{digests['web_v1']}", f"team/web@{digests['web_v2']}"]
    )
