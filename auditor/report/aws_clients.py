"""The AWS clients of the report stage, from Settings: KMS for a KMS signing key, and the
S3 copy of the bundles (with Object Lock) when `reports.s3` is configured."""

from __future__ import annotations

from typing import Any

from auditor.aws import AwsSessions, Target
from auditor.model import Clock
from auditor.report.signing import KmsClientFactory
from auditor.report.storage import S3ReportStore
from auditor.settings import Settings

_SELF = Target(account_id="self")


def kms_factory(sessions: AwsSessions) -> KmsClientFactory:
    """A factory of KMS clients by region, for a KMS signing key."""

    def make(region: str | None) -> Any:
        return sessions.client(_SELF, "kms", region or sessions.default_region)

    return make


def s3_store(settings: Settings, sessions: AwsSessions, clock: Clock) -> S3ReportStore | None:
    """The S3 copy of the bundles, or None when `reports.s3` is not configured."""
    cfg = settings.reports.s3
    if not cfg.bucket:
        return None
    client = sessions.client(_SELF, "s3", cfg.region or sessions.default_region)
    return S3ReportStore(client, cfg.bucket, cfg.prefix, cfg.object_lock_days, clock)
