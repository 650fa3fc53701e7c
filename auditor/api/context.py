"""What every route needs, built once by `auditor serve` (or a test) and kept on app.state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import Request

from auditor.api.reports import ReportLibrary
from auditor.api.throttle import LoginThrottle
from auditor.engine.exemptions import Exemption
from auditor.model import Clock, RuleInfo
from auditor.settings import ApiConfig
from auditor.store import Store


@dataclass(frozen=True, slots=True)
class AppContext:
    store: Store
    library: ReportLibrary
    clock: Clock
    rules: Mapping[str, RuleInfo]
    config: ApiConfig = field(default_factory=ApiConfig)
    config_exemptions: tuple[Exemption, ...] = ()
    require_approval: tuple[str, ...] = ()
    throttle: LoginThrottle = field(default_factory=LoginThrottle)


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx
