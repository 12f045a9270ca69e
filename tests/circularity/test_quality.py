"""The quality check report beside the national report (Art. 76(3)) and what waste operators collect outside the PROs.

A register is filled by hand: two producers report 2022-2023, one of them (Maker B) skips 2024 and the other
(Maker A) reports three times its usual collected tonnage, so the 2024 portable rate goes above 100 %. The report must
name Maker B as missing and Maker A as the source of the jump; every figure is worked out by hand below.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.api.app import create_app
from batteryloop.circularity.epr import (
    EprService,
    chemistry_group,
    chemistry_groups,
    national_report,
    validate_collection,
)
from batteryloop.circularity.quality import Finding, QualityReport, load_checks, parse_checks, quality_check
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.errors import PermissionDeniedError, ValidationError
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.service import PassportService
from tests.conftest import shared_path

MSA = Viewer(Role.MARKET_SURVEILLANCE_AUTHORITY, account="msa")
ORGS = {
    "Maker A": "manufacturer",
    "Maker B": "importer",
    "Stibat": "producer_responsibility_organisation",
    "Maker C": "manufacturer",
    "Afvalbedrijf W": "waste_operator",
    "Recycler R": "recycler",
}


def as_org(session: Session, name: str, role: Role = Role.ECONOMIC_OPERATOR) -> Viewer:
    return Viewer(role, account=f"{name}-op", organisation_id=EprService(session).organisation(name).id)


def market(pom: float, col: float, category: str = "portable", chemistry: str = "alkaline") -> dict[str, Any]:
    return {"lines": [{"category": category, "chemistry": chemistry, "placed_on_market_t": pom, "collected_t": col}]}


def process(mass_in: float, recycled_t: float) -> dict[str, Any]:
    return {
        "inputs": [{"chemistry": "other", "mass_t": mass_in, "element_content_pct": {"Zn": 20.0}}],
        "outputs": [
            {
                "chemistry": "other",
                "fraction": "zinc concentrate",
                "mass_t": recycled_t,
                "element_content_pct": {"Zn": 30.0},
                "destination": "zinc smelter",
                "recycled": True,
            }
        ],
    }


@pytest.fixture
def register(session_factory: sessionmaker[Session], settings: Settings) -> sessionmaker[Session]:
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        for name, kind in ORGS.items():
            svc.create_organisation(name, kind=kind)
    return session_factory


def fill(session: Session) -> None:
    """2022-2023: A 60 t on the market / 20 t collected, B 40 / 15 a year. 2024: A 60 / 60 (three times), B none."""
    epr = EprService(session)
    for year in (2022, 2023):
        epr.submit(as_org(session, "Maker A"), "market", "Maker A", year, market(60.0, 20.0))
        epr.submit(as_org(session, "Maker B"), "market", "Maker B", year, market(40.0, 15.0))
    epr.submit(as_org(session, "Maker A"), "market", "Maker A", 2024, market(60.0, 60.0))


def by_figure(report: QualityReport, prefix: str) -> list[Finding]:
    return [f for f in report.findings if f.figure.startswith(prefix)]


def test_a_missing_report_and_an_implausible_figure_are_named(register: sessionmaker[Session], tmp_path: Path) -> None:
    with transaction(register) as session:
        fill(session)
    with transaction(register) as session:
        epr = EprService(session)
        national = national_report(epr, MSA, 2024)
        report = quality_check(epr, MSA, 2024, national)

    # the missing report: Maker B reported 2022 and 2023, not 2024
    (missing,) = by_figure(report, "market report of Maker B")
    assert missing.status == "missing" and missing.aspect == "completeness"
    assert "Maker B" in missing.organisations and "2023" in missing.detail
    assert not by_figure(report, "market report of Maker A")

    # portable 2024 under the Regulation (Annex XI Part A): 60 / ((100 + 100 + 60) / 3) = 69.23 %: below 100 %
    (rate,) = national.collection_rates
    assert rate.collection_rate_pct == pytest.approx(100 * 60 / (260 / 3))
    (above,) = [f for f in report.findings if f.check_id == "QC_RATE_ABOVE_100"]
    assert above.status == "ok" and above.value == pytest.approx(69.230769)

    # the implausible figure: collected 35 t -> 60 t (+71.4 %), placed on the market 100 t -> 60 t (-40 %), both
    # beyond 25 %; Maker A's collected moved most (+40 t), Maker B's placed on the market (-40 t)
    (collected,) = by_figure(report, "collected portable 2023-2024")
    assert collected.status == "warning" and collected.check_id == "QC_YOY_CHANGE"
    assert collected.value == pytest.approx(100 * (60 - 35) / 35)
    assert collected.threshold == 25.0 and collected.organisations == ("Maker A",)
    assert "Maker A +40.0 t" in collected.detail and collected.reason
    (pom,) = by_figure(report, "placed on the market portable 2023-2024")
    assert pom.status == "warning" and pom.value == pytest.approx(-40.0) and pom.organisations == ("Maker B",)

    # categories without any report are named; recycling is missing altogether
    categories = {f.figure for f in report.of("completeness", "missing") if f.figure.startswith("category")}
    assert categories == {f"category {c} 2024" for c in ("LMT", "SLI", "EV", "industrial")}
    assert by_figure(report, "recycling efficiency and material recovery 2024")[0].status == "missing"

    # sources: the rate names the reports of 2022, 2023 and 2024
    (source,) = by_figure(report, "collection rate portable 2024")[:1]
    assert source.aspect == "sources"
    assert "2022: Maker A v1" in source.detail and "2024: Maker A v1" in source.detail
    assert "Maker B" not in source.detail.split("2024:")[1]

    csv_path, html_path = report.write(tmp_path)
    with csv_path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {"aspect", "figure", "status", "check_id", "value", "threshold", "detail", "reason"} <= set(rows[0])
    flagged = {(r["status"], r["figure"]) for r in rows}
    assert ("missing", "market report of Maker B 2024") in flagged
    assert ("warning", "collected portable 2023-2024") in flagged
    page = html_path.read_text(encoding="utf-8")
    assert "Maker B reported placed-on-market and collection figures for 2023 but none for 2024" in page
    assert "QC_YOY_CHANGE" in page and "<h2>Completeness</h2>" in page


def test_a_rate_above_100_and_recyclers_input_are_flagged(register: sessionmaker[Session], tmp_path: Path) -> None:
    with transaction(register) as session:
        fill(session)
        epr = EprService(session)
        # a waste operator reports 140 t it collected itself: portable 2024 collected = 60 + 140 = 200 t
        epr.submit(
            as_org(session, "Afvalbedrijf W"),
            "collection",
            "Afvalbedrijf W",
            2024,
            {"lines": [{"category": "portable", "chemistry": "Alkaline", "collected_t": 140.0}]},
        )
        epr.submit(as_org(session, "Recycler R", Role.RECYCLER), "process", "Recycler R", 2024, process(50.0, 30.0))
    with transaction(register) as session:
        epr = EprService(session)
        national = national_report(epr, MSA, 2024)
        report = quality_check(epr, MSA, 2024, national)
    # 200 / 86.667 = 230.8 % > 100 %
    (rate,) = national.collection_rates
    assert rate.collected_t == 200.0
    assert national.collected_split["portable"] == {
        "collected_by_producers_t": 60.0,
        "collected_by_other_operators_t": 140.0,
    }
    (above,) = [f for f in report.findings if f.check_id == "QC_RATE_ABOVE_100"]
    assert above.status == "warning" and above.value == pytest.approx(230.769231)
    assert "by other operators 140.0 t" in above.detail and "double counting" in above.reason
    # recyclers' input 50 t over 200 t collected = 25 % < 40 %
    (recyclers,) = by_figure(report, "recyclers' input against collected 2024")
    assert recyclers.status == "warning" and recyclers.check_id == "QC_RECYCLER_INPUT_LOW"
    assert recyclers.value == pytest.approx(25.0) and recyclers.threshold == 40.0
    # the chemistry of the waste operator ("Alkaline") joins the producers' line ("alkaline")
    (line,) = national.market
    assert (line["collected_by_producers_t"], line["collected_by_other_operators_t"]) == (60.0, 140.0)
    assert line["chemistry_group"] == "other" and line["reports"] == 2
    (group,) = national.by_group()
    assert group["collected_t"] == 200.0
    assert national.reporters == {"market": 1, "process": 1, "collection": 1}
    csv_path, json_path = national.write(tmp_path)
    with csv_path.open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["table"] == "collection_rate"]
    got = {r["measure"]: float(r["value"]) for r in rows}
    assert got["collected_by_producers"] == 60.0 and got["collected_by_other_operators"] == 140.0
    assert got["placed_on_market_2022"] == 100.0 and got["average_placed_on_market"] == pytest.approx(260 / 3)
    body = json_path.read_text(encoding="utf-8")
    assert '"collected_by_other_operators_t": 140.0' in body and "2025/2289" in body


def test_recyclers_input_in_range_and_corrections_reported(register: sessionmaker[Session]) -> None:
    with transaction(register) as session:
        fill(session)
        epr = EprService(session)
        epr.submit(as_org(session, "Recycler R", Role.RECYCLER), "process", "Recycler R", 2024, process(50.0, 30.0))
        epr.submit(
            as_org(session, "Maker A"),
            "market",
            "Maker A",
            2024,
            market(60.0, 30.0, chemistry="LiSOCl2"),
            correction=True,
            reason="collected was entered twice",
        )
    with transaction(register) as session:
        report = quality_check(EprService(session), MSA, 2024)
    # 50 t in over 30 t collected = 166.7 % > 150 %
    (recyclers,) = by_figure(report, "recyclers' input against collected 2024")
    assert recyclers.check_id == "QC_RECYCLER_INPUT_HIGH" and recyclers.value == pytest.approx(500 / 3)
    (timely,) = [f for f in report.of("timeliness") if "Maker A" in f.figure]
    assert "corrected 1 time(s)" in timely.detail and "collected was entered twice" in timely.detail
    (unmapped,) = by_figure(report, "chemistry lisocl2")
    assert unmapped.status == "missing" and "Annex XII Part B" in unmapped.detail


def test_recyclers_input_in_range_is_ok(register: sessionmaker[Session]) -> None:
    with transaction(register) as session:
        fill(session)
        epr = EprService(session)
        epr.submit(as_org(session, "Recycler R", Role.RECYCLER), "process", "Recycler R", 2024, process(45.0, 30.0))
    with transaction(register) as session:
        report = quality_check(EprService(session), MSA, 2024)
    # 45 / 60 = 75 %, inside 40-150 %
    (recyclers,) = by_figure(report, "recyclers' input against collected 2024")
    assert recyclers.status == "ok" and recyclers.value == pytest.approx(75.0)


def test_pro_member_without_report_is_missing(register: sessionmaker[Session]) -> None:
    with transaction(register) as session:
        EprService(session).add_member(MSA, "Maker C", "Stibat", "portable", 2024)
        fill(session)
    with transaction(register) as session:
        report = quality_check(EprService(session), MSA, 2024)
    (member,) = by_figure(report, "market report of Maker C")
    assert member.status == "missing" and member.organisations == ("Maker C", "Stibat")


def test_collection_reports_only_from_waste_operators(register: sessionmaker[Session]) -> None:
    data = {"lines": [{"category": "portable", "chemistry": "alkaline", "collected_t": 1.0}]}
    with transaction(register) as session:
        epr = EprService(session)
        with pytest.raises(PermissionDeniedError) as exc:
            epr.submit(as_org(session, "Maker A"), "collection", "Maker A", 2024, data)
        assert exc.value.field == "kind"
        with pytest.raises(PermissionDeniedError):
            epr.submit(as_org(session, "Afvalbedrijf W"), "market", "Afvalbedrijf W", 2024, market(1.0, 1.0))
        report = epr.submit(as_org(session, "Afvalbedrijf W"), "collection", "Afvalbedrijf W", 2024, data)
        assert report.version == 1 and report.kind == "collection"


def test_bad_collection_reports_name_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        validate_collection(
            {
                "lines": [
                    {"category": "portable", "chemistry": "alkaline", "collected_t": -1.0},
                    {"category": "phone", "chemistry": "alkaline", "collected_t": 1.0},
                    {"category": "LMT", "chemistry": "Li-ion", "collected_t": 1.0, "placed_on_market_t": 2.0},
                    {"category": "LMT", "chemistry": "li-ion", "collected_t": 1.0},
                    {"category": "SLI", "chemistry": "lead-acid"},
                ]
            }
        )
    assert {p.field for p in exc.value.problems} == {
        "lines[0].collected_t",
        "lines[1].category",
        "lines[2].placed_on_market_t",
        "lines[3].chemistry",
        "lines[4].collected_t",
    }


def test_only_authorities(register: sessionmaker[Session]) -> None:
    with transaction(register) as session:
        epr = EprService(session)
        for viewer in (as_org(session, "Maker A"), as_org(session, "Recycler R", Role.RECYCLER), Viewer.anonymous()):
            with pytest.raises(PermissionDeniedError):
                quality_check(epr, viewer, 2024)
        with pytest.raises(ValidationError):
            quality_check(epr, MSA, 1800)


def test_checks_as_data_refuse_bad_rows() -> None:
    checks = load_checks()
    assert set(checks) == {"QC_RATE_ABOVE_100", "QC_YOY_CHANGE", "QC_RECYCLER_INPUT_LOW", "QC_RECYCLER_INPUT_HIGH"}
    assert all(c.reason and c.source for c in checks.values())
    header = "id,aspect,check,threshold,unit,reason,source\n"
    bad = (
        header
        + "QC_RATE_ABOVE_100,reliability,x,lots,%,r,s\n"
        + "QC_YOY_CHANGE,mood,x,25,%,r,s\n"
        + "QC_RECYCLER_INPUT_LOW,consistency,x,40,%,,s\n"
    )
    with pytest.raises(ValidationError) as exc:
        parse_checks(csv.DictReader(io.StringIO(bad)), "checks.csv")
    assert {p.field for p in exc.value.problems} == {
        "checks.csv:2:threshold",
        "checks.csv:3:aspect",
        "checks.csv:4:reason",
    }
    only_one = header + "QC_RATE_ABOVE_100,reliability,x,100,%,r,s\n"
    with pytest.raises(ValidationError) as exc:
        parse_checks(csv.DictReader(io.StringIO(only_one)), "checks.csv")
    assert {p.field for p in exc.value.problems} == {"checks.csv:id"}


def test_chemistry_groups_cover_the_annex_xii_groups() -> None:
    groups = chemistry_groups()
    assert set(groups.values()) == {"lead-acid", "lithium-based", "nickel-cadmium", "other"}
    assert chemistry_group(" NiMH ") == "other" and chemistry_group("Li-ion") == "lithium-based"
    assert chemistry_group("NiCd") == "nickel-cadmium" and chemistry_group("unobtainium") == "unmapped"


@pytest.mark.shared_data
def test_year_on_year_threshold_covers_the_dutch_series() -> None:
    """The 25 % threshold's reason: above every yearly change of the Dutch portable placed-on-market series
    2009-2023 (largest +24.3 % in 2020) and above the 90th percentile (21.8 %) of the 239 changes of the 17
    countries and the EU27 total."""
    path = shared_path("circularity", "eurostat_portable_pom", "portable_batteries_pom_tonnes.csv")
    series: dict[str, dict[int, float]] = defaultdict(dict)
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["pom_tonnes"]:
                series[row["geo"]][int(row["year"])] = float(row["pom_tonnes"])
    changes = {
        geo: {y: 100 * (d[y] / d[y - 1] - 1) for y in d if y - 1 in d and d[y - 1] > 0} for geo, d in series.items()
    }
    threshold = load_checks()["QC_YOY_CHANGE"].threshold
    dutch = changes["NLD"]
    assert max(abs(c) for c in dutch.values()) == pytest.approx(24.3, abs=0.05)
    assert max(dutch, key=lambda y: abs(dutch[y])) == 2020
    assert max(abs(c) for c in dutch.values()) < threshold
    everyone = sorted(abs(c) for d in changes.values() for c in d.values())
    assert len(series) == 18 and len(everyone) == 239
    p90 = everyone[int(0.9 * len(everyone))]
    assert p90 == pytest.approx(21.8, abs=0.05) and p90 < threshold


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def test_api(client: TestClient, register: sessionmaker[Session], settings: Settings) -> None:
    tokens: dict[str, str] = {}
    with transaction(register) as session:
        svc = PassportService(session, settings)
        for account, role, org in (
            ("a-op", Role.ECONOMIC_OPERATOR, "Maker A"),
            ("w-op", Role.ECONOMIC_OPERATOR, "Afvalbedrijf W"),
            ("msa", Role.MARKET_SURVEILLANCE_AUTHORITY, None),
        ):
            tokens[account] = svc.issue_token(svc.create_account(account, role, org))
        fill(session)

    def auth(account: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[account]}"}

    body = {
        "kind": "collection",
        "organisation": "Afvalbedrijf W",
        "year": 2024,
        "data": {"lines": [{"category": "portable", "chemistry": "alkaline", "collected_t": 5.0}]},
    }
    response = client.post("/api/v1/circularity/reports", json=body, headers=auth("w-op"))
    assert response.status_code == 201, response.text
    response = client.post("/api/v1/circularity/reports", json=body, headers=auth("a-op"))
    assert response.status_code == 403
    (row,) = [r for r in client.get("/api/v1/circularity/aggregates?year=2024").json()]
    assert (row["collected_by_producers_t"], row["collected_by_other_operators_t"], row["collected_t"]) == (
        60.0,
        5.0,
        65.0,
    )
    url = "/api/v1/circularity/national-report/quality?year=2024"
    assert client.get(url, headers=auth("a-op")).status_code == 403
    response = client.get(url, headers=auth("msa"))
    assert response.status_code == 200, response.text
    findings = response.json()["findings"]
    assert any(f["status"] == "missing" and f["figure"] == "market report of Maker B 2024" for f in findings)
    assert response.json()["counts"]["missing"] >= 1
