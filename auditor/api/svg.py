"""A tiny server-side SVG line chart (the score trend): no script, no external assets."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT, PAD = 640, 160, 24


def trend(points: Sequence[tuple[str, float | None]]) -> Markup:
    scored = [(label, score) for label, score in points if score is not None]
    if not scored:
        return Markup('<p class="muted">No scored report yet.</p>')
    step = (WIDTH - 2 * PAD) / max(1, len(scored) - 1)
    coords = [
        (PAD + i * step, HEIGHT - PAD - score * (HEIGHT - 2 * PAD))
        for i, (_, score) in enumerate(scored)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1f5fa8">'
        f"<title>{escape(label)}: {score * 100:.1f}%</title></circle>"
        for (x, y), (label, score) in zip(coords, scored, strict=True)
    )
    return Markup(  # noqa: S704 - numbers, and labels escaped above
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="compliance score over the last {len(scored)} reports">'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        f'stroke="#999"/><line x1="{PAD}" y1="{PAD}" x2="{WIDTH - PAD}" y2="{PAD}" '
        f'stroke="#ddd"/><text x="2" y="{PAD + 4}" font-size="10">100%</text>'
        f'<text x="8" y="{HEIGHT - PAD + 4}" font-size="10">0%</text>'
        f'<polyline points="{line}" fill="none" stroke="#1f5fa8" stroke-width="2"/>{dots}</svg>'
    )
