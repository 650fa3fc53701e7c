"""The import-linter contracts cover the whole package, and the demo stays out of the product."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import auditor

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def _top_level_modules() -> set[str]:
    package = Path(auditor.__file__).parent
    names = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    names |= {p.parent.name for p in package.glob("*/__init__.py")}
    return {f"auditor.{n}" for n in names}


def test_every_module_is_in_a_layer() -> None:
    """A new package or top-level module must be placed in the layers, not left unchecked."""
    layers = _contracts()["layers"]["layers"]
    placed = {m.strip() for layer in layers for m in layer.split("|")}
    assert _top_level_modules() == placed


def test_every_product_module_is_forbidden_the_demo() -> None:
    """Everything but the demo itself is a source of the `the demo is isolated` contract."""
    contract = _contracts()["the demo is isolated"]
    assert _top_level_modules() - {"auditor.demo"} == set(contract["source_modules"])
    assert {"auditor.demo", "moto"} == set(contract["forbidden_modules"])


def test_the_cli_and_the_engine_load_no_demo_and_no_io_library() -> None:
    """Importing the CLI loads neither the demo nor moto; importing the engine and the config
    loads no AWS, database or template library (the formats' renderers load on use)."""
    code = (
        "import sys, auditor.engine, auditor.settings\n"
        "heavy = ['boto3', 'jinja2', 'sqlalchemy', 'moto']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "import auditor.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'moto' or "
        "m.startswith('auditor.demo')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert ["[]", "[]"] == done.stdout.split()
