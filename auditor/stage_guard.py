"""A crash in a stage after collection is a coverage problem, not a lost cycle.

The pipeline runs each stage after collection through `StageGuard.run`: when the stage
raises, the failure is logged, recorded as collection gaps named `auditor:<stage>` (so the
report says `coverage.complete: false`, the exit code is 3 and Slack gets a coverage
alert), and the stage's safe fallback is used instead. A stage that judges findings
(evaluation, the delta) fails closed: its gaps hide every account, region and kind, so
nothing is resolved, exempted or remediated on its strength. A stage that only acts on the
judgement (remediation planning, alert planning) records a gap that hides nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TypeVar

import structlog

from auditor.errors import BadInputError
from auditor.model import ANY, KIND_SERVICE, CollectionGap, Service, Snapshot

log = structlog.get_logger("auditor.cycle")

T = TypeVar("T")

STAGE_ERROR_PREFIX = "auditor:"


def stage_gaps(
    stage: str, exc: BaseException, services: Iterable[Service], *, hides: bool
) -> tuple[CollectionGap, ...]:
    """One gap per service in scope; `hides`: over every kind of it, else over none."""
    return tuple(
        CollectionGap(
            account=ANY,
            region=ANY,
            service=service,
            kinds=tuple(k for k, s in KIND_SERVICE.items() if s is service) if hides else (),
            operation=f"{STAGE_ERROR_PREFIX}{stage}",
            error_code=type(exc).__name__,
            message=f"the {stage} stage failed; see the log for the traceback",
        )
        for service in services
    )


class StageGuard:
    """Runs stages, keeps the gaps of the ones that failed, adds them to the snapshot."""

    def __init__(self, services: Iterable[Service]) -> None:
        self.services = tuple(services)
        self.gaps: list[CollectionGap] = []
        self.failed: list[str] = []

    def run(
        self,
        stage: str,
        fn: Callable[[], T],
        fallback: Callable[[], T],
        *,
        hides: bool,
        services: Iterable[Service] | None = None,
    ) -> T:
        """fn(), or, when it raises, fallback() with the failure recorded as gaps over
        `services` (default: every service in scope)."""
        try:
            return fn()
        except BadInputError:
            raise  # bad input (e.g. a malformed Terraform state) is exit 2, not a crash
        except Exception as exc:
            log.exception("stage_failed", stage=stage, error=type(exc).__name__)
            self.failed.append(stage)
            scope = self.services if services is None else tuple(services)
            self.gaps.extend(stage_gaps(stage, exc, scope, hides=hides))
            return fallback()

    def seal(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot with every stage gap recorded so far (each added once)."""
        missing = tuple(g for g in self.gaps if g not in snapshot.gaps)
        return replace(snapshot, gaps=snapshot.gaps + missing) if missing else snapshot
