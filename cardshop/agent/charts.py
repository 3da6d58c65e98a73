"""A server-rendered SVG bar chart: no script, nothing fetched from elsewhere."""

from __future__ import annotations

from dataclasses import dataclass

from ..services.agent_reports import MonthTotal

WIDTH, HEIGHT, TOP, BOTTOM = 340, 170, 22, 26


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value_fen: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    baseline: float
    bars: list[Bar]
    empty: bool


def bar_chart(series: list[MonthTotal]) -> Chart:
    """Bars scaled to the largest month; labels are months (M月)."""
    peak = max((point.fen for point in series), default=0)
    slot = WIDTH / max(1, len(series))
    usable = HEIGHT - TOP - BOTTOM
    bars = []
    for index, point in enumerate(series):
        height = usable * point.fen / peak if peak else 0
        bars.append(
            Bar(
                x=index * slot + slot * 0.2,
                y=TOP + usable - height,
                width=slot * 0.6,
                height=height,
                label=f"{point.month.month}月",
                value_fen=point.fen,
            )
        )
    return Chart(WIDTH, HEIGHT, TOP + usable, bars, peak == 0)
