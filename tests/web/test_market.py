"""The second-life market on the server: which batteries each role finds, the values against the valuation and a hand
calculation, validation next to the fields, sorting, paging, the valuation cache and the CSV."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.energy import valuation as v
from batteryloop.energy.price_data import SYNTHETIC_YEARS
from batteryloop.energy.prices import load_prices
from batteryloop.passport.service import PassportService
from batteryloop.web import market
from tests.conftest import ROOT
from tests.passport.conftest import Landscape
from tests.web.test_health_page import Fleet, as_user, ev_model, record_checkups
from tests.web.test_health_page import fleet as fleet  # the fixture, shared with the health tests


@pytest.fixture(autouse=True)
def shipped_prices(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The prices a fresh clone has (no ../shared): the package's synthetic years. The valuation cache is kept between
    tests (its key holds the model figures, the service and the prices); tests of it clear it."""
    (tmp_path / "no-shared-data").mkdir()
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(tmp_path / "no-shared-data"))


def candidates(html: str) -> list[str]:
    """The passports of the candidate table, in the order shown."""
    body = html.split("market-table", 1)
    if len(body) == 1:
        return []
    return re.findall(r'<a href="/health/([^"]+)" class="pid">', body[1].split("</table>", 1)[0])


def ids(fleet: Fleet, *names: str) -> set[str]:
    return {fleet.ids[n] for n in names}


# ---------------------------------------------------------------------------------------------------------------------
# who sees what


def test_the_market_needs_a_sign_in(client: TestClient, fleet: Fleet) -> None:
    response = as_user(client, Landscape(), None).get("/market?soh_min=70", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?next=/market")


@pytest.mark.parametrize("account", ["repairer", "recycler"])
def test_roles_outside_the_market_are_refused(client: TestClient, landscape: Landscape, account: str) -> None:
    response = as_user(client, landscape, account).get("/market")
    assert response.status_code == 403
    assert "This page is open to" in response.text


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ("repurposer", {"a", "b", "f"}),  # granted a, b, c, f; c (88 %) is above the range
        ("maker-op", {"a", "b", "d"}),  # its own; e (65 %) below, c above; f is another maker's
        ("other-op", {"f"}),
        ("aggregator", {"d"}),
        ("remanufacturer", set()),
        ("repurposer-2", set()),  # no grant
        ("market-surveillance", set()),  # point 4 is not for authorities (Art. 77(2)(b))
        ("commission", set()),
        ("notified-body", set()),
    ],
)
def test_each_role_finds_exactly_the_batteries_whose_state_of_health_it_may_read(
    client: TestClient, landscape: Landscape, fleet: Fleet, account: str, expected: set[str]
) -> None:
    response = as_user(client, landscape, account).get("/market?soh_min=70&soh_max=85")
    assert response.status_code == 200
    found = candidates(response.text)
    assert set(found) == ids(fleet, *expected)
    # the public offer is there for everyone: both models with their counts, rated energy, and who to ask
    assert "Public offer" in response.text
    assert re.search(
        r"EV-75</a></td>\s*<td>Electric vehicle battery</td><td>NMC</td><td class=\"num\">6</td>", response.text
    )
    # "new" has no state of health yet: the operator reads 5 of its 6
    visible = {"repurposer": 4, "maker-op": 5, "other-op": 1, "aggregator": 1}.get(account, 0)
    assert f"you see it for {visible} of these 7 batteries" in response.text
    if not expected:
        assert "No battery in this search has a state of health your role" in response.text
        assert "data-figure" not in response.text
        for name, soh in fleet.soh.items():  # no state of health leaks, not even in the chart data
            assert f"{soh:.1f} %" not in response.text, name


def test_the_page_opens_with_the_form_and_searches_on_request(
    client: TestClient, landscape: Landscape, fleet: Fleet
) -> None:
    c = as_user(client, landscape, "maker-op")
    before = market.CACHE.computed
    html = c.get("/market").text
    assert candidates(html) == [] and "Choose a state-of-health range" in html
    assert market.CACHE.computed == before  # opening the page values nothing
    assert "Public offer" in html
    assert len(candidates(c.get("/market?soh_min=").text)) == 5  # an empty search: every battery with a SoH


def test_the_default_sort_is_by_state_of_health_descending(
    client: TestClient, landscape: Landscape, fleet: Fleet
) -> None:
    c = as_user(client, landscape, "maker-op")
    found = candidates(c.get("/market?sort=soh").text)  # no range: every own battery with a state of health
    assert found == [fleet.ids[n] for n in ("c", "b", "a", "d", "e")]
    found = candidates(c.get("/market?sort=soh&dir=asc").text)
    assert found == [fleet.ids[n] for n in ("e", "d", "a", "b", "c")]


def test_filters_by_category_and_chemistry(client: TestClient, landscape: Landscape, fleet: Fleet) -> None:
    c = as_user(client, landscape, "maker-op")
    assert len(candidates(c.get("/market?category=ev&chemistry=NMC&soh_min=70&soh_max=85").text)) == 3
    assert candidates(c.get("/market?category=lmt&soh_min=70&soh_max=85").text) == []


# ---------------------------------------------------------------------------------------------------------------------
# values


def test_the_recycling_value_matches_the_hand_calculation(
    client: TestClient, landscape: Landscape, fleet: Fleet
) -> None:
    """NMC (recycling_value.csv, as NMC622): Li 0.1121 kg/kWh x 61.0 EUR/kg x 0.5 + Ni 0.5688 x 16.1 x 0.9 +
    Co 0.1904 x 24.8 x 0.9 + Mn 0.1775 x 1.8 x 0 + Cu 0.4 x 8.9 x 0.9 = 19.115 EUR/kWh of metals, less 15 EUR/kWh
    recycling cost (valuation_defaults.csv), times 75 kWh rated."""
    materials_per_kWh = 0.1121 * 61.0 * 0.5 + 0.5688 * 16.1 * 0.9 + 0.1904 * 24.8 * 0.9 + 0.4 * 8.9 * 0.9
    response = as_user(client, landscape, "repurposer").get("/market?soh_min=70&soh_max=85&csv=values")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = {r["passport_id"]: r for r in csv.DictReader(io.StringIO(response.text))}
    assert set(rows) == ids(fleet, "a", "b", "f")
    row = rows[fleet.ids["a"]]
    assert float(row["materials_eur"]) == pytest.approx(75.0 * materials_per_kWh, abs=0.01)
    assert float(row["recycling_now_eur"]) == pytest.approx(75.0 * (materials_per_kWh - 15.0), abs=0.01)
    assert float(row["usable_energy_kWh"]) == pytest.approx(75.0 * 0.77)


def test_the_second_life_value_is_the_valuation_of_the_passport_figures_interpolated_on_the_grid(
    client: TestClient, landscape: Landscape, fleet: Fleet
) -> None:
    """The same battery through the energy package directly: 75 kWh rated, round trip 95 % (the passport's
    initial_round_trip_efficiency_pct), fade (100 - 70) / 1500 per cycle, NMC, on the synthetic prices, valued at
    75 % and 80 %; the page's value at 77 % is 2/5 of the way, and within 1 % of the valuation at 77 % itself."""
    rows = {
        r["passport_id"]: r
        for r in csv.DictReader(
            io.StringIO(as_user(client, landscape, "repurposer").get("/market?soh_min=70&soh_max=85&csv=values").text)
        )
    }
    prices = market.market_prices()
    assert prices.years == SYNTHETIC_YEARS
    assert "synthetic" in prices.description

    def npv(soh: float) -> float:
        battery = v.UsedBattery(
            rated_energy_kWh=75.0,
            soh_pct=soh,
            round_trip_efficiency=0.95,
            chemistry="NMC",
            cycle_fade_pct_per_fec=30.0 / 1500.0,
        )
        revenue = v.MarketRevenue(prices.series, round_trip_efficiency=0.95)
        return v.value_second_life(battery, revenue, price_years=list(prices.years)).npv_without_purchase_eur

    at75, at80, at77 = npv(75.0), npv(80.0), npv(77.0)
    expected = at75 + 0.4 * (at80 - at75)
    row = rows[fleet.ids["a"]]
    assert row["valued_at_soh_grid_pct"] == "75-80"
    assert float(row["second_life_npv_eur"]) == pytest.approx(expected, abs=0.01)
    assert float(row["second_life_npv_eur"]) == pytest.approx(at77, rel=0.01)
    assert float(row["break_even_eur_per_kWh"]) == pytest.approx(expected / (75.0 * 0.77), abs=0.01)
    margin = expected - float(row["recycling_now_eur"])
    assert row["verdict"] == ("repurpose" if margin > 0 else "recycle")
    on_grid = rows[fleet.ids["f"]]  # 80 %: exactly a grid point
    assert on_grid["valued_at_soh_grid_pct"] == "80"
    assert float(on_grid["second_life_npv_eur"]) == pytest.approx(at80, abs=0.01)


def test_the_price_years_are_the_complete_years_of_the_price_file() -> None:
    """The synthetic fallback holds its own years; the shared NL file 2015-2026 holds every default year 2019-2025."""
    assert market.market_prices().years == SYNTHETIC_YEARS
    path = ROOT.parent / "shared" / "data" / "grid" / "nl_dayahead_hourly" / "nl_da_hourly_2015_2026_merged.csv"
    if not path.is_file():
        pytest.skip(f"shared data not found: {path}")
    series = load_prices(path)
    assert market.covered_years(series, v.default_price_years()) == [2019, 2020, 2021, 2022, 2023, 2024, 2025]
    assert market.covered_years(series, [2030]) == list(range(2015, 2026))  # none wanted covered: the file's years


def test_values_are_cached_per_model_and_grid_point(client: TestClient, landscape: Landscape, fleet: Fleet) -> None:
    assert market.grid_points(77.0, 60.0) == (75.0, 80.0)
    assert market.grid_points(80.0, 60.0) == (80.0,)
    assert market.grid_points(62.04, 60.0) == (62.0,)  # next to the end of a second life: its own value
    c = as_user(client, landscape, "repurposer")
    market.CACHE.clear()
    before = market.CACHE.computed
    c.get("/market?soh_min=70&soh_max=85")
    assert market.CACHE.computed - before == 4  # EV-75 at 75, 80 and 85 % (a: 77, b: 82), EV-60 at 80 % (f)
    c.get("/market?soh_min=70&soh_max=85&sort=soh&dir=asc")
    c.get("/market?soh_min=75&soh_max=85&sort=value")
    assert market.CACHE.computed - before == 4  # nothing computed twice


def test_a_battery_at_the_end_of_second_life_is_for_recycling(
    client: TestClient,
    landscape: Landscape,
    fleet: Fleet,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        maker = svc.viewer_for("maker-op")
        worn = svc.create(maker, ev_model("PACK-WORN")).id
        record_checkups(svc, maker, worn, 58.0)
    html = as_user(client, landscape, "maker-op").get("/market?soh_max=66").text
    assert candidates(html) == [fleet.ids["e"], worn]  # 65 % and 58 %
    rows = html.split("market-table", 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]
    assert "at or below the end of a second life" not in rows[0] and "€" in rows[0]  # 65 %: valued
    assert "at or below the end of a second life (60 %)" in rows[1]  # 58 %: no second life
    assert '<span class="badge warn">recycle</span>' in rows[1]
    assert "€ 309" in rows[1]  # its recycling value is still shown


def test_sorting_by_value_orders_the_rows_and_is_bounded(
    client: TestClient, landscape: Landscape, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = as_user(client, landscape, "maker-op")
    market.CACHE.clear()
    monkeypatch.setattr(market, "MAX_NEW_VALUATIONS_FOR_SORT", 1)
    html = c.get("/market?soh_min=70&soh_max=85&sort=value").text
    assert "Sorting by value needs 4 more valuations" in html  # 70, 75, 80, 85 % of EV-75
    assert candidates(html) == [fleet.ids[n] for n in ("b", "a", "d")]  # by state of health instead
    monkeypatch.setattr(market, "MAX_NEW_VALUATIONS_FOR_SORT", 24)
    rows = list(csv.DictReader(io.StringIO(c.get("/market?soh_min=70&soh_max=85&sort=value&csv=values").text)))
    values = [float(r["second_life_npv_eur"]) for r in rows]
    assert values == sorted(values, reverse=True)
    html = c.get("/market?soh_min=70&soh_max=85&sort=value&dir=asc").text
    assert 'aria-sort="ascending"' in html
    assert candidates(html) == [r["passport_id"] for r in reversed(rows)]


def test_results_are_paged(
    client: TestClient, landscape: Landscape, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(market, "PAGE_SIZE", 2)
    c = as_user(client, landscape, "maker-op")
    first = c.get("/market?sort=soh").text
    second = c.get("/market?sort=soh&page=2").text
    third = c.get("/market?sort=soh&page=3").text
    assert candidates(first) == [fleet.ids["c"], fleet.ids["b"]]
    assert candidates(second) == [fleet.ids["a"], fleet.ids["d"]]
    assert candidates(third) == [fleet.ids["e"]]
    assert "Page 2 of 3" in second and 'rel="next"' in second and 'rel="prev"' in second
    assert candidates(c.get("/market?sort=soh&page=99").text) == [fleet.ids["e"]]  # past the end: the last page


# ---------------------------------------------------------------------------------------------------------------------
# the form


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("soh_min=abc", "soh_min", "Enter a number from 0 to 100."),
        ("soh_max=120", "soh_max", "Enter a number from 0 to 100."),
        ("soh_min=80&soh_max=70", "soh_max", "The upper bound must not be below the lower bound (80 %)."),
        ("category=spaceship", "category", "Choose one of the list."),
        ("chemistry=unobtainium", "chemistry", "Choose one of the list."),
        ("service=arbitrage%2Bfcr", "service", "needs FCR capacity prices"),
    ],
)
def test_bad_input_is_shown_next_to_its_field(
    client: TestClient, landscape: Landscape, fleet: Fleet, query: str, field: str, message: str
) -> None:
    response = as_user(client, landscape, "repurposer").get(f"/market?{query}")
    assert response.status_code == 400
    html = response.text
    assert re.search(rf'aria-invalid="true" aria-describedby="{field}-error[ "]', html)
    error = re.search(rf'<p id="{field}-error" class="field-error">([^<]+)</p>', html)
    assert error and message in error.group(1)
    assert candidates(html) == []


def test_the_form_keeps_what_was_entered_and_accepts_a_decimal_comma(
    client: TestClient, landscape: Landscape, fleet: Fleet
) -> None:
    html = as_user(client, landscape, "repurposer").get("/market?soh_min=77,5&soh_max=85").text
    assert 'value="77,5"' in html
    assert set(candidates(html)) == ids(fleet, "b", "f")


def test_the_form_has_labels_and_a_progress_indication(client: TestClient, landscape: Landscape, fleet: Fleet) -> None:
    html = as_user(client, landscape, "repurposer").get("/market").text
    for field_id in ("m-category", "m-chemistry", "m-soh-min", "m-soh-max", "m-service"):
        assert f'<label for="{field_id}">' in html and f'id="{field_id}"' in html
    assert "data-progress" in html and 'class="progress"' in html


def test_the_market_is_in_dutch_on_request(client: TestClient, landscape: Landscape, fleet: Fleet) -> None:
    html = as_user(client, landscape, "repurposer").get("/market?soh_min=70&soh_max=85&lang=nl").text
    assert "Markt voor tweede leven" in html
    assert "Gezondheid vanaf [%]" in html
    assert "77,0 %" in html
    assert "Openbaar aanbod" in html


def test_without_prices_the_market_still_shows_recycling_values(
    client: TestClient, landscape: Landscape, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_prices() -> market.Prices:
        raise OSError("no price file at /nowhere")

    monkeypatch.setattr(market, "market_prices", no_prices)
    html = as_user(client, landscape, "repurposer").get("/market?soh_min=70&soh_max=85").text
    assert "No day-ahead price file was found" in html and "/nowhere" in html
    assert len(candidates(html)) == 3
    assert "€ 309" in html  # recycling now, 75 kWh x 4.115 EUR/kWh
    assert "not valued" in html
