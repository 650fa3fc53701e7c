"""Benchmark: the findings explorer's filtered query over 100,000 findings on PostgreSQL.

Target (issue 19): under 300 ms. Fills a fresh schema of the PostgreSQL at 127.0.0.1:5432
(database `test`, or $AUDITOR_BENCH_PG) with N findings over 20 accounts x 4 regions x 12
rules x 5 severities, then times GET /api/v1/findings?account=..&severity=high (first page
of 50 plus the total count, as the page shows it) through the real app in-process, and the
same with free text and a framework control. Prints one JSON line; drops the schema.

    python bench/api.py [N]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUNS = 15
SEVERITIES = ("critical", "high", "medium", "low", "info")


def _rows(n: int, now: datetime) -> list[dict[str, object]]:
    from auditor.engine import load_rules
    from auditor.settings import RulesConfig

    rules = [r.id for r in load_rules(RulesConfig()).rules][:12]
    out = []
    for i in range(n):
        account = f"{100000000000 + i % 20}"
        region = ("eu-west-1", "us-east-1", "us-west-2", "ap-south-1")[(i // 20) % 4]
        arn = f"arn:aws:ec2:{region}:{account}:instance/i-{i:017x}"
        out.append(
            {
                "id": uuid.uuid5(uuid.NAMESPACE_URL, arn).hex + f"{i:08x}"[:0],
                "rule_id": rules[i % len(rules)],
                "severity": SEVERITIES[(i // 7) % 5],
                "status": "fail" if i % 11 else "unknown",
                "resource": {"arn": arn, "id": f"i-{i:017x}", "kind": "ec2.instance",
                             "account": account, "region": region,
                             "tags": {"owner": f"team-{i % 9}", "Name": f"web-{i}"}},
                "message": f"i-{i:017x} has a finding",
                "evidence": {"n": i},
                "exemption": None,
                "first_seen": now - timedelta(minutes=i),
                "last_seen": now,
                "consecutive_cycles": 3,
                "resolved_at": None if i % 13 else now,
            }
        )  # fmt: skip
    return out


def main(n: int = 100_000) -> dict[str, object]:
    import psycopg
    from fastapi.testclient import TestClient

    from auditor.api.app import create_app
    from auditor.commands.serve import build_context
    from auditor.settings import Settings
    from auditor.store import Store
    from auditor.store.findings import FINDINGS
    from auditor.store.snapshots import chunks
    from auditor.store.tokens import create_token

    base = os.environ.get("AUDITOR_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{base}?options=-csearch_path%3D{schema}"
    try:
        store = Store.open(url)
        now = datetime.now(UTC)
        began = time.perf_counter()
        with store.engine.begin() as conn:
            for batch in chunks(_rows(n, now), 5000):
                conn.execute(FINDINGS.insert(), batch)
            conn.exec_driver_sql("ANALYZE findings")
        fill_s = time.perf_counter() - began
        token = create_token(store.engine, "bench", now, role="viewer")
        settings = Settings(store=url, reports={"dir": Path("/nonexistent")})
        client = TestClient(create_app(build_context(settings, store)))
        headers = {"Authorization": f"Bearer {token}"}
        queries = {
            "account+severity": {"account": "100000000007", "severity": "high"},
            "text+status": {"q": "i-00000000000001", "status": "fail"},
            "control+owner+sort": {"control": "CM-2", "owner": "team-4", "sort": "-first_seen"},
        }
        timings: dict[str, dict[str, float | int]] = {}
        for name, params in queries.items():
            samples = []
            total = 0
            for _ in range(RUNS):
                t = time.perf_counter()
                resp = client.get("/api/v1/findings", params=params, headers=headers)
                samples.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 200, resp.text
                total = resp.json()["total"]
            timings[name] = {
                "median_ms": round(statistics.median(samples), 1),
                "max_ms": round(max(samples), 1),
                "matches": total,
            }
        store.close()
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
    return {"findings": n, "fill_s": round(fill_s, 1), "runs": RUNS, "queries": timings,
            "target_ms": 300}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
