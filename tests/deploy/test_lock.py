"""The lock files hold every declared dependency at a version pyproject.toml allows, with
hashes: `make test`, CI and the image install exactly what was reviewed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
    return {
        canonicalize_name(m.group(1)): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", text, re.MULTILINE)
    }


def declared(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


@pytest.mark.parametrize(
    ("lock", "extras"), [("runtime.lock", ()), ("test.lock", ("demo", "test"))]
)
def test_lock_pins_every_declared_dependency_within_its_bounds(
    lock: str, extras: tuple[str, ...]
) -> None:
    """A dependency added to pyproject.toml without `make lock` fails here, not on a user."""
    pinned = pins(lock)
    problems = []
    for req in declared(*extras):
        version = pinned.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name}: not in requirements/{lock} (run `make lock`)")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}=={version} violates {req.specifier} (run `make lock`)")
    assert [] == problems


@pytest.mark.parametrize("lock", ["runtime.lock", "test.lock", "tools.lock"])
def test_every_pin_carries_a_hash(lock: str) -> None:
    """pip's --require-hashes refuses a lock with one unhashed entry."""
    text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", text.split("\n", 2)[2])
    unhashed = [e.split()[0] for e in entries if "==" in e and "--hash=sha256:" not in e]
    assert [] == unhashed
