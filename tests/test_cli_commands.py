"""The CLI as Prowler, Trivy and Checkov users expect it, run as a user runs it (subprocesses
against a moto server): `init`, the ad-hoc scope and output flags of `scan`, `--json`,
completion, a closed pipe, `reports get` + `verify`, and the generated reference."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.commands import cli_doc
from auditor.settings import load_settings
from tests.daemon.processes import MotoProcess

REGION = "eu-west-1"
OTHER = "us-east-1"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two regions, each with an instance launched with an SSH key and no IMDSv2, on a moto
    server of its own (an in-process one would share state with other modules' servers)."""
    server = MotoProcess(tmp_path_factory.mktemp("moto") / "moto.log")
    endpoint = server.url
    for region in (REGION, OTHER):
        server.launch_with_ssh_key(region)
    yield endpoint
    server.stop()


def env(endpoint: str | None = None, **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUDITOR_"))}
    out.update(AWS_ACCESS_KEY_ID="cli", AWS_SECRET_ACCESS_KEY="cli", AWS_REGION=REGION)
    if endpoint:
        out["AWS_ENDPOINT_URL"] = endpoint
    out.update(extra)
    return out


def auditor(*argv: str, cwd: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", *argv],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def initialised(moto_endpoint: str, tmp_path: Path) -> Path:
    """A working directory after `auditor init` (config restricted to the two seeded regions)."""
    done = auditor("init", cwd=tmp_path, environ=env(moto_endpoint))
    assert 0 == done.returncode, done.stderr
    config = tmp_path / "auditor.yaml"
    text = config.read_text(encoding="utf-8")
    lines = [
        f"regions: [{REGION}, {OTHER}]" if line.startswith("regions:") else line
        for line in text.splitlines()
    ]
    lines.append("services: [ec2]")
    config.write_text(
        "\n".join(line for line in lines if not line.startswith("services: [ec2, ecs")) + "\n",
        encoding="utf-8",
    )
    return tmp_path


def test_init_writes_a_valid_commented_config_and_a_private_key(
    moto_endpoint: str, tmp_path: Path
) -> None:
    """`init` asks AWS who the caller is, writes a config for that account and its enabled
    regions, and a 0600 Ed25519 key, then prints the next command."""
    done = auditor("init", cwd=tmp_path, environ=env(moto_endpoint))
    assert 0 == done.returncode, done.stderr
    settings = load_settings(tmp_path / "auditor.yaml")
    assert ["123456789012"] == [a.id for a in settings.accounts]
    assert REGION in settings.regions
    assert "# " in (tmp_path / "auditor.yaml").read_text(encoding="utf-8")
    key = tmp_path / "auditor-signing.key"
    assert 0o600 == stat.S_IMODE(key.stat().st_mode)
    assert "next: auditor scan --config auditor.yaml" in done.stdout
    again = auditor("init", cwd=tmp_path, environ=env(moto_endpoint))
    assert 2 == again.returncode
    assert "already exists; use --force" in again.stderr


def test_init_without_credentials_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    """No reachable AWS: exit 2 naming what to set, no traceback, no file."""
    done = auditor(
        "init", cwd=tmp_path, environ=env("http://127.0.0.1:9", AUDITOR_COLLECT__MAX_ATTEMPTS="1")
    )
    assert 2 == done.returncode
    assert "cannot tell who you are in AWS" in done.stderr
    assert "Traceback" not in done.stderr
    assert [] == list(tmp_path.iterdir())


def test_scan_without_a_key_says_to_run_init(moto_endpoint: str, tmp_path: Path) -> None:
    """A first `auditor scan` with no signing key points at `auditor init`."""
    done = auditor("scan", cwd=tmp_path, environ=env(moto_endpoint))
    assert 2 == done.returncode
    assert "auditor init" in done.stderr


def test_scan_json_is_machine_readable_and_matches_the_exit_code(
    moto_endpoint: str, initialised: Path
) -> None:
    """`--json`: stdout is one JSON document (no table), its exit_code is the process's."""
    done = auditor("scan", "--json", cwd=initialised, environ=env(moto_endpoint))
    summary = json.loads(done.stdout)
    assert done.returncode == summary["exit_code"] == 1  # SSH keys are high
    assert summary["coverage_complete"] is True
    assert sorted([REGION, OTHER]) == sorted(summary["scope"]["regions"])
    assert Path(summary["report_dir"]).is_dir()


def test_scope_flags_narrow_one_run_and_never_resolve_what_they_did_not_see(
    moto_endpoint: str, initialised: Path
) -> None:
    """--region/--service/--rule judge only their slice; open findings elsewhere stay open."""
    full = json.loads(auditor("scan", "--json", cwd=initialised, environ=env(moto_endpoint)).stdout)
    narrow = auditor(
        "scan", "--json", "--region", REGION, "--service", "ec2",
        "--rule", "ec2.ssh_keypair_attached", cwd=initialised, environ=env(moto_endpoint),
    )  # fmt: skip
    summary = json.loads(narrow.stdout)
    assert [REGION] == summary["scope"]["regions"]
    assert 0 == summary["resolved"]
    report = json.loads((Path(summary["report_dir"]) / "report.json").read_text())
    judged = {f["rule_id"] for f in report["findings"] if f["status"] == "fail"}
    assert {"ec2.ssh_keypair_attached"} == judged
    assert full["open"] + full["new"] >= 2


def test_output_dir_format_quiet_and_severity(moto_endpoint: str, initialised: Path) -> None:
    """--output-dir and --format choose where and what; --quiet prints nothing; --severity
    filters the summary table."""
    out = initialised / "elsewhere"
    quiet = auditor(
        "scan", "--quiet", "--output-dir", str(out), "--format", "json",
        cwd=initialised, environ=env(moto_endpoint),
    )  # fmt: skip
    assert 1 == quiet.returncode
    assert "" == quiet.stdout
    (bundle,) = [p for p in out.iterdir() if p.is_dir()]
    assert (bundle / "report.json").is_file()
    assert not (bundle / "report.html").exists()
    table = auditor("scan", "--severity", "critical", cwd=initialised, environ=env(moto_endpoint))
    assert "critical and above" in " ".join(table.stdout.split())
    assert "ec2.ssh_keypair_attached" not in table.stdout  # high


def test_account_flag_without_accounts_in_config_is_refused(
    moto_endpoint: str, tmp_path: Path
) -> None:
    """--account cannot point the ambient credentials at another account: exit 2."""
    done = auditor("scan", "--account", "999999999999", cwd=tmp_path, environ=env(moto_endpoint))
    assert 2 == done.returncode
    assert "--account needs `accounts:` or `organization:`" in done.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str, tmp_path: Path) -> None:
    """Each shell gets a script that calls back into auditor."""
    done = auditor("completion", shell, cwd=tmp_path, environ=env())
    assert 0 == done.returncode
    assert "auditor" in done.stdout
    assert "_ARGCOMPLETE" in done.stdout


def test_completion_completes_commands_and_flags(tmp_path: Path) -> None:
    """What the shell script asks for: `auditor sc<TAB>` and `auditor scan --ser<TAB>`."""
    results = []
    for line in ("auditor sc", "auditor scan --ser"):
        out = tmp_path / "completions"
        done = auditor(
            cwd=tmp_path,
            environ=env(
                _ARGCOMPLETE="1",
                COMP_LINE=line,
                COMP_POINT=str(len(line)),
                _ARGCOMPLETE_STDOUT_FILENAME=str(out),
            ),
        )
        assert 0 == done.returncode
        results.append(out.read_text().replace("\013", " ").split())
    assert [["scan"], ["--service"]] == results


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`auditor rules list | head -0`: no traceback, the SIGPIPE exit status."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "rules", "list"],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert 141 == proc.wait(timeout=60)
    assert "Traceback" not in err


def test_reports_get_then_verify_a_single_bundle(moto_endpoint: str, initialised: Path) -> None:
    """A fetched later bundle verifies on its own and says the chain was not checked; with
    --chain it needs the bundles before it."""
    for _ in range(2):
        auditor("scan", "--quiet", cwd=initialised, environ=env(moto_endpoint))
    bundles = sorted(p.name for p in (initialised / "reports").iterdir() if p.is_dir())
    pub = initialised / "pub.pem"
    keys = auditor("keys", "public", cwd=initialised, environ=env())
    pub.write_text(keys.stdout)
    got = auditor(
        "reports", "get", bundles[-1], "--out", "evidence", cwd=initialised, environ=env()
    )
    assert 0 == got.returncode, got.stderr
    alone = auditor("verify", "--key", str(pub), "evidence", cwd=initialised, environ=env())
    assert 0 == alone.returncode, alone.stdout + alone.stderr
    assert "place in the chain was not checked" in alone.stdout
    chain = auditor(
        "verify", "--chain", "--key", str(pub), "evidence", cwd=initialised, environ=env()
    )
    assert 4 == chain.returncode
    whole = auditor("verify", "--key", str(pub), "reports", cwd=initialised, environ=env())
    assert 0 == whole.returncode, whole.stdout


def test_verify_a_missing_path_is_bad_usage(tmp_path: Path) -> None:
    """A typo in the path is exit 2 (bad usage), not 4 (a report failed verification)."""
    done = auditor("verify", "no-such-dir", cwd=tmp_path, environ=env())
    assert 2 == done.returncode
    assert "no-such-dir: no such file or directory" in done.stderr


def test_demo_without_the_demo_extra_says_how_to_install_it(tmp_path: Path) -> None:
    """Installed without moto, `auditor demo` is exit 2 with the install command."""
    blocker = tmp_path / "site"
    (blocker / "moto").mkdir(parents=True)
    (blocker / "moto" / "__init__.py").write_text("raise ImportError('moto is not installed')\n")
    root = Path(__file__).resolve().parents[1]
    done = auditor(
        "demo", "--out", "d", cwd=tmp_path, environ=env(PYTHONPATH=f"{blocker}{os.pathsep}{root}")
    )
    assert 2 == done.returncode
    assert "pip install 'auditor[demo]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_docs_cli_md_is_generated_from_the_parser() -> None:
    """docs/cli.md is exactly what `python -m auditor.commands.cli_doc` prints."""
    assert DOCS.read_text(encoding="utf-8") == cli_doc.render()


def test_every_command_documents_its_exit_codes() -> None:
    """Each `auditor COMMAND --help` ends with the exit codes that command uses."""
    text = cli_doc.render()
    sections = [s for s in text.split("\n## ")[1:] if not s.startswith("auditor\n")]
    missing = [s.split("\n", 1)[0] for s in sections if "exit codes:" not in s]
    assert [] == missing
