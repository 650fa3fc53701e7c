"""CheckSpec: a check function and what the engine must know about it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.checks.result import Check

ParamValidator = Callable[[Mapping[str, Any]], list[str]]


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """A check function and what the engine must know about it."""

    fn: Check
    # compares a resource with its baseline (first observed version): the pipeline loads
    # baselines only for the kinds of rules whose check needs one
    needs_baseline: bool = False
    # (effective params) -> problems, for params that need more than a type; run when rules
    # load, so a bad field path or normalizer is a named error, not a silent pass
    validate_params: ParamValidator | None = None
    # its evidence comes from auditor.secrets (`rules explain` lists the detectors)
    finds_secrets: bool = False
