"""Python checks that a YAML rule names with `check: <name>`.

A check is a plain function `(resource, params, view, clock) -> CheckResult`. It reads only
the resource, its params, the read-only snapshot view and the injected clock: it never calls
AWS and never reads the wall clock, so every evaluation can be replayed.

A check lives in the module named after the prefix of the rule id it implements
(`ec2.stopped_too_long` -> `checks/ec2.py: ec2_stopped_too_long`; the checks of `drift.*`
rules in `checks/drift.py`), and that module's `CHECKS` table declares it with a CheckSpec
(does it need a baseline? how are its params validated?). The table below merges the
modules' tables: adding a check to a module is the function and its line there; a new
module adds its table here.
"""

from __future__ import annotations

from collections.abc import Mapping

from auditor.checks import access, asg, drift, ec2, ecr, ecr_images, ecs, eks, iac, lt, sg
from auditor.checks.result import PASS, Check, CheckResult, Outcome, fail, unknown
from auditor.checks.spec import CheckSpec, ParamValidator


def _merged(*tables: Mapping[str, CheckSpec]) -> dict[str, CheckSpec]:
    out: dict[str, CheckSpec] = {}
    for table in tables:
        for name, spec in table.items():
            if name in out:
                raise ValueError(f"check {name} is declared twice")
            out[name] = spec
    return out


CHECKS: Mapping[str, CheckSpec] = _merged(
    access.CHECKS,
    asg.CHECKS,
    drift.CHECKS,
    ec2.CHECKS,
    ecr.CHECKS,
    ecr_images.CHECKS,
    ecs.CHECKS,
    eks.CHECKS,
    iac.CHECKS,
    lt.CHECKS,
    sg.CHECKS,
)

__all__ = [
    "CHECKS",
    "PASS",
    "Check",
    "CheckResult",
    "CheckSpec",
    "Outcome",
    "ParamValidator",
    "fail",
    "unknown",
]
