"""``batteryloop circularity mfa``: the national material-flow model, scenarios side by side, as CSV and SVG."""

from __future__ import annotations

import csv
import math
from html import escape
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console

from batteryloop.circularity.material_flow import (
    GOAL_PRIMARY_REDUCTION_PCT,
    GOAL_YEAR,
    SHARED_FILES,
    ModelData,
    ScenarioResult,
    deposit_rows,
    element_rows,
    goal_rows,
    group_rows,
    load_model_data,
    read_scenario,
    run,
)
from batteryloop.circularity.published import mfa_data_folder
from batteryloop.commands.groups import circularity_app
from batteryloop.errors import ValidationError
from batteryloop.shared_data import shared_data_dir

out = Console(soft_wrap=True, highlight=False)

PLOTTED_ELEMENTS = ("Li", "Co", "Ni", "Cu")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


def resolve_model_data(data: Path | None) -> tuple[ModelData, str]:
    """The model's inputs and a line saying where they came from.

    ``--data DIR`` must hold the model's files (an error names a missing one). Without it: the shared data folder
    (``BATTERYLOOP_SHARED_DATA``, else ``../shared/data`` next to a source checkout) when it holds them, else the
    package's own cited tables.
    """
    if data is not None:
        loaded = load_model_data(data)
        return loaded, f"data: {loaded.source} (--data)"
    folder = mfa_data_folder()
    loaded = load_model_data(folder)
    if folder is not None:
        return loaded, f"data: {loaded.source}"
    shared = shared_data_dir()
    why = (
        "no shared data folder found (set BATTERYLOOP_SHARED_DATA or pass --data)"
        if shared is None
        else f"{shared} lacks " + ", ".join(str(f) for f in SHARED_FILES if not (shared / f).is_file())
    )
    return loaded, f"data: {loaded.source} ({why})"


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows as CSV; floats with 6 significant decimals, NaN as an empty cell."""

    def cell(v: Any) -> Any:
        if isinstance(v, float | np.floating):
            return "" if math.isnan(float(v)) else f"{float(v):.6g}"
        return v

    with path.open("w", encoding="utf-8", newline="") as handle:
        if not rows:
            return
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: cell(v) for k, v in row.items()} for row in rows)


def _nice_max(value: float) -> float:
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exponent = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return float(step * exponent)
    return 10.0 * exponent


def line_chart_svg(
    title: str,
    y_label: str,
    years: list[int],
    series: dict[str, list[float]],
    *,
    goal_year: int | None = GOAL_YEAR,
    goal_value: float | None = None,
    y_max: float | None = None,
) -> str:
    """A self-contained SVG line chart (one line per scenario), the goal year and goal level dashed."""
    width, height, left, right, top, bottom = 760, 440, 70, 190, 40, 50
    pw, ph = width - left - right, height - top - bottom
    finite = [v for vals in series.values() for v in vals if math.isfinite(v)]
    top_value = y_max if y_max is not None else _nice_max(max([*finite, goal_value or 0.0], default=1.0))
    x0, x1 = years[0], max(years[-1], years[0] + 1)

    def x(year: float) -> float:
        return left + (year - x0) / (x1 - x0) * pw

    def y(value: float) -> float:
        return top + ph - value / top_value * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>',
        f'<text x="16" y="{top + ph / 2:.1f}" transform="rotate(-90 16 {top + ph / 2:.1f})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
    ]
    for i in range(6):
        v = top_value * i / 5
        parts.append(f'<line x1="{left - 4}" y1="{y(v):.1f}" x2="{left + pw}" y2="{y(v):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v:,.4g}</text>')
    step = 5 if x1 - x0 > 12 else 1
    for year in range(x0 - x0 % step + (step if x0 % step else 0), x1 + 1, step):
        parts.append(f'<text x="{x(year):.1f}" y="{top + ph + 18}" text-anchor="middle">{year}</text>')
    if goal_year is not None and x0 <= goal_year <= x1:
        gx = x(goal_year)
        parts.append(
            f'<line x1="{gx:.1f}" y1="{top}" x2="{gx:.1f}" y2="{top + ph}" stroke="black" stroke-dasharray="5,4"/>'
        )
        parts.append(f'<text x="{gx + 4:.1f}" y="{top + 12}">{goal_year} goal</text>')
    if goal_value is not None:
        gy = y(goal_value)
        parts.append(
            f'<line x1="{left}" y1="{gy:.1f}" x2="{left + pw}" y2="{gy:.1f}" stroke="#555" stroke-dasharray="2,3"/>'
        )
        parts.append(f'<text x="{left + pw - 4}" y="{gy - 4:.1f}" text-anchor="end">{goal_value:g}</text>')
    for k, (name, values) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        points = " ".join(f"{x(yr):.1f},{y(v):.1f}" for yr, v in zip(years, values, strict=True) if math.isfinite(v))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        ly = top + 10 + 18 * k
        parts.append(
            f'<line x1="{left + pw + 12}" y1="{ly}" x2="{left + pw + 32}" y2="{ly}" stroke="{colour}" '
            'stroke-width="3"/>'
        )
        parts.append(f'<text x="{left + pw + 38}" y="{ly + 4}">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_outputs(results: list[ScenarioResult], out_dir: Path) -> list[Path]:
    """Every CSV and SVG of a run; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tables = {
        "elements.csv": [row for r in results for row in element_rows(r)],
        "categories.csv": [row for r in results for row in group_rows(r)],
        "goal_2030.csv": [row for r in results for row in goal_rows(r)],
        "deposit.csv": [row for r in results for row in deposit_rows(r)],
    }
    for name, rows in tables.items():
        if rows or name != "deposit.csv":
            write_csv(out_dir / name, rows)
            written.append(out_dir / name)
    years = [int(y) for y in results[0].years]
    for element in PLOTTED_ELEMENTS:
        k = results[0].elements.index(element) if element in results[0].elements else None
        if k is None:
            continue
        share = {r.scenario.name: [float(v) for v in r.secondary_share_pct[:, k]] for r in results}
        primary = {r.scenario.name: [float(v) for v in r.primary[:, k]] for r in results}
        charts = {
            f"secondary_share_{element}.svg": line_chart_svg(
                f"{element}: share of demand met by secondary material",
                "% of demand",
                years,
                share,
                goal_value=GOAL_PRIMARY_REDUCTION_PCT,
                y_max=100.0,
            ),
            f"primary_demand_{element}.svg": line_chart_svg(
                f"{element}: primary demand", "tonnes a year", years, primary
            ),
        }
        for name, svg in charts.items():
            (out_dir / name).write_text(svg, encoding="utf-8")
            written.append(out_dir / name)
    return written


@circularity_app.command("mfa")
def mfa(
    scenario: Annotated[
        list[Path], typer.Option("--scenario", help="Scenario TOML file; repeat to compare scenarios side by side.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the CSV files and SVG plots.")],
    until: Annotated[int, typer.Option(help="Last year modelled.")] = 2040,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Shared data folder (BatPaC, Eurostat, Dutch flows); default BATTERYLOOP_SHARED_DATA, else "
            "../shared/data next to a source checkout, else the package's own cited tables."
        ),
    ] = None,
) -> None:
    """Run the national material-flow model for each scenario; write CSVs and SVG plots with the 2030 goal marked."""
    model_data, data_line = resolve_model_data(data)
    scenarios = [read_scenario(path, model_data.chemistries) for path in scenario]
    names = [s.name for s in scenarios]
    duplicate = sorted({n for n in names if names.count(n) > 1})
    if duplicate:
        raise ValidationError(
            f"two scenario files share the name {duplicate[0]!r}", field="name", expected="a unique name per scenario"
        )
    if not 2000 <= until <= 2100:
        raise ValidationError(f"--until {until} is out of range", field="--until", expected="a year from 2000 to 2100")
    results = [run(s, model_data, until) for s in scenarios]
    if len({(int(r.years[0]), int(r.years[-1])) for r in results}) > 1:
        raise ValidationError(
            "scenarios start in different years", field="first_year", expected="the same first_year in every file"
        )
    written = write_outputs(results, out_dir)
    out.print(data_line)
    out.print(
        f"{GOAL_YEAR}: share of material demand met by secondary material (goal {GOAL_PRIMARY_REDUCTION_PCT:g} %)"
    )
    header = "scenario".ljust(22) + "".join(e.rjust(8) for e in PLOTTED_ELEMENTS)
    out.print(header)
    for r in results:
        cells = []
        for e in PLOTTED_ELEMENTS:
            row = next((g for g in goal_rows(r) if g["element"] == e), None)
            cells.append(f"{row['primary_reduction_pct']:7.1f}%" if row else "       -")
        out.print(r.scenario.name.ljust(22) + "".join(cells))
    for path in written:
        out.print(f"wrote {path}")
