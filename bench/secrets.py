"""Secret detection benchmark: precision and recall on the labelled corpus, and throughput.

For each engine configuration, per rule family (user data = ec2/lt.userdata_secrets,
environments = ecs.env_secrets) and overall: precision and recall of the case verdict
(secret / no secret) on tests/data/secrets/, and the cases it gets wrong. Then throughput:
the user-data corpus scaled to N documents (default 5,000, one per instance of the
collection benchmark), base64 as EC2 returns it, through `redacted_text`, today's detector
against the new one. This stands in for re-running the 5,000-instance moto benchmark: the
detector is the only part of user-data collection that changed.

Configurations: `today` (detect-secrets plugins + names, before issue 14), `kingfisher`
(Kingfisher's rules alone), `auditor+detect-secrets` (the product), `auditor+kingfisher`
(our layer with Kingfisher as the token library). Kingfisher ones need
`pip install kingfisher-secret-scanner` and are skipped without it.

Targets (issue 14): precision and recall >= 0.97 per family; user-data scan time within 10%
of today's.

    .venv/bin/python bench/secrets.py [--documents 5000] [--repeat 3] [--held-out]
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.model import SecretHit
from auditor.secrets import Detector
from auditor.secrets.redact import decode_user_data
from auditor.secrets.tokens import KingfisherEngine
from bench import _secrets_today as today
from tests.secrets_corpus import FAMILIES, Case, found, load_cases

TextScan = Callable[[str], tuple[SecretHit, ...]]
EnvScan = Callable[[str, str, str], tuple[SecretHit, ...]]
TARGET = 0.97


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def _kingfisher_only() -> tuple[TextScan, EnvScan]:
    engine = KingfisherEngine()

    def text(t: str) -> tuple[SecretHit, ...]:
        return tuple(SecretHit(f"line {h.line}", h.detector, "") for h in engine.scan(t))

    def env(name: str, value: str, location: str) -> tuple[SecretHit, ...]:
        return tuple(SecretHit(location, h.detector, "") for h in engine.scan(f"{name}={value}"))

    return text, env


def configurations() -> dict[str, tuple[TextScan, EnvScan]]:
    out: dict[str, tuple[TextScan, EnvScan]] = {
        "today": (today.scan_text, today.scan_assignment),
    }
    ours = Detector()
    kingfisher = importlib.util.find_spec("kingfisher_sdk") is not None
    if kingfisher:
        out["kingfisher"] = _kingfisher_only()
    out["auditor+detect-secrets"] = (ours.scan_text, ours.scan_assignment)
    if kingfisher:
        with_kf = Detector(KingfisherEngine())
        out["auditor+kingfisher"] = (with_kf.scan_text, with_kf.scan_assignment)
    return out


def score(cases: list[Case], text: TextScan, env: EnvScan) -> tuple[dict[str, Score], list[str]]:
    scores = {family: Score() for family in (*FAMILIES, "overall")}
    wrong: list[str] = []
    for case in cases:
        lines, names = found(case, text, env)
        hit = bool(lines or names)
        for key in (case.family, "overall"):
            s = scores[key]
            if hit and case.secret:
                s.tp += 1
            elif hit:
                s.fp += 1
            elif case.secret:
                s.fn += 1
            else:
                s.tn += 1
        if hit != case.secret:
            wrong.append(f"{'FP' if hit else 'FN'} {case.id}")
    return scores, wrong


def throughput(cases: list[Case], documents: int, repeat: int, text: TextScan) -> float:
    """Best-of-`repeat` seconds to decode and scan `documents` base64 user-data documents."""
    texts = [c.text for c in cases if c.family == "userdata"]
    encoded = [base64.b64encode(texts[i % len(texts)].encode()) for i in range(documents)]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for raw in encoded:
            text(decode_user_data(raw).decode("utf-8", errors="replace"))
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--held-out", action="store_true", help="score only the held-out batch (ids ho-*)"
    )
    args = parser.parse_args()
    cases = [c for c in load_cases() if c.id.startswith("ho-") or not args.held_out]
    secret = sum(c.secret for c in cases)
    print(
        f"corpus: {len(cases)} cases ({secret} with a secret, {len(cases) - secret} without);"
        f" {platform.machine()} {platform.python_version()}"
    )
    configs = configurations()
    failed = False
    print(f"{'configuration':24} {'family':13} {'precision':>9} {'recall':>7}  tp fp fn tn")
    for name, (text, env) in configs.items():
        scores, wrong = score(cases, text, env)
        for family, s in scores.items():
            print(
                f"{name:24} {family:13} {s.precision:9.3f} {s.recall:7.3f}"
                f"  {s.tp:2} {s.fp:2} {s.fn:2} {s.tn:2}"
            )
            if name == "auditor+detect-secrets" and min(s.precision, s.recall) < TARGET:
                failed = True
        if wrong:
            print(f"{'':24} wrong: {', '.join(wrong)}")
    print(f"\nthroughput: {args.documents} user-data documents, best of {args.repeat}")
    base = None
    for name, (text, _env) in configs.items():
        seconds = throughput(cases, args.documents, args.repeat, text)
        base = base or seconds
        print(
            f"{name:24} {seconds:7.3f} s  {args.documents / seconds:8.0f} docs/s"
            f"  {seconds / base:5.2f}x today"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
