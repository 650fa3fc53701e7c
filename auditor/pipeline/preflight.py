"""Before a cycle: the rules this configuration can judge, exemptions, the signing key.

Everything here fails with exit code 2, before any AWS call or database write.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from auditor.aws import AwsSessions
from auditor.engine import (
    Exemption,
    RuleSet,
    TagPolicy,
    check_exemptions,
    load_exemptions,
    load_rules,
)
from auditor.engine.exemptions import from_requests
from auditor.engine.history import restrict, with_secret_allowlist
from auditor.iac.rules import iac_rules
from auditor.model import Clock, SystemClock
from auditor.pipeline.values import Preflight
from auditor.report.aws_clients import kms_factory
from auditor.report.signing import signer_from_settings
from auditor.report.storage import check_report_dir
from auditor.settings import Settings, require_shared_store
from auditor.store import Store


def preflight(
    settings: Settings,
    sessions: AwsSessions | None = None,
    *,
    write_report: bool = True,
    clock: Clock | None = None,
) -> Preflight:
    """The rules, exemptions and signer of a cycle, or a clear error (exit 2)."""
    require_shared_store(settings)
    loaded = load_rules(settings.rules)
    rules = cycle_rules(loaded, settings)
    exemptions = load_exemptions(settings)
    today = (clock or SystemClock()).now().date()
    check_exemptions(exemptions, loaded, settings.exemption_policy, today)
    signer = None
    if write_report:
        check_report_dir(Path(settings.reports.dir))
        signer = signer_from_settings(settings, kms_factory(sessions or AwsSessions()))
    return Preflight(rules, exemptions, signer)


def cycle_rules(rules: RuleSet, settings: Settings) -> RuleSet:
    """The rules this configuration can judge, with the estate's secret allowlist: the
    access.* rules need the event feed, the iac.* rules a declared state (`iac.rules`)."""
    rules = with_secret_allowlist(rules, settings.secrets)
    if not settings.events.enabled:
        # the access.* rules read the feed's shells: without a feed nothing could be seen
        rules = restrict(rules, disabled=("access.*",))
    return iac_rules(rules, settings.iac)


def with_requested(
    exemptions: tuple[Exemption, ...], store: Store, today: date
) -> tuple[Exemption, ...]:
    """The configured exemptions and those approved through the API, still in force today."""
    return exemptions + from_requests(store.approved_exemption_requests(today))


def tag_policy(settings: Settings) -> TagPolicy:
    """Which rules resource tags may exempt (exemption_policy.tags; none by default)."""
    return TagPolicy.from_config(settings.exemption_policy.tags)
