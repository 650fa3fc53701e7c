"""Benchmark: a report with 50,000 findings, rendered (JSON, HTML, CSV, OCSF) and signed.

Target (issue 5): under 10 s and under 500 MB peak memory. Prints one JSON line; run with
`python bench/report.py [N]`. Peak memory is the process's max RSS (ru_maxrss), which
includes the interpreter and imports, measured in a fresh process.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(n: int = 50_000) -> dict[str, object]:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from auditor.report.bundle import write_bundle
    from auditor.report.signing import Ed25519Signer
    from auditor.report.verify import verify_bundle
    from tests.report.factory import make_input

    data = make_input(n, with_gap=True)
    signer = Ed25519Signer(ed25519.Ed25519PrivateKey.generate())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        info = write_bundle(data, Path(tmp), signer)
        elapsed = time.perf_counter() - began
        began = time.perf_counter()
        ok = verify_bundle(info.path, signer.public_key_pem()).ok
        verify_s = time.perf_counter() - began
        sizes = {p.name: p.stat().st_size for p in info.path.iterdir()}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "bench": "report",
        "findings": n + 1,
        "render_and_sign_seconds": round(elapsed, 2),
        "verify_seconds": round(verify_s, 2),
        "peak_rss_mb": round(peak, 1),
        "rss_before_render_mb": round(rss_before, 1),
        "sizes_mb": {k: round(v / 1e6, 2) for k, v in sorted(sizes.items())},
        "verified": ok,
        "target": {"seconds": 10, "peak_rss_mb": 500},
        "within_target": elapsed < 10 and peak < 500 and ok,
    }


if __name__ == "__main__":
    result = main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
    print(json.dumps(result))
    sys.exit(0 if result["within_target"] else 1)
