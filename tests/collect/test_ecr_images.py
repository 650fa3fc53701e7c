"""What is inside the ECR images in use, against moto and real blobs on 127.0.0.1.

moto keeps manifests but does not serve blobs (GetDownloadUrlForLayer is not implemented):
`serve_download_urls` points it at a local HTTP server serving real OCI / Docker config and
tar.gz layer blobs (auditor/demo/registry.py, test and demo code only).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.awsrequest
import pytest
import sqlalchemy as sa

from auditor.aws import ApiCallCounter
from auditor.collect import ecr
from auditor.collect.base import CollectResult, PreviousState, UnitContext
from auditor.collect.ecr_blobs import ImageScanOptions
from auditor.collect.ecr_image_content import cache_scope
from auditor.collect.ecr_images_in_use import cache_entries
from auditor.demo.registry import (
    BlobServer,
    BuiltImage,
    build_image,
    build_index,
    push,
    serve_download_urls,
)
from auditor.model import Kind, Resource
from auditor.secrets import short_hash
from auditor.store import CycleRecord, Store
from tests.collect.conftest import ACCOUNT, REGION
from tests.conftest import NOW
from tests.store.builders import snapshot

REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
CANARY = "Canary-7d1e0c55-Pw-do-not-leak"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8CANARYs"


@pytest.fixture
def blobs(aws: None) -> Iterator[BlobServer]:
    with BlobServer() as server, serve_download_urls(server):
        yield server


def _repo(name: str = "web", scan_on_push: bool = True) -> Any:
    client = boto3.client("ecr", region_name=REGION)
    client.create_repository(
        repositoryName=name, imageScanningConfiguration={"scanOnPush": scan_on_push}
    )
    return client


def _publish(
    server: BlobServer, client: Any, image: BuiltImage, tag: str, repo: str = "web"
) -> str:
    server.add(image)
    return push(client, repo, image, tag)


def _collect(
    make_ctx: Callable[..., UnitContext],
    refs: list[str],
    options: ImageScanOptions | None = None,
    previous: PreviousState | None = None,
) -> CollectResult:
    ctx = make_ctx(image_refs=tuple(refs), previous=previous)
    return ecr.collect_ecr(ctx, options)


def _images(result: CollectResult) -> dict[str, Resource]:
    return {
        str(r.attributes["imageDigest"]): r for r in result.resources if r.kind is Kind.ECR_IMAGE
    }


def _hits(resource: Resource) -> list[tuple[str, str]]:
    content = resource.attributes["imageContent"]
    return [(h["location"], h["detector"]) for h in content["secrets"]]


def _calls(counter: ApiCallCounter, operation: str) -> int:
    return sum(n for k, n in counter.calls.items() if k.endswith(f":{operation}"))


LAYER_SECRET = {
    "root/.aws/credentials": (
        f"[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLF\naws_secret_access_key = {AWS_SECRET}\n"
    ).encode(),
    "etc/ssl/certs/ca.pem": b"-----BEGIN CERTIFICATE-----\nMIIBxTCCAWugAwIBAgIJAKx\n-----END CERTIFICATE-----\n",
}


def test_secret_in_env_history_and_clean_image(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer, counter: ApiCallCounter
) -> None:
    """ENV and RUN-line secrets are found with location, detector and short hash; a clean
    image has none; no value reaches the resources or gaps; each image's config is read
    with one download (counted in the API calls)."""
    client = _repo()
    env = _publish(blobs, client, build_image(env=(f"DB_PASSWORD={CANARY}",)), "env")
    run = _publish(
        blobs,
        client,
        build_image(history=(f"/bin/sh -c curl -u deploy:{CANARY} https://repo.example/x",)),
        "run",
    )
    clean = _publish(blobs, client, build_image(docker=True), "clean")
    refs = [f"{REGISTRY}/web:env", f"{REGISTRY}/web:run", f"{REGISTRY}/web@{clean}"]
    result = _collect(make_ctx, refs)

    assert () == result.gaps
    found = _images(result)
    assert [("config env DB_PASSWORD", "Secret-looking variable name")] == _hits(found[env])
    assert [("history step 0 curl -u", "Command-line credential flag")] == _hits(found[run])
    assert [] == _hits(found[clean])
    assert {"scanned": False} == found[clean].attributes["imageContent"]["layers"]
    assert CANARY not in json.dumps([r.config_document() for r in result.resources])
    assert 3 == _calls(counter, "LayerDownload")
    assert 1 == _calls(counter, "BatchGetImage")


def test_credentials_file_in_a_layer_only_when_enabled(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer
) -> None:
    """Off by default: no layer is downloaded. On: the credentials file is found (a CA
    certificate .pem is not a secret), its content kept nowhere."""
    client = _repo()
    image = build_image(layers=({"app/main.py": b"x=1\n"}, LAYER_SECRET))
    digest = _publish(blobs, client, image, "v1")
    layer_digests = set(image.blobs) - {json.loads(image.manifest)["config"]["digest"]}

    off = _images(_collect(make_ctx, [f"{REGISTRY}/web:v1"]))[digest]
    assert [] == _hits(off)
    assert not layer_digests & set(blobs.requests)

    on = _images(_collect(make_ctx, [f"{REGISTRY}/web:v1"], ImageScanOptions(layers=True)))[digest]
    hits = _hits(on)
    assert ("layer 1 /root/.aws/credentials", "AWS Access Key") in hits
    assert all("ca.pem" not in location for location, _ in hits)
    layers = on.attributes["imageContent"]["layers"]
    assert (True, True) == (layers["scanned"], layers["complete"])
    assert AWS_SECRET not in json.dumps(on.config_document())


def test_layer_scan_respects_byte_caps(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer
) -> None:
    """A per-image cap below the layers' size stops the scan before the layer that would
    pass it (not downloaded); the per-cycle budget does the same across images."""
    client = _repo()
    image = build_image(layers=({"big.bin": bytes(range(256)) * 64}, LAYER_SECRET))
    digest = _publish(blobs, client, image, "v1")
    sizes = [layer["size"] for layer in json.loads(image.manifest)["layers"]]
    second = json.loads(image.manifest)["layers"][1]["digest"]

    small = ImageScanOptions(layers=True, layer_max_bytes_per_image=sizes[0])
    layers = _images(_collect(make_ctx, [f"{REGISTRY}/web:v1"], small))[digest]
    content = layers.attributes["imageContent"]
    assert (False, "image", sizes[0]) == (
        content["layers"]["complete"],
        content["layers"]["incomplete_reason"],
        content["layers"]["bytes"],
    )
    assert second not in blobs.requests
    assert [] == [h for h in content["secrets"] if h["location"].startswith("layer")]

    cycle = ImageScanOptions(layers=True, layer_max_bytes_per_cycle=sizes[0] + 1)
    content = _images(_collect(make_ctx, [f"{REGISTRY}/web:v1"], cycle))[digest].attributes[
        "imageContent"
    ]
    assert "cycle" == content["layers"]["incomplete_reason"]
    assert second not in blobs.requests


def test_image_index_resolves_linux_amd64(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer
) -> None:
    """An OCI index is read through its linux/amd64 entry (not the arm64 one)."""
    client = _repo()
    amd = build_image(env=(f"API_TOKEN={CANARY}",))
    arm = build_image(env=("HOME=/root",), history=("/bin/sh -c #(nop) arm",))
    for child in (amd, arm):
        _publish(blobs, client, child, None)  # type: ignore[arg-type]
    index = build_index(
        ("linux", "arm64", arm), ("linux", "amd64", amd), ("unknown", "unknown", arm)
    )
    digest = _publish(blobs, client, index, "multi")
    found = _images(_collect(make_ctx, [f"{REGISTRY}/web:multi"]))[digest]
    content = found.attributes["imageContent"]
    assert "linux/amd64" == content["platform"]
    assert [("config env API_TOKEN", "Secret-looking variable name")] == _hits(found)


def test_blob_failures_are_gaps_never_clean(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer
) -> None:
    """A blob the server refuses, and one that does not match its digest, leave the image's
    content unavailable with a gap on that image; other images are still read."""
    client = _repo()
    refused = build_image(env=("A=1",))
    corrupt = build_image(env=("B=2",))
    good = build_image(env=("C=3",))
    digests = [
        _publish(blobs, client, i, t) for i, t in ((refused, "r"), (corrupt, "c"), (good, "g"))
    ]
    blobs.failing.add(json.loads(refused.manifest)["config"]["digest"])
    blobs.corrupt.add(json.loads(corrupt.manifest)["config"]["digest"])
    result = _collect(make_ctx, [f"{REGISTRY}/web:{t}" for t in "rcg"])
    found = _images(result)
    for digest in digests[:2]:
        assert ("imageContent",) == found[digest].unavailable
        assert "imageContent" not in found[digest].attributes
    assert {("ecr:LayerDownload", "HTTP500"), ("ecr:LayerDownload", "DigestMismatch")} == {
        (g.operation, g.error_code) for g in result.gaps
    }
    assert {found[d].arn for d in digests[:2]} == {g.resource_arn for g in result.gaps}
    assert () == found[digests[2]].unavailable


def test_denied_batch_get_image_is_a_gap(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer
) -> None:
    """AccessDenied on BatchGetImage: every image in use is unavailable, with a gap each."""
    client = _repo()
    digest = _publish(blobs, client, build_image(), "v1")
    ctx = make_ctx(image_refs=(f"{REGISTRY}/web:v1",))

    def deny(**_: Any) -> tuple[Any, dict[str, Any]]:
        error = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}
        return botocore.awsrequest.AWSResponse("https://x", 400, {}, None), error

    ctx.client("ecr").meta.events.register("before-call.ecr.BatchGetImage", deny)
    result = ecr.collect_ecr(ctx)
    found = _images(result)[digest]
    assert ("imageContent",) == found.unavailable
    assert [("ecr:BatchGetImage", "AccessDeniedException", found.arn)] == [
        (g.operation, g.error_code, g.resource_arn) for g in result.gaps
    ]


def test_a_warm_cycle_reads_no_blob(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer, counter: ApiCallCounter
) -> None:
    """The content of a digest read once is carried over: the next cycle makes no
    BatchGetImage and no download, and yields the same resource."""
    client = _repo()
    digest = _publish(blobs, client, build_image(env=(f"DB_PASSWORD={CANARY}",)), "v1")
    options = ImageScanOptions(layers=True)
    cold = _collect(make_ctx, [f"{REGISTRY}/web:v1"], options)
    before = (
        len(blobs.requests),
        _calls(counter, "BatchGetImage"),
        _calls(counter, "LayerDownload"),
    )
    warm = _collect(
        make_ctx, [f"{REGISTRY}/web:v1"], options, PreviousState.from_resources(cold.resources)
    )
    after = (
        len(blobs.requests),
        _calls(counter, "BatchGetImage"),
        _calls(counter, "LayerDownload"),
    )
    assert before == after
    assert _images(cold)[digest].config_hash == _images(warm)[digest].config_hash
    # turning layers off reuses the config part without reading anything either
    off = _collect(
        make_ctx, [f"{REGISTRY}/web:v1"], None, PreviousState.from_resources(cold.resources)
    )
    assert len(blobs.requests) == before[0]
    assert {"scanned": False} == _images(off)[digest].attributes["imageContent"]["layers"]


def test_scan_status_and_findings(make_ctx: Callable[..., UnitContext], blobs: BlobServer) -> None:
    """Never scanned: status NONE (reused on the next cycle without a call); scanned:
    counts by severity and the oldest finding per severity."""
    import requests

    client = _repo()
    digest = _publish(blobs, client, build_image(), "v1")
    first = _images(_collect(make_ctx, [f"{REGISTRY}/web:v1"]))[digest]
    assert "NONE" == first.attributes["scan"]["status"]

    client.start_image_scan(repositoryName="web", imageId={"imageDigest": digest})
    critical = {
        "imageScanFindings": {
            "imageScanCompletedAt": "2026-10-01T00:00:00Z",
            "findings": [{"name": "CVE-1", "severity": "CRITICAL"}],
            "enhancedFindings": [
                {"severity": "CRITICAL", "firstObservedAt": "2026-09-01T00:00:00Z"},
            ],
            "findingSeverityCounts": {"CRITICAL": 2, "LOW": 1},
        },
        "registryId": ACCOUNT,
        "repositoryName": "web",
        "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE"},
    }
    requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/ecr/scan-finding-results",
        json={"results": [critical], "region": REGION},
        timeout=10,
    )
    scanned = _images(_collect(make_ctx, [f"{REGISTRY}/web@{digest}"]))[digest]
    scan = scanned.attributes["scan"]
    assert ("COMPLETE", {"CRITICAL": 2, "LOW": 1}) == (scan["status"], scan["counts"])
    assert scan["oldest"]["CRITICAL"].startswith("2026-09-01")


def test_registry_scanning_rules_apply_by_filter(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer
) -> None:
    """Each repository carries the strongest registry rule whose filter matches it."""
    client = _repo("web", scan_on_push=False)
    client.create_repository(repositoryName="batch")
    client.put_registry_scanning_configuration(
        scanType="ENHANCED",
        rules=[
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}],
            },
            {
                "scanFrequency": "CONTINUOUS_SCAN",
                "repositoryFilters": [{"filter": "we*", "filterType": "WILDCARD"}],
            },
        ],
    )
    result = _collect(make_ctx, [])
    repos = {
        r.id: r.attributes["registryScanning"]
        for r in result.resources
        if r.kind is Kind.ECR_REPOSITORY
    }
    assert {"scanType": "ENHANCED", "frequency": "CONTINUOUS_SCAN"} == repos["web"]
    assert {"scanType": "ENHANCED", "frequency": "SCAN_ON_PUSH"} == repos["batch"]


def test_previous_state_carries_image_content(blobs: BlobServer) -> None:
    """PreviousState keeps image content by digest and scan state by ARN."""
    image = Resource(
        kind=Kind.ECR_IMAGE, arn="arn:x@sha256:1", id="web@sha256:1", account=ACCOUNT,
        region=REGION, tags={}, observed_at=__import__("tests.conftest").conftest.NOW,
        attributes={"imageDigest": "sha256:1", "imageContent": {"secrets": []}, "scan": {"status": "NONE"}},
    )  # fmt: skip
    state = PreviousState.from_resources([image, replace(image, arn="arn:y", attributes={})])
    assert {"sha256:1": {"secrets": []}} == dict(state.image_content)
    assert {"arn:x@sha256:1": {"status": "NONE"}} == dict(state.image_scans)


def test_a_layer_that_unpacks_far_beyond_the_cap_stops(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer
) -> None:
    """A small layer that unpacks to more than 16 times the per-image cap (a decompression
    bomb) stops the scan at the member that would pass it: incomplete, never "clean"."""
    client = _repo()
    bomb = {
        "a/zeros.bin": bytes(1_000_000),
        "root/.aws/credentials": LAYER_SECRET["root/.aws/credentials"],
    }
    image = build_image(layers=(bomb,))
    digest = _publish(blobs, client, image, "v1")
    size = json.loads(image.manifest)["layers"][0]["size"]
    assert size < 20_000  # it compresses well below the cap ...
    options = ImageScanOptions(layers=True, layer_max_bytes_per_image=20_000)
    content = _images(_collect(make_ctx, [f"{REGISTRY}/web:v1"], options))[digest].attributes[
        "imageContent"
    ]
    assert (False, "image") == (  # ... and unpacks far above 16 x 20,000 bytes
        content["layers"]["complete"],
        content["layers"]["incomplete_reason"],
    )


def test_scan_summary_from_describe_images_costs_no_call_when_warm(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer, counter: ApiCallCounter
) -> None:
    """As on AWS (moto leaves it out), DescribeImages carries the scan status and counts:
    a clean scan costs no DescribeImageScanFindings call, findings cost one the first
    time and none while the scan is unchanged."""
    client = _repo()
    clean = _publish(blobs, client, build_image(env=("A=1",)), "clean")
    vulnerable = _publish(blobs, client, build_image(env=("B=2",)), "vulnerable")
    for digest in (clean, vulnerable):
        client.start_image_scan(repositoryName="web", imageId={"imageDigest": digest})
    summary = {
        clean: {"imageScanCompletedAt": "2026-11-01T00:00:00Z", "findingSeverityCounts": {}},
        vulnerable: {
            "imageScanCompletedAt": "2026-11-01T00:00:00Z",
            "findingSeverityCounts": {"HIGH": 1},
        },
    }

    def with_summary(parsed: dict[str, Any], **_: Any) -> None:
        for detail in parsed.get("imageDetails", []):
            detail["imageScanStatus"] = {"status": "COMPLETE"}
            detail["imageScanFindingsSummary"] = summary[detail["imageDigest"]]

    refs = (f"{REGISTRY}/web:clean", f"{REGISTRY}/web:vulnerable")
    cold_ctx = make_ctx(image_refs=refs)
    cold_ctx.client("ecr").meta.events.register("after-call.ecr.DescribeImages", with_summary)
    cold = ecr.collect_ecr(cold_ctx)
    assert 1 == _calls(counter, "DescribeImageScanFindings")
    scans = {d: r.attributes["scan"] for d, r in _images(cold).items()}
    assert ({}, {"HIGH": 1}) == (scans[clean]["counts"], scans[vulnerable]["counts"])
    assert "HIGH" in scans[vulnerable]["oldest"]

    warm_ctx = make_ctx(image_refs=refs, previous=PreviousState.from_resources(cold.resources))
    warm = ecr.collect_ecr(warm_ctx)
    assert 1 == _calls(counter, "DescribeImageScanFindings")
    assert scans == {d: r.attributes["scan"] for d, r in _images(warm).items()}


def test_credential_files_by_name_and_docker_auths() -> None:
    """Which layer files are read, and a Docker config's `auths` entry is a hit whose hash
    is of the auth value (never the value itself)."""
    from auditor.collect.ecr_image_content import credential_file, scan_file
    from auditor.secrets import short_hash

    wanted = [
        "/root/.aws/credentials",
        "/home/u/.ssh/id_ed25519",
        "/app/.env.production",
        "/srv/tls/server.key",
        "/root/.docker/config.json",
        "/u/.npmrc",
        "/u/.pypirc",
    ]
    ignored = ["/app/main.py", "/app/.wh..env", "/app/.envrc", "/etc/passwd"]
    assert (wanted, []) == (
        [p for p in wanted if credential_file(p)],
        [p for p in ignored if credential_file(p)],
    )
    auth = "ZGVwbG95OmNhbmFyeS1wYXNzd29yZA=="
    config = json.dumps({"auths": {"registry.example": {"auth": auth}}}).encode()
    [hit] = scan_file("/root/.docker/config.json", config, "layer 0 /root/.docker/config.json")
    assert (
        "layer 0 /root/.docker/config.json",
        "Docker registry credentials",
        short_hash(auth),
    ) == (hit.location, hit.detector, hit.hash)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'auditor.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = Store.open(url)
    try:
        yield opened
    finally:
        opened.close()


def _dump(store: Store) -> str:
    """Every row of every table of the store, as text (bytes included as they are)."""
    with store.engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        tables = [sa.Table(name, sa.MetaData(), autoload_with=conn) for name in names]
        rows = [tuple(row) for t in tables for row in conn.execute(sa.select(t))]
    return repr(rows)  # of plain tuples: a Row's own repr shortens long values


def _image_rows(store: Store) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT digest, scope FROM image_content ORDER BY 1, 2"))
        return [(str(d), str(s)) for d, s in rows]


def _cycle(
    store: Store,
    make_ctx: Callable[..., UnitContext],
    n: int,
    refs: list[str],
    options: ImageScanOptions | None,
) -> CollectResult:
    """One collection against the store's previous snapshot and image cache, committed."""
    previous = PreviousState.from_snapshot(store.latest_snapshot(), store.image_contents)
    result = _collect(make_ctx, refs, options, previous)
    snap = snapshot(f"cycle-{n}", result.resources, at=NOW + timedelta(minutes=15 * n))
    store.commit_cycle(CycleRecord(snap, None, (), image_contents=cache_entries(result.resources)))
    return result


def test_an_image_back_in_use_is_not_read_again_and_no_secret_is_stored(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer, counter: ApiCallCounter, store: Store
) -> None:
    """In use in cycle 1, out of use in cycle 2 (so not in the previous snapshot), back in
    cycle 3: its content comes from the store, with no BatchGetImage and no download; an
    unchanged cycle adds no cache row; the canary ENV value is nowhere in the database."""
    client = _repo()
    secret = _publish(blobs, client, build_image(env=(f"DB_PASSWORD={CANARY}",)), "v1")
    other = _publish(blobs, client, build_image(env=("MODE=plain",)), "v2")
    options = ImageScanOptions(layers=True)
    both = [f"{REGISTRY}/web:v1", f"{REGISTRY}/web:v2"]
    first = _cycle(store, make_ctx, 1, both, options)
    assert sorted([(other, "v1/layers"), (secret, "v1/layers")]) == _image_rows(store)
    assert _calls(counter, "LayerDownload") > 0

    second = _cycle(store, make_ctx, 2, [f"{REGISTRY}/web:v2"], options)
    assert set(_images(second)) == {other}
    cost = (len(blobs.requests), _calls(counter, "BatchGetImage"), _calls(counter, "LayerDownload"))

    third = _cycle(store, make_ctx, 3, both, options)
    after = (
        len(blobs.requests),
        _calls(counter, "BatchGetImage"),
        _calls(counter, "LayerDownload"),
    )
    assert cost == after  # nothing read: not from the snapshot (cycle 2 lacked it), the store
    assert _images(first)[secret].config_hash == _images(third)[secret].config_hash
    assert ["config env DB_PASSWORD"] == [h[0] for h in _hits(_images(third)[secret])]
    assert sorted([(other, "v1/layers"), (secret, "v1/layers")]) == _image_rows(store)

    dump = _dump(store)
    assert short_hash(CANARY) in dump  # the evidence is stored, by hash
    assert CANARY not in dump


def test_a_config_only_result_does_not_answer_a_layer_scan(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer, counter: ApiCallCounter, store: Store
) -> None:
    """The cache key is (digest, scope): a config-only read is not a layer scan, so turning
    layers on reads the layers (the config blob is not downloaded again), and both scopes
    are then kept."""
    client = _repo()
    image = build_image(layers=({"root/.aws/credentials": LAYER_SECRET["root/.aws/credentials"]},))
    digest = _publish(blobs, client, image, "v1")
    config_digest = json.loads(image.manifest)["config"]["digest"]
    _cycle(store, make_ctx, 1, [f"{REGISTRY}/web:v1"], None)
    assert [(digest, "v1/config")] == _image_rows(store)
    store.commit_cycle(  # the image leaves use: only the store knows it
        CycleRecord(snapshot("cycle-2", (), at=NOW + timedelta(minutes=30)), None, ())
    )
    seen = len(blobs.requests)
    layered = _cycle(store, make_ctx, 3, [f"{REGISTRY}/web:v1"], ImageScanOptions(layers=True))
    fetched = blobs.requests[seen:]
    assert fetched  # the layers are read
    assert config_digest not in fetched  # the config part is reused
    content = _images(layered)[digest].attributes["imageContent"]
    assert content["layers"]["scanned"]
    assert content["layers"]["complete"]
    assert any(h[0].startswith("layer 0 ") for h in _hits(_images(layered)[digest]))
    assert [(digest, "v1/config"), (digest, "v1/layers")] == _image_rows(store)
    assert AWS_SECRET not in _dump(store)


def test_cache_scope_names_what_the_scan_covered() -> None:
    """A result stopped by the per-cycle budget is never kept; one stopped by the per-image
    cap answers only requests with a cap no larger."""
    assert "v1/config" == cache_scope({"layers": {"scanned": False}})
    assert "v1/layers" == cache_scope({"layers": {"scanned": True, "complete": True}})
    unsupported = {"scanned": True, "complete": False, "incomplete_reason": "layer 1: zstd"}
    assert "v1/layers" == cache_scope({"layers": unsupported})
    capped = {"scanned": True, "complete": False, "incomplete_reason": "image", "max_bytes": 9}
    assert "v1/layers/max=9" == cache_scope({"layers": capped})
    assert cache_scope({"layers": {**capped, "incomplete_reason": "cycle"}}) is None


def test_an_unreachable_cache_is_a_miss_never_a_clean_image(
    make_ctx: Callable[..., UnitContext], blobs: BlobServer, counter: ApiCallCounter
) -> None:
    """A store that fails the lookup: the image is read from the registry as if unknown."""
    client = _repo()
    digest = _publish(blobs, client, build_image(env=(f"DB_PASSWORD={CANARY}",)), "v1")

    def broken(_digests: object) -> dict[str, list[tuple[str, Any]]]:
        raise sa.exc.OperationalError("SELECT", {}, Exception("gone"))

    result = _collect(make_ctx, [f"{REGISTRY}/web:v1"], None, PreviousState(image_lookup=broken))
    assert ["config env DB_PASSWORD"] == [h[0] for h in _hits(_images(result)[digest])]
    assert _calls(counter, "BatchGetImage") == 1
