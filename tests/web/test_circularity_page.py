"""The circularity pages on the server: which organisation's reports each role sees, the collection rates against a
hand calculation and the target in force, the compliance table, the national figures for the authorities, and the
material-flow scenarios with the 2030 goal."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.circularity.epr import EprService
from batteryloop.circularity.material_flow import goal_rows
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.passport.service import PassportService
from batteryloop.web import circularity_page
from batteryloop.web.layout import SESSION_COOKIE
from tests.passport.conftest import ORGANISATIONS, Landscape

# placed on the market and collected, portable batteries [t], per year
MAKER = {2021: (100.0, 40.0), 2022: (110.0, 50.0), 2023: (120.0, 55.0), 2024: (130.0, 70.0)}
PRO = {2021: (50.0, 20.0), 2022: (50.0, 25.0), 2023: (50.0, 30.0), 2024: (50.0, 35.0)}
OTHER = {2021: (1000.0, 900.0), 2022: (1000.0, 900.0), 2023: (1000.0, 900.0), 2024: (1000.0, 900.0)}


def signed_in(client: TestClient, token: str) -> None:
    client.cookies.set(SESSION_COOKIE, token, domain="testserver.local")


def rate(figures: list[dict[int, tuple[float, float]]], year: int) -> float:
    """Collected in ``year`` over the mean placed on the market in ``year`` and the two years before [%]."""
    collected = sum(f[year][1] for f in figures)
    placed = sum(f[y][0] for f in figures for y in (year - 2, year - 1, year)) / 3.0
    return 100.0 * collected / placed


@pytest.fixture
def register(session_factory: sessionmaker[Session], settings: Settings, landscape: Landscape) -> dict[str, int]:
    """Maker B.V. is a member of the PRO for portable batteries since 2021; Other Maker B.V. is not."""
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        epr = EprService(session)
        epr.add_member(svc.viewer_for("pro-op"), ORGANISATIONS["maker"], ORGANISATIONS["pro"], "portable", 2021)
        for account, org, figures in (
            ("maker-op", "maker", MAKER),
            ("pro-op", "pro", PRO),
            ("other-op", "other_maker", OTHER),
        ):
            for year, (pom, col) in figures.items():
                lines = [
                    {"category": "portable", "chemistry": "alkaline", "placed_on_market_t": pom, "collected_t": col}
                ]
                epr.submit(svc.viewer_for(account), "market", ORGANISATIONS[org], year, {"lines": lines})
        return {key: epr.organisation(name).id for key, name in ORGANISATIONS.items()}


def _chart_rows(client: TestClient, query: str, chart: str) -> list[dict[str, str]]:
    response = client.get(f"/circularity?{query}&csv={chart}" if query else f"/circularity?csv={chart}")
    assert response.status_code == 200, response.text[:300]
    return list(csv.DictReader(io.StringIO(response.text)))


def test_anonymous_is_sent_to_sign_in_but_may_read_the_material_flow_page(client: TestClient) -> None:
    response = client.get("/circularity", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/signin")
    assert client.get("/circularity/mfa").status_code == 200


def test_the_pro_sees_itself_and_its_member_with_rates_against_the_target(
    client: TestClient, landscape: Landscape, register: dict[str, int]
) -> None:
    signed_in(client, landscape.tokens["pro-op"])
    response = client.get("/circularity")
    assert response.status_code == 200
    html = response.text
    assert ORGANISATIONS["pro"] in html and ORGANISATIONS["maker"] in html
    assert ORGANISATIONS["other_maker"] not in html  # not a member: its reports stay hidden
    assert "1,000.0" not in html and "900.0" not in html
    rows = _chart_rows(client, "", "collection")
    by_year = {int(r["Year"]): r for r in rows if r["Category"] == "portable"}
    # 2021 and 2022 lack three years placed on the market; 2023 and 2024 are the PRO's and its member's together
    assert sorted(by_year) == [2023, 2024]
    for year in (2023, 2024):
        assert float(by_year[year]["collection rate (%)"]) == pytest.approx(rate([MAKER, PRO], year), abs=0.01)
        assert float(by_year[year]["target (%)"]) == 45.0  # Regulation (EU) 2023/1542 Art. 59(3)(a)
    assert "Regulation (EU) 2023/1542" in by_year[2024]["legal basis"]
    # the target line runs on to 2031 and steps up as the Regulation says: 63 % from 2027, 73 % from 2030
    figure = re.search(r'id="chart-collection".*?data-figure="([^"]+)"', html, flags=re.S)
    assert figure is not None
    text = figure.group(1).replace("&#34;", '"').replace("&quot;", '"')
    target = re.search(r'"name": "Portable: target", "x": \[([^\]]+)\], "y": \[([^\]]+)\]', text)
    assert target is not None
    targets = dict(zip(map(int, target.group(1).split(", ")), map(float, target.group(2).split(", ")), strict=True))
    assert targets[2024] == 45.0 and targets[2027] == 63.0 and targets[2030] == 73.0
    # compliance of the latest year: met, with the margin in percentage points
    compliance = html.split('id="compliance"')[1].split("</table>")[0]
    assert "collection rate" in compliance and "met" in compliance
    assert f"+{rate([MAKER, PRO], 2024) - 45.0:.1f}" in compliance
    assert "National figures" not in html  # for the authorities only


def test_a_producer_sees_only_its_own_and_cannot_ask_for_another(
    client: TestClient, landscape: Landscape, register: dict[str, int]
) -> None:
    signed_in(client, landscape.tokens["maker-op"])
    html = client.get("/circularity").text
    assert ORGANISATIONS["maker"] in html and ORGANISATIONS["pro"] not in html
    rows = _chart_rows(client, "", "collection")
    assert {int(r["Year"]): float(r["collection rate (%)"]) for r in rows} == pytest.approx(
        {2023: rate([MAKER], 2023), 2024: rate([MAKER], 2024)}, abs=0.01
    )
    refused = client.get(f"/circularity?organisation={register['other_maker']}")
    assert refused.status_code == 422
    assert re.search(r'id="e-organisation"[^>]*>No reports of this organisation', refused.text)
    assert ORGANISATIONS["other_maker"] not in refused.text


@pytest.mark.parametrize("account", ["aggregator", "repurposer", "recycler"])
def test_roles_without_reports_are_told_where_the_aggregates_are(
    client: TestClient, landscape: Landscape, register: dict[str, int], account: str
) -> None:
    signed_in(client, landscape.tokens[account])
    html = client.get("/circularity").text
    assert "No producer-responsibility reports are visible to you" in html and 'href="/monitor"' in html
    for name in ("maker", "pro", "other_maker"):
        assert ORGANISATIONS[name] not in html


def test_the_authority_sees_every_organisation_and_the_national_figures(
    client: TestClient, landscape: Landscape, register: dict[str, int]
) -> None:
    signed_in(client, landscape.tokens["market-surveillance"])
    html = client.get(f"/circularity?organisation={register['other_maker']}&year=2023").text
    for name in ("maker", "pro", "other_maker"):
        assert ORGANISATIONS[name] in html
    assert "National figures 2023" in html
    national = {int(r["Year"]): float(r["collection rate (%)"]) for r in _chart_rows(client, "", "national")}
    assert national == pytest.approx(
        {2023: rate([MAKER, PRO, OTHER], 2023), 2024: rate([MAKER, PRO, OTHER], 2024)}, abs=0.01
    )
    table = html.split('id="national"')[1].split("</table>")[0]
    assert "1,170.0" in table and "985.0" in table  # 2023: 120 + 50 + 1,000 t placed, 55 + 30 + 900 t collected
    assert client.get("/circularity?year=1999").status_code == 422


def test_the_dutch_page_speaks_dutch(client: TestClient, landscape: Landscape, register: dict[str, int]) -> None:
    signed_in(client, landscape.tokens["pro-op"])
    html = client.get("/circularity?lang=nl").text
    assert "Inzamelpercentage van" in html and "Naleving in 2024" in html and "gehaald" in html


def test_the_material_flow_page_shows_each_scenarios_2030_goal_as_the_model_computes_it(client: TestClient) -> None:
    response = client.get("/circularity/mfa")
    assert response.status_code == 200
    html = response.text
    results, _ = circularity_page.scenarios()
    names = [r.scenario.name for r in results]
    assert names == ["current-policy", "regulation-targets", "deposit-refund", "lfp-heavy"]
    goal = html.split('id="goal"')[1].split("</table>")[0]
    for r in results:
        row = goal.split(f">{r.scenario.name}<")[1].split("</tr>")[0]
        cells = re.findall(r'<td class="num">([^<]+) %', row)
        expected = {g["element"]: g["primary_reduction_pct"] for g in goal_rows(r)}
        assert cells == [f"{expected[e]:.1f}" for e in ("Li", "Co", "Ni", "Cu")]
    # the published table of docs/material-flow.md (shipped data, until 2040)
    current = goal.split(">current-policy<")[1].split("</tr>")[0]
    assert re.findall(r'<td class="num">([^<]+) %', current) == ["7.1", "22.8", "20.8", "21.3"]
    lfp = goal.split(">lfp-heavy<")[1].split("</tr>")[0]
    assert "goal met" in lfp.split("</td>")[1] and "goal not met" in lfp.split("</td>")[0]  # Co met, Li not
    assert html.count('class="chart"') == 8 and "2030 goal" in html and "50 % secondary" in html
    rows = list(csv.DictReader(io.StringIO(client.get("/circularity/mfa?csv=share_Li").text)))
    assert {r["Scenario"] for r in rows} == set(names)
    at_2030 = {r["Scenario"]: float(r["secondary share (%)"]) for r in rows if r["Year"] == "2030"}
    assert at_2030["current-policy"] == pytest.approx(7.1, abs=0.05)


def test_the_model_run_is_cached(client: TestClient) -> None:
    circularity_page._run_scenarios.cache_clear()
    began = time.perf_counter()
    first, _ = circularity_page.scenarios()
    cold = time.perf_counter() - began
    began = time.perf_counter()
    second, _ = circularity_page.scenarios()
    warm = time.perf_counter() - began
    assert second is first
    print(f"material-flow scenarios: {cold * 1000:.1f} ms computed, {warm * 1000:.2f} ms cached")


def test_the_material_flow_caption_names_the_data_the_model_read(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A fresh clone (an empty shared data folder): the package's own tables, said in the caption; the 2030 goal
    table is the one of docs/material-flow.md either way."""
    from batteryloop.circularity.published import default_model_data

    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(tmp_path))
    html = client.get("/circularity/mfa").text
    own = default_model_data().source
    assert "the package's own tables" in own
    assert own.replace("'", "&#39;") in html
    current = html.split('id="goal"')[1].split(">current-policy<")[1].split("</tr>")[0]
    assert re.findall(r'<td class="num">([^<]+) %', current) == ["7.1", "22.8", "20.8", "21.3"]
    _, source = circularity_page.scenarios()
    assert source == own
