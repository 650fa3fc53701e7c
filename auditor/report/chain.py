"""Publishing into the store's report chain: serialised, ordered by sequence, and complete.

Whoever appends to the chain holds the store's chain lock (store/chain.py) from before the
cycle's commit until its report is recorded as published. So, under the lock:

- the predecessor is the ledger's highest published sequence (never a file name or a date);
  a bundle renamed into place whose record was lost (a crash between the two) is adopted;
- a cycle with nothing changed appends an attestation (report/attestation.py) instead of
  a full bundle: the same lock, ledger entry and sequence;
- a report still `pending` or `failed` has no live writer: `repair` publishes it late from
  the stored cycle (marked `repaired` in its manifest) or, when that cycle can no longer be
  rebuilt, marks it `missing`; the next published manifest declares every missing report
  (`missing_reports`), so the signed chain accounts for every committed cycle.

A write failure (disk full, reports.dir not a directory) leaves the report `failed` with its
reason and raises ReportWriteError (exit 5): the cycle stays committed and the next run
repairs its report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from auditor.aws import AwsSessions
from auditor.model import JSON, Clock, iso, sha256_hex
from auditor.report.attestation import write_attestation_if_unchanged
from auditor.report.aws_clients import s3_store
from auditor.report.bundle import BundleInfo, latest_link, new_report_id, write_bundle
from auditor.report.disk import LocalDisk
from auditor.report.errors import ReportError, ReportWriteError
from auditor.report.input import ReportInput
from auditor.report.manifest import MANIFEST, SIGNATURE, ChainLink, parse_manifest
from auditor.report.signing import Signer
from auditor.report.state import state_sha256
from auditor.report.verify import verify_bundle
from auditor.settings import Settings
from auditor.store import ChainEntry, ChainState, Store
from auditor.store.chain import ChainLock, ChainLockLostError

log = structlog.get_logger("auditor.report")

NOT_PUBLISHED = "the process stopped before its report was published"

# Rebuilds the ReportInput of a committed cycle from the store; raises when it cannot.
Replay = Callable[[ChainEntry], ReportInput]


@dataclass(frozen=True, slots=True)
class Published:
    bundle: BundleInfo
    s3_url: str | None


@dataclass(frozen=True, slots=True)
class Repair:
    """What `repair` did, by report id."""

    adopted: tuple[str, ...] = ()
    republished: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


class ReportChain:
    """The chain of one store and its reports.dir (and S3 copy, when configured)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        sessions: AwsSessions,
        clock: Clock,
        signer: Signer,
        disk: LocalDisk | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.signer = signer
        self.disk = disk
        self.out_dir = Path(settings.reports.dir)
        self.s3 = s3_store(settings, sessions, clock)
        self._lock: ChainLock | None = None

    @contextmanager
    def locked(self) -> Iterator[ReportChain]:
        """Hold the store's chain lock; publish and repair only inside it."""
        with self.store.chain_lock() as held:
            self._lock = held
            try:
                yield self
            finally:
                self._lock = None

    def head(self) -> ChainLink | None:
        """The predecessor of the next report, adopting bundles whose record was lost."""
        self._require_lock()
        entry = self.store.chain_head()
        if entry is None:  # a ledger that never published: continue an existing chain
            link = self.s3.latest_link() if self.s3 is not None else latest_link(self.out_dir)
            if link is not None and self._unpublished(link.report_id):
                self._record(link, self._manifest(self.out_dir / link.report_id))
            return link
        link = _link(entry)
        while (adopted := self._adopt_next(link)) is not None:
            link = adopted
        return self._ahead_on_disk(link) or link

    def publish(
        self,
        data: ReportInput,
        *,
        report_id: str | None = None,
        cycle_id: str | None = None,
        repaired: dict[str, JSON] | None = None,
        attest_if_unchanged: bool = False,
    ) -> Published:
        """Write, sign and record one report as the chain's next link (lock held).

        With `attest_if_unchanged`, a cycle whose state is the latest link's appends a small
        attestation instead (report/attestation.py), recorded in the ledger like a bundle;
        a repaired report, or one that must declare missing reports, is always a full
        bundle (an attestation carries no declarations)."""
        lock = self._require_lock()
        rid = report_id or new_report_id(data.generated_at)
        self.store.add_pending_report(rid, cycle_id, self.clock.now())
        if self.s3 is not None and self.settings.reports.s3.object_lock_days > 0:
            self.s3.check_object_lock()  # refuse before signing anything
        missing = self.store.undeclared_missing_reports()
        try:
            previous = self.head()
            state = state_sha256(data)  # one digest of the findings, for either kind of link
            info = None
            if attest_if_unchanged and repaired is None and not missing:
                info = write_attestation_if_unchanged(
                    data,
                    self.out_dir,
                    self.signer,
                    report_id=rid,
                    previous=previous,
                    disk=self.disk,
                    fence=lock.check,
                    state=state,
                )
            if info is None:
                info = write_bundle(
                    data,
                    self.out_dir,
                    self.signer,
                    self.settings.reports.formats,
                    report_id=rid,
                    previous=previous,
                    missing=[_declaration(m) for m in missing],
                    repaired=repaired,
                    disk=self.disk,
                    fence=lock.check,
                    state=state,
                )
        except (ReportError, ChainLockLostError) as exc:
            if cycle_id is None:
                self.store.discard_report(rid)
            else:
                self.store.record_report_state(rid, ChainState.FAILED, str(exc), self.clock.now())
            raise
        self.store.record_report_published(
            report_id=rid,
            cycle_id=cycle_id,
            sequence=info.sequence,
            manifest_sha256=info.manifest_sha256,
            generated_at=iso(info.generated_at),
            now=self.clock.now(),
            declared=[m.report_id for m in missing],
        )
        url = self.s3.upload(info.path) if self.s3 is not None else None
        return Published(info, url)

    def repair(self, replay: Replay) -> Repair:
        """Account for every committed cycle whose report was never published (lock held)."""
        self._require_lock()
        before = {e.report_id for e in self.store.chain_entries(*_UNPUBLISHED)}
        self.head()
        entries = self.store.chain_entries(*_UNPUBLISHED)
        adopted = tuple(sorted(before - {e.report_id for e in entries}))
        republished: list[str] = []
        missing: list[str] = []
        failed: list[str] = []
        for entry in entries:
            if entry.cycle_id is None:  # an on-demand report whose writer died: nobody owes it
                self.store.discard_report(entry.report_id)
                continue
            outcome = self._repair_one(entry, replay)
            {"republished": republished, "missing": missing, "failed": failed}[outcome].append(
                entry.report_id
            )
        done = Repair(adopted, tuple(republished), tuple(missing), tuple(failed))
        if any((done.adopted, done.republished, done.missing, done.failed)):
            log.warning(
                "report_chain_repaired",
                adopted=list(done.adopted),
                republished=list(done.republished),
                missing=list(done.missing),
                failed=list(done.failed),
            )
        return done

    def _repair_one(self, entry: ChainEntry, replay: Replay) -> str:
        why = entry.reason or NOT_PUBLISHED
        try:
            data = replay(entry)
        except Exception as exc:  # any reason it cannot be rebuilt is recorded, never raised
            reason = (
                f"report of cycle {entry.cycle_id} was not published ({why}) and cannot be "
                f"rebuilt: {exc}"
            )
            self.store.record_report_state(
                entry.report_id, ChainState.MISSING, reason, self.clock.now()
            )
            return "missing"
        try:
            self.publish(
                data,
                report_id=entry.report_id,
                cycle_id=entry.cycle_id,
                repaired={
                    "cycle_id": entry.cycle_id,
                    "committed_at": iso(entry.created_at),
                    "reason": why,
                },
            )
        except ReportWriteError as exc:
            log.warning("report_repair_failed", report_id=entry.report_id, error=str(exc))
            return "failed"
        except ReportError as exc:
            self.store.record_report_state(
                entry.report_id, ChainState.MISSING, f"{why}; republishing failed: {exc}",
                self.clock.now(),
            )  # fmt: skip
            return "missing"
        return "republished"

    def _adopt_next(self, link: ChainLink) -> ChainLink | None:
        for entry in self.store.chain_entries(*_UNPUBLISHED):
            bundle = self.out_dir / entry.report_id
            if not (bundle / SIGNATURE).is_file():
                continue
            manifest = self._manifest(bundle)
            if manifest is None:
                continue
            if (
                manifest.get("sequence") == link.sequence + 1
                and manifest.get("previous_manifest_sha256") == link.manifest_sha256
            ):
                nxt = ChainLink(
                    entry.report_id,
                    _sha(bundle),
                    int(manifest["sequence"]),
                    str(manifest["generated_at"]),
                )
                self._record(nxt, manifest)
                return nxt
        return None

    def _ahead_on_disk(self, link: ChainLink) -> ChainLink | None:
        """A bundle on disk past the ledger's head (the store was restored from an older
        backup): continued from, if it verifies with our own key, so the chain does not fork."""
        on_disk = latest_link(self.out_dir)
        if on_disk is None or on_disk.sequence <= link.sequence:
            return None
        bundle = self.out_dir / on_disk.report_id
        if not verify_bundle(bundle, self.signer.public_key_pem()).ok:
            log.warning(
                "chain_bundle_ahead_not_ours",
                bundle=str(bundle),
                sequence=on_disk.sequence,
                ledger_sequence=link.sequence,
            )
            return None
        log.warning(
            "chain_ledger_behind",
            bundle=on_disk.report_id,
            sequence=on_disk.sequence,
            ledger_sequence=link.sequence,
            detail="reports.dir is ahead of the store (restored from a backup?): continuing "
            "from its newest signed bundle",
        )
        self._record(on_disk, self._manifest(bundle))
        return on_disk

    def _record(self, link: ChainLink, manifest: dict[str, Any] | None) -> None:
        declared = [
            str(m.get("report_id"))
            for m in (manifest or {}).get("missing_reports") or []
            if isinstance(m, dict)
        ]
        entry = next(
            (e for e in self.store.chain_entries(*_UNPUBLISHED) if e.report_id == link.report_id),
            None,
        )
        self.store.record_report_published(
            report_id=link.report_id,
            cycle_id=entry.cycle_id if entry else None,
            sequence=link.sequence,
            manifest_sha256=link.manifest_sha256,
            generated_at=link.generated_at,
            now=self.clock.now(),
            declared=declared,
        )

    def _unpublished(self, report_id: str) -> bool:
        return any(e.report_id == report_id for e in self.store.chain_entries(*_UNPUBLISHED))

    @staticmethod
    def _manifest(bundle: Path) -> dict[str, Any] | None:
        try:
            return parse_manifest((bundle / MANIFEST).read_bytes())
        except (OSError, ValueError):
            return None

    def _require_lock(self) -> ChainLock:
        if self._lock is None:
            raise RuntimeError("the report chain is written only with its lock held")
        return self._lock


_UNPUBLISHED = (ChainState.PENDING, ChainState.FAILED)


def _link(entry: ChainEntry) -> ChainLink:
    if entry.sequence is None or entry.manifest_sha256 is None or entry.generated_at is None:
        raise ReportError(f"report chain ledger: {entry.report_id} is published without a link")
    return ChainLink(entry.report_id, entry.manifest_sha256, entry.sequence, entry.generated_at)


def _sha(bundle: Path) -> str:
    return sha256_hex((bundle / MANIFEST).read_bytes())


def _declaration(entry: ChainEntry) -> dict[str, JSON]:
    return {
        "report_id": entry.report_id,
        "cycle_id": entry.cycle_id,
        "committed_at": iso(entry.created_at),
        "reason": entry.reason or NOT_PUBLISHED,
    }
