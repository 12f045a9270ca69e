"""The energy-services page on the server: who may open it, which batteries each role may dispatch, the revenue
against a hand calculation on a two-price day, FCR and peak shaving against the schedule, the fleet, the data used
(the shared file, or the package's synthetic prices and sessions on a fresh clone), validation messages next to the fields, the CSV and the time of a run."""

from __future__ import annotations

import csv
import io
import math
import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.energy import elaadnl
from batteryloop.energy.fleet import optimise_fleet
from batteryloop.energy.price_data import SHARED_PRICES, synthetic_series
from batteryloop.energy.prices import align
from batteryloop.energy.synthetic_prices import synthetic_day_ahead
from batteryloop.passport.service import PassportService
from batteryloop.web import energy_page
from batteryloop.web.layout import SESSION_COOKIE
from tests.passport.conftest import Landscape

LOW, HIGH = 20.0, 120.0  # EUR/MWh: the first and the second half of each Europe/Amsterdam day
DAY = date(2023, 6, 1)


def signed_in(client: TestClient, token: str) -> None:
    client.cookies.set(SESSION_COOKIE, token, domain="testserver.local")


def fresh_clone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No shared data: ``BATTERYLOOP_SHARED_DATA`` names an empty folder (a missing one would be an error)."""
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(empty))


def two_price_file(folder: Path, days: int = 3, high: float = HIGH) -> Path:
    """A shared-data folder whose NL price file holds ``days`` local days from 2023-06-01: LOW from 00:00 to 12:00
    Europe/Amsterdam, HIGH from 12:00 to 24:00 (summer time: UTC + 2 h)."""
    path = folder.joinpath(*SHARED_PRICES)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = datetime(2023, 5, 31, 22, tzinfo=UTC)
    rows = ["datetime_utc,price_eur_per_mwh,source"]
    for h in range(24 * days):
        moment = start + timedelta(hours=h)
        rows.append(f"{moment:%Y-%m-%d %H:%M:%S}+00:00,{LOW if h % 24 < 12 else high},test")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def passports(session_factory: sessionmaker[Session], settings: Settings, landscape: Landscape) -> dict[str, str]:
    """A 75 kWh EV pack of Maker B.V. at 82 % state of health and 91 % round trip, granted to ``aggregator``."""
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        maker = svc.viewer_for("maker-op")
        data = {
            "battery_category": "ev",
            "serial_number": "SN-ENERGY-1",
            "gtin": "6291041500213",
            "battery_model_identifier": "EV-75",
            "battery_chemistry": "NMC",
            "rated_energy_kWh": 75.0,
            "rated_capacity_Ah": 211.0,
            "nominal_voltage_V": 355.2,
            "expected_lifetime_cycles": 2000,
            "capacity_threshold_exhaustion_pct": 70.0,
            "manufacturer_name": "Maker B.V.",
        }
        pid = svc.create(maker, data).id
        svc.update_dynamic(
            maker,
            pid,
            {"soh_capacity_pct": 82.0, "remaining_round_trip_efficiency_pct": 91.0},
            measured_at=datetime(2026, 1, 5, tzinfo=UTC),
            method="capacity test",
        )
        svc.grant(maker, pid, "aggregator")
        other = svc.create(maker, {**data, "serial_number": "SN-ENERGY-2"}).id
        svc.update_dynamic(
            maker,
            other,
            {"soh_capacity_pct": 90.0},
            measured_at=datetime(2026, 1, 5, tzinfo=UTC),
            method="capacity test",
        )
    return {"granted": pid, "own": other}


def _page(client: TestClient, **params: Any) -> Any:
    return client.get("/energy", params={k: str(v) for k, v in params.items()})


def _card(html: str, label: str) -> float:
    """The number on the card labelled ``label`` (English page: 1,234.56 with a minus sign)."""
    match = re.search(rf'<div class="label">{re.escape(label)}</div>\s*<div class="value">([^<]+)</div>', html)
    assert match, f"no card {label!r}"
    text = match.group(1).replace("€", "").replace(",", "").replace("−", "-").replace("kWh", "").replace("kW", "")
    return float(text.strip())


def _csv(client: TestClient, params: dict[str, Any], chart: str) -> list[dict[str, str]]:
    response = client.get("/energy", params={**{k: str(v) for k, v in params.items()}, "csv": chart})
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


# ---------------------------------------------------------------------------------------------------------------------
# access


def test_anonymous_is_sent_to_sign_in(client: TestClient, landscape: Landscape) -> None:
    response = client.get("/energy?mode=fleet", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?next=/energy")


@pytest.mark.parametrize("account", ["maker-op", "aggregator", "repurposer", "recycler", "market-surveillance"])
def test_every_signed_in_role_opens_the_forms_with_a_label_for_every_field(
    client: TestClient, landscape: Landscape, account: str
) -> None:
    signed_in(client, landscape.tokens[account])
    for mode in ("battery", "fleet"):
        html = _page(client, mode=mode).text
        ids = re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html)
        assert ids, "the form has fields"
        for field_id in ids:
            assert f'<label for="{field_id}"' in html, f"no label for {field_id}"
        assert "data-progress" in html and 'class="progress"' in html
        assert "at most 31 days" in html  # the limit is said on the page


def test_each_role_is_offered_only_the_batteries_whose_state_of_health_it_may_see(
    client: TestClient, landscape: Landscape, passports: dict[str, str]
) -> None:
    pid = passports["granted"]
    for account, offered in (("aggregator", True), ("maker-op", True), ("aggregator-2", False), ("repurposer", False)):
        signed_in(client, landscape.tokens[account])
        html = _page(client).text
        assert (f'value="{pid}"' in html) is offered, account
        if offered:
            assert "EV-75 · NMC · 82 %" in html


def test_a_battery_the_user_may_not_see_is_refused_next_to_the_field_and_nothing_leaks(
    client: TestClient, landscape: Landscape, passports: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(two_price_file(tmp_path / "shared")))
    signed_in(client, landscape.tokens["aggregator-2"])
    response = _page(client, run=1, passport=passports["granted"], start=DAY, length="day")
    assert response.status_code == 422
    html = response.text
    assert 'id="e-passport"' in html and "ask its operator for a grant" in html
    assert re.search(r'id="f-passport"[^>]*aria-describedby="e-passport', html)
    assert "82 %" not in html  # the state of health is not in the offered batteries either
    assert "energy-result" not in html  # no result at all
    assert "61.5" not in html  # 75 kWh x 82 %: the usable energy would reveal the state of health


def test_a_typed_identifier_is_checked_as_the_list_is(
    client: TestClient,
    landscape: Landscape,
    passports: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(two_price_file(tmp_path / "shared")))
    params = {"run": 1, "start": DAY, "length": "day", "wear": 0}
    signed_in(client, landscape.tokens["aggregator"])
    refused = _page(client, **params, passport_id=passports["own"])  # not granted to the aggregator
    assert refused.status_code == 422
    assert re.search(r'id="e-passport_id"[^>]*>You may not see this battery', refused.text)
    assert "90 %" not in refused.text
    ok = _page(client, **params, passport_id=passports["granted"])
    assert ok.status_code == 200 and _card(ok.text, "Full equivalent cycles") == pytest.approx(0.5, abs=0.006)
    missing = _page(client, **params, passport_id="no-such-passport")
    assert missing.status_code == 422 and 'id="e-passport_id"' in missing.text


def test_the_list_says_when_there_are_more_batteries_than_it_shows(
    client: TestClient, landscape: Landscape, passports: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(energy_page, "LISTED_BATTERIES", 1)
    signed_in(client, landscape.tokens["maker-op"])
    html = _page(client).text
    assert "The list shows 1 of the 2 batteries you may see" in html
    assert html.count("· EV-75") == 0 and html.count("EV-75 · NMC") == 1


# ---------------------------------------------------------------------------------------------------------------------
# the dispatch against a hand calculation


def test_revenue_of_a_granted_battery_on_a_two_price_day_equals_the_hand_calculation(
    client: TestClient, landscape: Landscape, passports: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(two_price_file(tmp_path / "shared")))
    signed_in(client, landscape.tokens["aggregator"])
    params = {"mode": "battery", "run": 1, "passport": passports["granted"], "start": DAY, "length": "day"}
    response = _page(client, **params, wear=0)
    assert response.status_code == 200, re.findall(r"field-error[^>]*>([^<]*)", response.text)
    html = response.text
    usable = 75.0 * 0.82  # rated energy x state of health, from the passport
    eta = math.sqrt(0.91)  # the passport's remaining round-trip efficiency, split evenly
    # starting and ending half full: fill the other half in the cheap hours, give it back in the dear ones
    expected = 0.5 * usable * (HIGH * eta - LOW / eta) / 1000.0
    assert _card(html, "Market revenue") == pytest.approx(expected, abs=0.006)
    assert _card(html, "Degradation cost") == 0.0
    # full equivalent cycles: energy drawn from the cells over the usable energy
    assert _card(html, "Full equivalent cycles") == pytest.approx(0.5, abs=0.006)
    assert f"passport {passports['granted']}: rated_energy_kWh × soh_capacity_pct / 100" in html
    assert "nl_da_hourly_2015_2026_merged.csv" in html  # the data used is named
    rows = _csv(client, {**params, "wear": 0}, "schedule")
    assert len(rows) == 24
    charged = sum(float(r["charge (kW)"]) for r in rows[:12])
    assert charged * eta == pytest.approx(0.5 * usable, abs=0.01)  # the CSV has 3 decimals
    assert all(float(r["charge (kW)"]) == 0.0 for r in rows[12:])


def test_the_wear_cost_when_none_is_given_is_the_pack_value_over_the_cycles_left(
    client: TestClient, landscape: Landscape, passports: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # passport: 30 points of fade over 2,000 cycles, end of life at 70 %, state of health 82 %: 800 cycles left
    cycles_left = (82.0 - 70.0) / (30.0 / 2000.0)
    wear = 105.0 * 1000.0 / cycles_left  # EUR/MWh drawn from the cells: 131.25
    usable, eta = 75.0 * 0.82, math.sqrt(0.91)
    signed_in(client, landscape.tokens["aggregator"])
    params = {"run": 1, "passport": passports["granted"], "start": DAY, "length": "day"}
    # 20 -> 120 EUR/MWh: a MWh drawn from the cells earns 120 eta - 20 / eta = 93.5 EUR, less than its wear: idle
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(two_price_file(tmp_path / "low")))
    html = _page(client, **params).text
    assert f"{wear:.1f} €/MWh" in html
    assert _card(html, "Full equivalent cycles") == 0.0 and _card(html, "Market revenue") == 0.0
    # 20 -> 300 EUR/MWh: it pays, so the battery cycles half its energy and pays the wear on what it draws
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(two_price_file(tmp_path / "high", high=300.0)))
    html = _page(client, **params).text
    degradation = wear * 0.5 * usable / 1000.0
    assert _card(html, "Degradation cost") == pytest.approx(degradation, abs=0.006)
    gross = 0.5 * usable * (300.0 * eta - LOW / eta) / 1000.0
    assert _card(html, "Net result") == pytest.approx(gross - degradation, abs=0.006)


def test_fcr_revenue_is_the_price_times_the_reserved_capacity_of_each_block(
    client: TestClient, landscape: Landscape, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(two_price_file(tmp_path / "shared")))
    signed_in(client, landscape.tokens["aggregator"])
    params = {"run": 1, "energy_kWh": 200, "power_kW": 100, "start": DAY, "length": "day", "fcr": 1}
    html = _page(client, **params, fcr_price=60).text
    fcr = _card(html, "FCR")
    rows = _csv(client, {**params, "fcr_price": 60}, "schedule")
    reserved = [float(r["FCR reserved (kW)"]) for r in rows]
    # six 4-hour blocks of the local day; the reservation is one value per block
    blocks = [reserved[4 * b : 4 * b + 4] for b in range(6)]
    assert all(max(b) - min(b) < 1e-6 for b in blocks)
    assert fcr == pytest.approx(sum(60.0 * b[0] / 1000.0 for b in blocks), abs=0.006)
    assert fcr > 0
    assert "less than the 1 MW minimum bid" in html  # 100 kW needs an aggregator to pool it


def test_peak_shaving_lowers_the_hub_peak_and_earns_the_tariff_on_it(
    client: TestClient, landscape: Landscape, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(two_price_file(tmp_path / "shared")))
    signed_in(client, landscape.tokens["aggregator"])
    params = {"run": 1, "energy_kWh": 200, "power_kW": 100, "start": DAY, "length": "day", "peak": 1}
    params |= {"tariff": 30, "hub_evs": 40, "wear": 0}
    html = _page(client, **params).text
    rows = _csv(client, params, "schedule")
    load = np.array([float(r["hub load (kW)"]) for r in rows])
    grid = np.array([float(r["grid import (kW)"]) for r in rows])
    assert load.max() > 0 and grid.max() < load.max()
    prorated = 30.0 * 1 / (365.25 / 12.0)  # one day of a monthly tariff
    assert _card(html, "Peak shaving") == pytest.approx(prorated * (load.max() - grid.max()), abs=0.006)


def test_hub_load_delivers_each_sessions_energy_within_its_stay() -> None:
    stats, _ = energy_page.elaad_stats()
    day = date(2024, 3, 5)
    start = elaadnl.local_midnight_utc(day).replace(tzinfo=None)
    grid = np.datetime64(start, "us") + np.arange(4 * 24 * 4) * np.timedelta64(15, "m")  # four days of quarters
    load = energy_page.hub_load_kW(grid, 15, 25, [day], stats)
    sessions = elaadnl.sample_sessions(25, day, seed=day.toordinal(), mix={"public": 1.0}, stats=stats).sessions
    # every session leaves within the four days, so its whole energy is in the load
    assert float(load.sum() * 0.25) == pytest.approx(float(sessions.energy_kWh.sum()), rel=1e-9)
    assert float(load.max()) <= float(sessions.max_charge_kW.sum()) + 1e-9


# ---------------------------------------------------------------------------------------------------------------------
# the fleet


def test_the_fleet_result_is_the_one_batteryloop_energy_fleet_computes(
    client: TestClient, landscape: Landscape, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fresh_clone(monkeypatch, tmp_path)  # the package's synthetic prices and sessions
    signed_in(client, landscape.tokens["aggregator"])
    day = date(2024, 6, 12)
    html = _page(client, mode="fleet", run=1, day=day, evs=40, v2g=1, seed=3).text
    assert "synthetic Dutch-like day-ahead prices" in html and "not market data" in html
    assert "synthetic charging sessions from batteryloop&#39;s own parametric model" in html
    # the same run by hand, as `batteryloop energy fleet --evs 40 --v2g --seed 3` does it
    stats = elaadnl.synthetic_stats()
    sessions = elaadnl.sample_sessions(40, day, seed=3, v2g=True, stats=stats).sessions
    start = elaadnl.local_midnight_utc(day)
    start64 = np.datetime64(start.replace(tzinfo=None), "s")
    last = sessions.departure.astype("datetime64[s]").max()
    end = min(start64 + np.timedelta64(48 * 3600, "s"), last)
    steps = math.ceil((end - start64) / np.timedelta64(900, "s"))
    grid = start64.astype("datetime64[us]") + np.arange(steps) * np.timedelta64(900_000_000, "us")
    prices = synthetic_series().between(start, start + timedelta(minutes=15 * steps))
    price = align(prices.resample(15), grid, name="p")
    result = optimise_fleet(sessions, price, start64, step_minutes=15, v2g=True)
    assert _card(html, "Charging on arrival") == pytest.approx(result.dumb_energy_cost_eur, abs=0.006)
    assert _card(html, "Saving") == pytest.approx(result.saving_eur, abs=0.006)
    assert _card(html, "Saving") == pytest.approx(
        _card(html, "Charging on arrival") - _card(html, "Smart charging cost"), abs=0.011
    )
    rows = _csv(client, {"mode": "fleet", "run": 1, "day": day, "evs": 40, "v2g": 1, "seed": 3}, "fleet")
    assert len(rows) == steps


# ---------------------------------------------------------------------------------------------------------------------
# data, validation, limits


def test_a_fresh_clone_uses_the_synthetic_prices_and_says_so(
    client: TestClient, landscape: Landscape, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fresh_clone(monkeypatch, tmp_path)
    signed_in(client, landscape.tokens["aggregator"])
    ok = _page(client, run=1, energy_kWh=100, start="2024-01-08", length="week")
    assert ok.status_code == 200
    assert "2023-01-02 to 2025-12-31" in ok.text and "synthetic Dutch-like day-ahead prices" in ok.text
    assert "not market data" in ok.text and "No price for" not in ok.text  # the synthetic years have no gaps
    refused = _page(client, run=1, energy_kWh=100, start="2022-03-01", length="week")
    assert refused.status_code == 422
    assert re.search(r'id="e-start"[^>]*>Prices cover 2023-01-02 to 2025-12-31', refused.text)


def test_the_fallback_prices_are_the_synthetic_years_joined(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fresh_clone(monkeypatch, tmp_path)
    series, used = energy_page.prices()
    assert used.synthetic and "synthetic" in used.description
    years = [synthetic_day_ahead(y, seed=2024) for y in (2023, 2024, 2025)]
    assert np.array_equal(series.values, np.concatenate([y.values for y in years]))
    assert np.array_equal(series.timestamps, np.concatenate([y.timestamps for y in years]))
    assert series.gaps == [] and series.step_minutes == 60
    assert energy_page.price_days(series) == (date(2023, 1, 2), date(2025, 12, 31))  # the first UTC hour is 01:00 local
    stats, elaad = energy_page.elaad_stats()
    assert elaad.synthetic and stats is elaadnl.synthetic_stats()


def test_bad_input_is_named_next_to_each_field(
    client: TestClient, landscape: Landscape, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fresh_clone(monkeypatch, tmp_path)
    signed_in(client, landscape.tokens["aggregator"])
    response = _page(
        client, run=1, energy_kWh="lots", power_kW=-5, rte_pct=120, start="2024-13-01", fcr=1, hub_evs=5000
    )
    assert response.status_code == 422
    html = response.text
    for name, text in (
        ("energy_kWh", "is not a number"),
        ("power_kW", "out of range"),
        ("rte_pct", "out of range"),
        ("start", "is not a date"),
        ("fcr_price", "Required"),
        ("hub_evs", "out of range"),
    ):
        assert re.search(rf'id="e-{name}"[^>]*>[^<]*{text}', html), name
        assert re.search(rf'id="f-{name}"[^>]*aria-describedby="e-{name}', html, flags=re.S), name
        assert re.search(rf'id="f-{name}"[^>]*aria-invalid="true"', html, flags=re.S), name
    fleet = _page(client, mode="fleet", run=1, evs=0, day="2024-06-12")
    assert fleet.status_code == 422 and re.search(r'id="e-evs"[^>]*>[^<]*out of range', fleet.text)


def test_the_dutch_page_uses_dutch_labels_and_numbers(
    client: TestClient, landscape: Landscape, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(two_price_file(tmp_path / "shared")))
    signed_in(client, landscape.tokens["aggregator"])
    html = _page(client, lang="nl", run=1, energy_kWh=1000, power_kW=1000, rte_pct=100, start=DAY, length="day").text
    assert "Marktopbrengst" in html and "Bereken de inzet" in html
    # 500 kWh bought at 20 and sold at 120 EUR/MWh: EUR 50.00, written the Dutch way
    assert "€ 50,00" in html
    # and the chart axes use the Dutch decimal comma
    assert re.search(r"separators(&#34;|&quot;|\"): (&#34;|&quot;|\"),\.", html)


def test_a_month_with_every_service_runs_in_about_a_second(
    client: TestClient, landscape: Landscape, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fresh_clone(monkeypatch, tmp_path)
    signed_in(client, landscape.tokens["aggregator"])
    params = {"run": 1, "energy_kWh": 400, "start": "2024-03-01", "length": "month", "horizon": "full"}
    params |= {"fcr": 1, "fcr_price": 40, "peak": 1, "hub_evs": 200}
    _page(client, run=1, energy_kWh=10, start="2024-03-01", length="day")  # prices read once
    began = time.perf_counter()
    response = _page(client, **params)
    elapsed = time.perf_counter() - began
    assert response.status_code == 200, re.findall(r"field-error[^>]*>([^<]*)", response.text)
    print(f"a month (744 steps) with arbitrage, FCR and peak shaving of a 200-EV hub: {elapsed:.2f} s")
    assert elapsed < 10.0
    fleet_began = time.perf_counter()
    fleet = _page(client, mode="fleet", run=1, evs=1000, v2g=1, day="2024-06-12")
    fleet_elapsed = time.perf_counter() - fleet_began
    assert fleet.status_code == 200
    print(f"a fleet of 1,000 EVs with V2G: {fleet_elapsed:.2f} s")
    assert fleet_elapsed < 20.0
