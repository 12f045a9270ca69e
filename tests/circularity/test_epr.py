"""The producer-responsibility register on SQLite and PostgreSQL: bad reports rejected with the field named, a
correction as a new version with the old one kept, a PRO's collection rate over its members, recycling efficiency
and material recovery worked by hand, the compliance report (HTML and CSV) and the command end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.circularity.epr import EprService, process_figures, validate_market, validate_process
from batteryloop.circularity.epr_models import Report
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.service import PassportService
from tests.circularity.cli import cli_runner

AUTHORITY = Viewer(Role.MARKET_SURVEILLANCE_AUTHORITY, account="msa")


def line(category: str = "portable", chemistry: str = "alkaline", pom: Any = 10.0, col: Any = 4.0) -> dict[str, Any]:
    return {"category": category, "chemistry": chemistry, "placed_on_market_t": pom, "collected_t": col}


PROCESS = {
    "inputs": [{"chemistry": "lithium-based", "mass_t": 100.0, "element_content_pct": {"Co": 10.0, "Li": 2.0}}],
    "outputs": [
        {
            "chemistry": "lithium-based",
            "fraction": "black mass",
            "mass_t": 40.0,
            "element_content_pct": {"Co": 24.0, "Li": 4.5},
            "destination": "hydrometallurgical refinery",
            "recycled": True,
        },
        {
            "chemistry": "lithium-based",
            "fraction": "copper and aluminium foil",
            "mass_t": 28.0,
            "element_content_pct": {"Cu": 60.0, "Al": 40.0},
            "destination": "metal smelter",
            "recycled": True,
        },
        {
            "chemistry": "lithium-based",
            "fraction": "slag",
            "mass_t": 20.0,
            "element_content_pct": {"Li": 1.0},
            "destination": "landfill",
            "recycled": False,
        },
    ],
}


def fields(exc: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in exc.value.problems}


def test_bad_market_reports_name_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        validate_market(
            {
                "lines": [
                    line(pom=-1.0),
                    line(chemistry="NiMH", col=None),
                    line(category="phone"),
                    line(category="LMT", chemistry="Li-ion", pom="12"),
                    line(),
                ]
            }
        )
    assert fields(exc) == {
        "lines[0].placed_on_market_t",
        "lines[1].collected_t",
        "lines[2].category",
        "lines[3].placed_on_market_t",
        "lines[4].chemistry",  # portable/alkaline twice (lines[0] and lines[4])
    }
    with pytest.raises(ValidationError) as exc:
        validate_market({})
    assert fields(exc) == {"lines"}
    assert validate_market({"lines": [line(category="lmt", pom=0)]})["lines"][0]["category"] == "LMT"


def test_bad_process_reports_name_the_field() -> None:
    bad = json.loads(json.dumps(PROCESS))
    bad["inputs"][0]["element_content_pct"] = {"Co": 101.0}
    bad["outputs"][0]["element_content_pct"] = {"Co": 60.0, "Ni": 50.0}  # 110 % together
    bad["outputs"][1]["recycled"] = "yes"
    bad["outputs"][2]["chemistry"] = "nickel-cadmium"  # not among the inputs
    bad["outputs"].append({**PROCESS["outputs"][0], "mass_t": None})
    with pytest.raises(ValidationError) as exc:
        validate_process(bad)
    assert fields(exc) == {
        "inputs[0].element_content_pct.Co",
        "outputs[0].element_content_pct",
        "outputs[1].recycled",
        "outputs[2].chemistry",
        "outputs[3].mass_t",
    }
    heavy = json.loads(json.dumps(PROCESS))
    heavy["outputs"][0]["mass_t"] = 90.0  # 90 + 28 + 20 t out of 100 t in
    with pytest.raises(ValidationError) as exc:
        validate_process(heavy)
    assert fields(exc) == {"outputs.lithium-based"}


def test_recycling_efficiency_and_material_recovery_by_hand() -> None:
    figures = process_figures(validate_process(PROCESS)).as_dict()
    # recycled fractions 40 + 28 t of 100 t in -> 68 %; the slag does not count
    assert figures["recycling_efficiency_pct"] == {"lithium-based": pytest.approx(68.0)}
    # Co: 40 t x 24 % = 9.6 t of 10 t in; Li: 40 t x 4.5 % = 1.8 t of 2 t (the slag's 0.2 t is not recovered)
    assert figures["material_recovery_pct"] == {"Co": pytest.approx(96.0), "Li": pytest.approx(90.0)}
    assert figures["element_input_t"] == {"Co": pytest.approx(10.0), "Li": pytest.approx(2.0)}


@pytest.fixture
def register(session_factory: sessionmaker[Session], settings: Settings) -> sessionmaker[Session]:
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        svc.create_organisation("Maker A", kind="manufacturer")
        svc.create_organisation("Maker B", kind="importer")
        svc.create_organisation("PRO X", kind="producer_responsibility_organisation")
        svc.create_organisation("Recycler R", kind="recycler")
    return session_factory


def as_org(session: Session, name: str, role: Role = Role.ECONOMIC_OPERATOR) -> Viewer:
    return Viewer(role, account=f"{name}-op", organisation_id=EprService(session).organisation(name).id)


def test_duplicate_year_refused_and_correction_versioned(register: sessionmaker[Session]) -> None:
    with transaction(register) as session:
        epr = EprService(session)
        maker = as_org(session, "Maker A")
        first = epr.submit(maker, "market", "Maker A", 2023, {"lines": [line(pom=10.0)]})
        with pytest.raises(ConflictError) as exc:
            epr.submit(maker, "market", "Maker A", 2023, {"lines": [line(pom=12.0)]})
        assert fields(exc) == {"year"}
        with pytest.raises(NotFoundError):
            epr.submit(maker, "market", "Maker A", 2022, {"lines": [line()]}, correction=True)
        second = epr.submit(
            maker, "market", "Maker A", 2023, {"lines": [line(pom=12.0)]}, correction=True, reason="typo"
        )
        assert (second.version, first.version) == (2, 1)
    with transaction(register) as session:
        rows = session.scalars(select(Report).order_by(Report.version)).all()
        assert [(r.version, r.current, r.data["lines"][0]["placed_on_market_t"]) for r in rows] == [
            (1, False, 10.0),
            (2, True, 12.0),
        ]
        assert rows[0].replaced_at is not None
        assert rows[1].reason == "typo"
        epr = EprService(session)
        assert [r.version for r in epr.reports(AUTHORITY)] == [2]
        assert [r.version for r in epr.reports(AUTHORITY, history=True)] == [1, 2]
        assert epr.aggregates(2023)[0]["placed_on_market_t"] == 12.0  # only the current version counts


def test_who_submits(register: sessionmaker[Session]) -> None:
    with transaction(register) as session:
        epr = EprService(session)
        with pytest.raises(PermissionDeniedError):  # another organisation's report
            epr.submit(as_org(session, "Maker B"), "market", "Maker A", 2023, {"lines": [line()]})
        with pytest.raises(PermissionDeniedError):  # a recycler does not report placed on the market
            epr.submit(as_org(session, "Recycler R", Role.RECYCLER), "market", "Recycler R", 2023, {"lines": [line()]})
        with pytest.raises(PermissionDeniedError):  # a producer does not file process reports
            epr.submit(as_org(session, "Maker A"), "process", "Maker A", 2027, PROCESS)
        with pytest.raises(PermissionDeniedError):  # a producer does not enrol itself in a PRO
            epr.add_member(as_org(session, "Maker A"), "Maker A", "PRO X", "portable", 2020)
        with pytest.raises(ValidationError) as exc:
            epr.add_member(as_org(session, "PRO X"), "Maker A", "Maker B", "portable", 2020)
        assert fields(exc) == {"pro"}


def test_pro_collection_rate_and_compliance_report(register: sessionmaker[Session], tmp_path: Path) -> None:
    with transaction(register) as session:
        epr = EprService(session)
        pro = as_org(session, "PRO X")
        epr.add_member(pro, "Maker A", "PRO X", "portable", 2021)
        epr.add_member(pro, "Maker B", "PRO X", "portable", 2022)  # its 2021 report is not the PRO's
        for year, a, b in ((2021, 100.0, 999.0), (2022, 110.0, 200.0), (2023, 120.0, 220.0)):
            epr.submit(as_org(session, "Maker A"), "market", "Maker A", year, {"lines": [line(pom=a, col=0.0)]})
            epr.submit(as_org(session, "Maker B"), "market", "Maker B", year, {"lines": [line(pom=b, col=0.0)]})
        epr.submit(pro, "market", "PRO X", 2023, {"lines": [line(chemistry="mixed", pom=0.0, col=120.0)]})
        epr.submit(as_org(session, "Recycler R", Role.RECYCLER), "process", "Recycler R", 2027, PROCESS)
    with transaction(register) as session:
        epr = EprService(session)
        rate = epr.collection_rate(AUTHORITY, "portable", 2023, "regulation", "PRO X")
        # placed on the market: 2021 100 (B not yet a member), 2022 110 + 200, 2023 120 + 220 -> mean 250 t
        assert rate.placed_on_market_t == {2021: 100.0, 2022: 310.0, 2023: 340.0}
        assert rate.collection_rate_pct == pytest.approx(120.0 / 250.0 * 100)
        national = epr.collection_rate(Viewer.anonymous(), "portable", 2023, "directive")
        assert national.placed_on_market_t == {2021: 1099.0, 2022: 310.0, 2023: 340.0}
        report = epr.compliance(AUTHORITY, "PRO X", 2023)
        (only,) = report.results
        assert (only.target.id, only.met, only.margin_pp) == ("CR_PORT_2023", True, pytest.approx(3.0))
        # Maker B alone misses 2021 -> its rate is not computed, and the report says why
        alone = epr.compliance(AUTHORITY, "Maker B", 2022)
        assert alone.results == []
        assert [g["parameter"] for g in alone.not_computed] == ["collection_rate"]
        assert "placed_on_market[2020]" in alone.not_computed[0]["basis"]
        recycler = epr.compliance(AUTHORITY, "Recycler R", 2027)
        by_id = {r.target.id: r for r in recycler.results}
        assert set(by_id) == {"RE_LI_2025", "MR_CO_2027", "MR_LI_2027"}
        assert (by_id["RE_LI_2025"].met, by_id["RE_LI_2025"].missing_t) == (True, 0.0)  # 68 % >= 65 %
        assert by_id["MR_CO_2027"].margin_pp == pytest.approx(6.0)
        csv_path, html_path = recycler.write(tmp_path)
    with csv_path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["target_id"] for r in rows} == {"RE_LI_2025", "MR_CO_2027", "MR_LI_2027"}
    assert float(next(r for r in rows if r["target_id"] == "MR_LI_2027")["achieved_pct"]) == pytest.approx(90.0)
    page = html_path.read_text(encoding="utf-8")
    assert "Recycler R" in page
    assert "Annex XII Part C(a)" in page


def test_report_command_end_to_end(tmp_path: Path) -> None:
    run = cli_runner(tmp_path)

    assert run("organisations", "create", "PRO X", "--kind", "producer_responsibility_organisation").returncode == 0
    for year, pom, col in ((2021, 300, 0), (2022, 320, 0), (2023, 340, 150)):
        file = tmp_path / f"{year}.json"
        file.write_text(json.dumps({"lines": [line(pom=pom, col=col)]}))
        done = run(
            "circularity", "submit", "--kind", "market", "--organisation", "PRO X", "--year", str(year), str(file)
        )
        assert done.returncode == 0, done.stderr
    done = run("circularity", "submit", "--kind", "market", "--organisation", "PRO X", "--year", "2023", str(file))
    assert done.returncode == 2
    assert "year:" in done.stderr
    done = run("circularity", "collection-rate", "--category", "portable", "--year", "2023", "--json")
    assert json.loads(done.stdout)["collection_rate_pct"] == pytest.approx(150 / 320 * 100)
    done = run("circularity", "report", "--organisation", "PRO X", "--year", "2023", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    with (tmp_path / "out" / "compliance_PRO_X_2023.csv").open(encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["target_id"], row["met"]) == ("CR_PORT_2023", "True")
    assert float(row["margin_pp"]) == pytest.approx(150 / 320 * 100 - 45)
    assert (tmp_path / "out" / "compliance_PRO_X_2023.html").read_text(encoding="utf-8").startswith("<!doctype html>")
