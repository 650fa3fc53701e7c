"""Liveness (no auth) and who-am-I."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from auditor.api.models import Me
from auditor.api.security import require_role
from auditor.store.tokens import Caller

router = APIRouter()


@router.get("/healthz", response_class=PlainTextResponse, operation_id="healthz")
@router.head("/healthz", response_class=PlainTextResponse, operation_id="healthz_head")
def healthz() -> str:
    return "ok\n"


@router.get("/api/v1/me", response_model=Me, tags=["auth"])
def me(caller: Caller = Depends(require_role("viewer"))) -> Me:
    return Me.model_validate({"name": caller.name, "role": caller.role})
