"""The verification recipe in docs/reports.md, run exactly as written (the commands are read out
of the document, so the docs cannot drift from what works), for both kinds of signing key."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.report.signing import Signer
from tests.report.conftest import SIGNER_KINDS, ChainFactory, signer_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "reports.md"


@pytest.fixture(params=SIGNER_KINDS)
def signer(request: pytest.FixtureRequest) -> Iterator[Signer]:
    with signer_of(request.param) as s:
        yield s


def recipe_blocks() -> list[list[str]]:
    """The command lines of each fenced block of the "With stock OpenSSL" section."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### With stock OpenSSL", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", section, re.DOTALL)
    return [[line for line in b.splitlines() if line.strip()] for b in blocks]


def sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def commands_after(block: list[str], comment: str) -> list[str]:
    """The command lines under `# <comment>...` up to the next comment."""
    out: list[str] = []
    taking = False
    for line in block:
        if line.startswith("#"):
            taking = line.lstrip("# ").startswith(comment)
            continue
        if taking:
            out.append(line.split("  #")[0].strip())
    return out


def test_the_documented_recipe_verifies_an_untouched_chain(
    make_chain: ChainFactory, pub_pem: Path, signer: Signer
) -> None:
    """Key fingerprint, signature, file hashes and chain links all check out as documented."""
    first, second = make_chain(2)
    fingerprint, signature, files, chain = recipe_blocks()
    for bundle in (first.path, second.path):
        (bundle / "pub.pem").write_bytes(pub_pem.read_bytes())

    out = sh(fingerprint[0], second.path)
    assert 0 == out.returncode, out.stderr
    assert signer.key_id == "sha256:" + out.stdout.split()[0]

    which = "Ed25519" if signer.algorithm == "ed25519" else "ECDSA P-256"
    (verify,) = commands_after(signature, which)
    out = sh(verify, second.path)
    assert 0 == out.returncode, out.stderr + out.stdout
    assert "Verified" in out.stdout

    (with_jq,) = [c for c in files if c.startswith("jq ")]
    (with_python,) = commands_after(files, "without jq")
    for command in (with_jq, with_python):
        out = sh(command, second.path)
        assert 0 == out.returncode, (command, out.stdout, out.stderr)
        assert 4 == out.stdout.count(": OK")

    previous_of_next, hash_of_previous = chain
    link = sh(previous_of_next.replace("NEXT", second.path.name), second.path.parent)
    actual = sh(
        hash_of_previous.split("  #")[0].replace("PREVIOUS", first.path.name), first.path.parent
    )
    assert link.stdout.strip() == actual.stdout.split()[0]


def test_the_documented_recipe_catches_an_altered_file(
    make_chain: ChainFactory, pub_pem: Path, signer: Signer
) -> None:
    """A changed report.json fails the documented sha256sum check (and only that file)."""
    (bundle,) = make_chain(1)
    report = bundle.path / "report.json"
    report.write_bytes(report.read_bytes().replace(b'"failed": 6', b'"failed": 0', 1))
    _, _, files, _ = recipe_blocks()
    (with_jq,) = [c for c in files if c.startswith("jq ")]
    out = sh(with_jq, bundle.path)
    assert 0 != out.returncode
    assert "report.json: FAILED" in out.stdout
    assert json.loads((bundle.path / "manifest.json").read_bytes())["algorithm"] == signer.algorithm
