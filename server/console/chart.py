"""The daily revenue chart as plain SVG geometry, drawn on the server (no script, no library).

The page stretches the SVG to its width at a fixed height and sets the labels in HTML around it,
so on a phone the bars keep their height and the text its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..money import format_amount

WIDTH, HEIGHT = 600, 160
TOP, BOTTOM, LEFT = 4, 1, 0  # the best day's bar stops short of the top; the axis line below


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # "2024-05-31: €120.00", the bar's <title>


@dataclass(frozen=True)
class Chart:
    currency: str
    width: int
    height: int
    bars: list[Bar]
    baseline: float
    peak_label: str
    first_day: str
    last_day: str
    summary: str  # for screen readers: what the chart shows in one sentence


def bar_chart(points: list[tuple[date, int]], currency: str) -> Chart:
    """One bar per day, scaled to the best day; days without revenue get no bar."""
    plot = HEIGHT - TOP - BOTTOM
    peak = max((amount for _, amount in points), default=0)
    slot = (WIDTH - LEFT) / max(len(points), 1)
    bars = []
    for index, (day, amount) in enumerate(points):
        height = round(plot * amount / peak, 1) if peak > 0 and amount > 0 else 0.0
        bars.append(
            Bar(
                x=round(LEFT + index * slot + slot * 0.15, 1),
                y=round(TOP + plot - height, 1),
                width=round(slot * 0.7, 1),
                height=height,
                label=f"{day.isoformat()}: {format_amount(amount, currency)}",
            )
        )
    total = sum(amount for _, amount in points)
    first = points[0][0].isoformat() if points else ""
    last = points[-1][0].isoformat() if points else ""
    return Chart(
        currency=currency,
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        baseline=TOP + plot,
        peak_label=format_amount(peak, currency),
        first_day=first,
        last_day=last,
        summary=f"Revenue per day from {first} to {last}: {format_amount(total, currency)} in all, "
        f"best day {format_amount(peak, currency)}.",
    )
