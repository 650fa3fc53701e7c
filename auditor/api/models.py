"""The API's contract: every request and response body as a Pydantic model."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["viewer", "auditor", "operator", "admin"]
SeverityName = Literal["critical", "high", "medium", "low", "info"]
StatusName = Literal["fail", "unknown", "exempt"]


class Error(BaseModel):
    error: str


class Me(BaseModel):
    name: str
    role: Role


class ResourceRef(BaseModel):
    arn: str
    id: str
    kind: str
    account: str
    region: str
    tags: dict[str, str] = {}


class Finding(BaseModel):
    id: str
    rule_id: str
    title: str | None
    severity: SeverityName
    status: StatusName
    resource: ResourceRef
    message: str
    evidence: dict[str, Any]
    exemption: dict[str, Any] | None
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None


class FindingPage(BaseModel):
    items: list[Finding]
    total: int
    next_cursor: str | None


class FindingEvent(BaseModel):
    cycle_id: str
    event: str
    status: str
    severity: str
    at: datetime


class FieldChange(BaseModel):
    path: str
    before: Any = None
    after: Any = None
    change: Literal["added", "removed", "changed"]


class ConfigVersion(BaseModel):
    config_hash: str
    first_seen: datetime
    last_seen: datetime
    first_snapshot_id: str
    last_snapshot_id: str
    changes: list[FieldChange]  # against the previous version; empty for the first


class ResourceFinding(BaseModel):
    finding: Finding
    history: list[FindingEvent]


class Action(BaseModel):
    id: str
    cycle_id: str
    target_arn: str
    target_kind: str
    action: str
    mode: str
    status: str
    reason: str
    finding_ids: list[str]
    account: str
    region: str
    at: datetime


class ResourceDetail(BaseModel):
    arn: str
    current: dict[str, Any] | None
    versions: list[ConfigVersion]
    findings: list[ResourceFinding]
    actions: list[Action]
    attribution: list[dict[str, Any]]


class ReportSummary(BaseModel):
    report_id: str
    generated_at: str | None
    sequence: int | None
    score: float | None
    findings: int | None
    failed: int | None
    unknown: int | None
    exempt: int | None
    coverage_complete: bool | None
    signed: bool
    files: list[str]


class ReportPage(BaseModel):
    items: list[ReportSummary]
    next_cursor: str | None


class Verification(BaseModel):
    report_id: str
    state: Literal["valid", "invalid", "unsigned"]
    valid: bool
    problems: list[str]
    trusted_key: bool
    key_id: str | None


class ChainLink(BaseModel):
    report_id: str
    generated_at: str | None
    sequence: int | None
    manifest_sha256: str
    previous_manifest_sha256: str | None


class Chain(BaseModel):
    links: list[ChainLink]
    complete: bool  # reached a first report (no predecessor) without a missing link


class ExemptionRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.*?\[\]-]+$")
    resource: str = Field(min_length=1, max_length=2048)
    account: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    reason: str = Field(min_length=3, max_length=2000)
    owner: str = Field(min_length=1, max_length=128)
    expires: date

    @model_validator(mode="after")
    def _no_nul(self) -> ExemptionRequestIn:
        for name, value in self.__dict__.items():
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(f"{name}: NUL byte not allowed")
        return self


class Exemption(BaseModel):
    id: int | None
    source: str  # "web" or where a config exemption came from
    rule: str
    resource: str
    account: str | None
    reason: str
    owner: str
    expires: date
    status: Literal["pending", "approved", "rejected", "active", "expired"]
    requested_by: str | None = None
    requested_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None


class ExemptionPage(BaseModel):
    items: list[Exemption]
    next_cursor: str | None


class Approval(BaseModel):
    action: Action
    rules: list[str]
    decision: Literal["pending", "approved", "rejected"]
    decided_by: str | None
    decided_at: datetime | None


class ApprovalPage(BaseModel):
    items: list[Approval]
    next_cursor: str | None


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str | None
    role: str | None
    method: str
    path: str
    status: int


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


class Gap(BaseModel):
    account: str
    region: str
    service: str
    error: str


class Count(BaseModel):
    key: str
    fail: int
    unknown: int
    exempt: int


class TrendPoint(BaseModel):
    report_id: str
    generated_at: str | None
    score: float | None
    failed: int | None


class Overview(BaseModel):
    score: float | None
    trend: list[TrendPoint]
    latest_cycle: str | None
    coverage_complete: bool | None
    gaps: list[Gap]
    by_account: list[Count]
    by_rule: list[Count]
    by_framework: list[Count]
    new_since_report: int
    resolved_since_report: int
    since: datetime | None


class Token(BaseModel):
    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    status: str


class TokenPage(BaseModel):
    items: list[Token]
    next_cursor: str | None


class Done(BaseModel):
    ok: bool = True
    detail: str = ""
