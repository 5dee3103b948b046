"""Charts drawn on the server: the geometry of small SVG charts, rendered by
``admin/django_invoices/health/chart.html``. No JavaScript, nothing from elsewhere.

A chart is a dict of shapes in the SVG's own units (``WIDTH`` by ``HEIGHT`` plus the
margins): bars stacked per column, or lines through one point per column, the ticks of
both axes, and the legend. Every shape carries a ``title`` (the tooltip, and what a
screen reader reads).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone as dj_timezone
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

WIDTH = 720
HEIGHT = 160
LEFT = 48  # room for the y axis' labels
BOTTOM = 22  # room for the x axis' labels
TOP = 8


@dataclass(frozen=True)
class Series:
    """One kind of value a chart shows: its key in each column's values, its label and
    its colour (a CSS class of the page)."""

    key: str
    label: Any
    css: str


def _x_ticks(starts: Sequence[datetime], step: float) -> list[dict[str, Any]]:
    """Labels along the time axis: every 3 hours over a day, every day over a week."""
    ticks = []
    daily = len(starts) > 48
    for index, start in enumerate(starts):
        local = dj_timezone.localtime(start)
        if daily and local.hour != 0:
            continue
        if not daily and local.hour % 3:
            continue
        ticks.append(
            {
                "x": round(LEFT + index * step, 1),
                "label": date_format(local, "D j" if daily else "H:i"),
            }
        )
    return ticks


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten at least ``value`` (1 at least)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if value <= factor * power:
            return float(factor * power)
    return float(10 * power)


def bars(
    starts: Sequence[datetime],
    columns: Sequence[dict[str, int]],
    series: Sequence[Series],
    *,
    describe: Callable[[datetime], str],
) -> dict[str, Any]:
    """Bars stacked per column (one column per hour), ``series`` bottom to top."""
    step = WIDTH / max(1, len(columns))
    top = _nice_ceiling(max((sum(c.get(s.key, 0) for s in series) for c in columns), default=0))
    scale = HEIGHT / top
    labels = {entry.key: str(entry.label) for entry in series}  # translated once
    described: dict[int, str] = {}
    rects = []
    for index, column in enumerate(columns):
        base = 0.0
        for entry in series:
            n = column.get(entry.key, 0)
            if not n:
                continue
            if index not in described:
                described[index] = describe(starts[index])
            height = n * scale
            rects.append(
                {
                    "x": round(LEFT + index * step + step * 0.1, 1),
                    "y": round(TOP + HEIGHT - base - height, 1),
                    "width": round(max(step * 0.8, 1), 1),
                    "height": round(max(height, 0.5), 1),
                    "css": entry.css,
                    "title": f"{described[index]} · {labels[entry.key]}: {n}",
                }
            )
            base += height
    y_ticks = [
        {"y": round(TOP + HEIGHT - value * scale, 1), "label": _count(value)}
        for value in (0, top / 2, top)
    ]
    # The legend names what the chart shows (the first series always, for an empty one).
    shown = [
        entry
        for index, entry in enumerate(series)
        if index == 0 or any(c.get(entry.key) for c in columns)
    ]
    return _chart(starts, step, y_ticks, shown, rects=rects)


def lines(
    starts: Sequence[datetime],
    columns: Sequence[dict[str, float | None]],
    series: Sequence[Series],
    *,
    low: float,
    high: float,
    ticks: Sequence[float],
    label: Callable[[float], str],
    describe: Callable[[datetime], str],
) -> dict[str, Any]:
    """Lines through each column's value of each series, on a logarithmic axis from
    ``low`` to ``high`` (values outside are drawn at the edge) labelled at ``ticks``; a
    column without a value breaks the line."""
    step = WIDTH / max(1, len(columns))
    span = math.log10(high) - math.log10(low)

    def y_of(value: float) -> float:
        clipped = min(max(value, low), high)
        return round(TOP + HEIGHT * (1 - (math.log10(clipped) - math.log10(low)) / span), 1)

    paths: list[dict[str, Any]] = []
    dots: list[dict[str, Any]] = []
    described: dict[int, str] = {}
    for entry in series:
        name = str(entry.label)  # translated once
        runs: list[list[str]] = [[]]
        for index, column in enumerate(columns):
            value = column.get(entry.key)
            if value is None:
                runs.append([])
                continue
            x = round(LEFT + index * step + step / 2, 1)
            y = y_of(value)
            runs[-1].append(f"{x},{y}")
            if index not in described:
                described[index] = describe(starts[index])
            dots.append(
                {
                    "x": x,
                    "y": y,
                    "css": entry.css,
                    "title": f"{described[index]} · {name}: {label(value)}",
                }
            )
        paths.extend({"points": " ".join(run), "css": entry.css} for run in runs if len(run) > 1)
    y_ticks = [{"y": y_of(value), "label": label(value)} for value in ticks]
    shown = [entry for entry in series if any(c.get(entry.key) is not None for c in columns)]
    return _chart(starts, step, y_ticks, shown or series, paths=paths, dots=dots)


def _chart(
    starts: Sequence[datetime],
    step: float,
    y_ticks: list[dict[str, Any]],
    series: Sequence[Series],
    **shapes: Any,
) -> dict[str, Any]:
    chart = {
        "width": LEFT + WIDTH + 8,
        "height": TOP + HEIGHT + BOTTOM,
        "left": LEFT,
        "right": LEFT + WIDTH,
        "top": TOP,
        "bottom": TOP + HEIGHT,
        "label_y": TOP + HEIGHT + 15,
        "x_ticks": _x_ticks(starts, step),
        "y_ticks": y_ticks,
        "legend": [{"label": s.label, "css": s.css} for s in series],
        "rects": [],
        "paths": [],
        "dots": [],
        **shapes,
    }
    chart["shapes"] = _markup(chart)
    return chart


def _markup(chart: dict[str, Any]) -> str:
    """The chart's bars, lines and points as SVG elements (a week of hours is hundreds
    of them: written here, not by a template loop). The titles are escaped; every other
    value is a number or one of this module's class names."""
    parts = [
        f'<rect class="{rect["css"]}" x="{rect["x"]}" y="{rect["y"]}" width="{rect["width"]}" '
        f'height="{rect["height"]}"><title>{escape(rect["title"])}</title></rect>'
        for rect in chart["rects"]
    ]
    parts.extend(
        f'<polyline class="di-line {path["css"]}" points="{path["points"]}"/>'
        for path in chart["paths"]
    )
    parts.extend(
        f'<circle class="{dot["css"]}" cx="{dot["x"]}" cy="{dot["y"]}" r="2">'
        f"<title>{escape(dot['title'])}</title></circle>"
        for dot in chart["dots"]
    )
    return mark_safe("\n".join(parts))  # noqa: S308 (titles escaped, the rest numbers)


def _count(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _units() -> dict[str, str]:
    """The units' formats in the active language, translated once per language."""
    language = get_language() or ""
    found = _UNITS.get(language)
    if found is None:
        found = _UNITS[language] = {
            "ms": _("%(n)s ms"),
            "s": _("%(n)s s"),
            "min": _("%(n)s min"),
            "h": _("%(n)s h"),
        }
    return found


_UNITS: dict[str, dict[str, str]] = {}


def seconds(value: float) -> str:
    """A duration in seconds, shortly: "0.5 s", "12 s", "1.5 min", "4 min", "2 h"."""
    units = _units()
    if value < 60:
        return units["s"] % {"n": _short(value)}
    if value < 3600:
        return units["min"] % {"n": _short(value / 60)}
    return units["h"] % {"n": _short(value / 3600)}


def _short(value: float) -> str:
    """One decimal under 10, none above: "0.5", "2", "12"."""
    return f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"


def milliseconds(value: float) -> str:
    """A duration in milliseconds, shortly: "120 ms", "1.5 s"."""
    if value < 1000:
        return _units()["ms"] % {"n": f"{value:.0f}"}
    return seconds(value / 1000)
