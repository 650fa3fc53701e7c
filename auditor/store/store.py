"""The snapshot store: the one object the pipeline, daemon and API use to reach the database.

A cycle is written in ONE transaction (commit_cycle): a crash or an error part-way leaves
the previous state intact, so the latest snapshot is always a completely committed one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from auditor.model import AccessRecord, ActionRecord, Attribution, Snapshot, TrackedFinding
from auditor.store import (
    actions,
    chain,
    events,
    findings,
    image_content,
    leases,
    retention,
    snapshot_reads,
    webapp,
)
from auditor.store.engine import WRITE, StoreError, make_engine, migrate, safe_url
from auditor.store.outbox import SqlOutbox, insert_messages
from auditor.store.records import (
    ChainEntry,
    ChainState,
    CycleRecord,
    CycleSummary,
    EventRecord,
    FindingEvent,
    PruneResult,
    ResourceVersion,
)
from auditor.store.snapshots import insert_cycle
from auditor.store.work_units import WorkUnits


class Store:
    """Snapshots, findings, actions, the alert outbox and leases, on SQLite or PostgreSQL."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        # the latest snapshot's configuration documents, by content hash (never stale)
        self._documents: snapshot_reads.Documents = {}

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect to `url` and, unless told not to, bring its schema to the latest revision."""
        engine = make_engine(url)
        if migrate:
            try:
                _migrate(engine)
            except sa.exc.OperationalError as exc:
                engine.dispose()
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                raise StoreError(f"cannot open store {safe_url(url)}: {reason}") from None
        return cls(engine)

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def ping(self) -> bool:
        """True when the database answers a trivial query (readiness)."""
        try:
            with self._engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._engine.connect().execution_options(**WRITE) as conn, conn.begin():
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def fence(self) -> None:
        """Raise if this process may no longer write a cycle: called right before a cycle
        commits and before its first remediation call. Nothing here; the daemon's store of
        a replica that lost its lease raises (the one lease check)."""

    def commit_cycle(self, record: CycleRecord) -> None:
        """Everything of one cycle, or nothing (after `fence`)."""
        self.fence()
        snapshot = record.snapshot
        at = record.evaluation.evaluated_at if record.evaluation else snapshot.finished_at
        observed = {f.id for f in record.evaluation.findings} if record.evaluation else set[str]()
        with self._write() as conn:
            key = insert_cycle(
                conn,
                snapshot,
                record.evaluation,
                record.report_id,
                record.metadata,
                record.seen_at,
            )
            findings.write_findings(conn, key, snapshot.id, at, record.tracked, observed)
            actions.write_decisions(conn, record.actions)
            insert_messages(conn, record.outbox)
            events.write_events(conn, snapshot.id, record.events)
            if record.report_id is not None:
                chain.add_pending(conn, record.report_id, snapshot.id, at)
            image_content.insert_missing(conn, record.image_contents, snapshot.finished_at)

    def image_contents(
        self, digests: Collection[str]
    ) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """What is known to be inside these image digests, (scope, content) for every stored
        scope, widest first: the persistent cache the ECR collector asks before reading."""
        if not digests:
            return {}
        with self._read() as conn:
            return image_content.lookup(conn, digests)

    @contextmanager
    def chain_lock(self) -> Iterator[chain.ChainLock]:
        """Serialise report-chain writers on this store (see store/chain.py)."""
        with chain.chain_lock(self._engine) as held:
            yield held

    def chain_head(self) -> ChainEntry | None:
        """The published report with the highest sequence: the next report's predecessor."""
        with self._read() as conn:
            return chain.head(conn)

    def chain_entries(self, *states: ChainState) -> list[ChainEntry]:
        """Ledger entries in these states, oldest first (all states when none are given)."""
        with self._read() as conn:
            return chain.entries(conn, states or tuple(ChainState))

    def undeclared_missing_reports(self) -> list[ChainEntry]:
        with self._read() as conn:
            return chain.undeclared_missing(conn)

    def record_report_published(
        self,
        *,
        report_id: str,
        cycle_id: str | None,
        sequence: int,
        manifest_sha256: str,
        generated_at: str,
        now: datetime,
        declared: Sequence[str] = (),
    ) -> None:
        with self._write() as conn:
            chain.record_published(
                conn,
                report_id=report_id,
                cycle_id=cycle_id,
                sequence=sequence,
                manifest_sha256=manifest_sha256,
                generated_at=generated_at,
                now=now,
                declared=declared,
            )

    def add_pending_report(self, report_id: str, cycle_id: str | None, now: datetime) -> None:
        with self._write() as conn:
            chain.add_pending(conn, report_id, cycle_id, now)

    def discard_report(self, report_id: str) -> None:
        with self._write() as conn:
            chain.discard(conn, report_id)

    def record_report_state(
        self, report_id: str, state: ChainState, reason: str, now: datetime
    ) -> None:
        with self._write() as conn:
            chain.record_state(conn, report_id, state, reason, now)

    def record_actions(self, records: Sequence[ActionRecord]) -> None:
        """Upsert action records (by id) in their own transaction: what enforcement did,
        written right after it was done, on top of the plan committed with the cycle."""
        with self._write() as conn:
            actions.write_actions(conn, records)

    def latest_snapshot(self) -> Snapshot | None:
        """The latest committed snapshot; its documents are kept for `baselines`."""
        self._documents = {}
        with self._read() as conn:
            return snapshot_reads.latest_snapshot(conn, self._documents)

    def load_snapshot(self, snapshot_id: str) -> Snapshot:
        """The snapshot as saved; SnapshotNotFoundError (a LookupError) if there is none."""
        with self._read() as conn:
            return snapshot_reads.load_snapshot(conn, snapshot_id)

    def list_cycles(self, limit: int = 50) -> list[CycleSummary]:
        """The most recent committed cycles, newest first."""
        with self._read() as conn:
            return snapshot_reads.list_cycles(conn, limit)

    def open_findings(self, ids: Collection[str] | None = None) -> dict[str, TrackedFinding]:
        """Every open finding, or only the open ones among `ids` (a micro-cycle's scope)."""
        with self._read() as conn:
            return findings.open_findings(conn, ids)

    def finding_history(self, finding_id: str) -> list[FindingEvent]:
        with self._read() as conn:
            return findings.finding_history(conn, finding_id)

    def resource_versions(self, arn: str) -> list[ResourceVersion]:
        """Every distinct configuration of one resource, oldest first."""
        with self._read() as conn:
            return snapshot_reads.resource_versions(conn, arn)

    def baselines(self, arns: Iterable[str]) -> dict[str, ResourceVersion]:
        """The first observed version of each ARN that has one (the drift baseline)."""
        with self._read() as conn:
            return snapshot_reads.baselines(conn, arns, self._documents)

    def actions_since(self, since: datetime) -> list[ActionRecord]:
        with self._read() as conn:
            return actions.actions_since(conn, since)

    def approved_exemption_requests(self, today: date) -> list[dict[str, Any]]:
        """Exemptions approved in the web app (four-eyes) and not expired."""
        with self._read() as conn:
            return webapp.approved_exemption_requests(conn, today)

    def open_decisions(self) -> list[webapp.Decision]:
        """Operators' approvals/rejections of planned actions not yet used up."""
        with self._read() as conn:
            return webapp.open_decisions(conn)

    def audit_since(self, since: datetime | None) -> Sequence[dict[str, Any]]:
        with self._read() as conn:
            return webapp.audit_since(conn, since)

    def handled_events(self, event_ids: Iterable[str]) -> set[str]:
        """The ids of feed events a committed cycle already used."""
        with self._read() as conn:
            return events.handled(conn, event_ids)

    def record_events(self, records: Sequence[EventRecord]) -> None:
        """Store events outside a cycle (attribution found by CloudTrail LookupEvents)."""
        with self._write() as conn:
            events.write_events(conn, None, records)

    def attributions(self, arns: Iterable[str]) -> dict[str, Attribution]:
        """The latest recorded call that changed each resource (by event time)."""
        with self._read() as conn:
            return events.attributions(conn, arns)

    def access_records(self) -> dict[str, tuple[AccessRecord, ...]]:
        """Shells opened on resources, by target ARN, oldest first."""
        with self._read() as conn:
            return events.access_records(conn)

    def current_decisions(self) -> list[ActionRecord]:
        """The remediation decision in force for each target the last plan decided (a
        decision is recorded when it changes, so it may come from an earlier cycle)."""
        with self._read() as conn:
            return actions.current_decisions(conn)

    def outbox(self) -> SqlOutbox:
        return SqlOutbox(self._engine)

    def work_units(self) -> WorkUnits:
        """Units of distributed collection (PostgreSQL stores only)."""
        return WorkUnits(self._engine)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def try_acquire_lease(self, name: str, holder: str, ttl_seconds: float, now: datetime) -> bool:
        """Take or renew lease `name` for `holder` if it is free, expired or already ours."""
        with self._write() as conn:
            return leases.try_acquire(conn, name, holder, ttl_seconds, now)

    def release_lease(self, name: str, holder: str) -> None:
        with self._write() as conn:
            leases.release(conn, name, holder)

    def prune(self, older_than: datetime) -> PruneResult:
        with self._write() as conn:
            return retention.prune(conn, older_than)


def _migrate(engine: sa.Engine) -> None:
    migrate(engine)
