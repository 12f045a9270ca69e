"""The producer-responsibility register: memberships, yearly reports, collection rates, compliance, with access rules.

Reports
-------
- ``market``: a producer's or PRO's year of batteries placed on the market and collected, in lines of category,
  chemistry and weight: ``{"lines": [{"category": "portable", "chemistry": "alkaline", "placed_on_market_t": 10.0,
  "collected_t": 4.0}]}``. Both masses are required (0 is a value; an absent mass is refused, not read as 0).
- ``process``: a recycler's year of recycling processes: ``{"inputs": [{"chemistry": "lithium-based", "mass_t": 100,
  "element_content_pct": {"Co": 10}}], "outputs": [{"chemistry": "lithium-based", "fraction": "black mass",
  "mass_t": 40, "element_content_pct": {"Co": 24}, "destination": "...", "recycled": true}]}``. Chemistry is one of
  the groups of Regulation (EU) 2023/1542 Annex XII Part B.
- ``collection``: a waste-management operator's year of waste batteries it collected itself, outside the producers'
  and PROs' collection (``{"lines": [{"category": "portable", "chemistry": "alkaline", "collected_t": 3.0}]}``).
  Regulation (EU) 2023/1542 lets waste batteries be collected by producers and PROs (Art. 59-62) and by
  waste-management operators (Art. 69, as given in the project brief; the article was not re-read here): the
  national figures keep the two apart (``collected_by_producers_t``, ``collected_by_other_operators_t``) and the
  national collection rate counts both. Batteries a waste operator hands over to a PRO belong in the PRO's report
  only; counting them twice shows up in the quality check report as a collection rate above 100 %.

Recycling efficiency of a chemistry (Annex XII Part A; Delegated act on the calculation pending, the method of
Commission Regulation (EU) No 493/2012 is followed in its simplest form): the mass of output fractions that count as
recycled over the input mass of that chemistry [%]. Material recovery of an element (Annex XII Part C): the element
mass in recycled output fractions over the element mass in the input [%].

A second report for the same kind, organisation and year is refused (field ``year``); a correction
(``correction=True``) replaces it as a new version, the old version kept.

Access
------
- the market surveillance authority and the Commission (``SUPERVISORY_ROLES``) see every report;
- an organisation's own accounts see its own reports; a PRO's accounts see the reports of its members;
- everyone else, the public included, sees aggregates only (national totals per category and year, no organisation).
Only an organisation's own economic-operator accounts submit its market reports; only a recycler's own recycler
accounts submit its process reports; a PRO's accounts (or an authority) register the PRO's members.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from batteryloop.circularity.collection import CATEGORIES, CollectionRate, Method, collection_rate, method_of
from batteryloop.circularity.epr_models import Membership, Report
from batteryloop.circularity.targets import DIRECTIVE, REGULATION, Achieved, TargetResult, evaluate
from batteryloop.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    ValidationError,
    collect,
)
from batteryloop.passport.access import SUPERVISORY_ROLES, Role, Viewer
from batteryloop.passport.models import Organisation, utcnow

KINDS = ("market", "process", "collection")
PRO_KIND = "producer_responsibility_organisation"
WASTE_OPERATOR_KIND = "waste_operator"
PRODUCER_KINDS = ("manufacturer", "importer", "distributor", PRO_KIND)
RECYCLING_CHEMISTRIES = ("lead-acid", "lithium-based", "nickel-cadmium", "other")
"""Annex XII Part B of Regulation (EU) 2023/1542 sets recycling efficiencies for these groups."""
ELEMENTS = ("Co", "Cu", "Ni", "Pb", "Li", "Mn", "Al", "Fe", "Cd", "Zn", "C")
FIRST_REGULATION_YEAR = 2023
"""Compliance of a year before 2023 is judged against Directive 2006/66/EC, from 2023 against Regulation (EU)
2023/1542: its first collection target is for 2023 (Art. 59(3)(a)) and it repeals the Directive (Art. 97)."""


# ---------------------------------------------------------------------------------------------------------------------
# validation (pure)


def _mass(value: Any, where: str, problems: list[Problem], *, positive: bool = False) -> float | None:
    expected = "tonnes > 0" if positive else "tonnes >= 0"
    if value is None:
        problems.append(Problem(where, "missing mass", expected, "missing"))
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(Problem(where, f"{value!r} is not a mass", expected))
        return None
    if value < 0 or (positive and value == 0):
        problems.append(Problem(where, f"{value} is not a valid mass", expected))
        return None
    return float(value)


def _category(value: Any, where: str, problems: list[Problem]) -> str | None:
    known = {c.lower(): c for c in CATEGORIES}
    name = known.get(str(value).strip().lower()) if isinstance(value, str) else None
    if name is None:
        problems.append(Problem(where, f"unknown category {value!r}", "one of " + ", ".join(CATEGORIES)))
    return name


def _text(value: Any, where: str, problems: list[Problem], limit: int = 100) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem(where, "missing", f"text of 1-{limit} characters", "missing"))
        return None
    if len(value) > limit:
        problems.append(Problem(where, f"longer than {limit} characters", f"text of 1-{limit} characters"))
        return None
    return value.strip()


def _elements(value: Any, where: str, problems: list[Problem]) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(Problem(where, "not an object", 'e.g. {"Co": 12.5}'))
        return {}
    out: dict[str, float] = {}
    for element, pct in value.items():
        at = f"{where}.{element}"
        if element not in ELEMENTS:
            problems.append(Problem(at, f"unknown element {element!r}", "one of " + ", ".join(ELEMENTS)))
            continue
        if isinstance(pct, bool) or not isinstance(pct, int | float) or not math.isfinite(pct):
            problems.append(Problem(at, f"{pct!r} is not a percentage", "0-100 %"))
        elif not 0 <= pct <= 100:
            problems.append(Problem(at, f"element content {pct} % is outside 0-100 %", "0-100 %"))
        else:
            out[element] = float(pct)
    if sum(out.values()) > 100 + 1e-9:
        problems.append(Problem(where, f"element contents add up to {sum(out.values()):g} % (> 100 %)", "<= 100 %"))
    return out


def _rows(data: Mapping[str, Any], key: str, problems: list[Problem]) -> list[Mapping[str, Any]]:
    rows = data.get(key)
    if not isinstance(rows, list) or not rows:
        problems.append(Problem(key, "missing or empty", "a list of objects", "missing"))
        return []
    good: list[Mapping[str, Any]] = []
    for i, row in enumerate(rows):
        if isinstance(row, Mapping):
            good.append(row)
        else:
            problems.append(Problem(f"{key}[{i}]", "not an object", "an object"))
            good.append({})
    return good


def validate_market(data: Mapping[str, Any]) -> dict[str, Any]:
    """The normalised content of a market report; every bad field named (``lines[1].collected_t``)."""
    problems: list[Problem] = []
    lines: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(_rows(data, "lines", problems)):
        at = f"lines[{i}]"
        category = _category(row.get("category"), f"{at}.category", problems)
        chemistry = _text(row.get("chemistry"), f"{at}.chemistry", problems)
        pom = _mass(row.get("placed_on_market_t"), f"{at}.placed_on_market_t", problems)
        col = _mass(row.get("collected_t"), f"{at}.collected_t", problems)
        if category and chemistry:
            key = (category, chemistry.lower())
            if key in seen:
                problems.append(
                    Problem(f"{at}.chemistry", f"{category}/{chemistry} already in lines[{seen[key]}]", "one line each")
                )
            seen[key] = i
        if category and chemistry and pom is not None and col is not None:
            lines.append({"category": category, "chemistry": chemistry, "placed_on_market_t": pom, "collected_t": col})
    collect(problems, "invalid market report")
    return {"lines": lines}


def validate_collection(data: Mapping[str, Any]) -> dict[str, Any]:
    """The normalised content of a waste operator's collection report; every bad field named."""
    problems: list[Problem] = []
    lines: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(_rows(data, "lines", problems)):
        at = f"lines[{i}]"
        category = _category(row.get("category"), f"{at}.category", problems)
        chemistry = _text(row.get("chemistry"), f"{at}.chemistry", problems)
        col = _mass(row.get("collected_t"), f"{at}.collected_t", problems)
        if "placed_on_market_t" in row:
            problems.append(
                Problem(
                    f"{at}.placed_on_market_t",
                    "a waste operator places nothing on the market",
                    "only category, chemistry, collected_t",
                )
            )
        if category and chemistry:
            key = (category, chemistry.lower())
            if key in seen:
                problems.append(
                    Problem(f"{at}.chemistry", f"{category}/{chemistry} already in lines[{seen[key]}]", "one line each")
                )
            seen[key] = i
        if category and chemistry and col is not None:
            lines.append({"category": category, "chemistry": chemistry, "collected_t": col})
    collect(problems, "invalid collection report")
    return {"lines": lines}


VALIDATORS = {"market": validate_market, "collection": validate_collection}


def validate_process(data: Mapping[str, Any]) -> dict[str, Any]:
    """The normalised content of a recycler's process report; every bad field named."""
    problems: list[Problem] = []
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    input_mass: dict[str, float] = {}

    def chemistry_of(value: Any, where: str) -> str | None:
        if value not in RECYCLING_CHEMISTRIES:
            problems.append(
                Problem(where, f"unknown chemistry {value!r}", "one of " + ", ".join(RECYCLING_CHEMISTRIES))
            )
            return None
        return str(value)

    for i, row in enumerate(_rows(data, "inputs", problems)):
        at = f"inputs[{i}]"
        chem = chemistry_of(row.get("chemistry"), f"{at}.chemistry")
        mass = _mass(row.get("mass_t"), f"{at}.mass_t", problems, positive=True)
        elements = _elements(row.get("element_content_pct"), f"{at}.element_content_pct", problems)
        if chem and chem in input_mass:
            problems.append(Problem(f"{at}.chemistry", f"{chem} given twice", "one input per chemistry"))
        elif chem and mass is not None:
            input_mass[chem] = mass
            inputs.append({"chemistry": chem, "mass_t": mass, "element_content_pct": elements})
    out_mass: dict[str, float] = defaultdict(float)
    for i, row in enumerate(_rows(data, "outputs", problems)):
        at = f"outputs[{i}]"
        chem = chemistry_of(row.get("chemistry"), f"{at}.chemistry")
        fraction = _text(row.get("fraction"), f"{at}.fraction", problems)
        mass = _mass(row.get("mass_t"), f"{at}.mass_t", problems)
        elements = _elements(row.get("element_content_pct"), f"{at}.element_content_pct", problems)
        destination = _text(row.get("destination"), f"{at}.destination", problems, limit=200)
        recycled = row.get("recycled")
        if not isinstance(recycled, bool):
            problems.append(Problem(f"{at}.recycled", f"{recycled!r} is not true or false", "true or false", "missing"))
        if chem and chem not in input_mass and not any(p.field == f"{at}.chemistry" for p in problems):
            problems.append(Problem(f"{at}.chemistry", f"no input of {chem}", "a chemistry listed in inputs"))
        if chem and fraction and mass is not None and destination and isinstance(recycled, bool):
            out_mass[chem] += mass
            outputs.append(
                {
                    "chemistry": chem,
                    "fraction": fraction,
                    "mass_t": mass,
                    "element_content_pct": elements,
                    "destination": destination,
                    "recycled": recycled,
                }
            )
    for chem, mass in out_mass.items():
        if chem in input_mass and mass > input_mass[chem] * (1 + 1e-9):
            problems.append(
                Problem(
                    f"outputs.{chem}",
                    f"outputs of {mass:g} t exceed the input of {input_mass[chem]:g} t",
                    "outputs <= input per chemistry",
                )
            )
    collect(problems, "invalid process report")
    return {"inputs": inputs, "outputs": outputs}


# ---------------------------------------------------------------------------------------------------------------------
# recycling figures (pure)


@dataclass(frozen=True)
class ProcessFigures:
    """Recycling efficiency per chemistry and material recovery per element of one process report."""

    recycling_efficiency: list[Achieved]
    material_recovery: list[Achieved]

    def as_dict(self) -> dict[str, Any]:
        return {
            "recycling_efficiency_pct": {a.subject: a.pct for a in self.recycling_efficiency},
            "recycled_output_t": {a.subject: a.numerator_t for a in self.recycling_efficiency},
            "input_t": {a.subject: a.denominator_t for a in self.recycling_efficiency},
            "material_recovery_pct": {a.subject: a.pct for a in self.material_recovery},
            "element_recovered_t": {a.subject: a.numerator_t for a in self.material_recovery},
            "element_input_t": {a.subject: a.denominator_t for a in self.material_recovery},
        }


def process_figures(data: Mapping[str, Any]) -> ProcessFigures:
    """Recycling efficiency [%] per chemistry and material recovery [%] per element of a validated process report."""
    recycled: dict[str, float] = defaultdict(float)
    element_in: dict[str, float] = defaultdict(float)
    element_out: dict[str, float] = defaultdict(float)
    for row in data["outputs"]:
        if row["recycled"]:
            recycled[row["chemistry"]] += row["mass_t"]
            for element, pct in row["element_content_pct"].items():
                element_out[element] += row["mass_t"] * pct / 100.0
    for row in data["inputs"]:
        for element, pct in row["element_content_pct"].items():
            element_in[element] += row["mass_t"] * pct / 100.0
    efficiency = [
        Achieved("recycling_efficiency", "all", row["chemistry"], recycled[row["chemistry"]], row["mass_t"], "process")
        for row in data["inputs"]
    ]
    recovery = [
        Achieved("material_recovery", "all", element, element_out[element], element_in[element], "process")
        for element in sorted(element_in)
        if element_in[element] > 0
    ]
    return ProcessFigures(efficiency, recovery)


# ---------------------------------------------------------------------------------------------------------------------
# compliance report


@dataclass
class ComplianceReport:
    organisation: str
    year: int
    instrument: str
    results: list[TargetResult] = field(default_factory=list)
    rates: list[CollectionRate] = field(default_factory=list)
    not_computed: list[dict[str, str]] = field(default_factory=list)

    COLUMNS = (
        "organisation",
        "year",
        "parameter",
        "category",
        "subject",
        "target_id",
        "provision",
        "from_date",
        "target_pct",
        "achieved_pct",
        "met",
        "binding",
        "margin_pp",
        "missing_t",
        "numerator_t",
        "denominator_t",
        "basis",
        "source",
    )

    def rows(self) -> list[dict[str, Any]]:
        out = [{"organisation": self.organisation, "year": self.year, **r.as_dict()} for r in self.results]
        for gap in self.not_computed:
            out.append({"organisation": self.organisation, "year": self.year, **gap})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "organisation": self.organisation,
            "year": self.year,
            "instrument": self.instrument,
            "results": [r.as_dict() for r in self.results],
            "collection_rates": [r.as_dict() for r in self.rates],
            "not_computed": self.not_computed,
        }

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """``compliance_<organisation>_<year>.csv`` and ``.html`` in ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = "compliance_" + "".join(c if c.isalnum() else "_" for c in self.organisation) + f"_{self.year}"
        csv_path = out_dir / f"{stem}.csv"
        with csv_path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows())
        html_path = out_dir / f"{stem}.html"
        html_path.write_text(self.html(), encoding="utf-8")
        return csv_path, html_path

    def html(self) -> str:
        e = html.escape
        head = "".join(
            f"<th>{e(c)}</th>"
            for c in ("Parameter", "Category", "Subject", "Target", "Achieved", "Met", "Margin", "Missing", "Provision")
        )
        body = []
        for r in self.results:
            body.append(
                "<tr>"
                f"<td>{e(r.target.parameter)}</td><td>{e(r.achieved.category)}</td><td>{e(r.target.subject)}</td>"
                f"<td>{r.target.value_pct:g} % from {r.target.from_date.isoformat()}</td>"
                f"<td>{r.achieved.pct:.1f} %</td><td>{'yes' if r.met else 'no'}{' (binding)' if r.binding else ''}</td>"
                f"<td>{r.margin_pp:+.1f} pp</td><td>{r.missing_t:,.1f} t</td><td>{e(r.target.provision)}</td>"
                "</tr>"
            )
        gaps = "".join(f"<li>{e(g['parameter'])} {e(g['category'])}: {e(g['basis'])}</li>" for g in self.not_computed)
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Compliance {e(self.organisation)} {self.year}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #999;padding:4px 8px;text-align:left}</style></head><body>"
            f"<h1>Compliance report: {e(self.organisation)}, {self.year}</h1>"
            f"<p>Targets of {e(self.instrument)}. Missing: the tonnes still to collect, recycle or recover to meet the "
            "target. Every applicable target is listed; the highest is the binding one.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            + (f"<h2>Not computed</h2><ul>{gaps}</ul>" if gaps else "")
            + "</body></html>"
        )


# ---------------------------------------------------------------------------------------------------------------------
# the service


class EprService:
    """The register on one session; every read and write checks the caller (:class:`Viewer`)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # organisations and memberships ------------------------------------------------------------------------------

    def organisation(self, name_or_id: str | int) -> Organisation:
        # an id: ASCII digits only ("²".isdigit() is true too) and within a 64-bit database integer
        as_id = isinstance(name_or_id, int) or (
            isinstance(name_or_id, str) and name_or_id.isascii() and name_or_id.isdigit()
        )
        if as_id and 0 <= int(name_or_id) < 2**63:
            org = self.session.get(Organisation, int(name_or_id))
        elif as_id:
            org = None
        else:
            org = self.session.scalar(
                select(Organisation).where((Organisation.name == name_or_id) | (Organisation.identifier == name_or_id))
            )
        if org is None:
            raise NotFoundError(f"no organisation {name_or_id!r}", field="organisation")
        return org

    def add_member(self, viewer: Viewer, producer: str, pro: str, category: str, since_year: int) -> Membership:
        problems: list[Problem] = []
        name = _category(category, "category", problems)
        collect(problems, "invalid membership")
        assert name is not None
        producer_org = self.organisation(producer)
        pro_org = self.organisation(pro)
        if pro_org.kind != PRO_KIND:
            raise ValidationError(f"{pro_org.name} is a {pro_org.kind}", field="pro", expected=PRO_KIND)
        if producer_org.kind not in PRODUCER_KINDS[:3]:
            raise ValidationError(
                f"{producer_org.name} is a {producer_org.kind}",
                field="producer",
                expected=", ".join(PRODUCER_KINDS[:3]),
            )
        if viewer.role not in SUPERVISORY_ROLES and viewer.organisation_id != pro_org.id:
            raise PermissionDeniedError("only the PRO itself or an authority registers its members", field="pro")
        existing = self.session.scalar(
            select(Membership).where(Membership.producer_id == producer_org.id, Membership.category == name)
        )
        if existing is not None:
            raise ConflictError(
                f"{producer_org.name} is a member of organisation {existing.pro_id} for {name} already",
                field="producer",
            )
        membership = Membership(producer_id=producer_org.id, pro_id=pro_org.id, category=name, since_year=since_year)
        self.session.add(membership)
        self.session.flush()
        return membership

    def members(self, pro_id: int) -> list[Membership]:
        return list(self.session.scalars(select(Membership).where(Membership.pro_id == pro_id)))

    # access -----------------------------------------------------------------------------------------------------

    def _pro_of_viewer(self, viewer: Viewer) -> int | None:
        if viewer.organisation_id is None:
            return None
        org = self.session.get(Organisation, viewer.organisation_id)
        return org.id if org is not None and org.kind == PRO_KIND else None

    def visible_organisations(self, viewer: Viewer) -> set[int] | None:
        """The organisations whose reports ``viewer`` may read; ``None`` means all of them."""
        if viewer.role in SUPERVISORY_ROLES:
            return None
        if viewer.role is Role.ANONYMOUS or viewer.organisation_id is None:
            return set()
        out = {viewer.organisation_id}
        pro = self._pro_of_viewer(viewer)
        if pro is not None:
            out |= {m.producer_id for m in self.members(pro)}
        return out

    def _may_see(self, viewer: Viewer, org_id: int) -> bool:
        visible = self.visible_organisations(viewer)
        return visible is None or org_id in visible

    # reports ----------------------------------------------------------------------------------------------------

    def submit(
        self,
        viewer: Viewer,
        kind: str,
        organisation: str | int,
        year: int,
        data: Mapping[str, Any],
        *,
        correction: bool = False,
        reason: str | None = None,
    ) -> Report:
        """Store a yearly report; a second one for the same year only as a ``correction`` (a new version)."""
        if kind not in KINDS:
            raise ValidationError(f"unknown report kind {kind!r}", field="kind", expected=" or ".join(KINDS))
        if not isinstance(year, int) or isinstance(year, bool) or not 1990 <= year <= 2100:
            raise ValidationError(f"{year!r} is not a reporting year", field="year", expected="a year 1990-2100")
        org = self.organisation(organisation)
        if viewer.organisation_id != org.id:
            raise PermissionDeniedError(f"only {org.name} itself submits its reports", field="organisation")
        if kind == "market" and (viewer.role is not Role.ECONOMIC_OPERATOR or org.kind not in PRODUCER_KINDS):
            raise PermissionDeniedError(
                "market reports come from a producer's or PRO's economic-operator account", field="kind"
            )
        if kind == "process" and (viewer.role is not Role.RECYCLER or org.kind != "recycler"):
            raise PermissionDeniedError("process reports come from a recycler's recycler account", field="kind")
        if kind == "collection" and (viewer.role is not Role.ECONOMIC_OPERATOR or org.kind != WASTE_OPERATOR_KIND):
            raise PermissionDeniedError(
                "collection reports come from a waste operator's economic-operator account", field="kind"
            )
        content = VALIDATORS.get(kind, validate_process)(data)
        old = self.session.scalar(
            select(Report).where(
                Report.kind == kind, Report.organisation_id == org.id, Report.year == year, Report.current.is_(True)
            )
        )
        if old is not None and not correction:
            raise ConflictError(
                f"{org.name} has a {kind} report for {year} already (version {old.version}); submit a correction",
                field="year",
                expected="a year without a report, or correction=true",
            )
        if old is None and correction:
            raise NotFoundError(f"{org.name} has no {kind} report for {year} to correct", field="year")
        version = 1
        if old is not None:
            old.current = False
            old.replaced_at = utcnow()
            version = old.version + 1
            self.session.flush()
        report = Report(
            kind=kind,
            organisation_id=org.id,
            year=year,
            version=version,
            current=True,
            data=content,
            submitted_by=viewer.account,
            reason=reason,
        )
        self.session.add(report)
        self.session.flush()
        return report

    def reports(
        self,
        viewer: Viewer,
        *,
        kind: str | None = None,
        year: int | None = None,
        organisation: str | int | None = None,
        history: bool = False,
    ) -> list[Report]:
        """The reports ``viewer`` may read (current versions unless ``history``)."""
        visible = self.visible_organisations(viewer)
        if visible is not None and not visible:
            raise PermissionDeniedError(
                "reports of individual organisations are not public; the aggregates are", field="authorization"
            )
        query = select(Report).order_by(Report.year, Report.kind, Report.organisation_id, Report.version)
        if not history:
            query = query.where(Report.current.is_(True))
        if kind is not None:
            query = query.where(Report.kind == kind)
        if year is not None:
            query = query.where(Report.year == year)
        if organisation is not None:
            org = self.organisation(organisation)
            if not self._may_see(viewer, org.id):
                raise PermissionDeniedError(f"{org.name}'s reports are not visible to you", field="organisation")
            query = query.where(Report.organisation_id == org.id)
        elif visible is not None:
            query = query.where(Report.organisation_id.in_(visible))
        return list(self.session.scalars(query))

    def report(self, viewer: Viewer, report_id: int) -> Report:
        report = self.session.get(Report, report_id)
        if report is None or not self._may_see(viewer, report.organisation_id):
            raise NotFoundError(f"no report {report_id} visible to you", field="report_id")
        return report

    def report_dict(self, report: Report) -> dict[str, Any]:
        org = self.session.get(Organisation, report.organisation_id)
        out: dict[str, Any] = {
            "id": report.id,
            "kind": report.kind,
            "organisation": org.name if org else None,
            "organisation_id": report.organisation_id,
            "year": report.year,
            "version": report.version,
            "current": report.current,
            "submitted_by": report.submitted_by,
            "submitted_at": report.submitted_at.isoformat(),
            "replaced_at": report.replaced_at.isoformat() if report.replaced_at else None,
            "reason": report.reason,
            "data": report.data,
        }
        if report.kind == "process":
            out["figures"] = process_figures(report.data).as_dict()
        return out

    # figures ----------------------------------------------------------------------------------------------------

    def _scope(self, org: Organisation, category: str) -> dict[int, int]:
        """Organisation id -> first year counted, for ``org``'s figures of ``category`` (a PRO: with its members)."""
        scope = {org.id: 0}
        if org.kind == PRO_KIND:
            for m in self.members(org.id):
                if m.category == category:
                    scope[m.producer_id] = m.since_year
        return scope

    def market_totals(
        self, category: str, org: Organisation | None = None
    ) -> tuple[dict[int, float], dict[int, float]]:
        """Placed on the market and collected per year [t] of ``category``: of ``org`` (with its members, its own
        market reports only), or of everyone (the national figure: market reports and the waste operators'
        collection reports)."""
        scope = self._scope(org, category) if org is not None else None
        pom: dict[int, float] = defaultdict(float)
        col: dict[int, float] = defaultdict(float)
        kinds = ("market",) if scope is not None else ("market", "collection")
        query = select(Report).where(Report.kind.in_(kinds), Report.current.is_(True))
        if scope is not None:
            query = query.where(Report.organisation_id.in_(scope))
        for report in self.session.scalars(query):
            if scope is not None and report.year < scope[report.organisation_id]:
                continue
            for line in report.data["lines"]:
                if line["category"] == category:
                    if report.kind == "market":
                        pom[report.year] += line["placed_on_market_t"]
                    col[report.year] += line["collected_t"]
        return dict(pom), dict(col)

    def collected_split(self, category: str, year: int) -> tuple[float, float]:
        """Tonnes of ``category`` collected in ``year`` by producers and PROs (market reports) and by other
        operators (waste operators' collection reports), over every current report."""
        split = {"market": 0.0, "collection": 0.0}
        query = select(Report).where(
            Report.kind.in_(("market", "collection")), Report.year == year, Report.current.is_(True)
        )
        for report in self.session.scalars(query):
            for line in report.data["lines"]:
                if line["category"] == category:
                    split[report.kind] += line["collected_t"]
        return split["market"], split["collection"]

    def collection_rate(
        self,
        viewer: Viewer,
        category: str,
        year: int,
        method: str | Method = Method.REGULATION,
        organisation: str | int | None = None,
    ) -> CollectionRate:
        """The collection rate of one organisation (with its members), or of all reports together (public)."""
        how = method_of(method)
        org = None
        if organisation is not None:
            org = self.organisation(organisation)
            if not self._may_see(viewer, org.id):
                raise PermissionDeniedError(f"{org.name}'s figures are not visible to you", field="organisation")
        problems: list[Problem] = []
        name = _category(category, "category", problems)
        collect(problems, "invalid category")
        assert name is not None
        pom, col = self.market_totals(name, org)
        return collection_rate(name, year, col, pom, how)

    def aggregates(self, year: int | None = None) -> list[dict[str, Any]]:
        """National totals per year, category and chemistry over the current market and collection reports (public):
        placed on the market, collected in all, of which by producers and PROs and by other operators."""
        totals: dict[tuple[int, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        reporters: dict[tuple[int, str, str], set[int]] = defaultdict(set)
        query = select(Report).where(Report.kind.in_(("market", "collection")), Report.current.is_(True))
        if year is not None:
            query = query.where(Report.year == year)
        for report in self.session.scalars(query):
            for line in report.data["lines"]:
                key = (report.year, line["category"], line["chemistry"].lower())
                if report.kind == "market":
                    totals[key][0] += line["placed_on_market_t"]
                    totals[key][1] += line["collected_t"]
                else:
                    totals[key][2] += line["collected_t"]
                reporters[key].add(report.organisation_id)
        return [
            {
                "year": y,
                "category": c,
                "chemistry": ch,
                "placed_on_market_t": v[0],
                "collected_t": v[1] + v[2],
                "collected_by_producers_t": v[1],
                "collected_by_other_operators_t": v[2],
                "reports": len(reporters[(y, c, ch)]),
            }
            for (y, c, ch), v in sorted(totals.items())
        ]

    def compliance(self, viewer: Viewer, organisation: str | int, year: int) -> ComplianceReport:
        """Every applicable target for ``organisation``'s figures of ``year``: met, margin, missing tonnes."""
        org = self.organisation(organisation)
        if not self._may_see(viewer, org.id):
            raise PermissionDeniedError(f"{org.name}'s figures are not visible to you", field="organisation")
        regulation = year >= FIRST_REGULATION_YEAR
        instrument = REGULATION if regulation else DIRECTIVE
        method = Method.REGULATION if regulation else Method.DIRECTIVE
        result = ComplianceReport(org.name, year, instrument)
        achieved: list[Achieved] = []
        categories = ("portable", "LMT") if regulation else ("portable",)
        for category in categories:
            pom, col = self.market_totals(category, org)
            if not pom and not col:
                continue
            try:
                rate = collection_rate(category, year, col, pom, method)
            except ValidationError as exc:
                result.not_computed.append(
                    {"parameter": "collection_rate", "category": category, "basis": "; ".join(map(str, exc.problems))}
                )
                continue
            result.rates.append(rate)
            achieved.append(Achieved.collection(rate))
        process = self.session.scalar(
            select(Report).where(
                Report.kind == "process",
                Report.organisation_id == org.id,
                Report.year == year,
                Report.current.is_(True),
            )
        )
        if process is not None:
            figures = process_figures(process.data)
            achieved += figures.recycling_efficiency + figures.material_recovery
        result.results = evaluate(achieved, year, instrument=instrument)
        return result


# ---------------------------------------------------------------------------------------------------------------------
# the data a Member State reports (authorities only)

NATIONAL_REPORT_BASIS = (
    "Regulation (EU) 2023/1542, Art. 76(1) (data per calendar year, made public and reported to the Commission, "
    "a sound basis for monitoring the collection targets and the recycling-efficiency and material-recovery "
    "targets) and Art. 76(3) (accompanied by a quality check report); format: Commission Implementing Regulation "
    "(EU) 2025/2289 of 13 November 2025 (OJ L, 2025/2289, 21.11.2025). The annex tables of 2025/2289 were not "
    "available to this project: table and field names here are descriptive, not that Regulation's table or row "
    "names."
)
CHEMISTRY_GROUPS_FILE = Path(__file__).with_name("chemistry_groups.csv")
UNMAPPED = "unmapped"


@cache
def chemistry_groups() -> dict[str, str]:
    """Reported chemistry (lower case) -> group of Regulation (EU) 2023/1542 Annex XII Part B (chemistry_groups.csv)."""
    out: dict[str, str] = {}
    problems: list[Problem] = []
    with CHEMISTRY_GROUPS_FILE.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            if row.get("group") not in RECYCLING_CHEMISTRIES or not (row.get("source") or "").strip():
                problems.append(
                    Problem(f"{CHEMISTRY_GROUPS_FILE.name}:{line}", f"bad row {row!r}", "a group and a source")
                )
                continue
            out[row["chemistry"].strip().lower()] = row["group"]
    collect(problems, f"{CHEMISTRY_GROUPS_FILE.name}: bad rows")
    return out


def chemistry_group(chemistry: str) -> str:
    """The Annex XII Part B group of a reported chemistry, or ``unmapped`` (named in the quality check report)."""
    return chemistry_groups().get(chemistry.strip().lower(), UNMAPPED)


@dataclass
class NationalReport:
    """One calendar year of the register, over every organisation: what a Member State's authority reports."""

    year: int
    market: list[dict[str, Any]] = field(default_factory=list)
    collection_rates: list[CollectionRate] = field(default_factory=list)
    collected_split: dict[str, dict[str, float]] = field(default_factory=dict)
    not_computed: list[dict[str, str]] = field(default_factory=list)
    recycling_efficiency: list[Achieved] = field(default_factory=list)
    material_recovery: list[Achieved] = field(default_factory=list)
    reporters: dict[str, int] = field(default_factory=dict)

    CSV_COLUMNS = (
        "year",
        "table",
        "category",
        "chemistry",
        "chemistry_group",
        "element",
        "measure",
        "value",
        "unit",
        "method",
    )

    def by_group(self) -> list[dict[str, Any]]:
        """Placed on the market and collected per category and Annex XII Part B chemistry group [t]."""
        totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for m in self.market:
            t = totals[(m["category"], m["chemistry_group"])]
            t[0] += m["placed_on_market_t"]
            t[1] += m["collected_by_producers_t"]
            t[2] += m["collected_by_other_operators_t"]
        return [
            {
                "category": c,
                "chemistry_group": g,
                "placed_on_market_t": v[0],
                "collected_t": v[1] + v[2],
                "collected_by_producers_t": v[1],
                "collected_by_other_operators_t": v[2],
            }
            for (c, g), v in sorted(totals.items())
        ]

    def rows(self) -> list[dict[str, Any]]:
        """Long-format rows: one measure per row."""
        y = self.year
        out: list[dict[str, Any]] = []
        measures = ("placed_on_market", "collected", "collected_by_producers", "collected_by_other_operators")
        for m in self.market:
            for measure in measures:
                out.append(
                    {
                        "year": y,
                        "table": "placed_on_market_and_collected",
                        "category": m["category"],
                        "chemistry": m["chemistry"],
                        "chemistry_group": m["chemistry_group"],
                        "measure": measure,
                        "value": m[f"{measure}_t"],
                        "unit": "t",
                    }
                )
        for g in self.by_group():
            for measure in measures:
                out.append(
                    {
                        "year": y,
                        "table": "placed_on_market_and_collected_by_chemistry_group",
                        "category": g["category"],
                        "chemistry_group": g["chemistry_group"],
                        "measure": measure,
                        "value": g[f"{measure}_t"],
                        "unit": "t",
                        "method": "Regulation (EU) 2023/1542, Annex XII Part B groups (chemistry_groups.csv)",
                    }
                )
        for r in self.collection_rates:
            base = {"year": y, "table": "collection_rate", "category": r.category, "method": r.citation}
            out.append({**base, "measure": "collection_rate", "value": r.collection_rate_pct, "unit": "%"})
            out.append({**base, "measure": "collected", "value": r.collected_t, "unit": "t"})
            split = self.collected_split.get(r.category, {})
            for key in ("collected_by_producers", "collected_by_other_operators"):
                if key + "_t" in split:
                    out.append({**base, "measure": key, "value": split[key + "_t"], "unit": "t"})
            for py, t in sorted(r.placed_on_market_t.items()):
                out.append({**base, "measure": f"placed_on_market_{py}", "value": t, "unit": "t"})
            out.append(
                {**base, "measure": "average_placed_on_market", "value": r.average_placed_on_market_t, "unit": "t"}
            )
        for gap in self.not_computed:
            out.append(
                {
                    "year": y,
                    "table": "collection_rate",
                    "category": gap["category"],
                    "measure": "not_computed",
                    "method": gap["basis"],
                }
            )
        for a in self.recycling_efficiency:
            base = {"year": y, "table": "recycling_efficiency", "chemistry_group": a.subject, "method": a.basis}
            out.append({**base, "measure": "input", "value": a.denominator_t, "unit": "t"})
            out.append({**base, "measure": "recycled_output", "value": a.numerator_t, "unit": "t"})
            out.append({**base, "measure": "recycling_efficiency", "value": a.pct, "unit": "%"})
        for a in self.material_recovery:
            base = {"year": y, "table": "material_recovery", "element": a.subject, "method": a.basis}
            out.append({**base, "measure": "element_input", "value": a.denominator_t, "unit": "t"})
            out.append({**base, "measure": "element_recovered", "value": a.numerator_t, "unit": "t"})
            out.append({**base, "measure": "material_recovery", "value": a.pct, "unit": "%"})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "basis": NATIONAL_REPORT_BASIS,
            "reporters": self.reporters,
            "placed_on_market_and_collected": self.market,
            "placed_on_market_and_collected_by_chemistry_group": self.by_group(),
            "collection_rates": [
                {**r.as_dict(), **self.collected_split.get(r.category, {})} for r in self.collection_rates
            ],
            "collection_rates_not_computed": self.not_computed,
            "recycling_efficiency": [
                {
                    "chemistry": a.subject,
                    "input_t": a.denominator_t,
                    "recycled_output_t": a.numerator_t,
                    "recycling_efficiency_pct": a.pct,
                }
                for a in self.recycling_efficiency
            ],
            "material_recovery": [
                {
                    "element": a.subject,
                    "element_input_t": a.denominator_t,
                    "element_recovered_t": a.numerator_t,
                    "material_recovery_pct": a.pct,
                }
                for a in self.material_recovery
            ],
        }

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """``national_report_<year>.csv`` (long format) and ``.json`` in ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        csv_path = out_dir / f"national_report_{self.year}.csv"
        with csv_path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows())
        json_path = out_dir / f"national_report_{self.year}.json"
        json_path.write_text(json.dumps(self.as_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
        return csv_path, json_path


def check_supervisor(viewer: Viewer, what: str = "the national report") -> None:
    if viewer.role not in SUPERVISORY_ROLES:
        raise PermissionDeniedError(
            f"{what} is for the market surveillance authority and the Commission", field="authorization"
        )


def check_year(year: Any) -> int:
    if not isinstance(year, int) or isinstance(year, bool) or not 1990 <= year <= 2100:
        raise ValidationError(f"{year!r} is not a reporting year", field="year", expected="a year 1990-2100")
    return year


def rate_categories(year: int) -> tuple[str, ...]:
    """Categories with a collection-rate target in ``year``: portable under the Directive (before 2023), portable
    (Art. 59(3)) and LMT (Art. 60(3)) under the Regulation."""
    return ("portable", "LMT") if year >= FIRST_REGULATION_YEAR else ("portable",)


def national_report(epr: EprService, viewer: Viewer, year: int) -> NationalReport:
    """Placed on the market and collected per category and chemistry (collected by producers and PROs and by other
    operators apart), collection rates (portable; LMT from 2023) with their method, recycling efficiency per
    chemistry group and material recovery per element over every recycler's process report of ``year``. The market
    surveillance authority and the Commission only."""
    check_supervisor(viewer)
    check_year(year)
    result = NationalReport(year)
    result.market = [
        {
            "category": row["category"],
            "chemistry": row["chemistry"],
            "chemistry_group": chemistry_group(row["chemistry"]),
            "placed_on_market_t": row["placed_on_market_t"],
            "collected_t": row["collected_t"],
            "collected_by_producers_t": row["collected_by_producers_t"],
            "collected_by_other_operators_t": row["collected_by_other_operators_t"],
            "reports": row["reports"],
        }
        for row in epr.aggregates(year)
    ]
    method = Method.REGULATION if year >= FIRST_REGULATION_YEAR else Method.DIRECTIVE
    for category in rate_categories(year):
        pom, col = epr.market_totals(category)
        if not pom and not col:
            continue
        by_producers, by_others = epr.collected_split(category, year)
        result.collected_split[category] = {
            "collected_by_producers_t": by_producers,
            "collected_by_other_operators_t": by_others,
        }
        try:
            result.collection_rates.append(collection_rate(category, year, col, pom, method))
        except ValidationError as exc:
            result.not_computed.append({"category": category, "basis": "; ".join(map(str, exc.problems))})
    recycled: dict[str, float] = defaultdict(float)
    inputs: dict[str, float] = defaultdict(float)
    element_in: dict[str, float] = defaultdict(float)
    element_out: dict[str, float] = defaultdict(float)
    processes = current_reports(epr.session, "process", year)
    for report in processes:
        figures = process_figures(report.data)
        for a in figures.recycling_efficiency:
            recycled[a.subject] += a.numerator_t
            inputs[a.subject] += a.denominator_t
        for a in figures.material_recovery:
            element_out[a.subject] += a.numerator_t
            element_in[a.subject] += a.denominator_t
    basis = f"sum over {len(processes)} recycler process report(s) of {year}"
    result.recycling_efficiency = [
        Achieved("recycling_efficiency", "all", chem, recycled[chem], inputs[chem], basis)
        for chem in RECYCLING_CHEMISTRIES
        if inputs.get(chem, 0.0) > 0
    ]
    result.material_recovery = [
        Achieved("material_recovery", "all", el, element_out[el], element_in[el], basis)
        for el in sorted(element_in)
        if element_in[el] > 0
    ]
    result.reporters = {
        kind: len({r.organisation_id for r in current_reports(epr.session, kind, year)}) for kind in KINDS
    }
    return result


def current_reports(session: Session, kind: str, year: int) -> list[Report]:
    """The current version of every ``kind`` report of ``year``, in organisation order."""
    return list(
        session.scalars(
            select(Report)
            .where(Report.kind == kind, Report.year == year, Report.current.is_(True))
            .order_by(Report.organisation_id)
        )
    )
