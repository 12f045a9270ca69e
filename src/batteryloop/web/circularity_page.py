"""The circularity pages: producer-responsibility reports, collection rates against targets, compliance, and the
national material-flow scenarios.

``/circularity`` (signed in): the organisations whose reports the user may read, exactly as the register decides
(:meth:`batteryloop.circularity.epr.EprService.visible_organisations`: the market surveillance authority and the
Commission all of them, a producer-responsibility organisation's accounts its own and its members', anyone else their
own organisation's). For the chosen organisation: its reports per year, its collection rate per year and category
against the target in force that year (Directive 2006/66/EC before 2023, Regulation (EU) 2023/1542 after;
``targets.csv``), and the compliance report of a year (every applicable target: met, margin, missing tonnes). The
authorities also see the national figures (all reports together, and the year's national report).

``/circularity/mfa`` (public: a model run on published data, no organisation's figures): the national material-flow
scenarios shipped in ``circularity/scenarios`` side by side, the share of material demand met by secondary material
per element with the 2030 goal marked (50 % less primary abiotic raw material, read for batteries as secondary
material meeting at least half the demand in 2030; docs/material-flow.md), and the primary demand. The model run is
cached per data folder and scenario-file version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from batteryloop.circularity.collection import CollectionRate, Method
from batteryloop.circularity.epr import FIRST_REGULATION_YEAR, EprService, national_report
from batteryloop.circularity.epr_models import Report
from batteryloop.circularity.material_flow import (
    GOAL_PRIMARY_REDUCTION_PCT,
    GOAL_YEAR,
    ScenarioResult,
    goal_rows,
    load_model_data,
    read_scenario,
    run,
)
from batteryloop.circularity.published import mfa_data_folder
from batteryloop.circularity.targets import DIRECTIVE, REGULATION, applicable
from batteryloop.errors import BatteryloopError, PermissionDeniedError
from batteryloop.passport.access import SUPERVISORY_ROLES, Viewer
from batteryloop.passport.models import Organisation
from batteryloop.web.charts import Chart, csv_response
from batteryloop.web.energy_page import fmt, localise
from batteryloop.web.i18n import choose_language, register, translator
from batteryloop.web.layout import current_user, read_session, render, require_user

router = APIRouter(include_in_schema=False)

RATE_CATEGORIES = ("portable", "LMT")
"""Categories with a collection-rate target (portable; LMT under the Regulation)."""
COLOURS = {"portable": "#2a7ab0", "LMT": "#d9822b"}
SCENARIO_COLOURS = ("#2a7ab0", "#d62728", "#0b6e4f", "#9467bd", "#d9822b", "#8c564b")
SCENARIO_DASHES = ("solid", "dash", "dot", "dashdot")
"""Colour and dash per scenario, so lines that nearly coincide stay apart (and readable without colour)."""
PLOTTED_ELEMENTS = ("Li", "Co", "Ni", "Cu")
MFA_UNTIL = 2040
SCENARIO_DIR = Path(str(resources.files("batteryloop.circularity").joinpath("scenarios")))


def _method(year: int) -> Method:
    return Method.REGULATION if year >= FIRST_REGULATION_YEAR else Method.DIRECTIVE


def target_pct(category: str, year: int) -> float | None:
    """The highest collection-rate target binding ``category`` in ``year`` (the instrument in force), if any."""
    instrument = REGULATION if year >= FIRST_REGULATION_YEAR else DIRECTIVE
    found = applicable("collection_rate", category, year, instrument=instrument)
    return found[-1].value_pct if found else None


# ---------------------------------------------------------------------------------------------------------------------
# organisations and reports


@dataclass
class OrgRates:
    """Collection rates per category and year of one organisation (or of all reports when ``organisation`` is None)."""

    rates: dict[str, dict[int, CollectionRate]]
    not_computed: list[tuple[str, int, str]]


def rates_of(
    epr: EprService, viewer: Viewer, organisation: int | None, years: Sequence[int], categories: Sequence[str]
) -> OrgRates:
    out: dict[str, dict[int, CollectionRate]] = {c: {} for c in categories}
    gaps: list[tuple[str, int, str]] = []
    for category in categories:
        for year in years:
            if category == "LMT" and year < FIRST_REGULATION_YEAR:
                continue
            try:
                out[category][year] = epr.collection_rate(viewer, category, year, _method(year), organisation)
            except PermissionDeniedError:
                raise
            except BatteryloopError as exc:
                gaps.append((category, year, "; ".join(str(p) for p in exc.problems) or exc.message))
    return OrgRates({c: r for c, r in out.items() if r}, gaps)


def rate_chart(
    chart_id: str, title: str, rates: OrgRates, years: Sequence[int], t: Mapping[str, str], source: str
) -> Chart:
    """Collection rate per year and category as bars, the target in force each year as a dashed step line."""
    traces: list[dict[str, Any]] = []
    rows: list[list[Any]] = []
    span = list(range(min(years), max(max(years), GOAL_YEAR + 1) + 1)) if years else []
    for category, by_year in rates.rates.items():
        label = t.get(f"circ_cat_{category}", category)
        ys = sorted(by_year)
        traces.append(
            {
                "type": "bar",
                "name": f"{label}: {t['circ_rate_achieved']}",
                "x": ys,
                "y": [round(by_year[y].collection_rate_pct, 2) for y in ys],
                "marker": {"color": COLOURS.get(category, "#555")},
                "hovertemplate": "%{x}: %{y:.1f} %<extra></extra>",
            }
        )
        targets = [(y, target_pct(category, y)) for y in span]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{label}: {t['circ_target']}",
                "x": [y for y, _ in targets],
                "y": [v for _, v in targets],
                "line": {"color": COLOURS.get(category, "#555"), "dash": "dash", "shape": "hvh", "width": 2},
                "connectgaps": False,
                "hovertemplate": "%{x}: " + t["circ_target"] + " %{y:.0f} %<extra></extra>",
            }
        )
        for y in ys:
            r = by_year[y]
            target = target_pct(category, y)
            rows.append(
                [
                    y,
                    category,
                    f"{r.collection_rate_pct:.2f}",
                    "" if target is None else f"{target:g}",
                    f"{r.collected_t:.3f}",
                    f"{r.average_placed_on_market_t:.3f}",
                    r.method.value,
                    r.citation,
                ]
            )
    return Chart(
        id=chart_id,
        title=title,
        figure={
            "data": traces,
            "layout": {
                "barmode": "group",
                "yaxis": {"title": {"text": "%"}, "rangemode": "tozero"},
                "xaxis": {"dtick": 1},
            },
        },
        columns=[
            t["circ_year"],
            t["circ_category"],
            t["circ_col_rate"],
            t["circ_col_target"],
            t["circ_col_collected"],
            t["circ_col_avg_pom"],
            t["circ_col_method"],
            t["circ_col_citation"],
        ],
        rows=rows,
        source=source,
        note=t["circ_rate_note"],
    )


def tonnage_chart(epr: EprService, org: Organisation, categories: Sequence[str], t: Mapping[str, str]) -> Chart:
    """Placed on the market and collected per year and category [t] of ``org`` with its members (the register's
    :meth:`~batteryloop.circularity.epr.EprService.market_totals`, members counted from the year they joined)."""
    traces: list[dict[str, Any]] = []
    rows: list[list[Any]] = []
    palette = ("#2a7ab0", "#d9822b", "#0b6e4f", "#9467bd", "#8c564b")
    for i, category in enumerate(categories):
        pom, col = epr.market_totals(category, org)
        label = t.get(f"circ_cat_{category}", category)
        colour = palette[i % len(palette)]
        years = sorted(set(pom) | set(col))
        traces.append(
            {
                "type": "bar",
                "name": f"{label}: {t['circ_placed']}",
                "x": years,
                "y": [round(pom.get(y, 0.0), 3) for y in years],
                "marker": {"color": colour, "opacity": 0.45},
            }
        )
        traces.append(
            {
                "type": "bar",
                "name": f"{label}: {t['circ_collected']}",
                "x": years,
                "y": [round(col.get(y, 0.0), 3) for y in years],
                "marker": {"color": colour},
            }
        )
        rows += [[y, category, f"{pom.get(y, 0.0):.3f}", f"{col.get(y, 0.0):.3f}"] for y in years]
    return Chart(
        id="tonnage",
        title=t["circ_chart_tonnage"].format(org=org.name),
        figure={
            "data": traces,
            "layout": {
                "barmode": "group",
                "yaxis": {"title": {"text": "t"}, "rangemode": "tozero"},
                "xaxis": {"dtick": 1},
            },
        },
        columns=[t["circ_year"], t["circ_category"], t["circ_col_pom"], t["circ_col_collected"]],
        rows=rows,
        source=t["circ_source_tonnage"].format(org=org.name),
        height_px=300,
    )


def _totals(report: Report) -> tuple[float | None, float | None]:
    """Placed on the market and collected [t] of a market or collection report; input and recycled of a process one."""
    data = report.data
    if report.kind in ("market", "collection"):
        lines = data.get("lines", [])
        pom = sum(float(line.get("placed_on_market_t", 0.0)) for line in lines) if report.kind == "market" else None
        return pom, sum(float(line.get("collected_t", 0.0)) for line in lines)
    inputs = sum(float(row.get("mass_t", 0.0)) for row in data.get("inputs", []))
    recycled = sum(float(row.get("mass_t", 0.0)) for row in data.get("outputs", []) if row.get("recycled"))
    return inputs, recycled


@router.get("/circularity", response_class=HTMLResponse)
def circularity(request: Request) -> Response:
    viewer = require_user(request)
    lang = choose_language(request)
    t = translator(lang)
    session = read_session(request)
    try:
        epr = EprService(session)
        try:
            reports = epr.reports(viewer)
        except PermissionDeniedError:
            reports = []
        org_ids = sorted({r.organisation_id for r in reports})
        orgs = {o.id: o for o in (session.get(Organisation, i) for i in org_ids) if o is not None}
        supervisor = viewer.role in SUPERVISORY_ROLES
        errors: dict[str, str] = {}
        chosen: Organisation | None = None
        wanted = request.query_params.get("organisation", "").strip()
        if wanted:
            if wanted.isdigit() and int(wanted) in orgs:
                chosen = orgs[int(wanted)]
            else:
                errors["organisation"] = t["circ_err_organisation"]
        if chosen is None and orgs:
            own = orgs.get(viewer.organisation_id) if viewer.organisation_id is not None else None
            chosen = own or orgs[min(orgs, key=lambda i: orgs[i].name)]
        charts: list[Chart] = []
        context: dict[str, Any] = {
            "organisations": sorted(orgs.values(), key=lambda o: o.name),
            "chosen": chosen,
            "supervisor": supervisor,
            "errors": errors,
            "t": t,
            "lang": lang,
        }
        if chosen is not None:
            scope = {chosen.id} | {m.producer_id for m in epr.members(chosen.id)}
            own_reports = [r for r in reports if r.organisation_id in scope]
            years = sorted({r.year for r in own_reports if r.kind == "market"})
            reported = sorted(
                {line["category"] for r in own_reports if r.kind == "market" for line in r.data.get("lines", [])}
            )
            rates = rates_of(epr, viewer, chosen.id, years, [c for c in RATE_CATEGORIES if c in reported])
            if reported:
                charts.append(tonnage_chart(epr, chosen, reported, t))
            context["untargeted"] = ", ".join(t.get(f"circ_cat_{c}", c) for c in reported if c not in RATE_CATEGORIES)
            if years and rates.rates:
                charts.append(
                    rate_chart(
                        "collection",
                        t["circ_chart_org"].format(org=chosen.name),
                        rates,
                        years,
                        t,
                        t["circ_source_org"].format(org=chosen.name),
                    )
                )
            all_years = sorted({r.year for r in own_reports})
            year_text = request.query_params.get("year", "").strip()
            year = max(years or all_years) if (years or all_years) else None
            if year_text:
                if year_text.isdigit() and int(year_text) in all_years:
                    year = int(year_text)
                else:
                    errors["year"] = t["circ_err_year"].format(years=", ".join(map(str, all_years)))
            compliance = epr.compliance(viewer, chosen.id, year) if year is not None else None
            context |= {
                "reports": [
                    {"report": r, "organisation": chosen.name, "totals": _totals(r)}
                    for r in sorted(own_reports, key=lambda r: (-r.year, r.kind))
                    if r.organisation_id == chosen.id
                ],
                "member_reports": [
                    {
                        "report": r,
                        "organisation": orgs[r.organisation_id].name if r.organisation_id in orgs else "",
                        "totals": _totals(r),
                    }
                    for r in sorted(
                        own_reports,
                        key=lambda r: (-r.year, orgs[r.organisation_id].name if r.organisation_id in orgs else ""),
                    )
                    if r.organisation_id != chosen.id
                ],
                "years": all_years,
                "year": year,
                "compliance": compliance,
                "rate_gaps": rates.not_computed,
                "members": len(scope) - 1,
            }
        if supervisor:
            national_years = sorted({r.year for r in reports if r.kind in ("market", "collection")})
            national = rates_of(epr, viewer, None, national_years, RATE_CATEGORIES)
            if national_years and national.rates:
                charts.append(
                    rate_chart(
                        "national",
                        t["circ_chart_national"],
                        national,
                        national_years,
                        t,
                        t["circ_source_national"],
                    )
                )
            rated_years = sorted({y for by_year in national.rates.values() for y in by_year})
            asked = request.query_params.get("year", "").strip()
            if asked.isdigit() and int(asked) in national_years:
                n_year: int | None = int(asked)
            else:  # the latest year with a national collection rate, else the latest with reports
                n_year = rated_years[-1] if rated_years else (national_years[-1] if national_years else None)
            context["national"] = national_report(epr, viewer, n_year) if n_year is not None else None
        if (response := csv_response(request, charts)) is not None:
            return response
        localise(charts, lang)
        context["charts"] = charts
        session.commit()
    finally:
        session.close()
    return render(request, "circularity_page.html", context, 422 if errors else 200)


# ---------------------------------------------------------------------------------------------------------------------
# the national material-flow scenarios


SCENARIO_ORDER = ("current_policy", "regulation_targets", "deposit_refund", "lfp_heavy")
"""The shipped scenarios from today's policy to the most ambitious (docs/material-flow.md); others follow by name."""


def scenario_files() -> tuple[Path, ...]:
    def rank(path: Path) -> tuple[int, str]:
        stem = path.stem
        return (SCENARIO_ORDER.index(stem) if stem in SCENARIO_ORDER else len(SCENARIO_ORDER), stem)

    return tuple(sorted(SCENARIO_DIR.glob("*.toml"), key=rank))


@cache
def _run_scenarios(
    data_dir: Path | None, files: tuple[tuple[Path, float], ...], until: int
) -> tuple[tuple[ScenarioResult, ...], str]:
    data = load_model_data(data_dir)
    return tuple(run(read_scenario(path, data.chemistries), data, until) for path, _ in files), data.source


def scenarios() -> tuple[tuple[ScenarioResult, ...], str]:
    """The shipped scenarios run to :data:`MFA_UNTIL` (cached per data folder and scenario-file version), and which
    data the model read (``ModelData.source``: the shared data folder, or the package's own cited tables)."""
    files = tuple((p, p.stat().st_mtime) for p in scenario_files())
    return _run_scenarios(mfa_data_folder(), files, MFA_UNTIL)


def _goal_shapes(y_goal: float | None) -> list[dict[str, Any]]:
    shapes: list[dict[str, Any]] = [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": GOAL_YEAR,
            "x1": GOAL_YEAR,
            "y0": 0,
            "y1": 1,
            "line": {"color": "#1b1f24", "dash": "dot", "width": 1.5},
        }
    ]
    if y_goal is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "yref": "y",
                "x0": 0,
                "x1": 1,
                "y0": y_goal,
                "y1": y_goal,
                "line": {"color": "#8b0000", "dash": "dash", "width": 2},
            }
        )
    return shapes


def mfa_charts(results: Sequence[ScenarioResult], t: Mapping[str, str], source: str) -> list[Chart]:
    charts: list[Chart] = []
    for element in PLOTTED_ELEMENTS:
        if element not in results[0].elements:
            continue
        k = results[0].elements.index(element)
        name = t.get(f"circ_el_{element}", element)
        for what in ("share", "primary"):
            traces = []
            rows: list[list[Any]] = []
            for i, r in enumerate(results):
                values = r.secondary_share_pct[:, k] if what == "share" else r.primary[:, k]
                years = [int(y) for y in r.years]
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": r.scenario.name,
                        "x": years,
                        "y": [None if v != v else round(float(v), 3) for v in values],
                        "line": {
                            "color": SCENARIO_COLOURS[i % len(SCENARIO_COLOURS)],
                            "width": 2,
                            "dash": SCENARIO_DASHES[i % len(SCENARIO_DASHES)],
                        },
                    }
                )
                rows += [
                    [r.scenario.name, y, "" if v != v else f"{float(v):.4f}"]
                    for y, v in zip(years, values, strict=True)
                ]
            share = what == "share"
            annotations = [
                {
                    "x": GOAL_YEAR,
                    "y": 1,
                    "xref": "x",
                    "yref": "paper",
                    "text": t["circ_goal_year"],
                    "showarrow": False,
                    "xanchor": "left",
                    "yanchor": "top",
                    "font": {"size": 11},
                }
            ]
            if share:
                annotations.append(
                    {
                        "x": 0.01,
                        "y": GOAL_PRIMARY_REDUCTION_PCT,
                        "xref": "paper",
                        "yref": "y",
                        "text": t["circ_goal_level"],
                        "showarrow": False,
                        "xanchor": "left",
                        "yanchor": "bottom",
                        "font": {"size": 11, "color": "#8b0000"},
                    }
                )
            charts.append(
                Chart(
                    id=f"{what}_{element}",
                    title=(t["circ_chart_share"] if share else t["circ_chart_primary"]).format(element=name),
                    figure={
                        "data": traces,
                        "layout": {
                            "yaxis": {
                                "title": {"text": "%" if share else t["circ_tonnes_year"]},
                                "range": [0, 100] if share else None,
                                "rangemode": "tozero",
                            },
                            "xaxis": {"range": [2015, MFA_UNTIL]},
                            "shapes": _goal_shapes(GOAL_PRIMARY_REDUCTION_PCT if share else None),
                            "annotations": annotations,
                        },
                    },
                    columns=[
                        t["circ_scenario"],
                        t["circ_year"],
                        t["circ_col_share"] if share else t["circ_col_primary"],
                    ],
                    rows=rows,
                    source=source,
                    height_px=320,
                )
            )
    return charts


@router.get("/circularity/mfa", response_class=HTMLResponse)
def material_flow(request: Request) -> Response:
    current_user(request)  # public; the menu still shows who is signed in
    lang = choose_language(request)
    t = translator(lang)
    results, data_source = scenarios()
    source = t["circ_mfa_source"].format(data=t["circ_mfa_data"].format(source=data_source), until=MFA_UNTIL)
    charts = mfa_charts(results, t, source)
    if (response := csv_response(request, charts)) is not None:
        return response
    localise(charts, lang)
    goal: list[dict[str, Any]] = []
    for r in results:
        rows = {g["element"]: g for g in goal_rows(r)}
        goal.append(
            {
                "scenario": r.scenario.name,
                "description": r.scenario.description,
                "cells": [
                    {
                        "element": e,
                        "pct": fmt(rows[e]["primary_reduction_pct"], 1, lang) if e in rows else "–",
                        "met": bool(rows[e]["goal_met"]) if e in rows else None,
                    }
                    for e in PLOTTED_ELEMENTS
                ],
            }
        )
    context = {
        "t": t,
        "lang": lang,
        "charts": charts,
        "goal": goal,
        "elements": PLOTTED_ELEMENTS,
        "goal_year": GOAL_YEAR,
        "goal_pct": fmt(GOAL_PRIMARY_REDUCTION_PCT, 0, lang),
        "source": source,
    }
    return render(request, "circularity_mfa.html", context)


register(
    {
        "circ_title": {"en": "Circularity", "nl": "Circulariteit"},
        "circ_intro": {
            "en": "Producer-responsibility reports, collection rates against the legal targets, and compliance.",
            "nl": "Rapportages in het kader van producentenverantwoordelijkheid, inzamelpercentages tegenover de "
            "wettelijke doelen, en naleving.",
        },
        "circ_access_note": {
            "en": "You see the reports of: {who}.",
            "nl": "U ziet de rapportages van: {who}.",
        },
        "circ_access_all": {
            "en": "every organisation (supervisory authority)",
            "nl": "alle organisaties (toezichthouder)",
        },
        "circ_access_own": {
            "en": "your organisation and, for a producer-responsibility organisation, its members",
            "nl": "uw organisatie en, voor een producentenorganisatie, haar leden",
        },
        "circ_none": {
            "en": "No producer-responsibility reports are visible to you. Reports of individual organisations are not "
            "public; the national totals are on the national monitor.",
            "nl": "Er zijn geen rapportages voor u zichtbaar. Rapportages van afzonderlijke organisaties zijn niet "
            "openbaar; de nationale totalen staan op de nationale monitor.",
        },
        "circ_organisation": {"en": "Organisation", "nl": "Organisatie"},
        "circ_year": {"en": "Year", "nl": "Jaar"},
        "circ_show": {"en": "Show", "nl": "Toon"},
        "circ_members": {"en": "{n} member(s) counted with it", "nl": "{n} lid/leden meegeteld"},
        "circ_member_reports": {"en": "Reports of its members ({n})", "nl": "Rapportages van haar leden ({n})"},
        "circ_organisations": {"en": "Organisations", "nl": "Organisaties"},
        "circ_reports": {"en": "Reports", "nl": "Rapportages"},
        "circ_kind": {"en": "Kind", "nl": "Soort"},
        "circ_kind_market": {"en": "placed on market and collected", "nl": "op de markt gebracht en ingezameld"},
        "circ_kind_process": {"en": "recycling process", "nl": "recyclingproces"},
        "circ_kind_collection": {"en": "collected (waste operator)", "nl": "ingezameld (afvalbeheerder)"},
        "circ_version": {"en": "Version", "nl": "Versie"},
        "circ_submitted": {"en": "Submitted", "nl": "Ingediend"},
        "circ_reporter": {"en": "Reporter", "nl": "Indiener"},
        "circ_pom_t": {"en": "Placed on market / input (t)", "nl": "Op de markt / invoer (t)"},
        "circ_col_t": {"en": "Collected / recycled (t)", "nl": "Ingezameld / gerecycled (t)"},
        "circ_chart_org": {
            "en": "Collection rate of {org} against the target",
            "nl": "Inzamelpercentage van {org} tegenover het doel",
        },
        "circ_chart_national": {
            "en": "National collection rate (all reports) against the target",
            "nl": "Nationaal inzamelpercentage (alle rapportages) tegenover het doel",
        },
        "circ_source_org": {
            "en": "producer-responsibility register, current market reports of {org} and its members; targets: "
            "targets.csv (Directive 2006/66/EC Art. 10; Regulation (EU) 2023/1542 Art. 59-60, Annex XI)",
            "nl": "register producentenverantwoordelijkheid, actuele marktrapportages van {org} en haar leden; doelen: "
            "targets.csv (Richtlijn 2006/66/EG art. 10; Verordening (EU) 2023/1542 art. 59-60, bijlage XI)",
        },
        "circ_source_tonnage": {
            "en": "producer-responsibility register, current market reports of {org} and its members (members from the "
            "year they joined)",
            "nl": "register producentenverantwoordelijkheid, actuele marktrapportages van {org} en haar leden (leden "
            "vanaf het jaar van toetreding)",
        },
        "circ_source_national": {
            "en": "producer-responsibility register, all current market and collection reports; targets: targets.csv",
            "nl": "register producentenverantwoordelijkheid, alle actuele markt- en inzamelrapportages; doelen: "
            "targets.csv",
        },
        "circ_rate_note": {
            "en": "collected in the year over the average placed on the market in it and the two years before; "
            "dashed: the target in force",
            "nl": "ingezameld in het jaar gedeeld door het gemiddelde dat in dat jaar en de twee jaren ervoor op de "
            "markt is gebracht; gestreept: het geldende doel",
        },
        "circ_rate_achieved": {"en": "achieved", "nl": "behaald"},
        "circ_placed": {"en": "placed on the market", "nl": "op de markt gebracht"},
        "circ_collected": {"en": "collected", "nl": "ingezameld"},
        "circ_col_pom": {"en": "placed on the market (t)", "nl": "op de markt gebracht (t)"},
        "circ_chart_tonnage": {
            "en": "{org}: placed on the market and collected per year",
            "nl": "{org}: op de markt gebracht en ingezameld per jaar",
        },
        "circ_cat_EV": {"en": "EV", "nl": "EV"},
        "circ_cat_SLI": {"en": "SLI (starter)", "nl": "SLI (startaccu)"},
        "circ_cat_industrial": {"en": "Industrial", "nl": "Industrieel"},
        "circ_untargeted": {
            "en": "No collection-rate target applies to {cats}: their producers must take back every waste battery "
            "free of charge (Regulation (EU) 2023/1542, Art. 61), so the register shows the tonnes.",
            "nl": "Voor {cats} geldt geen inzameldoel: hun producenten moeten elke afgedankte batterij kosteloos "
            "terugnemen (Verordening (EU) 2023/1542, art. 61); het register toont daarom de tonnen.",
        },
        "circ_target": {"en": "target", "nl": "doel"},
        "circ_category": {"en": "Category", "nl": "Categorie"},
        "circ_cat_portable": {"en": "Portable", "nl": "Draagbaar"},
        "circ_cat_LMT": {"en": "LMT (light means of transport)", "nl": "LMT (lichte vervoermiddelen)"},
        "circ_col_rate": {"en": "collection rate (%)", "nl": "inzamelpercentage (%)"},
        "circ_col_target": {"en": "target (%)", "nl": "doel (%)"},
        "circ_col_collected": {"en": "collected (t)", "nl": "ingezameld (t)"},
        "circ_col_avg_pom": {"en": "average placed on market (t)", "nl": "gemiddeld op de markt (t)"},
        "circ_col_method": {"en": "method", "nl": "methode"},
        "circ_col_citation": {"en": "legal basis", "nl": "rechtsgrond"},
        "circ_rate_gaps": {
            "en": "Not computed (fewer than three years placed on the market, or no figures):",
            "nl": "Niet berekend (minder dan drie jaar op de markt gebracht, of geen cijfers):",
        },
        "circ_compliance": {"en": "Compliance in {year}", "nl": "Naleving in {year}"},
        "circ_compliance_intro": {
            "en": "Every target that applies to the figures of the year; the highest is the binding one. Missing: the "
            "tonnes still to collect, recycle or recover to meet it.",
            "nl": "Elk doel dat op de cijfers van het jaar van toepassing is; het hoogste is bindend. Ontbrekend: de "
            "tonnen die nog ingezameld, gerecycled of teruggewonnen moeten worden.",
        },
        "circ_parameter": {"en": "Measure", "nl": "Maatstaf"},
        "circ_param_collection_rate": {"en": "collection rate", "nl": "inzamelpercentage"},
        "circ_param_recycling_efficiency": {"en": "recycling efficiency", "nl": "recyclingrendement"},
        "circ_param_material_recovery": {"en": "material recovery", "nl": "materiaalterugwinning"},
        "circ_subject": {"en": "Subject", "nl": "Onderwerp"},
        "circ_target_pct": {"en": "Target", "nl": "Doel"},
        "circ_achieved_pct": {"en": "Achieved", "nl": "Behaald"},
        "circ_met": {"en": "Met", "nl": "Gehaald"},
        "circ_margin": {"en": "Margin (pp)", "nl": "Marge (pp)"},
        "circ_missing": {"en": "Missing (t)", "nl": "Ontbrekend (t)"},
        "circ_provision": {"en": "Provision", "nl": "Bepaling"},
        "circ_binding": {"en": "binding", "nl": "bindend"},
        "circ_yes": {"en": "met", "nl": "gehaald"},
        "circ_no": {"en": "not met", "nl": "niet gehaald"},
        "circ_no_targets": {
            "en": "No target applies to this organisation's figures of the year.",
            "nl": "Er geldt geen doel voor de cijfers van deze organisatie in dit jaar.",
        },
        "circ_national": {"en": "National figures {year}", "nl": "Nationale cijfers {year}"},
        "circ_national_intro": {
            "en": "All organisations' reports together: what the Member State reports under Art. 76 of Regulation "
            "(EU) 2023/1542.",
            "nl": "De rapportages van alle organisaties samen: wat de lidstaat rapporteert onder art. 76 van "
            "Verordening (EU) 2023/1542.",
        },
        "circ_group": {"en": "Chemistry group", "nl": "Chemiegroep"},
        "circ_by_producers": {"en": "by producers (t)", "nl": "door producenten (t)"},
        "circ_by_others": {"en": "by other operators (t)", "nl": "door andere beheerders (t)"},
        "circ_recycling": {"en": "Recycling efficiency", "nl": "Recyclingrendement"},
        "circ_recovery": {"en": "Material recovery", "nl": "Materiaalterugwinning"},
        "circ_all_orgs": {"en": "Organisations with reports", "nl": "Organisaties met rapportages"},
        "circ_mfa_link": {
            "en": "National material-flow scenarios towards 2030",
            "nl": "Nationale scenario's voor materiaalstromen richting 2030",
        },
        "circ_err_organisation": {
            "en": "No reports of this organisation are visible to you; choose one from the list.",
            "nl": "Er zijn geen rapportages van deze organisatie voor u zichtbaar; kies er een uit de lijst.",
        },
        "circ_err_year": {
            "en": "No report for this year; years with reports: {years}.",
            "nl": "Geen rapportage voor dit jaar; jaren met rapportages: {years}.",
        },
        "circ_mfa_title": {
            "en": "National material-flow scenarios",
            "nl": "Nationale scenario's voor materiaalstromen",
        },
        "circ_mfa_intro": {
            "en": "Batteries in the Netherlands as a dynamic stock: what is placed on the market, how long it stays in "
            "use, what reaches end of life, is collected and recycled, and how much of the demand for lithium, "
            "cobalt, nickel and copper recycled material can meet. Four scenarios side by side.",
            "nl": "Batterijen in Nederland als dynamische voorraad: wat op de markt komt, hoe lang het in gebruik "
            "blijft, wat aan het eind van de levensduur komt, wordt ingezameld en gerecycled, en hoeveel van de vraag "
            "naar lithium, kobalt, nikkel en koper gerecycled materiaal kan dekken. Vier scenario's naast elkaar.",
        },
        "circ_goal_text": {
            "en": "The goal: 50 % less primary abiotic raw material by {year} (the cabinet's circular-economy aim). "
            "For batteries the model reads it as: in {year}, secondary material meets at least {pct} % of the "
            "material demand of the batteries placed on the market. Charts mark {year} (dotted) and the {pct} % "
            "level (dashed).",
            "nl": "Het doel: 50 % minder primaire abiotische grondstoffen in {year} (het kabinetsdoel voor de "
            "circulaire economie). Voor batterijen leest het model dit als: in {year} dekt secundair materiaal "
            "minstens {pct} % van de materiaalvraag van de batterijen die op de markt komen. De grafieken markeren "
            "{year} (gestippeld) en het niveau van {pct} % (gestreept).",
        },
        "circ_goal_table": {
            "en": "{year}: share of material demand met by secondary material",
            "nl": "{year}: aandeel van de materiaalvraag gedekt door secundair materiaal",
        },
        "circ_scenario": {"en": "Scenario", "nl": "Scenario"},
        "circ_goal_met": {"en": "goal met", "nl": "doel gehaald"},
        "circ_goal_not_met": {"en": "goal not met", "nl": "doel niet gehaald"},
        "circ_goal_year": {"en": "2030 goal", "nl": "doel 2030"},
        "circ_goal_level": {"en": "50 % secondary", "nl": "50 % secundair"},
        "circ_chart_share": {
            "en": "{element}: share of demand met by secondary material",
            "nl": "{element}: aandeel van de vraag gedekt door secundair materiaal",
        },
        "circ_chart_primary": {"en": "{element}: primary demand", "nl": "{element}: primaire vraag"},
        "circ_tonnes_year": {"en": "tonnes a year", "nl": "ton per jaar"},
        "circ_col_share": {"en": "secondary share (%)", "nl": "aandeel secundair (%)"},
        "circ_col_primary": {"en": "primary demand (t)", "nl": "primaire vraag (t)"},
        "circ_el_Li": {"en": "Lithium", "nl": "Lithium"},
        "circ_el_Co": {"en": "Cobalt", "nl": "Kobalt"},
        "circ_el_Ni": {"en": "Nickel", "nl": "Nikkel"},
        "circ_el_Cu": {"en": "Copper", "nl": "Koper"},
        "circ_mfa_source": {
            "en": "batteryloop material-flow model, shipped scenarios, {data}, until {until} (docs/material-flow.md)",
            "nl": "batteryloop-materiaalstroommodel, meegeleverde scenario's, {data}, tot {until} "
            "(docs/material-flow.md)",
        },
        "circ_mfa_data": {
            "en": "data: {source}",
            "nl": "gegevens: {source}",
        },
        "circ_mfa_public": {
            "en": "Public: a model run on published data; no organisation's figures.",
            "nl": "Openbaar: een modelberekening op gepubliceerde gegevens; geen cijfers van organisaties.",
        },
        "circ_mfa_assumptions": {
            "en": "The figures rest on stated assumptions (lifetimes, EV inflow, chemistry shares); see "
            "docs/material-flow.md and the CSV tables next to the model.",
            "nl": "De cijfers rusten op genoemde aannames (levensduren, instroom van EV's, chemieaandelen); zie "
            "docs/material-flow.md en de CSV-tabellen bij het model.",
        },
    }
)
