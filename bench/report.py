"""Latency summaries, the printed tables, and the JSON files in bench/results/."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """count, mean, p50, p90, p99 and max of latencies given in seconds, reported in milliseconds."""
    if not seconds:
        return {"count": 0, "mean_ms": math.nan, "p50_ms": math.nan, "p90_ms": math.nan,
                "p99_ms": math.nan, "max_ms": math.nan}  # fmt: skip
    return {
        "count": len(seconds),
        "mean_ms": round(sum(seconds) / len(seconds) * 1000, 3),
        "p50_ms": round(percentile(seconds, 50) * 1000, 3),
        "p90_ms": round(percentile(seconds, 90) * 1000, 3),
        "p99_ms": round(percentile(seconds, 99) * 1000, 3),
        "max_ms": round(max(seconds) * 1000, 3),
    }


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table of `columns` from `rows`, right-aligned numbers."""
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [
        max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)
    ]
    lines = [title, "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(
                v.rjust(w) if i else v.ljust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def save(name: str, data: dict[str, Any]) -> Path:
    """Write bench/results/NAME-<time>.json and NAME.json (the latest run); return the first."""
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    body = json.dumps({"benchmark": name, "finished_at": stamp, **data}, indent=2, default=str)
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(body)
    (RESULTS / f"{name}.json").write_text(body)
    return path
