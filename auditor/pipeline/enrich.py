"""What the feed recorded, as every cycle's evaluation uses it (no-ops without a feed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from auditor.engine.attribution import attribute
from auditor.model import Evaluation, History, Status, TrackedFinding
from auditor.settings import Settings
from auditor.store import Store


def with_access(history: History, settings: Settings, store: Store) -> History:
    """The history with the shells the feed recorded (the access.* rules read them)."""
    if not settings.events.enabled:
        return history
    return replace(history, access=store.access_records())


def attributed(
    evaluation: Evaluation,
    settings: Settings,
    store: Store,
    open_before: Mapping[str, TrackedFinding],
) -> Evaluation:
    """Failing findings carry the recorded call that caused them (evidence.changed_by)."""
    if not settings.events.enabled:
        return evaluation
    arns = {f.resource.arn for f in evaluation.findings if f.status is not Status.UNKNOWN}
    return attribute(evaluation, store.attributions(arns), open_before)
