"""What is inside an ECR image in use: its config (Env, Labels, history) and, optionally, its
layers' credential files, scanned with the same secret detector as user data.

Per image digest (immutable, so read once and then carried from snapshot to snapshot):
BatchGetImage (up to 100 digests of one repository per call) for the manifest; an image
index or manifest list is resolved to its linux/amd64 entry (else the first runnable
platform) with one more BatchGetImage; the config blob is read through
GetDownloadUrlForLayer and one bounded GET (ecr_blobs). With `layers` on, each layer
(tar, gzip) is streamed within a per-image and a per-cycle byte cap, and files named like
credentials (.aws/credentials, id_rsa, .env, *.pem, .npmrc, .pypirc, .docker/config.json
...) are scanned in memory. Nothing of the content is kept: only location, detector and a
short hash. The result is the `imageContent` attribute (docs/resources.md).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.aws import error_code, error_message
from auditor.collect.base import AWS_ERRORS
from auditor.collect.ecr_blobs import (
    BlobError,
    BlobReader,
    ByteBudget,
    CapExceeded,
    ChunkFile,
    ImageScanOptions,
    digest_ok,
)
from auditor.model import JSON, SecretHit
from auditor.secrets import scan_assignment, scan_text, short_hash
from auditor.secrets.detect import KEY_DETECTOR

INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
)
ACCEPTED = sorted(INDEX_TYPES | MANIFEST_TYPES)
BATCH_GET_IMAGE = 100  # image ids per BatchGetImage (the API maximum)
MANIFEST_MAX_BYTES = 4 * 1024 * 1024
MAX_HITS = 50  # per image: enough to act on, bounded evidence
EXPANSION = 16  # a layer may unpack to this many times the per-image byte cap, no more
# layer media types tarfile can stream (zstd and foreign layers are not read)
TAR_LAYERS = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    }
)
DOCKER_AUTH_DETECTOR = "Docker registry credentials"
# what a stored `imageContent` was produced by: bump it when the secret detector or the
# content's form changes, so results of the old scan are not reused from the store (they
# stay under their old scope and are read again once)
SCAN_VERSION = 1

_CREDENTIAL_NAMES = frozenset(
    {
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        ".npmrc",
        ".pypirc",
        ".netrc",
        ".git-credentials",
        ".pgpass",
        ".env",
    }
)
_CREDENTIAL_SUFFIXES = (".aws/credentials", ".docker/config.json")
_KEY_FILE_SUFFIXES = (".pem", ".key")


@dataclass(frozen=True, slots=True)
class ContentResult:
    """One image's `imageContent`, or why it could not be read (operation, code, message)."""

    content: dict[str, JSON] | None
    failure: tuple[str, str, str] | None = None


def _hits_json(hits: Iterable[SecretHit]) -> list[dict[str, JSON]]:
    out: list[dict[str, JSON]] = []
    seen: set[tuple[str, str, str]] = set()
    for hit in hits:
        key = (hit.location, hit.detector, hit.hash)
        if key not in seen:
            seen.add(key)
            out.append(dict(hit.to_json()))
    return out[:MAX_HITS]


def scan_config(config: Mapping[str, Any]) -> list[SecretHit]:
    """Secrets in an image config's Env, Labels and history `created_by` lines."""
    hits: list[SecretHit] = []
    body = config.get("config") or {}
    if isinstance(body, Mapping):
        for entry in body.get("Env") or ():
            name, _, value = str(entry).partition("=")
            hits.extend(scan_assignment(name, value, f"config env {name}"))
        labels = body.get("Labels") or {}
        if isinstance(labels, Mapping):
            for key, value in sorted(labels.items()):
                hits.extend(scan_assignment(str(key), str(value), f"config label {key}"))
    for step, item in enumerate(config.get("history") or ()):
        if not isinstance(item, Mapping) or not item.get("created_by"):
            continue
        for hit in scan_text(str(item["created_by"])):
            where = hit.location.removeprefix("line 1").strip()
            location = f"history step {step}" + (f" {where}" if where else "")
            hits.append(SecretHit(location, hit.detector, hit.hash, hit.name))
    return hits


def credential_file(path: str) -> bool:
    name = posixpath.basename(path)
    if name.startswith(".wh."):
        return False  # a whiteout: marks a deletion, holds nothing
    return (
        name in _CREDENTIAL_NAMES
        or (name.startswith(".env.") and len(name) > 5)
        or path.endswith(_CREDENTIAL_SUFFIXES)
        or path.endswith(_KEY_FILE_SUFFIXES)
    )


def scan_file(path: str, data: bytes, location: str) -> list[SecretHit]:
    """Secrets in one credential-named file; the bytes are dropped by the caller."""
    text = data.decode("utf-8", errors="replace")
    if path.endswith(".docker/config.json"):
        return _docker_auths(text, location)
    hits = [SecretHit(location, h.detector, h.hash, h.name) for h in scan_text(text)]
    if path.endswith(_KEY_FILE_SUFFIXES):
        hits = [h for h in hits if h.detector == KEY_DETECTOR]  # certificates are not secrets
    return hits


def _docker_auths(text: str, location: str) -> list[SecretHit]:
    try:
        document = json.loads(text)
    except ValueError:
        return []
    auths = document.get("auths") if isinstance(document, dict) else None
    hits: list[SecretHit] = []
    for registry, entry in sorted((auths or {}).items()) if isinstance(auths, dict) else ():
        if not isinstance(entry, dict):
            continue
        for key in ("auth", "password", "identitytoken", "registrytoken"):
            value = entry.get(key)
            if isinstance(value, str) and value:
                hits.append(
                    SecretHit(location, DOCKER_AUTH_DETECTOR, short_hash(value), str(registry))
                )
    return hits


class ContentReader:
    """Reads `imageContent` for the digests of one repository."""

    def __init__(
        self,
        client: Any,
        blobs: BlobReader,
        options: ImageScanOptions,
        budget: ByteBudget,
    ) -> None:
        self._client = client
        self._blobs = blobs
        self._options = options
        self._budget = budget

    def manifests(
        self, registry: str, repository: str, digests: list[str]
    ) -> dict[str, tuple[str, str] | tuple[str, str, str]]:
        """digest -> (media type, manifest text), or a (operation, code, message) failure."""
        out: dict[str, tuple[str, str] | tuple[str, str, str]] = {}
        for start in range(0, len(digests), BATCH_GET_IMAGE):
            batch = digests[start : start + BATCH_GET_IMAGE]
            try:
                response = self._client.batch_get_image(
                    registryId=registry,
                    repositoryName=repository,
                    imageIds=[{"imageDigest": d} for d in batch],
                    acceptedMediaTypes=ACCEPTED,
                )
            except AWS_ERRORS as exc:
                for d in batch:
                    out[d] = ("ecr:BatchGetImage", error_code(exc), error_message(exc))
                continue
            for image in response.get("images") or ():
                digest = str((image.get("imageId") or {}).get("imageDigest") or "")
                manifest = str(image.get("imageManifest") or "")
                media = str(image.get("imageManifestMediaType") or "")
                if digest in batch and digest not in out:
                    out[digest] = (media, manifest)
            for failure in response.get("failures") or ():
                digest = str((failure.get("imageId") or {}).get("imageDigest") or "")
                if digest in batch and digest not in out:
                    out[digest] = (
                        "ecr:BatchGetImage",
                        str(failure.get("failureCode") or "Failure"),
                        str(failure.get("failureReason") or ""),
                    )
        for d in digests:
            out.setdefault(d, ("ecr:BatchGetImage", "NotReturned", "no manifest returned"))
        return out

    def read(
        self,
        registry: str,
        repository: str,
        digest: str,
        manifest: tuple[str, str] | tuple[str, str, str],
        reuse: Mapping[str, JSON] | None = None,
    ) -> ContentResult:
        """The image's content; `reuse` is what an earlier cycle read (config part reused)."""
        if len(manifest) == 3:
            return ContentResult(None, manifest)
        try:
            media, document = _parse(manifest[0], manifest[1], digest)
            platform = None
            if media in INDEX_TYPES:
                child, platform = _pick_platform(document)
                found = self.manifests(registry, repository, [child])[child]
                if len(found) == 3:
                    return ContentResult(None, found)
                media, document = _parse(found[0], found[1], child)
                if media not in MANIFEST_TYPES:
                    raise BlobError("ecr:BatchGetImage", "UnsupportedManifest", media)
            content = self._content(registry, repository, media, document, platform, reuse)
        except BlobError as exc:
            return ContentResult(None, (exc.operation, exc.code, exc.message))
        return ContentResult(content)

    def _content(
        self,
        registry: str,
        repository: str,
        media: str,
        manifest: Mapping[str, Any],
        platform: str | None,
        reuse: Mapping[str, JSON] | None,
    ) -> dict[str, JSON]:
        config_ref = manifest.get("config") or {}
        config_digest = str(config_ref.get("digest") or "")
        if reuse is not None and reuse.get("configDigest") == config_digest:
            secrets = [s for s in reuse.get("secrets") or () if _from_config(s)]
        else:
            size = int(config_ref.get("size") or 0)
            if size > self._options.config_max_bytes:
                raise BlobError(
                    "ecr:LayerDownload",
                    "ConfigTooLarge",
                    f"config of {size} bytes is over collect.images.config_max_bytes",
                )
            try:
                raw = self._blobs.read(
                    repository, registry, config_digest, self._options.config_max_bytes
                )
            except CapExceeded:
                raise BlobError(
                    "ecr:LayerDownload", "ConfigTooLarge", "config over its byte cap"
                ) from None
            config = _json_object(raw, "ecr:LayerDownload", "BadConfig", "config")
            secrets = _hits_json(scan_config(config))
        content: dict[str, JSON] = {
            "manifestMediaType": media,
            "configDigest": config_digest,
            "platform": platform,
            "secrets": secrets,
            "layers": {"scanned": False},
        }
        if self._options.layers:
            layers, layer_secrets = self._layers(registry, repository, manifest, reuse)
            content["layers"] = layers
            content["secrets"] = (secrets + layer_secrets)[:MAX_HITS]
        return content

    def _layers(
        self,
        registry: str,
        repository: str,
        manifest: Mapping[str, Any],
        reuse: Mapping[str, JSON] | None,
    ) -> tuple[dict[str, JSON], list[dict[str, JSON]]]:
        cap = self._options.layer_max_bytes_per_image
        previous = reuse.get("layers") if reuse is not None else None
        if isinstance(previous, Mapping) and layers_still_valid(previous, cap):
            kept = [s for s in (reuse or {}).get("secrets") or () if not _from_config(s)]
            return dict(previous), kept
        used = 0
        hits: list[SecretHit] = []
        reason = ""
        for index, layer in enumerate(manifest.get("layers") or ()):
            size = int(layer.get("size") or 0)
            media = str(layer.get("mediaType") or "")
            if media not in TAR_LAYERS:
                reason = f"layer {index}: unsupported media type {media}"
                break
            if used + size > cap:
                reason = "image"  # collect.images.layers.max_bytes_per_image
                break
            if not self._budget.take(size):
                reason = "cycle"  # collect.images.layers.max_bytes_per_cycle
                break
            used += size
            try:
                hits.extend(self._layer(registry, repository, index, layer, size))
            except CapExceeded:
                reason = "image"
                break
            except (tarfile.TarError, OSError, EOFError):
                raise BlobError(
                    "ecr:LayerDownload", "BadLayer", f"layer {index} is not a tar"
                ) from None
        return (
            {
                "scanned": True,
                "complete": not reason,
                "incomplete_reason": reason or None,
                "bytes": used,
                "max_bytes": cap,
            },
            _hits_json(hits),
        )

    def _layer(
        self, registry: str, repository: str, index: int, layer: Mapping[str, Any], size: int
    ) -> list[SecretHit]:
        digest = str(layer.get("digest") or "")
        stream = ChunkFile(self._blobs.stream(repository, registry, digest, max(size, 1)))
        hits: list[SecretHit] = []
        unpacked = 0
        with tarfile.open(fileobj=stream, mode="r|*") as tar:  # type: ignore[call-overload]
            for member in tar:
                unpacked += member.size
                if unpacked > EXPANSION * self._options.layer_max_bytes_per_image:
                    raise CapExceeded(digest)  # a decompression bomb: stop before unpacking
                path = "/" + member.name.removeprefix("./").lstrip("/")
                if not member.isfile() or not credential_file(path):
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                data = handle.read(self._options.layer_file_max_bytes)
                hits.extend(scan_file(path, data, f"layer {index} {path}"))
                del data
        stream.drain()
        return hits


def _from_config(hit: Any) -> bool:
    location = str(hit.get("location", "")) if isinstance(hit, Mapping) else ""
    return location.startswith(("config ", "history "))


def layers_still_valid(layers: Mapping[str, JSON], cap: int) -> bool:
    """Reuse an earlier layer scan unless it stopped early and might now go further."""
    if not layers.get("scanned"):
        return False
    if layers.get("complete"):
        return True
    reason = layers.get("incomplete_reason")
    if reason == "cycle":
        return False
    if reason == "image":
        return int(layers.get("max_bytes") or 0) >= cap
    return True  # unsupported layer type: the same again


def cache_scope(content: Mapping[str, JSON]) -> str | None:
    """The persistent cache key part (besides the digest) of one `imageContent`: what the
    scan covered, or None when the result must not be kept.

    - `v1/config`: config only (Env, Labels, history);
    - `v1/layers`: config and every layer, or stopped at a layer type that is not read
      (the same again whatever the caps);
    - `v1/layers/max=N`: layers stopped at the per-image byte cap N (answers a cap <= N);
    - None: stopped by the per-cycle budget (a later cycle may read further).
    """
    layers = content.get("layers")
    if not isinstance(layers, Mapping) or not layers.get("scanned"):
        return f"v{SCAN_VERSION}/config"
    reason = layers.get("incomplete_reason")
    if layers.get("complete") or reason not in ("image", "cycle"):
        return f"v{SCAN_VERSION}/layers"
    if reason == "image":
        return f"v{SCAN_VERSION}/layers/max={int(layers.get('max_bytes') or 0)}"
    return None


def _json_object(raw: str | bytes, operation: str, code: str, what: str) -> dict[str, Any]:
    """A blob's JSON object; BlobError (naming `what`, never its content) otherwise."""
    try:
        document = json.loads(raw)
    except ValueError:
        raise BlobError(operation, code, f"{what} is not JSON") from None
    if not isinstance(document, dict):
        raise BlobError(operation, code, f"{what} is not an object")
    return document


def _parse(media: str, text: str, digest: str) -> tuple[str, dict[str, Any]]:
    raw = text.encode()
    if len(raw) > MANIFEST_MAX_BYTES:
        raise BlobError("ecr:BatchGetImage", "ManifestTooLarge", "manifest over 4 MiB")
    if f"sha256:{hashlib.sha256(raw).hexdigest()}" != digest:
        raise BlobError("ecr:BatchGetImage", "DigestMismatch", f"manifest does not match {digest}")
    document = _json_object(text, "ecr:BatchGetImage", "BadManifest", "manifest")
    media = media or str(document.get("mediaType") or "")
    if media not in INDEX_TYPES and media not in MANIFEST_TYPES:
        raise BlobError("ecr:BatchGetImage", "UnsupportedManifest", media or "no media type")
    return media, document


def _pick_platform(index: Mapping[str, Any]) -> tuple[str, str]:
    """The linux/amd64 entry of an index, else the first with a real platform."""
    entries = [m for m in index.get("manifests") or () if isinstance(m, Mapping)]
    runnable = [
        m
        for m in entries
        if (m.get("platform") or {}).get("os") not in (None, "unknown")
        and digest_ok(str(m.get("digest") or ""))
    ]
    for entry in runnable:
        platform = entry.get("platform") or {}
        if (platform.get("os"), platform.get("architecture")) == ("linux", "amd64"):
            return str(entry["digest"]), "linux/amd64"
    if not runnable:
        raise BlobError("ecr:BatchGetImage", "NoPlatform", "image index has no runnable entry")
    platform = runnable[0].get("platform") or {}
    return str(runnable[0]["digest"]), f"{platform.get('os')}/{platform.get('architecture')}"
