"""Shared reading of deploy/iam/: the policies as rendered JSON, and the AWS actions the code
calls, found statically (so a path no test exercises is still covered)."""

from __future__ import annotations

import ast
import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
IAM_DIR = ROOT / "deploy" / "iam"
PRODUCT = ROOT / "auditor"

# Every AWS service the product talks to. A client built for another service fails
# test_every_client_service_is_known, so this list cannot silently fall behind.
SERVICES = (
    "autoscaling",
    "cloudtrail",
    "ec2",
    "ecr",
    "ecs",
    "eks",
    "kms",
    "organizations",
    "s3",
    "sqs",
    "sts",
)

# API operations whose IAM action has another name
IAM_ACTION_FOR = {
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
}

# botocore methods that are not API operations
NOT_OPERATIONS = frozenset({"get_paginator", "get_waiter", "can_paginate", "close"})


@cache
def rendered_policies() -> dict[str, dict[str, Any]]:
    """Every policy of deploy/iam/, templates rendered with the example values."""
    spec = importlib.util.spec_from_file_location("iam_render", IAM_DIR / "render.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out: dict[str, dict[str, Any]] = {}
    for src in sorted(IAM_DIR.glob("*.json*")):
        text = src.read_text(encoding="utf-8")
        if src.name.endswith(".tftpl"):
            import string

            text = string.Template(text).substitute(module.EXAMPLE)
        out[src.name.removesuffix(".tftpl").removesuffix(".json")] = json.loads(text)
    return out


def allowed_actions(policy: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            acts = statement["Action"]
            out.update([acts] if isinstance(acts, str) else acts)
    return out


@cache
def operations_by_method() -> dict[str, frozenset[str]]:
    """snake_case boto3 method -> the IAM actions ("svc:Operation") it can be, over SERVICES."""
    session = botocore.session.get_session()
    table: dict[str, set[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        prefix = model.metadata.get("signingName", service)
        prefix = {"autoscaling": "autoscaling"}.get(prefix, prefix)
        for op in model.operation_names:
            action = f"{prefix}:{op}"
            table.setdefault(xform_name(op), set()).add(IAM_ACTION_FOR.get(action, action))
    return {k: frozenset(v) for k, v in table.items()}


def _product_files() -> list[Path]:
    return [p for p in PRODUCT.rglob("*.py") if "demo" not in p.relative_to(PRODUCT).parts]


@cache
def called_methods() -> dict[str, list[str]]:
    """Every boto3 operation name the product calls: `x.describe_instances(...)`,
    `get_paginator("list_accounts")`, and method names held as data (`method="update_service"`).
    Maps the name to where it occurs."""
    return methods_called_in(tuple(_product_files()))


def methods_called_in(paths: tuple[Path, ...]) -> dict[str, list[str]]:
    """The boto3 operation names called in these files (as `called_methods` finds them)."""
    ops = operations_by_method()
    found: dict[str, list[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Attribute):  # client.describe_x(...), partial(client.x, ...)
                name = node.attr
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                name = node.value
            if name and name in ops and name not in NOT_OPERATIONS:
                found.setdefault(name, []).append(f"{where}:{getattr(node, 'lineno', 0)}")
    return found


def collect_modules(module: str) -> tuple[Path, ...]:
    """The file of an auditor.collect module and of every auditor.collect module it imports,
    directly or not."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = ROOT / (name.replace(".", "/") + ".py")
        seen[name] = path
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "auditor.collect."
            ):
                todo.append(str(node.module))
    return tuple(sorted(seen.values()))


@cache
def client_service_literals() -> set[str]:
    """Service names passed as string literals to something called `client`/`_make_client`."""
    known = set(botocore.session.get_session().get_available_services())
    out: set[str] = set()
    for path in _product_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if fname not in ("client", "_make_client"):
                continue
            for arg in node.args:
                if isinstance(arg, ast.Constant) and arg.value in known:
                    out.add(arg.value)
    return out
