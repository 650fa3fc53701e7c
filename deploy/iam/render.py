"""Render deploy/iam/*.json.tftpl with example values into DIR, beside copies of the plain
policies, so linters (parliament) and tests read real IAM JSON. Terraform renders the same
templates with `templatefile()` and the real bucket, key and queue."""

from __future__ import annotations

import string
import sys
from pathlib import Path

EXAMPLE = {
    "partition": "aws",
    "reports_bucket": "acme-auditor-reports",
    "reports_prefix": "reports/",
    "signing_key_arn": (
        "arn:aws:kms:us-east-1:111111111111:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
    ),
    "queue_arn": "arn:aws:sqs:us-east-1:111111111111:auditor-events",
    "dead_letter_arn": "arn:aws:sqs:us-east-1:111111111111:auditor-events-dlq",
    "state_bucket": "acme-tf-state",
    "state_prefix": "prod/",
}


def render(out: Path) -> list[Path]:
    here = Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(here.glob("*.json*")):
        text = src.read_text(encoding="utf-8")
        if src.name.endswith(".tftpl"):
            text = string.Template(text).substitute(EXAMPLE)
        dest = out / src.name.removesuffix(".tftpl")
        dest.write_text(text, encoding="utf-8")
        written.append(dest)
    return written


if __name__ == "__main__":
    for path in render(Path(sys.argv[1])):
        print(path)
