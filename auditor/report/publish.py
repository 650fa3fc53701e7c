"""One call for the pipeline: sign and write a cycle's bundle, then copy it to S3 if configured.

The pipeline builds the ReportInput; this decides where it goes and with which key, from
Settings. S3 (when configured) is the chain's source of truth: the new bundle links to the
newest signed bundle there, so a replaced or wiped local disk cannot fork the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.aws import AwsSessions, Target
from auditor.model import Clock, parse_iso
from auditor.report.bundle import bundle_dirs, write_bundle
from auditor.report.manifest import MANIFEST, SIGNATURE, ChainLink, parse_manifest
from auditor.report.model import BundleInfo, ReportInput, TrendPoint
from auditor.report.signing import KmsClientFactory, Signer, signer_from_settings
from auditor.report.storage import S3ReportStore
from auditor.settings import Settings

_SELF = Target(account_id="self")


@dataclass(frozen=True, slots=True)
class Published:
    bundle: BundleInfo
    s3_url: str | None


def kms_factory(sessions: AwsSessions) -> KmsClientFactory:
    def make(region: str | None) -> Any:
        return sessions.client(_SELF, "kms", region or sessions.default_region)

    return make


def s3_store(settings: Settings, sessions: AwsSessions, clock: Clock) -> S3ReportStore | None:
    cfg = settings.reports.s3
    if not cfg.bucket:
        return None
    client = sessions.client(_SELF, "s3", cfg.region or sessions.default_region)
    return S3ReportStore(client, cfg.bucket, cfg.prefix, cfg.object_lock_days, clock)


def publish_report(
    data: ReportInput,
    settings: Settings,
    sessions: AwsSessions,
    clock: Clock,
    signer: Signer | None = None,
    report_id: str | None = None,
    *,
    attest_if_unchanged: bool = False,
) -> Published:
    """Write the cycle's link of the chain: a full bundle, or (`attest_if_unchanged`) a small
    attestation when nothing the latest report shows has changed."""
    signer = signer or signer_from_settings(settings, kms_factory(sessions))
    store = s3_store(settings, sessions, clock)
    previous: ChainLink | str | None = "auto"
    if store is not None:
        if settings.reports.s3.object_lock_days > 0:
            store.check_object_lock()  # refuse before signing anything
        previous = store.latest_link()
    info = None
    if attest_if_unchanged:
        from auditor.report.attestation import write_attestation_if_unchanged

        info = write_attestation_if_unchanged(
            data, Path(settings.reports.dir), signer, report_id=report_id, previous=previous
        )
    if info is None:
        info = write_bundle(
            data,
            Path(settings.reports.dir),
            signer,
            settings.reports.formats,
            report_id=report_id,
            previous=previous,
        )
    url = store.upload(info.path) if store is not None else None
    return Published(info, url)


def trend_from_dir(directory: Path, limit: int = 30) -> tuple[TrendPoint, ...]:
    """Headline numbers of the last `limit` signed bundles, read from their small manifests."""
    points: list[TrendPoint] = []
    for path in reversed(bundle_dirs(Path(directory))):
        if len(points) >= limit:
            break
        if not (path / SIGNATURE).is_file():
            continue
        try:
            m = parse_manifest((path / MANIFEST).read_bytes())
            s = m["summary"]
            points.append(
                TrendPoint(parse_iso(str(m["generated_at"])), s.get("score"), int(s["failed"]))
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # an unreadable bundle is `auditor verify`'s business, not the chart's
    return tuple(reversed(points))
