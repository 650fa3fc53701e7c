"""Reading ECR blobs (image config, layers): a download URL, then one bounded HTTP GET.

`GetDownloadUrlForLayer` returns a pre-signed URL for a blob of a repository; the blob is
read with one streamed GET with connect/read timeouts and a byte cap, and its SHA-256 is
checked against the digest the manifest names. Every GET is counted with the unit's API
calls (`ecr:LayerDownload`) and its bytes in the reader's total. Any failure is a
`BlobError`: the caller turns it into a gap, never into "nothing found".
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditor.aws import error_code, error_message
from auditor.collect.base import AWS_ERRORS

if TYPE_CHECKING:  # httpx loads when a blob is read, not when `auditor scan` starts
    import httpx

DOWNLOAD_CALL = "ecr:LayerDownload"  # how blob GETs appear in the cycle's api_calls
_CHUNK = 64 * 1024


class BlobError(Exception):
    """A blob could not be read or did not match its digest (no content in the message)."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation = operation
        self.code = code
        self.message = message


class CapExceeded(Exception):
    """A stream went past its byte cap."""


class ByteBudget:
    """Bytes that layer reads may still use (shared by the units of one cycle)."""

    def __init__(self, limit: int) -> None:
        self._left = limit
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if n > self._left:
                return False
            self._left -= n
            return True

    def give_back(self, n: int) -> None:
        with self._lock:
            self._left += max(0, n)


@dataclass(frozen=True, slots=True)
class ImageScanOptions:
    """What the ECR collector reads inside images in use (config `collect.images`)."""

    config_max_bytes: int = 4 * 1024 * 1024
    timeout_seconds: float = 30.0
    layers: bool = False
    layer_max_bytes_per_image: int = 256 * 1024 * 1024
    layer_max_bytes_per_cycle: int = 2 * 1024 * 1024 * 1024
    layer_file_max_bytes: int = 1024 * 1024
    # the cycle's layer budget; None: each unit gets `layer_max_bytes_per_cycle` of its own
    budget: ByteBudget | None = None


def digest_ok(digest: str) -> bool:
    algorithm, _, hexpart = digest.partition(":")
    return (
        algorithm == "sha256"
        and len(hexpart) == 64
        and all(c in "0123456789abcdef" for c in hexpart)
    )


class BlobReader:
    """Reads blobs of one repository; one HTTP connection pool per unit."""

    def __init__(
        self,
        client: Any,
        http: httpx.Client,
        record: Callable[[str], None],
    ) -> None:
        self._client = client
        self._http = http
        self._record = record
        self._lock = threading.Lock()
        self.bytes_read = 0
        self.downloads = 0

    def _url(self, repository: str, registry: str, digest: str) -> str:
        try:
            response = self._client.get_download_url_for_layer(
                registryId=registry, repositoryName=repository, layerDigest=digest
            )
        except AWS_ERRORS as exc:
            raise BlobError(
                "ecr:GetDownloadUrlForLayer", error_code(exc), error_message(exc)
            ) from None
        url = str(response.get("downloadUrl") or "")
        if not url.startswith(("https://", "http://")):
            raise BlobError("ecr:GetDownloadUrlForLayer", "NoDownloadUrl", "no usable URL returned")
        return url

    def stream(
        self, repository: str, registry: str, digest: str, max_bytes: int
    ) -> Iterator[bytes]:
        """The blob's bytes in chunks; raises CapExceeded past `max_bytes`, BlobError on a
        failed request or (at the end) a digest mismatch."""
        if not digest_ok(digest):
            raise BlobError(DOWNLOAD_CALL, "BadDigest", f"unsupported digest {digest[:80]!r}")
        import httpx

        url = self._url(repository, registry, digest)
        self._record(DOWNLOAD_CALL)
        with self._lock:
            self.downloads += 1
        hasher = hashlib.sha256()
        seen = 0
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise BlobError(
                        DOWNLOAD_CALL, f"HTTP{response.status_code}", "blob download refused"
                    )
                for chunk in response.iter_raw(_CHUNK):
                    seen += len(chunk)
                    with self._lock:
                        self.bytes_read += len(chunk)
                    if seen > max_bytes:
                        raise CapExceeded(digest)
                    hasher.update(chunk)
                    yield chunk
        except httpx.HTTPError as exc:
            raise BlobError(DOWNLOAD_CALL, type(exc).__name__, "blob download failed") from None
        if f"sha256:{hasher.hexdigest()}" != digest:
            raise BlobError(DOWNLOAD_CALL, "DigestMismatch", f"blob does not match {digest}")

    def read(self, repository: str, registry: str, digest: str, max_bytes: int) -> bytes:
        """The whole blob (at most `max_bytes`), verified against its digest."""
        return b"".join(self.stream(repository, registry, digest, max_bytes))


class ChunkFile:
    """A read-only file over a chunk iterator, for `tarfile` stream mode."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._done = False

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                self._done = True
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def drain(self) -> None:
        """Read to the end (the digest is checked when the stream ends)."""
        while self.read(_CHUNK):
            pass
