"""The figures a Member State's authority reports, from the register: national totals, collection rates with their
method, recycling efficiency and material recovery over every recycler, as CSV and JSON; authorities only.

The Dutch portable rates 2018-2020 are rebuilt from market reports of two producers that together carry the
published Stibat collected tonnages and the Eurostat placed-on-market tonnages; the published rates (47.4, 50.6,
48.1 %) are the independent check. Recycling figures are worked out by hand from the process reports below.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.api.app import create_app
from batteryloop.circularity.epr import EprService, national_report
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.errors import PermissionDeniedError
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.service import PassportService
from tests.circularity.cli import cli_runner
from tests.circularity.test_collection import PUBLISHED, TOLERANCE_PP, dutch_flows

ORGS = {
    "Maker A": "manufacturer",
    "Maker B": "importer",
    "Recycler R": "recycler",
    "Recycler S": "recycler",
    "Authority": "authority",
}
MSA = Viewer(Role.MARKET_SURVEILLANCE_AUTHORITY, account="msa")


def process(mass_in: float, co_pct: float, recycled_t: float, co_out_pct: float, slag_t: float) -> dict[str, Any]:
    return {
        "inputs": [{"chemistry": "lithium-based", "mass_t": mass_in, "element_content_pct": {"Co": co_pct}}],
        "outputs": [
            {
                "chemistry": "lithium-based",
                "fraction": "black mass",
                "mass_t": recycled_t,
                "element_content_pct": {"Co": co_out_pct},
                "destination": "hydrometallurgy",
                "recycled": True,
            },
            {
                "chemistry": "lithium-based",
                "fraction": "slag",
                "mass_t": slag_t,
                "element_content_pct": {},
                "destination": "landfill",
                "recycled": False,
            },
        ],
    }


@pytest.fixture
def register(session_factory: sessionmaker[Session], settings: Settings) -> sessionmaker[Session]:
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        for name, kind in ORGS.items():
            svc.create_organisation(name, kind=kind)
    return session_factory


def as_org(session: Session, name: str, role: Role = Role.ECONOMIC_OPERATOR) -> Viewer:
    return Viewer(role, account=f"{name}-op", organisation_id=EprService(session).organisation(name).id)


def fill_recyclers(session: Session, year: int = 2020) -> None:
    epr = EprService(session)
    # R: 100 t in with 10 % Co; 60 t black mass with 15 % Co recycled (9 t Co), 30 t slag
    epr.submit(
        as_org(session, "Recycler R", Role.RECYCLER), "process", "Recycler R", year, process(100, 10, 60, 15, 30)
    )
    # S: 50 t in with 20 % Co; 30 t black mass with 30 % Co recycled (9 t Co), 15 t slag
    epr.submit(as_org(session, "Recycler S", Role.RECYCLER), "process", "Recycler S", year, process(50, 20, 30, 30, 15))


@pytest.mark.shared_data
def test_reproduces_the_dutch_portable_rates_over_two_producers(register: sessionmaker[Session]) -> None:
    collected, pom, _ = dutch_flows()
    with transaction(register) as session:
        epr = EprService(session)
        for year in range(2016, 2021):
            for name, share in (("Maker A", 0.6), ("Maker B", 0.4)):
                line = {
                    "category": "portable",
                    "chemistry": "alkaline",
                    "placed_on_market_t": pom[year] * share,
                    "collected_t": collected[year] * share,
                }
                epr.submit(as_org(session, name), "market", name, year, {"lines": [line]})
        fill_recyclers(session)
    with transaction(register) as session:
        for year, expected in ((2018, 47.37), (2019, 50.68), (2020, 48.04)):
            result = national_report(EprService(session), MSA, year)
            (rate,) = result.collection_rates
            assert rate.citation == "Directive 2006/66/EC, Art. 10(2) and Annex I"  # years before 2023
            assert rate.collection_rate_pct == pytest.approx(PUBLISHED[year], abs=TOLERANCE_PP)
            assert round(rate.collection_rate_pct, 2) == expected
            (market,) = result.market
            assert market["placed_on_market_t"] == pytest.approx(pom[year])
            assert market["collected_t"] == pytest.approx(collected[year])
            assert market["reports"] == 2
        assert result.reporters == {"market": 2, "process": 2, "collection": 0}


def test_recycling_summed_over_recyclers_and_written(register: sessionmaker[Session], tmp_path: Path) -> None:
    with transaction(register) as session:
        fill_recyclers(session, 2024)
        epr = EprService(session)
        for year, pom, col in ((2022, 100.0, 40.0), (2023, 110.0, 45.0), (2024, 120.0, 60.0)):
            line = {"category": "LMT", "chemistry": "lithium-ion", "placed_on_market_t": pom, "collected_t": col}
            epr.submit(as_org(session, "Maker A"), "market", "Maker A", year, {"lines": [line]})
    with transaction(register) as session:
        result = national_report(EprService(session), MSA, 2024)
    # (60 + 30) t recycled of (100 + 50) t in = 60 %; Co: (9 + 9) t of (10 + 10) t = 90 %
    (eff,) = result.recycling_efficiency
    assert (eff.subject, eff.numerator_t, eff.denominator_t, eff.pct) == ("lithium-based", 90.0, 150.0, 60.0)
    (co,) = result.material_recovery
    assert co.subject == "Co" and co.pct == pytest.approx(90.0)
    # LMT, Regulation Annex XI Part B: 60 / mean(100, 110, 120) = 54.545 %; no portable reports -> no portable rate
    (rate,) = result.collection_rates
    assert rate.category == "LMT" and "Annex XI Part B" in rate.citation
    assert rate.collection_rate_pct == pytest.approx(60 / 110 * 100)
    csv_path, json_path = result.write(tmp_path)
    with csv_path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    got = {
        (r["table"], r["measure"], r["category"] or r["chemistry_group"] or r["element"]): float(r["value"])
        for r in rows
        if r["value"]
    }
    assert got[("collection_rate", "collection_rate", "LMT")] == pytest.approx(54.5454545)
    assert got[("recycling_efficiency", "recycling_efficiency", "lithium-based")] == pytest.approx(60.0)
    assert got[("material_recovery", "element_recovered", "Co")] == pytest.approx(18.0)
    assert got[("placed_on_market_and_collected", "placed_on_market", "LMT")] == pytest.approx(120.0)
    body = json.loads(json_path.read_text(encoding="utf-8"))
    assert body["material_recovery"][0]["material_recovery_pct"] == pytest.approx(90.0)
    assert "2025/2289" in body["basis"]


def test_a_year_without_three_market_years_is_named_not_computed(register: sessionmaker[Session]) -> None:
    with transaction(register) as session:
        line = {"category": "portable", "chemistry": "alkaline", "placed_on_market_t": 10.0, "collected_t": 5.0}
        EprService(session).submit(as_org(session, "Maker A"), "market", "Maker A", 2024, {"lines": [line]})
    with transaction(register) as session:
        result = national_report(EprService(session), MSA, 2024)
    assert result.collection_rates == []
    assert [g["category"] for g in result.not_computed] == ["portable"]
    assert "2023" in result.not_computed[0]["basis"] or "2022" in result.not_computed[0]["basis"]


def test_only_authorities(register: sessionmaker[Session]) -> None:
    with transaction(register) as session:
        epr = EprService(session)
        for viewer in (
            as_org(session, "Maker A"),
            as_org(session, "Recycler R", Role.RECYCLER),
            as_org(session, "Authority", Role.NOTIFIED_BODY),
            Viewer.anonymous(),
        ):
            with pytest.raises(PermissionDeniedError):
                national_report(epr, viewer, 2024)
        assert national_report(epr, Viewer(Role.COMMISSION, account="c"), 2024).market == []


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def test_api_refuses_everyone_but_authorities(
    client: TestClient, register: sessionmaker[Session], settings: Settings
) -> None:
    tokens: dict[str, str] = {}
    with transaction(register) as session:
        svc = PassportService(session, settings)
        for account, role, org in (
            ("a-op", Role.ECONOMIC_OPERATOR, "Maker A"),
            ("recycler", Role.RECYCLER, "Recycler R"),
            ("msa", Role.MARKET_SURVEILLANCE_AUTHORITY, "Authority"),
        ):
            tokens[account] = svc.issue_token(svc.create_account(account, role, org))
        fill_recyclers(session, 2025)
    url = "/api/v1/circularity/national-report?year=2025"
    for account in ("a-op", "recycler"):
        response = client.get(url, headers={"Authorization": f"Bearer {tokens[account]}"})
        assert response.status_code == 403, account
    assert client.get(url).status_code in (401, 403)
    response = client.get(url, headers={"Authorization": f"Bearer {tokens['msa']}"})
    assert response.status_code == 200, response.text
    assert response.json()["recycling_efficiency"][0]["recycling_efficiency_pct"] == pytest.approx(60.0)


def test_commands_end_to_end(tmp_path: Path) -> None:
    run = cli_runner(tmp_path)

    assert run("organisations", "create", "Recycler R", "--kind", "recycler").returncode == 0
    file = tmp_path / "process.json"
    file.write_text(json.dumps(process(100, 10, 60, 15, 30)))
    done = run(
        "circularity", "submit", "--kind", "process", "--organisation", "Recycler R", "--year", "2025", str(file)
    )
    assert done.returncode == 0, done.stderr
    done = run("circularity", "national-report", "--year", "2025", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    body = json.loads((tmp_path / "out" / "national_report_2025.json").read_text(encoding="utf-8"))
    assert body["recycling_efficiency"][0]["recycling_efficiency_pct"] == pytest.approx(60.0)
    assert body["material_recovery"][0]["material_recovery_pct"] == pytest.approx(90.0)  # 9 t of 10 t Co
    assert (tmp_path / "out" / "national_report_2025.csv").exists()
    # the quality check report beside it: no market report at all, so every category is named missing
    with (tmp_path / "out" / "quality_check_2025.csv").open(encoding="utf-8") as handle:
        quality = list(csv.DictReader(handle))
    missing = {r["figure"] for r in quality if r["status"] == "missing"}
    assert {f"category {c} 2025" for c in ("portable", "LMT", "SLI", "EV", "industrial")} <= missing
    assert any(r["aspect"] == "sources" and "Recycler R v1" in r["detail"] for r in quality)
    assert "Quality check report 2025" in (tmp_path / "out" / "quality_check_2025.html").read_text(encoding="utf-8")
    assert "quality missing: category portable 2025" in done.stdout
