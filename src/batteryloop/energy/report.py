"""A one-page report of a dispatch: one self-contained HTML file with inline SVG charts (no script, no network).

Charts: the day-ahead price, the state of charge, the revenue by month (Europe/Amsterdam) and the full equivalent
cycles by month; a table of key figures and the monthly figures as a table (the numbers behind the bars).
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from batteryloop.energy.asset import Asset
from batteryloop.energy.dispatch import DispatchResult, FcrMarket, fcr_blocks, local_months

FloatArray = NDArray[np.float64]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MAX_POINTS = 3000  # points per line chart: longer series are drawn as the min/max envelope of equal bins
WIDTH, HEIGHT = 920, 220
PAD_L, PAD_R, PAD_T, PAD_B = 64, 16, 14, 28


@dataclass(frozen=True)
class MonthFigures:
    """One Europe/Amsterdam month of the schedule."""

    label: str
    arbitrage_eur: float
    fcr_eur: float
    full_equivalent_cycles: float

    @property
    def total_eur(self) -> float:
        return self.arbitrage_eur + self.fcr_eur


def monthly_figures(
    result: DispatchResult, asset: Asset, *, step_minutes: int, fcr: FcrMarket | None = None
) -> list[MonthFigures]:
    """Per month: the energy trade at the day-ahead price :math:`\\sum p_t (d_t - c_t) \\Delta t / 1000` [EUR] (the
    arbitrage revenue front of the meter), the FCR capacity revenue of the blocks starting in it (each block's
    :math:`\\pi_b r_b / 1000` spread evenly over its steps) and the full equivalent cycles (energy drawn from the cells
    over the energy content)."""
    s = result.schedule
    ts = s["timestamp_utc"].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]")
    dt = step_minutes / 60.0
    price = np.nan_to_num(s["price_eur_per_MWh"].to_numpy().astype(np.float64))
    c = np.nan_to_num(s["charge_kW"].to_numpy().astype(np.float64))
    d = np.nan_to_num(s["discharge_kW"].to_numpy().astype(np.float64))
    trade = price * (d - c) * dt / 1000.0
    cycles = d * dt / asset.discharge_efficiency / asset.energy_kWh
    fcr_step = np.zeros(len(ts))
    if fcr is not None and "fcr_kW" in s.columns:
        blocks = fcr_blocks(ts, fcr.block_hours)
        counts = np.bincount(blocks)
        r = s["fcr_kW"].to_numpy().astype(np.float64)
        fcr_step = np.nan_to_num(fcr.price_eur_per_MW) * r / 1000.0 / counts[blocks]
    months = local_months(ts)
    out: list[MonthFigures] = []
    for m in np.unique(months):
        sel = months == m
        year, month = divmod(int(m) - 1, 12)
        out.append(
            MonthFigures(
                label=f"{MONTHS[month]} {year}",
                arbitrage_eur=float(trade[sel].sum()),
                fcr_eur=float(fcr_step[sel].sum()),
                full_equivalent_cycles=float(cycles[sel].sum()),
            )
        )
    return out


def _envelope(values: FloatArray, bins: int = MAX_POINTS) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """x positions (0..1) with the lower line, the upper line and the mean: the values themselves, or their
    min/max/mean per bin when there are more than ``bins``."""
    n = len(values)
    if n <= bins:
        x = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(n)
        return x, values, values, values
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    lo, hi, mean = np.full(bins, np.nan), np.full(bins, np.nan), np.full(bins, np.nan)
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        chunk = values[a:b]
        chunk = chunk[np.isfinite(chunk)]
        if len(chunk):
            lo[i], hi[i], mean[i] = chunk.min(), chunk.max(), chunk.mean()
    return np.linspace(0.0, 1.0, bins), lo, hi, mean


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else [0.0]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.1f}" if abs(v) >= 1 else f"{v:.2g}"


def _frame(title: str, unit: str, lo: float, hi: float) -> tuple[list[str], Any]:
    h = HEIGHT - PAD_T - PAD_B
    w = WIDTH - PAD_L - PAD_R

    def y(v: float) -> float:
        return PAD_T + h * (1 - (v - lo) / (hi - lo)) if hi > lo else PAD_T + h / 2

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{w}" height="{h}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for t in _ticks(lo, hi):
        yy = y(t)
        parts.append(f'<line x1="{PAD_L}" x2="{PAD_L + w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e3e3e3"/>')
        parts.append(
            f'<text x="{PAD_L - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" fill="#444">{_fmt(t)}</text>'
        )
    parts.append(
        f'<text x="12" y="{PAD_T + h / 2:.1f}" font-size="11" fill="#444" '
        f'transform="rotate(-90 12 {PAD_T + h / 2:.1f})" text-anchor="middle">{html.escape(unit)}</text>'
    )
    return parts, y


def line_chart(
    title: str,
    unit: str,
    values: FloatArray,
    labels: Sequence[tuple[float, str]],
    *,
    colour: str,
    chart_id: str,
    bins: int = MAX_POINTS,
) -> str:
    """A line chart of ``values`` over the period, or, with more values than ``bins``, the min/max band of each bin
    with its mean as a line; ``labels`` are (x in 0..1, text)."""
    x, lo_line, hi_line, mean_line = _envelope(np.asarray(values, dtype=np.float64), bins)
    finite = np.concatenate([lo_line[np.isfinite(lo_line)], hi_line[np.isfinite(hi_line)]])
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    pad = 0.04 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    parts, y = _frame(title, unit, lo, hi)
    w = WIDTH - PAD_L - PAD_R
    xs = PAD_L + x * w

    def path(line: FloatArray) -> str:
        segs: list[str] = []
        pen = "M"
        for xi, vi in zip(xs, line, strict=True):
            if not math.isfinite(vi):
                pen = "M"
                continue
            segs.append(f"{pen}{xi:.1f},{y(float(vi)):.1f}")
            pen = "L"
        return "".join(segs)

    if lo_line is hi_line:
        parts.append(f'<path d="{path(lo_line)}" fill="none" stroke="{colour}" stroke-width="1"/>')
    else:
        ok = np.isfinite(lo_line) & np.isfinite(hi_line)
        upper = " ".join(f"{xi:.1f},{y(float(v)):.1f}" for xi, v in zip(xs[ok], hi_line[ok], strict=True))
        lower = " ".join(f"{xi:.1f},{y(float(v)):.1f}" for xi, v in zip(xs[ok][::-1], lo_line[ok][::-1], strict=True))
        parts.append(f'<polygon points="{upper} {lower}" fill="{colour}" opacity="0.25" stroke="none"/>')
        parts.append(f'<path d="{path(mean_line)}" fill="none" stroke="{colour}" stroke-width="1.2"/>')
    for pos, text in labels:
        xx = PAD_L + pos * w
        parts.append(
            f'<text x="{xx:.1f}" y="{HEIGHT - 8}" font-size="11" fill="#444" text-anchor="middle">{html.escape(text)}'
            "</text>"
        )
    parts.append("</svg>")
    return f'<figure id="{chart_id}"><figcaption>{html.escape(title)}</figcaption>{"".join(parts)}</figure>'


def bar_chart(
    title: str, unit: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]], *, chart_id: str
) -> str:
    """Stacked bars per label; ``series`` are (name, values, colour); negative values stack below zero."""
    n = len(labels)
    pos_top = np.zeros(n)
    neg_bottom = np.zeros(n)
    for _, vals, _ in series:
        arr = np.asarray(vals, dtype=np.float64)
        pos_top += np.maximum(arr, 0)
        neg_bottom += np.minimum(arr, 0)
    lo = min(0.0, float(neg_bottom.min()) if n else 0.0)
    hi = max(0.0, float(pos_top.max()) if n else 1.0)
    if hi == lo:
        hi = lo + 1
    pad = 0.06 * (hi - lo)
    lo, hi = (lo - pad if lo < 0 else lo), hi + pad
    parts, y = _frame(title, unit, lo, hi)
    w = WIDTH - PAD_L - PAD_R
    slot = w / max(n, 1)
    bar = slot * 0.7
    up = np.zeros(n)
    down = np.zeros(n)
    for name, vals, colour in series:
        for i, v in enumerate(np.asarray(vals, dtype=np.float64)):
            if v == 0 or not math.isfinite(v):
                continue
            base = up[i] if v > 0 else down[i]
            top, bottom = (base + v, base) if v > 0 else (base, base + v)
            x0 = PAD_L + i * slot + (slot - bar) / 2
            parts.append(
                f'<rect x="{x0:.1f}" y="{y(top):.1f}" width="{bar:.1f}" height="{max(y(bottom) - y(top), 0.5):.1f}" '
                f'fill="{colour}"><title>{html.escape(labels[i])} {html.escape(name)}: {v:,.2f} {unit}</title></rect>'
            )
            if v > 0:
                up[i] += v
            else:
                down[i] += v
    parts.append(f'<line x1="{PAD_L}" x2="{PAD_L + w}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#666"/>')
    for i, text in enumerate(labels):
        xx = PAD_L + (i + 0.5) * slot
        parts.append(
            f'<text x="{xx:.1f}" y="{HEIGHT - 8}" font-size="11" fill="#444" text-anchor="middle">'
            f"{html.escape(text.split()[0])}</text>"
        )
    legend_x = PAD_L + 8
    for name, _, colour in series:
        parts.append(f'<rect x="{legend_x}" y="{PAD_T + 6}" width="10" height="10" fill="{colour}"/>')
        parts.append(
            f'<text x="{legend_x + 14}" y="{PAD_T + 15}" font-size="11" fill="#222">{html.escape(name)}</text>'
        )
        legend_x += 20 + 7 * len(name)
    parts.append("</svg>")
    return f'<figure id="{chart_id}"><figcaption>{html.escape(title)}</figcaption>{"".join(parts)}</figure>'


def _month_labels(ts: NDArray[np.datetime64]) -> list[tuple[float, str]]:
    months = local_months(ts)
    starts = np.flatnonzero(np.r_[True, months[1:] != months[:-1]])
    n = max(len(ts) - 1, 1)
    step = max(1, len(starts) // 12)
    out: list[tuple[float, str]] = []
    for i in starts[::step]:
        pos = float(i) / n
        if out and pos - out[-1][0] < 0.05:  # a label that would overlap the previous one replaces it
            out.pop()
        out.append((pos, MONTHS[(int(months[i]) - 1) % 12]))
    return out


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:960px;color:#222}
h1{font-size:20px;margin:0 0 4px} p.sub{color:#555;margin:0 0 12px;font-size:13px}
figure{margin:8px 0 10px} figcaption{font-size:13px;font-weight:600;margin-bottom:2px}
table{border-collapse:collapse;font-size:12px} td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left} .cols{display:flex;gap:28px;align-items:flex-start}
"""


def dispatch_report_html(
    result: DispatchResult,
    asset: Asset,
    *,
    step_minutes: int,
    fcr: FcrMarket | None = None,
    title: str = "Battery dispatch",
    source: str = "",
) -> str:
    """The report as one HTML document (inline SVG and CSS; nothing is fetched)."""
    s = result.schedule
    ts = s["timestamp_utc"].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]")
    price = s["price_eur_per_MWh"].to_numpy().astype(np.float64)
    soc_pct = s["soc_kWh"].to_numpy().astype(np.float64) / asset.energy_kWh * 100.0
    months = monthly_figures(result, asset, step_minutes=step_minutes, fcr=fcr)
    labels = _month_labels(ts)
    days = max(1, round(len(ts) * step_minutes / 1440))
    d = result.as_dict()
    first, last = (
        str(ts[0].astype("datetime64[m]")),
        str((ts[-1] + np.timedelta64(step_minutes, "m")).astype("datetime64[m]")),
    )
    key: list[tuple[str, str]] = [
        ("period (UTC)", f"{first} .. {last}"),
        ("steps", f"{d['steps']:,} of {step_minutes} min"),
        (
            "battery",
            f"{asset.power_kW:,.0f} kW / {asset.energy_kWh:,.0f} kWh, {asset.charge_efficiency:.3f} / "
            f"{asset.discharge_efficiency:.3f} each way",
        ),
        ("horizon", f"{d['horizon']} ({d['windows']} window(s))"),
        ("status", d["status"]),
    ]
    for name, value in d["revenue_eur"].items():
        key.append((f"revenue: {name}", f"{value:,.2f} EUR"))
    key += [
        ("revenue: total", f"{d['revenue_total_eur']:,.2f} EUR"),
        ("full equivalent cycles", f"{d['full_equivalent_cycles']:,.1f}"),
        ("mean price", f"{np.nanmean(price):,.2f} EUR/MWh"),
        ("steps without a price (idle)", str(d["idle_steps_without_price"])),
        ("simultaneous charge/discharge steps", str(d["simultaneous_charge_discharge_steps"])),
        ("build + solve", f"{d['build_s'] * 1000:,.1f} + {d['solve_s'] * 1000:,.1f} ms"),
    ]
    key_rows = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>" for a, b in key)
    month_rows = "".join(
        f'<tr class="month"><td>{html.escape(m.label)}</td><td class="arbitrage">{m.arbitrage_eur:.2f}</td>'
        + (f'<td class="fcr">{m.fcr_eur:.2f}</td>' if fcr is not None else "")
        + f'<td class="fec">{m.full_equivalent_cycles:.2f}</td></tr>'
        for m in months
    )
    fcr_head = "<th>FCR EUR</th>" if fcr is not None else ""
    bars: list[tuple[str, Sequence[float], str]] = [("energy trade", [m.arbitrage_eur for m in months], "#1f77b4")]
    if fcr is not None:
        bars.append(("FCR", [m.fcr_eur for m in months], "#ff7f0e"))
    charts = [
        line_chart(
            "Day-ahead price (band: daily min-max, line: daily mean)" if days > 62 else "Day-ahead price",
            "EUR/MWh",
            price,
            labels,
            colour="#555",
            chart_id="chart-price",
            bins=days if days > 62 else MAX_POINTS,
        ),
        line_chart(
            "State of charge (band: daily min-max, line: daily mean)" if days > 62 else "State of charge",
            "%",
            soc_pct,
            labels,
            colour="#2ca02c",
            chart_id="chart-soc",
            bins=days if days > 62 else MAX_POINTS,
        ),
        bar_chart("Revenue by month", "EUR", [m.label for m in months], bars, chart_id="chart-revenue"),
        bar_chart(
            "Full equivalent cycles by month",
            "cycles",
            [m.label for m in months],
            [("cycles", [m.full_equivalent_cycles for m in months], "#9467bd")],
            chart_id="chart-cycles",
        ),
    ]
    sub = html.escape(source) if source else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{html.escape(title)}</h1><p class="sub">{sub}</p>'
        + "".join(charts[:2])
        + '<div class="cols"><div>'
        + "".join(charts[2:])
        + "</div></div>"
        + '<div class="cols"><table id="key-figures"><tr><th>key figure</th><th></th></tr>'
        + key_rows
        + '</table><table id="months"><tr><th>month</th><th>energy trade EUR</th>'
        + fcr_head
        + "<th>cycles</th></tr>"
        + month_rows
        + "</table></div></body></html>"
    )


def write_report(path: Path, result: DispatchResult, asset: Asset, **kwargs: Any) -> Path:
    """Write :func:`dispatch_report_html` to ``path``."""
    path.write_text(dispatch_report_html(result, asset, **kwargs), encoding="utf-8")
    return path
