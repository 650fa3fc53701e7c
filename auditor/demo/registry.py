"""Demo-only: real image blobs behind ECR's download URL, which moto does not serve.

moto stores manifests (PutImage, BatchGetImage) but does not implement
GetDownloadUrlForLayer. For the demo (and the tests), a small HTTP server on 127.0.0.1
serves config and layer blobs by digest, and `serve_download_urls` points moto's
GetDownloadUrlForLayer at it (moto runs in this process). Nothing in the product imports
this module.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class BuiltImage:
    """A pushable image: its manifest text and every blob it names."""

    manifest: str
    media_type: str
    blobs: Mapping[str, bytes]

    @property
    def digest(self) -> str:
        return digest_of(self.manifest.encode())


def tar_gz(files: Mapping[str, bytes]) -> bytes:
    """A gzip-compressed tar layer holding `files` (path -> content)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(content)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


def build_image(
    env: tuple[str, ...] = ("PATH=/usr/local/bin:/usr/bin",),
    history: tuple[str, ...] = ("/bin/sh -c #(nop) ADD file:0123 in / ",),
    labels: Mapping[str, str] | None = None,
    layers: tuple[Mapping[str, bytes], ...] = ({"app/main.py": b"print('hello')\n"},),
    *,
    docker: bool = False,
) -> BuiltImage:
    """An image with the given config and layers, as Docker v2 schema 2 or OCI."""
    layer_blobs = [tar_gz(files) for files in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": list(env), "Labels": dict(labels or {})},
        "history": [{"created_by": line} for line in history],
        "rootfs": {"type": "layers", "diff_ids": [digest_of(b) for b in layer_blobs]},
    }
    config_blob = json.dumps(config, sort_keys=True).encode()
    manifest_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    layer_type = "application/vnd.docker.image.rootfs.diff.tar.gzip" if docker else TAR_GZIP
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "digest": digest_of(config_blob),
            "size": len(config_blob),
        },
        "layers": [
            {"mediaType": layer_type, "digest": digest_of(b), "size": len(b)} for b in layer_blobs
        ],
    }
    blobs = {digest_of(config_blob): config_blob, **{digest_of(b): b for b in layer_blobs}}
    return BuiltImage(json.dumps(manifest, indent=2), manifest_type, blobs)


def build_index(*images: tuple[str, str, BuiltImage]) -> BuiltImage:
    """An OCI image index over (os, architecture, image) entries."""
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": image.media_type,
                "digest": image.digest,
                "size": len(image.manifest.encode()),
                "platform": {"os": os_name, "architecture": arch},
            }
            for os_name, arch, image in images
        ],
    }
    return BuiltImage(json.dumps(index, indent=2), OCI_INDEX, {})


def push(ecr: Any, repository: str, image: BuiltImage, tag: str | None = None) -> str:
    """PutImage the manifest under its real digest (as ECR computes it); returns it."""
    kwargs: dict[str, Any] = {
        "repositoryName": repository,
        "imageManifest": image.manifest,
        "imageManifestMediaType": image.media_type,
        "imageDigest": image.digest,
    }
    if tag is not None:
        kwargs["imageTag"] = tag
    ecr.put_image(**kwargs)
    return image.digest


@dataclass
class BlobServer:
    """Serves blobs by digest at http://127.0.0.1:<port>/blobs/<digest>; a context manager.

    `failing` digests answer 500; `corrupt` ones answer other bytes than their digest's.
    `requests` counts what was asked for (the tests' proof that a warm cycle reads nothing).
    """

    blobs: dict[str, bytes] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    corrupt: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def add(self, image: BuiltImage) -> None:
        self.blobs.update(image.blobs)

    @property
    def url(self) -> str:
        assert self._server is not None, "BlobServer is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> BlobServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                digest = self.path.rsplit("/", 1)[-1]
                owner.requests.append(digest)
                body = owner.blobs.get(digest)
                if body is None or digest in owner.failing:
                    self.send_response(404 if body is None else 500)
                    self.end_headers()
                    return
                if digest in owner.corrupt:
                    body = body[:-1] + bytes([body[-1] ^ 1])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> BlobServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serve_download_urls(server: BlobServer) -> Iterator[None]:
    """moto (in this process) answers GetDownloadUrlForLayer with the server's blob URL."""
    from moto.core.responses import ActionResult
    from moto.ecr.responses import ECRResponse

    def get_download_url_for_layer(self: ECRResponse) -> ActionResult:
        digest = self._get_param("layerDigest")
        self.ecr_backend._get_repository(  # a missing repository fails as in AWS
            self._get_param("repositoryName"), self._get_param("registryId")
        )
        return ActionResult({"downloadUrl": f"{server.url}/blobs/{digest}", "layerDigest": digest})

    original = ECRResponse.get_download_url_for_layer
    ECRResponse.get_download_url_for_layer = get_download_url_for_layer  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        ECRResponse.get_download_url_for_layer = original  # type: ignore[method-assign]


_DEMO: list[BlobServer] = []


def demo_blobs() -> BlobServer:
    """The blob server of the running DemoServer (seeders add their images' blobs to it)."""
    if not _DEMO:
        raise RuntimeError("no DemoServer is running: its blob server serves the image blobs")
    return _DEMO[-1]


@contextmanager
def demo_registry() -> Iterator[BlobServer]:
    """A blob server behind moto's GetDownloadUrlForLayer for as long as a DemoServer runs."""
    with BlobServer() as server, serve_download_urls(server):
        _DEMO.append(server)
        try:
            yield server
        finally:
            _DEMO.remove(server)
