"""The report chain on a store: serialised writers, sequence order, clock jumps, full disks,
crashes between commit and report, and reports declared missing.

Every test runs on SQLite (a file) and on the real PostgreSQL: the lock differs (flock vs an
advisory lock), the guarantees do not.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from auditor.aws import AwsSessions
from auditor.errors import ExitCode
from auditor.model import FixedClock
from auditor.report.bundle import TMP_PREFIX, write_bundle
from auditor.report.chain import ReportChain
from auditor.report.disk import LocalDisk
from auditor.report.errors import ReportWriteError
from auditor.report.manifest import link_of, parse_manifest
from auditor.report.signing import Ed25519Signer
from auditor.report.verify import verify_chain
from auditor.settings import ReportsConfig, Settings
from auditor.store import ChainEntry, ChainState, Store
from auditor.store.chain import _CHAIN_LOCK_ID
from auditor.store.engine import _MIGRATION_LOCK_ID
from auditor.store.snapshots import _CYCLE_LOCK_ID
from tests.report.factory import NOW, make_input


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'auditor.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def signer() -> Ed25519Signer:
    return Ed25519Signer(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(reports=ReportsConfig(dir=tmp_path / "reports", formats=("json",)))


class FullDisk(LocalDisk):
    """A disk that fills up while report.json is being written."""

    def write_chunks(self, path: Path, chunks: Iterable[str]) -> tuple[str, int]:
        raise OSError(errno.ENOSPC, "No space left on device")


def chain_of(store: Store, settings: Settings, signer: Ed25519Signer, **kw: object) -> ReportChain:
    return ReportChain(store, settings, AwsSessions(), FixedClock(NOW), signer, **kw)  # type: ignore[arg-type]


def publish(chain: ReportChain, at: int = 0, cycle: str | None = None) -> str:
    data = make_input(generated_at=NOW + timedelta(seconds=at), snapshot_id=cycle or "snap")
    with chain.locked():
        return chain.publish(data, cycle_id=cycle).bundle.report_id


def commit_owed(store: Store, report_id: str, cycle_id: str) -> None:
    """What commit_cycle records for the report a cycle owes (without the cycle's rows)."""
    store.add_pending_report(report_id, cycle_id, NOW)


def test_lock_ids_are_distinct() -> None:
    """The chain lock is held across the cycle's commit, which takes the cycle lock: one id
    for both would dead-lock every cycle on PostgreSQL."""
    assert 3 == len({_CHAIN_LOCK_ID, _CYCLE_LOCK_ID, _MIGRATION_LOCK_ID})


def test_concurrent_writers_queue_and_same_second_bundles_stay_in_order(
    store_url: str, settings: Settings, signer: Ed25519Signer
) -> None:
    """Four writers (own store connections) publishing at once, all stamped the same second
    (report ids then differ only by a random suffix): sequences 1..8, one chain, valid."""
    errors: list[BaseException] = []

    def writer() -> None:
        own = Store.open(store_url)
        try:
            for _ in range(2):
                publish(chain_of(own, settings, signer))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [] == errors
    result = verify_chain(Path(settings.reports.dir), signer.public_key_pem())
    assert result.ok, result.all_problems
    assert list(range(1, 9)) == [b.sequence for b in result.bundles]
    check = Store.open(store_url)
    try:
        assert 8 == check.chain_head().sequence  # type: ignore[union-attr]
    finally:
        check.close()


def test_a_future_dated_bundle_is_a_warning_not_a_stop(
    store: Store, settings: Settings, signer: Ed25519Signer
) -> None:
    """A clock jump wrote a bundle dated a year ahead: the next report still links to it by
    sequence, and verify accepts the chain with a warning naming the dated bundle."""
    chain = chain_of(store, settings, signer)
    first = publish(chain)
    ahead = publish(chain, at=365 * 86400)
    after = publish(chain, at=60)
    result = verify_chain(Path(settings.reports.dir), signer.public_key_pem(), now=NOW)
    assert result.ok, result.all_problems
    assert [first, ahead, after] == [b.report_id for b in result.bundles]
    warnings = " | ".join(result.warnings)
    assert f"{after}: generated_at" in warnings
    assert "clock jump" in warnings
    assert f"{ahead}: generated_at" in warnings
    assert "in the future" in warnings


def test_disk_full_marks_the_report_failed_and_the_next_run_repairs_it(
    store: Store, settings: Settings, signer: Ed25519Signer
) -> None:
    """ENOSPC while writing: one-line ReportWriteError with exit code 5, nothing half-written
    (no bundle, no temp dir), the ledger keeps the cycle's report as failed with the reason;
    the next run's repair publishes that cycle's report, marked repaired, then its own."""
    commit_owed(store, "20261122T120000Z-aaaaaaaa", "cycle-1")
    full = chain_of(store, settings, signer, disk=FullDisk())
    data = make_input(snapshot_id="cycle-1")
    with full.locked(), pytest.raises(ReportWriteError) as raised:
        full.publish(data, report_id="20261122T120000Z-aaaaaaaa", cycle_id="cycle-1")
    assert ExitCode.REPORT_UNWRITTEN == raised.value.exit_code
    assert "\n" not in str(raised.value)
    assert "No space left on device" in str(raised.value)
    reports = Path(settings.reports.dir)
    assert [] == [p.name for p in reports.iterdir() if p.is_dir()]
    (failed,) = store.chain_entries(ChainState.FAILED)
    assert "cycle-1" == failed.cycle_id
    assert "No space left on device" in (failed.reason or "")

    chain = chain_of(store, settings, signer)
    with chain.locked():
        done = chain.repair(lambda e: make_input(snapshot_id=str(e.cycle_id)))
        own = chain.publish(make_input(generated_at=NOW + timedelta(minutes=15)))
    assert ("20261122T120000Z-aaaaaaaa",) == done.republished
    result = verify_chain(reports, signer.public_key_pem())
    assert result.ok, result.all_problems
    repaired, last = result.bundles
    assert "cycle-1" == (repaired.repaired or {}).get("cycle_id")
    assert own.bundle.report_id == last.report_id
    assert [] == store.chain_entries(ChainState.PENDING, ChainState.FAILED)


def test_a_reports_dir_that_is_a_file_is_a_write_error(
    store: Store, settings: Settings, signer: Ed25519Signer
) -> None:
    """reports.dir replaced by a file: ReportWriteError naming the path, report kept failed."""
    Path(settings.reports.dir).write_text("not a directory")
    commit_owed(store, "r-1", "cycle-1")
    chain = chain_of(store, settings, signer)
    with chain.locked(), pytest.raises(ReportWriteError, match=str(settings.reports.dir)):
        chain.publish(make_input(snapshot_id="cycle-1"), report_id="r-1", cycle_id="cycle-1")
    assert ["r-1"] == [e.report_id for e in store.chain_entries(ChainState.FAILED)]


def test_a_bundle_renamed_but_not_recorded_is_adopted_not_forked(
    store: Store, settings: Settings, signer: Ed25519Signer
) -> None:
    """A crash after the rename, before the ledger recorded it: the next writer adopts the
    bundle (it links to the ledger's head) and continues after it."""
    chain = chain_of(store, settings, signer)
    first = publish(chain)
    commit_owed(store, "20261122T120100Z-bbbbbbbb", "cycle-2")
    reports = Path(settings.reports.dir)
    write_bundle(
        make_input(snapshot_id="cycle-2"),
        reports,
        signer,
        ("json",),
        report_id="20261122T120100Z-bbbbbbbb",
        previous=link_of(reports / first),
    )
    with chain.locked():
        done = chain.repair(lambda e: pytest.fail("an adopted report is not rebuilt"))
        third = chain.publish(make_input(generated_at=NOW + timedelta(minutes=2)))
    assert ("20261122T120100Z-bbbbbbbb",) == done.adopted
    assert 3 == third.bundle.sequence
    assert verify_chain(reports, signer.public_key_pem()).ok


def test_an_unrebuildable_report_is_declared_missing_in_the_next_manifest(
    store: Store, settings: Settings, signer: Ed25519Signer
) -> None:
    """A cycle whose report was never written and cannot be rebuilt is recorded missing; the
    next published manifest declares it (signed), verify lists it and still accepts."""
    chain = chain_of(store, settings, signer)
    publish(chain)
    commit_owed(store, "r-lost", "cycle-lost")

    def replay(entry: ChainEntry) -> object:
        raise LookupError(f"snapshot {entry.cycle_id} was pruned")

    with chain.locked():
        done = chain.repair(replay)  # type: ignore[arg-type]
        declaring = chain.publish(make_input(generated_at=NOW + timedelta(minutes=15)))
    assert ("r-lost",) == done.missing
    manifest = parse_manifest((declaring.bundle.path / "manifest.json").read_bytes())
    (declared,) = manifest["missing_reports"]
    assert "cycle-lost" == declared["cycle_id"]
    assert "r-lost" == declared["report_id"]
    assert "snapshot cycle-lost was pruned" in declared["reason"]
    result = verify_chain(Path(settings.reports.dir), signer.public_key_pem())
    assert result.ok
    assert [declared] == [m for b in result.bundles for m in b.missing_reports]
    (missing,) = store.chain_entries(ChainState.MISSING)
    assert declaring.bundle.report_id == missing.declared_in
    with chain.locked():  # declared once only
        later = chain.publish(make_input(generated_at=NOW + timedelta(minutes=30)))
    assert "missing_reports" not in parse_manifest(
        (later.bundle.path / "manifest.json").read_bytes()
    )


def test_stale_temp_directories_are_cleaned_by_the_next_writer(
    store: Store, settings: Settings, signer: Ed25519Signer
) -> None:
    """`.tmp-*` left by a killed writer is removed; the chain is unaffected."""
    reports = Path(settings.reports.dir)
    stale = reports / f"{TMP_PREFIX}20261122T115900Z-deadbeef-abcdef"
    stale.mkdir(parents=True)
    (stale / "report.json").write_text("{")
    publish(chain_of(store, settings, signer))
    assert not stale.exists()
    assert verify_chain(reports, signer.public_key_pem()).ok


def test_an_existing_chain_is_continued_when_the_ledger_is_new(
    store: Store, settings: Settings, signer: Ed25519Signer
) -> None:
    """Upgrading: bundles written before the ledger existed; the first ledger report links to
    the highest sequence in reports.dir, not to a new chain."""
    reports = Path(settings.reports.dir)
    for i in range(2):
        write_bundle(make_input(generated_at=NOW + timedelta(seconds=i)), reports, signer)
    third = chain_of(store, settings, signer)
    with third.locked():
        info = third.publish(make_input(generated_at=NOW + timedelta(minutes=1))).bundle
    assert 3 == info.sequence
    assert verify_chain(reports, signer.public_key_pem()).ok


def test_publish_outside_the_lock_is_refused(
    store: Store, settings: Settings, signer: Ed25519Signer
) -> None:
    """A writer that forgot the lock could fork the chain: refused outright."""
    with pytest.raises(RuntimeError, match="lock"):
        chain_of(store, settings, signer).publish(make_input())


def test_verify_cli_prints_clock_warnings_and_missing_reports_and_exits_0(
    store: Store,
    settings: Settings,
    signer: Ed25519Signer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`auditor verify DIR`: a future-dated bundle is a warning on stderr, a declared missing
    report a note naming its cycle; the chain is valid (exit 0), also in --json."""
    import json

    from tests.report.conftest import cli

    chain = chain_of(store, settings, signer)
    publish(chain, at=365 * 86400)
    commit_owed(store, "r-lost", "cycle-lost")
    with chain.locked():
        chain.repair(lambda e: (_ for _ in ()).throw(LookupError("pruned")))  # type: ignore[arg-type,return-value]
        chain.publish(make_input(generated_at=NOW + timedelta(minutes=1)))
    pub = tmp_path / "pub.pem"
    pub.write_bytes(signer.public_key_pem())
    reports = str(settings.reports.dir)
    assert 0 == cli(["verify", "--key", str(pub), reports])
    out = capsys.readouterr()
    assert "auditor: warning:" in out.err
    assert "in the future" in out.err
    assert "note: report missing for cycle cycle-lost (report r-lost)" in out.out
    assert 0 == cli(["verify", "--key", str(pub), "--json", reports])
    shown = json.loads(capsys.readouterr().out)
    assert shown["valid"] is True
    assert ["cycle-lost"] == [m["cycle_id"] for m in shown["missing_reports"]]
    assert 2 == len(shown["warnings"])


def test_a_store_restored_from_an_older_backup_does_not_fork_the_chain(
    settings: Settings, signer: Ed25519Signer, tmp_path: Path
) -> None:
    """The database is restored from before the newest bundles: the next report continues
    from the newest bundle on disk signed with our key, not from the ledger's older head;
    a bundle ahead of the ledger signed by another key is not followed."""
    from shutil import copyfile

    database = tmp_path / "restored.db"
    store_url = f"sqlite:///{database}"
    store = Store.open(store_url)
    chain = chain_of(store, settings, signer)
    publish(chain)
    store.close()
    copyfile(database, tmp_path / "backup.db")
    store = Store.open(store_url)
    publish(chain_of(store, settings, signer), at=60)
    store.close()
    copyfile(tmp_path / "backup.db", database)
    restored = Store.open(store_url)
    try:
        with chain_of(restored, settings, signer).locked() as locked:
            third = locked.publish(make_input(generated_at=NOW + timedelta(minutes=2))).bundle
        assert 3 == third.sequence
        result = verify_chain(Path(settings.reports.dir), signer.public_key_pem())
        assert result.ok, result.all_problems

        stranger = Ed25519Signer(ed25519.Ed25519PrivateKey.generate())
        reports = Path(settings.reports.dir)
        write_bundle(make_input(generated_at=NOW + timedelta(minutes=3)), reports, stranger)
        with chain_of(restored, settings, signer).locked() as locked:
            fourth = locked.publish(make_input(generated_at=NOW + timedelta(minutes=4))).bundle
        assert third.manifest_sha256 == fourth.previous_manifest_sha256
    finally:
        restored.close()


class FullDiskForSmallFiles(LocalDisk):
    """A disk that fills up on the first small file (an attestation's attestation.json)."""

    def write(self, path: Path, body: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_attestations_are_links_of_the_store_chain_under_its_lock(
    store: Store, settings: Settings, signer: Ed25519Signer
) -> None:
    """An unchanged cycle appends an attestation through the same lock and ledger as a
    bundle: recorded published with its sequence, the chain verifies, nothing pending."""
    chain = chain_of(store, settings, signer)
    data = make_input(snapshot_id="cycle-1")
    with chain.locked():
        first = chain.publish(data, cycle_id="cycle-1", attest_if_unchanged=True)
        store.add_pending_report("20261122T121500Z-bbbbbbbb", "cycle-2", NOW)
        second = chain.publish(
            make_input(generated_at=NOW + timedelta(minutes=15), snapshot_id="cycle-2"),
            report_id="20261122T121500Z-bbbbbbbb",
            cycle_id="cycle-2",
            attest_if_unchanged=True,
        )
    assert (first.bundle.path / "report.json").is_file()  # nothing earlier: a full bundle
    assert (second.bundle.path / "attestation.json").is_file()
    result = verify_chain(Path(settings.reports.dir), signer.public_key_pem())
    assert result.ok, result.all_problems
    assert ["report", "attestation"] == [b.kind for b in result.bundles]
    assert 2 == store.chain_head().sequence  # type: ignore[union-attr]
    assert second.bundle.report_id == store.chain_head().report_id  # type: ignore[union-attr]
    assert [] == store.chain_entries(ChainState.PENDING, ChainState.FAILED)


def test_a_failed_attestation_is_marked_failed_and_repaired_next_run(
    store: Store, settings: Settings, signer: Ed25519Signer
) -> None:
    """Disk full while an attestation is written: exit code 5, no temp dir left, the ledger
    keeps it failed; the next run repairs it (as a full bundle, marked repaired)."""
    chain = chain_of(store, settings, signer)
    with chain.locked():
        chain.publish(make_input(snapshot_id="cycle-1"), cycle_id="cycle-1")
    rid = "20261122T121500Z-cccccccc"
    commit_owed(store, rid, "cycle-2")
    later = make_input(generated_at=NOW + timedelta(minutes=15), snapshot_id="cycle-2")
    full = chain_of(store, settings, signer, disk=FullDiskForSmallFiles())
    with full.locked(), pytest.raises(ReportWriteError) as raised:
        full.publish(later, report_id=rid, cycle_id="cycle-2", attest_if_unchanged=True)
    assert ExitCode.REPORT_UNWRITTEN == raised.value.exit_code
    reports = Path(settings.reports.dir)
    assert [] == [p.name for p in reports.iterdir() if p.name.startswith(TMP_PREFIX)]
    (failed,) = store.chain_entries(ChainState.FAILED)
    assert rid == failed.report_id

    with chain.locked():
        done = chain.repair(lambda e: later)
    assert (rid,) == done.republished
    result = verify_chain(reports, signer.public_key_pem())
    assert result.ok, result.all_problems
    assert "cycle-2" == (result.bundles[-1].repaired or {}).get("cycle_id")
    assert [] == store.chain_entries(ChainState.PENDING, ChainState.FAILED)
