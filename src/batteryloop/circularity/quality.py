"""The quality check report that accompanies the national report (Regulation (EU) 2023/1542, Art. 76(3)).

Regulation (EU) 2023/1542, Art. 76(3) requires the data a Member State makes public and reports to the Commission
to be accompanied by a quality check report; Implementing Regulation (EU) 2025/2289, recital 3, names what the
Commission reviews: the organisation of the data collection, the sources of data, the methodology, and the
completeness, reliability, timeliness and consistency of the data. The annex of 2025/2289 that sets the quality
check report's own layout was not available to this project, so the report is organised by those aspects:

- ``sources``: for every national figure, the reports it sums: organisation, report id, version, submission date;
- ``completeness``: organisations that reported in one of the two previous years (or are members of a PRO) and
  not in this one, categories without a report (and whether they had one the year before), chemistries that do not
  map onto an Annex XII Part B group, collection rates that could not be computed;
- ``reliability`` and ``consistency``: the plausibility checks of ``quality_checks.csv`` (threshold, unit and reason
  per row): a collection rate above 100 %, a year-on-year change of placed on the market or collected beyond a
  threshold (naming the organisation whose figure moved most), recyclers' input against the collected mass;
- ``timeliness``: submission dates and corrections of the year's reports;
- ``methodology``: the method and citation of each computed figure.

Each finding has a status: ``ok``, ``info``, ``warning`` (a plausibility check failed) or ``missing`` (a gap in the
data). Output: ``quality_check_<year>.csv`` (one finding a row) and ``.html``.
"""

from __future__ import annotations

import csv
import html
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from batteryloop.circularity.collection import CATEGORIES
from batteryloop.circularity.epr import (
    KINDS,
    UNMAPPED,
    EprService,
    NationalReport,
    check_supervisor,
    check_year,
    national_report,
    process_figures,
)
from batteryloop.circularity.epr_models import Membership, Report
from batteryloop.errors import Problem, collect
from batteryloop.passport.access import Viewer
from batteryloop.passport.models import Organisation

CHECKS_FILE = Path(__file__).with_name("quality_checks.csv")
CHECK_IDS = ("QC_RATE_ABOVE_100", "QC_YOY_CHANGE", "QC_RECYCLER_INPUT_LOW", "QC_RECYCLER_INPUT_HIGH")
ASPECTS = ("sources", "completeness", "reliability", "consistency", "timeliness", "methodology")
STATUSES = ("missing", "warning", "info", "ok")
QUALITY_BASIS = (
    "Regulation (EU) 2023/1542, Art. 76(3): the data are accompanied by a quality check report; aspects after "
    "Implementing Regulation (EU) 2025/2289, recital 3 (organisation of the data collection, sources, methodology, "
    "completeness, reliability, timeliness, consistency). The layout of 2025/2289's quality-check annex was not "
    "available to this project and is not followed cell by cell."
)
LOOKBACK_YEARS = 2
"""An organisation that reported in one of the two previous years is expected to report this year."""


@dataclass(frozen=True)
class QualityCheck:
    """One plausibility check of ``quality_checks.csv``."""

    id: str
    aspect: str
    check: str
    threshold: float
    unit: str
    reason: str
    source: str


def parse_checks(rows: Iterable[Mapping[str, str]], source: str) -> dict[str, QualityCheck]:
    """Checks from CSV rows; a bad threshold, an unknown aspect, a missing reason or a missing check is named."""
    problems: list[Problem] = []
    out: dict[str, QualityCheck] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{source}:{line}"
        try:
            threshold = float(row.get("threshold") or "")
        except ValueError:
            problems.append(Problem(f"{where}:threshold", f"{row.get('threshold')!r} is not a number", "a number"))
            continue
        if not math.isfinite(threshold) or threshold < 0:
            problems.append(Problem(f"{where}:threshold", f"{threshold} is not a threshold", "a number >= 0"))
            continue
        if row.get("aspect") not in ASPECTS:
            problems.append(Problem(f"{where}:aspect", f"unknown aspect {row.get('aspect')!r}", ", ".join(ASPECTS)))
            continue
        if not (row.get("reason") or "").strip() or not (row.get("source") or "").strip():
            problems.append(Problem(f"{where}:reason", "a check needs a reason and a source", "text", "missing"))
            continue
        check = QualityCheck(
            row["id"], row["aspect"], row["check"], threshold, row["unit"], row["reason"], row["source"]
        )
        out[check.id] = check
    for needed in CHECK_IDS:
        if needed not in out and not problems:
            problems.append(Problem(f"{source}:id", f"no check {needed}", "one row per check", "missing"))
    collect(problems, f"{source}: bad quality checks")
    return out


@cache
def load_checks() -> dict[str, QualityCheck]:
    """The shipped checks of ``quality_checks.csv``."""
    with CHECKS_FILE.open(encoding="utf-8", newline="") as handle:
        return parse_checks(csv.DictReader(handle), CHECKS_FILE.name)


@dataclass(frozen=True)
class Finding:
    """One line of the quality check report."""

    aspect: str
    figure: str
    status: str
    detail: str
    check_id: str = ""
    value: float | None = None
    threshold: float | None = None
    unit: str = ""
    organisations: tuple[str, ...] = ()
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "aspect": self.aspect,
            "figure": self.figure,
            "status": self.status,
            "check_id": self.check_id,
            "value": self.value,
            "threshold": self.threshold,
            "unit": self.unit,
            "detail": self.detail,
            "organisations": "; ".join(self.organisations),
            "reason": self.reason,
        }


@dataclass
class QualityReport:
    """The quality check report of one calendar year."""

    year: int
    findings: list[Finding] = field(default_factory=list)

    CSV_COLUMNS = (
        "year",
        "aspect",
        "figure",
        "status",
        "check_id",
        "value",
        "threshold",
        "unit",
        "detail",
        "organisations",
        "reason",
    )

    def of(self, aspect: str | None = None, status: str | None = None) -> list[Finding]:
        return [
            f
            for f in self.findings
            if (aspect is None or f.aspect == aspect) and (status is None or f.status == status)
        ]

    def counts(self) -> dict[str, int]:
        return {s: len(self.of(status=s)) for s in STATUSES}

    def rows(self) -> list[dict[str, Any]]:
        return [{"year": self.year, **f.as_dict()} for f in self.findings]

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "basis": QUALITY_BASIS,
            "counts": self.counts(),
            "findings": [f.as_dict() for f in self.findings],
        }

    def html(self) -> str:
        e = html.escape
        colour = {"missing": "#f8d7da", "warning": "#fff3cd", "info": "#eef", "ok": "#e8f5e9"}
        parts = [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>Quality check report {self.year}</title>",
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
            "td,th{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}</style></head><body>",
            f"<h1>Quality check report {self.year}</h1>",
            f"<p>{e(QUALITY_BASIS)}</p>",
            "<p>" + ", ".join(f"{n} {e(s)}" for s, n in self.counts().items()) + "</p>",
        ]
        for aspect in ASPECTS:
            found = self.of(aspect)
            if not found:
                continue
            found.sort(key=lambda f: STATUSES.index(f.status))
            parts.append(f"<h2>{e(aspect.capitalize())}</h2><table><thead><tr>")
            parts.append(
                "".join(f"<th>{h}</th>" for h in ("Figure", "Status", "Value", "Threshold", "Detail", "Reason"))
            )
            parts.append("</tr></thead><tbody>")
            for f in found:
                value = "" if f.value is None else f"{f.value:,.2f} {e(f.unit)}"
                threshold = "" if f.threshold is None else f"{f.threshold:g} {e(f.unit)} ({e(f.check_id)})"
                parts.append(
                    f"<tr style='background:{colour[f.status]}'><td>{e(f.figure)}</td><td>{e(f.status)}</td>"
                    f"<td>{value}</td><td>{threshold}</td><td>{e(f.detail)}</td><td>{e(f.reason)}</td></tr>"
                )
            parts.append("</tbody></table>")
        parts.append("</body></html>")
        return "".join(parts)

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """``quality_check_<year>.csv`` and ``.html`` in ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        csv_path = out_dir / f"quality_check_{self.year}.csv"
        with csv_path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows())
        html_path = out_dir / f"quality_check_{self.year}.html"
        html_path.write_text(self.html(), encoding="utf-8")
        return csv_path, html_path


# ---------------------------------------------------------------------------------------------------------------------
# the checks


class _Register:
    """The current reports of the years a quality check looks at, with the organisation names."""

    def __init__(self, session: Session, year: int) -> None:
        self.session = session
        self.year = year
        first = year - max(LOOKBACK_YEARS, 2)
        self.reports = list(
            session.scalars(
                select(Report)
                .where(Report.year >= first, Report.year <= year, Report.current.is_(True))
                .order_by(Report.year, Report.kind, Report.organisation_id)
            )
        )
        self.names = {o.id: o.name for o in session.scalars(select(Organisation))}

    def of(self, kind: str, year: int) -> list[Report]:
        return [r for r in self.reports if r.kind == kind and r.year == year]

    def label(self, report: Report) -> str:
        return (
            f"{self.names.get(report.organisation_id, report.organisation_id)} v{report.version} (report {report.id})"
        )

    def lines(self, year: int, category: str) -> list[tuple[Report, Mapping[str, Any]]]:
        return [
            (r, line)
            for r in self.reports
            if r.year == year and r.kind in ("market", "collection")
            for line in r.data["lines"]
            if line["category"] == category
        ]


def _sources(reg: _Register, national: NationalReport) -> list[Finding]:
    out: list[Finding] = []
    year = reg.year
    for row in national.market:
        contributing = [
            r
            for r in reg.of("market", year) + reg.of("collection", year)
            if any(
                line["category"] == row["category"] and line["chemistry"].lower() == row["chemistry"]
                for line in r.data["lines"]
            )
        ]
        out.append(
            Finding(
                "sources",
                f"placed on the market and collected {row['category']}/{row['chemistry']} {year}",
                "info",
                f"sum of {len(contributing)} report(s): " + ", ".join(reg.label(r) for r in contributing),
                organisations=tuple(reg.label(r) for r in contributing),
            )
        )
    for rate in national.collection_rates:
        parts = []
        labels: list[str] = []
        for y in sorted({*rate.placed_on_market_t, rate.year}):
            found = sorted({reg.label(r) for r, _ in reg.lines(y, rate.category)})
            labels += found
            parts.append(f"{y}: " + (", ".join(found) or "none"))
        out.append(
            Finding(
                "sources",
                f"collection rate {rate.category} {year}",
                "info",
                "reports by year: " + "; ".join(parts),
                organisations=tuple(dict.fromkeys(labels)),
            )
        )
    processes = reg.of("process", year)
    for a in national.recycling_efficiency:
        using = tuple(reg.label(r) for r in processes if any(i["chemistry"] == a.subject for i in r.data["inputs"]))
        out.append(
            Finding(
                "sources",
                f"recycling efficiency {a.subject} {year}",
                "info",
                f"sum over {len(using)} process report(s): " + ", ".join(using),
                organisations=using,
            )
        )
    for a in national.material_recovery:
        giving = tuple(
            reg.label(r) for r in processes if any(a.subject in i["element_content_pct"] for i in r.data["inputs"])
        )
        out.append(
            Finding(
                "sources",
                f"material recovery {a.subject} {year}",
                "info",
                f"sum over {len(giving)} process report(s) giving {a.subject} content: " + ", ".join(giving),
                organisations=giving,
            )
        )
    return out


def _completeness(reg: _Register, national: NationalReport) -> list[Finding]:
    out: list[Finding] = []
    year = reg.year
    kind_words = {"market": "placed-on-market and collection", "collection": "collection", "process": "process"}
    for kind in KINDS:
        now = {r.organisation_id for r in reg.of(kind, year)}
        last_seen: dict[int, int] = {}
        for r in reg.reports:
            if r.kind == kind and year - LOOKBACK_YEARS <= r.year < year:
                last_seen[r.organisation_id] = max(last_seen.get(r.organisation_id, 0), r.year)
        for org_id, seen in sorted(last_seen.items()):
            if org_id not in now:
                name = str(reg.names.get(org_id, org_id))
                out.append(
                    Finding(
                        "completeness",
                        f"{kind} report of {name} {year}",
                        "missing",
                        f"{name} reported {kind_words[kind]} figures for {seen} but none for {year}; "
                        "its figures are missing from the national totals",
                        organisations=(name,),
                    )
                )
    reported = {r.organisation_id for r in reg.of("market", year)}
    members = reg.session.scalars(select(Membership).where(Membership.since_year <= year))
    for m in members:
        if m.producer_id not in reported:
            name = str(reg.names.get(m.producer_id, m.producer_id))
            pro = str(reg.names.get(m.pro_id, m.pro_id))
            figure = f"market report of {name} {year}"
            if any(f.figure == figure for f in out):
                continue
            out.append(
                Finding(
                    "completeness",
                    figure,
                    "missing",
                    f"{name} is a member of {pro} for {m.category} batteries since {m.since_year} "
                    f"and has no market report for {year}",
                    organisations=(name, pro),
                )
            )
    for category in CATEGORIES:
        this_year = reg.lines(year, category)
        if this_year:
            continue
        before = reg.lines(year - 1, category)
        if before:
            names = tuple(sorted({str(reg.names.get(r.organisation_id)) for r, _ in before}))
            out.append(
                Finding(
                    "completeness",
                    f"category {category} {year}",
                    "missing",
                    f"no report has {category} batteries in {year}; {year - 1} had {len(before)} line(s) from "
                    + ", ".join(names),
                    organisations=names,
                )
            )
        else:
            out.append(
                Finding(
                    "completeness",
                    f"category {category} {year}",
                    "missing",
                    f"no report has {category} batteries in {year} or {year - 1}: the national report has no "
                    f"{category} figures",
                )
            )
    for row in national.market:
        if row["chemistry_group"] == UNMAPPED:
            out.append(
                Finding(
                    "completeness",
                    f"chemistry {row['chemistry']} ({row['category']}) {year}",
                    "missing",
                    f"{row['chemistry']!r} maps onto no group of Regulation (EU) 2023/1542 Annex XII Part B "
                    "(chemistry_groups.csv); its tonnes are under 'unmapped' in the by-group table",
                )
            )
    for gap in national.not_computed:
        out.append(
            Finding(
                "completeness",
                f"collection rate {gap['category']} {year}",
                "missing",
                f"not computed: {gap['basis']}",
            )
        )
    if not reg.of("process", year):
        out.append(
            Finding(
                "completeness",
                f"recycling efficiency and material recovery {year}",
                "missing",
                f"no recycler submitted a process report for {year}",
            )
        )
    return out


def _change(before: float, now: float) -> float:
    return math.inf if before == 0 else 100.0 * (now - before) / before


def _per_org(reg: _Register, year: int, category: str, measure: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for r, line in reg.lines(year, category):
        if measure in line:
            out[str(reg.names.get(r.organisation_id, r.organisation_id))] += line[measure]
    return out


def _plausibility(reg: _Register, national: NationalReport, checks: Mapping[str, QualityCheck]) -> list[Finding]:
    out: list[Finding] = []
    year = reg.year
    above = checks["QC_RATE_ABOVE_100"]
    for rate in national.collection_rates:
        failed = rate.collection_rate_pct > above.threshold
        split = national.collected_split.get(rate.category, {})
        out.append(
            Finding(
                above.aspect,
                f"collection rate {rate.category} {year}",
                "warning" if failed else "ok",
                (
                    f"{rate.collected_t:,.1f} t collected (by producers and PROs "
                    f"{split.get('collected_by_producers_t', 0.0):,.1f} t, by other operators "
                    f"{split.get('collected_by_other_operators_t', 0.0):,.1f} t) against an average of "
                    f"{rate.average_placed_on_market_t:,.1f} t placed on the market"
                ),
                above.id,
                rate.collection_rate_pct,
                above.threshold,
                above.unit,
                reason=above.reason if failed else "",
            )
        )
    jump = checks["QC_YOY_CHANGE"]
    for category in CATEGORIES:
        for measure, word in (("placed_on_market_t", "placed on the market"), ("collected_t", "collected")):
            now_by = _per_org(reg, year, category, measure)
            before_by = _per_org(reg, year - 1, category, measure)
            if not now_by or not before_by:
                continue
            now, before = sum(now_by.values()), sum(before_by.values())
            change = _change(before, now)
            failed = abs(change) > jump.threshold
            movers = sorted(
                ((name, now_by.get(name, 0.0) - before_by.get(name, 0.0)) for name in {*now_by, *before_by}),
                key=lambda t: -abs(t[1]),
            )
            top = movers[0]
            out.append(
                Finding(
                    jump.aspect,
                    f"{word} {category} {year - 1}-{year}",
                    "warning" if failed else "ok",
                    f"{before:,.1f} t in {year - 1}, {now:,.1f} t in {year}; largest change: {top[0]} {top[1]:+,.1f} t",
                    jump.id,
                    change if math.isfinite(change) else None,
                    jump.threshold,
                    jump.unit,
                    organisations=(top[0],) if failed else (),
                    reason=jump.reason if failed else "",
                )
            )
    low, high = checks["QC_RECYCLER_INPUT_LOW"], checks["QC_RECYCLER_INPUT_HIGH"]
    collected = sum(row["collected_t"] for row in national.market)
    recycler_input = sum(
        a.denominator_t for r in reg.of("process", year) for a in process_figures(r.data).recycling_efficiency
    )
    if collected > 0 and recycler_input > 0:
        share = 100.0 * recycler_input / collected
        check = low if share < low.threshold else high if share > high.threshold else None
        out.append(
            Finding(
                low.aspect,
                f"recyclers' input against collected {year}",
                "ok" if check is None else "warning",
                f"recyclers' input {recycler_input:,.1f} t over {collected:,.1f} t collected (all categories); "
                f"plausible between {low.threshold:g} and {high.threshold:g} %",
                check.id if check is not None else f"{low.id}, {high.id}",
                share,
                None if check is None else check.threshold,
                low.unit,
                reason="" if check is None else check.reason,
            )
        )
    return out


def _timeliness(reg: _Register) -> list[Finding]:
    out: list[Finding] = []
    for kind in KINDS:
        for r in reg.of(kind, reg.year):
            history = reg.session.scalars(
                select(Report.submitted_at)
                .where(Report.kind == kind, Report.organisation_id == r.organisation_id, Report.year == r.year)
                .order_by(Report.version)
            ).all()
            first = history[0].date().isoformat() if history else r.submitted_at.date().isoformat()
            detail = f"first submitted {first}"
            if r.version > 1:
                detail += f"; corrected {r.version - 1} time(s), current version {r.submitted_at.date().isoformat()}"
                if r.reason:
                    detail += f" ({r.reason})"
            out.append(
                Finding(
                    "timeliness",
                    f"{kind} report {reg.label(r)} {reg.year}",
                    "info",
                    detail,
                    organisations=(str(reg.names.get(r.organisation_id, r.organisation_id)),),
                )
            )
    return out


def _methodology(national: NationalReport) -> list[Finding]:
    out = [
        Finding(
            "methodology",
            f"collection rate {r.category} {r.year}",
            "info",
            f"{r.formula}; {r.citation}; collected counts producers and PROs and other operators",
        )
        for r in national.collection_rates
    ]
    if national.recycling_efficiency or national.material_recovery:
        out.append(
            Finding(
                "methodology",
                f"recycling efficiency and material recovery {national.year}",
                "info",
                "sum of recycled output (element) mass over sum of input (element) mass over every recycler, "
                "Regulation (EU) 2023/1542 Annex XII Parts A-C; calculation after Commission Regulation (EU) "
                "No 493/2012 in its simplest form",
            )
        )
    out.append(
        Finding(
            "methodology",
            f"chemistry groups {national.year}",
            "info",
            "reported chemistries mapped onto the Annex XII Part B groups by chemistry_groups.csv",
        )
    )
    return out


def quality_check(
    epr: EprService,
    viewer: Viewer,
    year: int,
    national: NationalReport | None = None,
    checks: Mapping[str, QualityCheck] | None = None,
) -> QualityReport:
    """The quality check report of ``year`` over the register (authorities only): sources, completeness,
    plausibility, timeliness and methodology of every figure of the national report."""
    check_supervisor(viewer, "the quality check report")
    check_year(year)
    national = national if national is not None else national_report(epr, viewer, year)
    rules = checks if checks is not None else load_checks()
    reg = _Register(epr.session, year)
    report = QualityReport(year)
    report.findings += _sources(reg, national)
    report.findings += _completeness(reg, national)
    report.findings += _plausibility(reg, national, rules)
    report.findings += _timeliness(reg)
    report.findings += _methodology(national)
    return report


def warnings_of(report: QualityReport) -> Sequence[Finding]:
    """The findings that need an answer: failed checks and gaps."""
    return [f for f in report.findings if f.status in ("missing", "warning")]
