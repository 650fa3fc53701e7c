"""The report chain under ordinary operations, as users run `auditor scan`: subprocesses
against a moto_server subprocess, on one SQLite file and on the real PostgreSQL.

- two scans at once on one store leave a chain `auditor verify` accepts;
- kill -9 at 20 random moments of a scan (6 of them while the bundle is being written)
  leaves the store and the chain consistent after every kill, and the next scan completes
  and accounts for every report a committed cycle owed (published late, or declared missing);
- reports.dir that is a file is exit 2 before anything is written; a full disk is exit 5
  with the cycle committed, its report marked failed and published by the next run.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from auditor.aws import AwsSessions
from auditor.errors import ExitCode
from auditor.model import sha256_hex
from auditor.pipeline import CycleOptions, run_cycle
from auditor.report.disk import LocalDisk
from auditor.report.errors import ReportWriteError
from auditor.report.verify import verify_chain
from auditor.settings import load_settings
from auditor.store import ChainState, Store
from tests.daemon.processes import REGION, MotoProcess, aws_env, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCAN_TIMEOUT = 120


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = MotoProcess(tmp_path_factory.mktemp("moto") / "moto.log")
    server.launch_with_ssh_key(REGION, count=3)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("key") / "signing.key"
    subprocess.run(
        [sys.executable, "-m", "auditor", "keys", "generate", "--out", str(key)],
        check=True,
        capture_output=True,
    )
    return key


def write_config(directory: Path, store: str, key: Path, reports: Path | None = None) -> Path:
    path = directory / "auditor.yaml"
    path.write_text(
        f"store: '{store}'\n"
        f"reports: {{dir: '{reports or directory / 'reports'}', formats: [json, html, csv]}}\n"
        f"signing: {{key_file: '{key}'}}\n"
        f"regions: [{REGION}]\n"
        "services: [ec2]\n"
        "collect: {max_attempts: 2}\n"
    )
    return path


def scan_argv(config: Path, module: str = "auditor", *extra: str) -> list[str]:
    return [sys.executable, "-m", module, "--log-json", "scan", "--config", str(config), *extra]


def run_scan(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        scan_argv(config),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SCAN_TIMEOUT,
        check=False,
    )


def verify_cli(config: Path, reports: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", "verify", "--config", str(config), str(reports)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def public_key(config: Path) -> bytes:
    return subprocess.run(
        [sys.executable, "-m", "auditor", "keys", "public", "--config", str(config)],
        capture_output=True,
        check=True,
    ).stdout


@pytest.mark.parametrize(
    "backend",
    [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)],
)
def test_two_concurrent_scans_on_one_store_leave_a_valid_chain(
    backend: str,
    endpoint: str,
    signing_key: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Two `auditor scan` processes started together: two bundles with sequences 1 and 2 in
    one chain (no fork, no duplicate sequence), and `auditor verify` exits 0."""
    store = (
        f"sqlite:///{tmp_path / 'auditor.db'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    config = write_config(tmp_path, store, signing_key)
    env = aws_env(endpoint)
    procs = [
        subprocess.Popen(
            scan_argv(config),
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=SCAN_TIMEOUT)
        assert proc.returncode == ExitCode.VIOLATIONS, err[-2000:]
    reports = tmp_path / "reports"
    checked = verify_cli(config, reports)
    assert 0 == checked.returncode, checked.stdout + checked.stderr
    result = verify_chain(reports, public_key(config))
    assert [1, 2] == [b.sequence for b in result.bundles]


def consistency(store_url: str, reports: Path, pub: bytes) -> dict[str, int]:
    """What must hold after any crash: the chain on disk verifies; every published ledger
    entry is on disk with the recorded manifest hash; every report a committed cycle owes
    is in the ledger. Returns the ledger's counts by state."""
    bundles = [p for p in reports.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if bundles:
        result = verify_chain(reports, pub)
        assert result.ok, result.all_problems
    store = Store.open(store_url)
    try:
        entries = store.chain_entries()
        by_id = {e.report_id: e for e in entries}
        for e in entries:
            if e.state is ChainState.PUBLISHED:
                manifest = reports / e.report_id / "manifest.json"
                assert e.manifest_sha256 == sha256_hex(manifest.read_bytes())
        for cycle in store.list_cycles(limit=1000):
            assert cycle.report_id in by_id, f"cycle {cycle.id} owes an unrecorded report"
        counts: dict[str, int] = {}
        for e in entries:
            counts[e.state.value] = counts.get(e.state.value, 0) + 1
        return counts
    finally:
        store.close()


def start_scan(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def ledger_ids(store_url: str) -> set[str]:
    store = Store.open(store_url)
    try:
        return {e.report_id for e in store.chain_entries()}
    finally:
        store.close()


def writing_new_bundle(marker: Path, known: set[str]) -> bool:
    """The hook's marker names each temp dir `.tmp-<report id>-<6 hex>` as writing starts."""
    if not marker.exists():
        return False
    return any(line[5:-7] not in known for line in marker.read_text().splitlines())


def test_kill_9_at_random_moments_leaves_store_and_chain_consistent(
    endpoint: str, signing_key: Path, tmp_path: Path
) -> None:
    """20 scans killed with SIGKILL: 14 at a random moment of the whole scan (two scans at a
    time), 6 at a random moment while the bundle is written (a test hook writes slowly and
    says when it starts).
    After every kill the store and chain are consistent; then one scan completes (exit 1),
    and every committed cycle's report is published or declared missing in the chain."""
    store_url = f"sqlite:///{tmp_path / 'auditor.db'}"
    config = write_config(tmp_path, store_url, signing_key)
    reports = tmp_path / "reports"
    env = aws_env(endpoint)
    pub = public_key(config)
    rng = random.Random(1104)  # reproducible kill moments

    began = time.monotonic()
    assert ExitCode.VIOLATIONS == run_scan(config, env).returncode
    duration = time.monotonic() - began

    marker = tmp_path / "writing"
    kills = 0
    # 7 rounds of two scans at once, each killed at its own random moment (14 kills, some
    # while the other one holds the chain lock), then 6 kills while the bundle is written
    for _ in range(7):
        procs = [start_scan(scan_argv(config), env) for _ in range(2)]
        kills += kill_at(procs, [rng.uniform(0.0, duration * 1.2) for _ in procs])
        consistency(store_url, reports, pub)
    for i in range(6):
        marker.unlink(missing_ok=True)
        # a scan may first republish an earlier cycle's report: wait for its own cycle's
        # bundle, the one whose report id the ledger did not know before
        known = ledger_ids(store_url)
        proc = start_scan(
            # a full bundle (an unchanged cycle would otherwise append a small attestation)
            scan_argv(config, "tests.report.slow_writer", "--full-report"),
            {**env, "AUDITOR_TEST_WRITING_MARKER": str(marker)},
        )
        wait_for(
            "the scan's own bundle to be written",
            lambda: writing_new_bundle(marker, known),  # noqa: B023
            timeout=SCAN_TIMEOUT,
        )
        kills += kill_at([proc], [rng.uniform(0.0, 0.75)])  # writing lasts >= 0.85 s
        counts = consistency(store_url, reports, pub)
        unpublished = counts.get("pending", 0) + counts.get("failed", 0)
        assert unpublished >= 1, f"kill {i} during writing left no unpublished report"
    assert 20 == kills

    final = run_scan(config, env)
    assert ExitCode.VIOLATIONS == final.returncode, final.stderr[-3000:]
    assert_every_report_accounted_for(store_url, reports, pub)
    checked = verify_cli(config, reports)
    assert 0 == checked.returncode, checked.stdout + checked.stderr


def kill_at(procs: list[subprocess.Popen[bytes]], moments: list[float]) -> int:
    """SIGKILL each process `moments[i]` seconds from now; returns how many were killed."""
    began = time.monotonic()
    for moment, proc in sorted(zip(moments, procs, strict=True), key=lambda m: m[0]):
        time.sleep(max(0.0, moment - (time.monotonic() - began)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return len(procs)


def assert_every_report_accounted_for(store_url: str, reports: Path, pub: bytes) -> None:
    """After a completed run: nothing pending or failed, no temp dirs, and every committed
    cycle's report is either a bundle of the chain or declared missing in it."""
    counts = consistency(store_url, reports, pub)
    assert 0 == counts.get("pending", 0) + counts.get("failed", 0)
    assert [] == [p.name for p in reports.iterdir() if p.name.startswith(".tmp-")]
    store = Store.open(store_url)
    try:
        missing = store.chain_entries(ChainState.MISSING)
        assert all(m.declared_in for m in missing)
        published = store.chain_entries(ChainState.PUBLISHED)
    finally:
        store.close()
    result = verify_chain(reports, pub)
    assert result.ok, result.all_problems
    assert len(published) == len(result.bundles)
    declared = {m["report_id"] for b in result.bundles for m in b.missing_reports}
    assert {m.report_id for m in missing} == declared


def test_reports_dir_that_is_a_file_is_exit_2_before_anything_is_written(
    endpoint: str, signing_key: Path, tmp_path: Path
) -> None:
    """A misconfigured reports.dir is bad config: one line naming it, exit 2, no cycle."""
    not_a_dir = tmp_path / "reports"
    not_a_dir.write_text("oops")
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'auditor.db'}", signing_key)
    result = run_scan(config, aws_env(endpoint))
    assert ExitCode.BAD_INPUT == result.returncode
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("auditor: error:")]
    assert f"reports.dir: {not_a_dir}" in line
    assert "is not a directory" in line
    assert "Traceback" not in result.stderr
    assert (
        not (tmp_path / "auditor.db").exists()
        or [] == Store.open(f"sqlite:///{tmp_path / 'auditor.db'}").list_cycles()
    )


class FullDisk(LocalDisk):
    """The disk fills up while the report is written."""

    def write_chunks(self, path: Path, chunks: Iterable[str]) -> tuple[str, int]:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_is_exit_5_with_the_cycle_committed_and_repaired_next_run(
    endpoint: str, signing_key: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while writing the report: ReportWriteError (exit 5, one line), the cycle is
    committed and its report marked failed with the reason; the next cycle publishes that
    cycle's report late (marked repaired) before its own, and the chain verifies."""
    for key, value in aws_env(endpoint).items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    store_url = f"sqlite:///{tmp_path / 'auditor.db'}"
    settings = load_settings(write_config(tmp_path, store_url, signing_key))
    options = CycleOptions(send_alerts=False, remediate=False, report_disk=FullDisk())
    with pytest.raises(ReportWriteError) as raised:
        run_cycle(settings, sessions=AwsSessions(), options=options)
    assert ExitCode.REPORT_UNWRITTEN == raised.value.exit_code
    assert "No space left on device" in str(raised.value)
    store = Store.open(store_url)
    try:
        (cycle,) = store.list_cycles()
        (failed,) = store.chain_entries(ChainState.FAILED)
        assert cycle.report_id == failed.report_id
        assert "No space left on device" in (failed.reason or "")
    finally:
        store.close()

    second = run_cycle(
        settings, sessions=AwsSessions(), options=CycleOptions(send_alerts=False, remediate=False)
    )
    result = verify_chain(tmp_path / "reports", None)
    assert result.ok, result.all_problems
    late, own = result.bundles
    assert failed.report_id == late.report_id
    assert cycle.id == (late.repaired or {}).get("cycle_id")
    assert second.report_dir is not None
    assert second.report_dir.name == own.report_id


def test_findings_carried_through_a_gap_are_in_the_report_as_unknown(
    endpoint: str, signing_key: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle that cannot read EC2 keeps the open EC2 findings open as unknown in the store:
    its report.json lists every one of them, status unknown, first_seen from the first cycle,
    and counts them as unknown for their rule."""
    for key, value in aws_env(endpoint).items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    store_url = f"sqlite:///{tmp_path / 'auditor.db'}"
    settings = load_settings(write_config(tmp_path, store_url, signing_key))
    quiet = CycleOptions(send_alerts=False, remediate=False)
    first = run_cycle(settings, sessions=AwsSessions(), options=quiet)
    failing = {f.id for f in first.evaluation.findings if f.status.value == "fail"}
    assert failing

    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:9")
    blind = run_cycle(settings, sessions=AwsSessions(), options=quiet)
    assert not blind.snapshot.complete
    store = Store.open(store_url)
    try:
        stored = store.open_findings()
    finally:
        store.close()
    carried = {fid for fid in failing if stored[fid].finding.status.value == "unknown"}
    assert carried == failing

    assert blind.report_dir is not None
    report = json.loads((blind.report_dir / "report.json").read_text())
    listed = {f["id"]: f for f in report["findings"]}
    assert carried <= set(listed)
    for fid in carried:
        assert "unknown" == listed[fid]["status"]
        assert (
            stored[fid].first_seen.isoformat().replace("+00:00", "Z")[:19]
            == listed[fid]["first_seen"][:19]
        )
    rules = {r["id"]: r for r in report["rules"]}
    for fid in carried:
        assert rules[listed[fid]["rule_id"]]["unknown"] >= 1
