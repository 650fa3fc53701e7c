"""One cycle, stage by stage: what each stage takes and the frozen value it hands on.

    preflight -> collect -> evaluate -> decide -> commit -> act -> publish -> deliver

`run_cycle` is these calls in this order; each test below runs the stages up to the one it
is about, on a small moto estate (one instance launched with an SSH key pair: a high
finding), and checks that stage's output value and what it wrote (or did not write).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auditor.aws import AwsSessions
from auditor.errors import ExitCode
from auditor.model import ActionStatus, FixedClock, Severity, Status
from auditor.notify import CaptureTransport
from auditor.pipeline import CycleContext, CycleOptions, cycle_context, preflight, run_cycle
from auditor.pipeline import collect as pipeline_collect
from auditor.pipeline.act import act
from auditor.pipeline.collect import collect_estate
from auditor.pipeline.commit import commit
from auditor.pipeline.decide import decide
from auditor.pipeline.deliver import deliver
from auditor.pipeline.judge import judge
from auditor.pipeline.publish import publish, report_chain, report_input
from auditor.pipeline.values import Collected, Decided, Judged, Prior
from auditor.report.signing import generate_ed25519_pem, write_private_key
from auditor.settings import Settings
from auditor.stage_guard import StageGuard
from auditor.store import Store
from tests.conftest import NOW

REGION = "us-east-1"
RULE = "ec2.ssh_keypair_attached"


class LeaseLost(RuntimeError):
    pass


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.delenv("AUDITOR_SLACK_WEBHOOK", raising=False)
    key = tmp_path / "signing.key"
    write_private_key(key, generate_ed25519_pem())
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        ec2.create_key_pair(KeyName="ops")
        image = ec2.register_image(Name="base", RootDeviceName="/dev/xvda")["ImageId"]
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, KeyName="ops")
        yield Settings(
            regions=[REGION],
            services=["ec2"],
            store=f"sqlite:///{tmp_path / 'auditor.db'}",
            reports={"dir": str(tmp_path / "reports"), "formats": ["json"]},
            signing={"key_file": str(key)},
        )


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> Iterator[CycleContext]:
    """What every stage reads, as `run_cycle` opens it (alerts go to a local capture)."""
    options = CycleOptions(transport=CaptureTransport(tmp_path / "alerts.jsonl"))
    with cycle_context(
        settings,
        FixedClock(NOW),
        AwsSessions(base=boto3.Session(region_name=REGION)),
        options=options,
    ) as opened:
        yield opened


def guard(ctx: CycleContext) -> StageGuard:
    return StageGuard(ctx.settings.services)


def until_decided(ctx: CycleContext) -> tuple[Judged, Decided]:
    g = guard(ctx)
    judged = judge(ctx, g, collect_estate(ctx))
    return judged, decide(ctx, g, judged)


def test_preflight_returns_the_rules_exemptions_and_signer(settings: Settings) -> None:
    """Settings -> Preflight: everything that can be wrong before any AWS call (exit 2)."""
    checked = preflight(settings)
    assert checked.rules.get(RULE) is not None
    assert checked.exemptions == ()
    assert checked.signer is not None


def test_collect_returns_the_live_estate_and_the_previous_snapshot(ctx: CycleContext) -> None:
    """CycleContext -> Collected(snapshot, previous): no previous cycle yet."""
    collected = collect_estate(ctx)
    assert isinstance(collected, Collected)
    assert collected.previous is None
    assert collected.snapshot.complete
    assert "ec2.instance" in {r.kind.value for r in collected.snapshot.resources}


def test_collect_reads_the_prior_state_while_aws_answers(
    ctx: CycleContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The open findings and rule fingerprints the judge compares with are read from the store
    while collection waits on AWS: a collection that only finishes once they were read
    (30 s at most, then the test fails) still completes, and they are the store's."""
    run_cycle(ctx.settings, clock=FixedClock(NOW), sessions=ctx.sessions, store=ctx.store)
    read = threading.Event()
    real_read, real_collect = pipeline_collect.read_prior, pipeline_collect.collect

    def read_prior(store: Store) -> Prior:
        found = real_read(store)
        read.set()
        return found

    def collect(*args: Any, **kwargs: Any) -> Any:
        assert read.wait(timeout=30), "the prior state was not read during collection"
        return real_collect(*args, **kwargs)

    monkeypatch.setattr(pipeline_collect, "read_prior", read_prior)
    monkeypatch.setattr(pipeline_collect, "collect", collect)

    collected = collect_estate(ctx)

    assert dict(collected.prior.open_findings) == ctx.store.open_findings()
    assert RULE in {t.finding.rule_id for t in collected.prior.open_findings.values()}
    assert collected.prior.fingerprints  # the first cycle's, kept in its metadata


def test_evaluate_returns_the_findings_and_what_changed(ctx: CycleContext) -> None:
    """Collected -> Judged(snapshot, evaluation, delta, now): the SSH key pair is a new
    failing finding; nothing is written."""
    judged = judge(ctx, guard(ctx), collect_estate(ctx))
    failing = {f.rule_id for f in judged.evaluation.findings if f.status is Status.FAIL}
    assert RULE in failing
    assert RULE in {t.finding.rule_id for t in judged.delta.new}
    assert (judged.delta.still_open, judged.delta.resolved) == ((), ())
    assert NOW == judged.now
    assert ctx.store.latest_snapshot() is None


def test_decide_plans_without_doing_anything(ctx: CycleContext) -> None:
    """Judged -> Decided(plan, actions, messages, report id): a dry-run plan, the alert
    messages, the report id the cycle owes; nothing written, nothing sent."""
    judged, decided = until_decided(ctx)
    assert "dry-run" == decided.plan.mode
    assert not decided.enforcing
    assert all(a.mode == "dry-run" for a in decided.actions)
    assert any("new violation" in str(m.payload) for m in decided.messages)
    assert decided.report_id is not None
    assert decided.snapshot.id == judged.snapshot.id
    assert ctx.store.latest_snapshot() is None
    assert [] == ctx.store.outbox().pending()


def test_commit_writes_the_cycle_in_one_transaction(ctx: CycleContext) -> None:
    """(Judged, Decided) -> CycleRecord: snapshot, findings, actions and messages stored."""
    judged, decided = until_decided(ctx)
    record = commit(ctx, judged, decided)
    stored = ctx.store.latest_snapshot()
    assert stored is not None
    assert stored.id == record.snapshot.id
    assert {f.rule_id for f in (t.finding for t in ctx.store.open_findings().values())} >= {RULE}
    assert {m.key for m in decided.messages} == {m.key for m in ctx.store.outbox().pending()}


def test_commit_checks_the_lease_first_and_writes_nothing_without_it(
    settings: Settings, ctx: CycleContext
) -> None:
    """The store's fence is the one lease check: when it raises, nothing is written."""

    class LostLease(Store):
        def fence(self) -> None:
            raise LeaseLost

    judged, decided = until_decided(ctx)
    fenced = dataclasses.replace(ctx, store=LostLease(ctx.store.engine))
    with pytest.raises(LeaseLost):
        commit(fenced, judged, decided)
    assert ctx.store.latest_snapshot() is None


def test_act_in_dry_run_returns_the_committed_actions(ctx: CycleContext) -> None:
    """Decided -> actions: dry-run makes no call; the records are those committed."""
    judged, decided = until_decided(ctx)
    commit(ctx, judged, decided)
    assert decided.actions == act(ctx, decided)
    assert all(a.status is not ActionStatus.EXECUTED for a in decided.actions)


def test_publish_writes_the_signed_report_under_the_chain_lock(ctx: CycleContext) -> None:
    """(Judged, Decided, actions) -> Publication(report_dir): a signed bundle."""
    judged, decided = until_decided(ctx)
    with report_chain(ctx) as chain:
        commit(ctx, judged, decided)
        published = publish(ctx, chain, judged, decided, act(ctx, decided))
    assert published.error is None
    assert published.report_dir is not None
    assert (published.report_dir / "manifest.sig").is_file()


def test_deliver_sends_what_the_outbox_holds(ctx: CycleContext, tmp_path: Path) -> None:
    """The outbox -> Delivered(sent, pending): every committed message is sent."""
    judged, decided = until_decided(ctx)
    commit(ctx, judged, decided)
    delivered = deliver(ctx, alerting=decided.alerts is not None)
    assert (len(decided.messages), 0) == (delivered.sent, delivered.pending)
    assert [] == ctx.store.outbox().pending()
    assert len(decided.messages) == len((tmp_path / "alerts.jsonl").read_text().splitlines())


def test_report_input_replays_the_same_evaluation(ctx: CycleContext) -> None:
    """An on-demand report re-evaluates the stored cycle with the same evaluate stage: the
    same findings as the cycle that stored it."""
    judged, decided = until_decided(ctx)
    commit(ctx, judged, decided)
    replayed = report_input(ctx.settings, clock=ctx.clock, store=ctx.store)
    assert sorted(f.id for f in judged.evaluation.findings) == sorted(
        f.id for f in replayed.evaluation.findings
    )


def test_run_cycle_is_the_stages_in_order(settings: Settings, tmp_path: Path) -> None:
    """run_cycle -> CycleResult: the same findings, a signed report, the alerts delivered,
    exit code 1 (a high finding)."""
    capture = CaptureTransport(tmp_path / "alerts.jsonl")
    result = run_cycle(
        settings,
        clock=FixedClock(NOW),
        sessions=AwsSessions(base=boto3.Session(region_name=REGION)),
        options=CycleOptions(transport=capture),
    )
    assert RULE in {t.finding.rule_id for t in result.delta.new}
    assert result.report_dir is not None
    assert (result.report_dir / "manifest.sig").is_file()
    assert (result.alerts_sent, result.alerts_pending) == (len(capture.previews), 0)
    assert ExitCode.VIOLATIONS is result.exit_code(Severity.HIGH)
