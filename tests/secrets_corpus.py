"""The labelled secret corpus (tests/data/secrets/), shared by tests and bench/secrets.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from auditor.model import SecretHit

CORPUS = Path(__file__).parent / "data" / "secrets"
FAMILIES = ("userdata", "environments")


@dataclass(frozen=True)
class Case:
    family: str
    id: str
    platform: str
    shape: str
    secret: bool
    text: str = ""
    env: tuple[tuple[str, str], ...] = ()
    lines: tuple[int, ...] = ()
    names: tuple[str, ...] = ()

    def secret_values(self) -> list[str]:
        """Every literal in the case that must never be written (for canary tests)."""
        if self.family == "environments":
            return [value for name, value in self.env if name in self.names]
        return []


def load_cases() -> list[Case]:
    cases: list[Case] = []
    for family in FAMILIES:
        for raw in yaml.safe_load((CORPUS / f"{family}.yaml").read_text()):
            cases.append(
                Case(
                    family=family,
                    id=raw["id"],
                    platform=raw["platform"],
                    shape=raw["shape"],
                    secret=bool(raw["secret"]),
                    text=raw.get("text", ""),
                    env=tuple((str(n), str(v)) for n, v in raw.get("env", ())),
                    lines=tuple(raw.get("lines", ())),
                    names=tuple(raw.get("names", ())),
                )
            )
    return cases


TextScanner = Callable[[str], tuple[SecretHit, ...]]
EnvScanner = Callable[[str, str, str], tuple[SecretHit, ...]]


def found(case: Case, scan_text: TextScanner, scan_env: EnvScanner) -> tuple[set[int], set[str]]:
    """(lines with a hit, variable names with a hit) for one case."""
    if case.family == "userdata":
        lines = {int(h.location.split()[1]) for h in scan_text(case.text)}
        return lines, set()
    names = {name for name, value in case.env if scan_env(name, value, f"env {name}")}
    return set(), names
