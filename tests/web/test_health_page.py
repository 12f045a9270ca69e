"""The battery-health pages on the server: who sees which battery, the charts and their CSV, the lifetime forecast
against a hand calculation, and the temperature bands from the telemetry store."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.passport.access import Viewer
from batteryloop.passport.service import PassportService
from batteryloop.telemetry.store import TelemetryStore
from batteryloop.web.layout import SESSION_COOKIE
from tests.passport.conftest import Landscape

RATED_AH = 211.0
FADE_PER_CYCLE_PCT = 0.01  # linear fade: SoH = 100 - 0.01 x cycles
THRESHOLD_PCT = 70.0  # the passports' capacity_threshold_exhaustion_pct
CHECKUPS = (0.0, 300.0, 600.0, 900.0, 1200.0)  # full equivalent cycles at each check-up
START = datetime(2023, 1, 1, 9, 0, tzinfo=UTC)


def ev_model(serial: str, **extra: Any) -> dict[str, Any]:
    """A 75 kWh NMC pack (public model data as in a real EV passport)."""
    return {
        "battery_category": "ev",
        "serial_number": serial,
        "gtin": "6291041500213",
        "battery_model_identifier": "EV-75",
        "battery_chemistry": "NMC",
        "rated_capacity_Ah": RATED_AH,
        "rated_energy_kWh": 75.0,
        "nominal_voltage_V": 355.2,
        "expected_lifetime_cycles": 1500,
        "capacity_threshold_exhaustion_pct": THRESHOLD_PCT,
        "initial_round_trip_efficiency_pct": 95.0,
        "manufacturer_name": "Maker B.V.",
        **extra,
    }


@dataclass
class Fleet:
    """The passports of the health and market tests: id by name, and each one's last state of health."""

    ids: dict[str, str] = field(default_factory=dict)
    soh: dict[str, float] = field(default_factory=dict)


def record_checkups(
    svc: PassportService, viewer: Viewer, pid: str, final_soh: float, *, cycles: tuple[float, ...] = CHECKUPS
) -> None:
    """Check-ups on a straight fade line ending at ``final_soh``: SoH = 100 - slope x cycles."""
    slope = (100.0 - final_soh) / cycles[-1]
    for k, n in enumerate(cycles):
        soh = 100.0 - slope * n
        svc.update_dynamic(
            viewer,
            pid,
            {
                "soh_capacity_pct": round(soh, 6),
                "remaining_capacity_Ah": round(RATED_AH * soh / 100.0, 6),
                "full_equivalent_cycles": n,
                "energy_throughput_kWh": round(n * 75.0, 1),
                "ohmic_resistance_mOhm": round(118.0 * (1 + (100 - soh) * 0.016), 3),
                "internal_resistance_increase_pct": round((100 - soh) * 1.6, 3),
                "time_extreme_high_temperature_h": 0.5 * k,
            },
            measured_at=START + timedelta(days=120 * k),
            method=f"capacity check-up {k + 1}",
        )


def build_fleet(factory: sessionmaker[Session], settings: Settings) -> Fleet:
    """Maker B.V.'s EV packs (SoH 88, 82, 77, 72 and 65 %), one of Other Maker B.V. (SoH 80 %), one without health
    data; grants: the repurposer on 'a', 'b', 'c' and 'f', the aggregator on 'd'."""
    fleet = Fleet()
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        maker = svc.viewer_for("maker-op")
        other = svc.viewer_for("other-op")
        for name, soh in (("a", 77.0), ("b", 82.0), ("c", 88.0), ("d", 72.0), ("e", 65.0)):
            pid = svc.create(maker, ev_model(f"PACK-{name.upper()}")).id
            record_checkups(svc, maker, pid, soh)
            fleet.ids[name], fleet.soh[name] = pid, soh
        pid = svc.create(other, ev_model("OTHER-F", gtin="8712345000011", battery_model_identifier="EV-60")).id
        record_checkups(svc, other, pid, 80.0)
        fleet.ids["f"], fleet.soh["f"] = pid, 80.0
        fleet.ids["new"] = svc.create(maker, ev_model("PACK-NEW")).id
        for name in ("a", "b", "c"):
            svc.grant(maker, fleet.ids[name], "repurposer", days=30, purpose="second-life assessment")
        svc.grant(other, fleet.ids["f"], "repurposer", days=30, purpose="second-life assessment")
        svc.grant(maker, fleet.ids["d"], "aggregator", days=30, purpose="FCR pre-qualification")
    return fleet


@pytest.fixture
def fleet(landscape: Landscape, session_factory: sessionmaker[Session], settings: Settings) -> Fleet:
    return build_fleet(session_factory, settings)


def as_user(client: TestClient, landscape: Landscape, account: str | None) -> TestClient:
    client.cookies.clear()
    if account is not None:
        client.cookies.set(SESSION_COOKIE, landscape.tokens[account], domain="testserver.local")
    return client


def listed(html: str) -> set[str]:
    return set(re.findall(r'href="/health/([^"?]+)"', html)) - {"open"}


def figures(html: str) -> dict[str, dict[str, Any]]:
    """The Plotly figures on a page, by chart id."""
    out = {}
    for chart_id, raw in re.findall(r'id="chart-([^"]+)">.*?data-figure="([^"]+)"', html, flags=re.S):
        out[chart_id] = json.loads(raw.replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&"))
    return out


# ---------------------------------------------------------------------------------------------------------------------
# the list


def test_the_list_needs_a_sign_in(client: TestClient, fleet: Fleet) -> None:
    response = as_user(client, Landscape(), None).get("/health", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/health"


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ("maker-op", {"a", "b", "c", "d", "e"}),  # its own passports with a state of health (not "new")
        ("other-op", {"f"}),
        ("repurposer", {"a", "b", "c", "f"}),  # granted
        ("aggregator", {"d"}),
        ("repurposer-2", set()),  # same role, no grant
        ("recycler", set()),
        ("market-surveillance", set()),  # authorities read points 2-3, not individual battery data (Art. 77(2)(b))
        ("commission", set()),
        ("notified-body", set()),
    ],
)
def test_each_role_lists_exactly_the_batteries_whose_health_it_may_read(
    client: TestClient, landscape: Landscape, fleet: Fleet, account: str, expected: set[str]
) -> None:
    response = as_user(client, landscape, account).get("/health")
    assert response.status_code == 200
    assert listed(response.text) == {fleet.ids[n] for n in expected}
    if expected:
        for name in expected:
            assert f"{fleet.soh[name]:.1f} %" in response.text
    else:
        assert "no batteries whose health data your role" in response.text


def test_the_list_filters_by_category_and_pages(client: TestClient, landscape: Landscape, fleet: Fleet) -> None:
    c = as_user(client, landscape, "maker-op")
    assert listed(c.get("/health?category=lmt").text) == set()
    assert len(listed(c.get("/health?category=ev").text)) == 5
    assert listed(c.get("/health?page=2").text) == set()  # 5 rows fit on one page of 25
    assert c.get("/health?page=x&category=nonsense").status_code == 200  # bad parameters fall back, no 500


def test_the_lookup_form_opens_the_battery(client: TestClient, landscape: Landscape, fleet: Fleet) -> None:
    response = as_user(client, landscape, "maker-op").get(f"/health/open?id= {fleet.ids['a']} ", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/health/{fleet.ids['a']}"


# ---------------------------------------------------------------------------------------------------------------------
# one battery


@pytest.mark.parametrize(
    ("account", "status"),
    [
        ("maker-op", 200),
        ("repurposer", 200),
        ("repurposer-2", 403),
        ("aggregator", 403),  # its grant is on another battery
        ("other-op", 403),
        ("recycler", 403),
        ("market-surveillance", 403),
        ("commission", 403),
    ],
)
def test_the_battery_page_is_shown_only_to_roles_that_may_read_its_health(
    client: TestClient, landscape: Landscape, fleet: Fleet, account: str, status: int
) -> None:
    response = as_user(client, landscape, account).get(f"/health/{fleet.ids['a']}")
    assert response.status_code == status
    if status == 403:
        assert "may not read the health data of this battery" in response.text
        assert "data-figure" not in response.text
        assert "77.0" not in response.text  # not even the state of health leaks
        assert "EV-75" in response.text  # the public identity of the battery is shown
    else:
        assert set(figures(response.text)) == {"forecast", "soh", "resistance", "cycles", "temperature"}


def test_an_unknown_passport_is_a_404(client: TestClient, landscape: Landscape, fleet: Fleet) -> None:
    response = as_user(client, landscape, "maker-op").get("/health/NO-SUCH-PASSPORT")
    assert response.status_code == 404
    assert "No passport with this identifier" in response.text


def test_the_parameters_now_are_the_latest_check_up(client: TestClient, landscape: Landscape, fleet: Fleet) -> None:
    html = as_user(client, landscape, "repurposer").get(f"/health/{fleet.ids['b']}").text
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th><td class="num">([^<]+)</td>', html))
    assert rows["State of health (capacity)"] == "82.0 %"
    assert rows["Remaining capacity"] == f"{RATED_AH * 0.82:.1f} Ah"
    assert rows["Number of full equivalent cycles"] == "1 200"
    assert "capacity check-up 5" in html


def test_the_history_charts_and_their_csv_hold_every_check_up(
    client: TestClient, landscape: Landscape, fleet: Fleet
) -> None:
    c = as_user(client, landscape, "repurposer")
    html = c.get(f"/health/{fleet.ids['a']}").text
    soh = figures(html)["soh"]
    names = [trace["name"] for trace in soh["data"]]
    assert names == ["State of health (capacity) [%]", "Remaining capacity [Ah]"]
    assert soh["data"][0]["y"] == pytest.approx([100.0, 94.25, 88.5, 82.75, 77.0])
    assert soh["data"][0]["x"][0] == "2023-01-01 10:00"  # 09:00 UTC shown in Amsterdam time
    response = c.get(f"/health/{fleet.ids['a']}?csv=soh")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 2 * len(CHECKUPS)
    soh_rows = [r for r in rows if r["attribute"] == "soh_capacity_pct"]
    assert [float(r["value"]) for r in soh_rows] == pytest.approx([100.0, 94.25, 88.5, 82.75, 77.0])
    assert soh_rows[0]["measured_at_utc"] == "2023-01-01T09:00:00+00:00"
    assert c.get(f"/health/{fleet.ids['a']}?csv=nothing").status_code == 404


def test_the_forecast_of_a_straight_fade_line_matches_the_hand_calculation(
    client: TestClient, landscape: Landscape, fleet: Fleet
) -> None:
    """SoH = 100 - s x N with s = (100 - 77) / 1200 reaches 70 % at N = 30 / s = 1565.2 cycles, and the check-ups
    are 120 days per 300 cycles apart, so that is 1565.2 x 0.4 = 626.1 days after the first check-up."""
    c = as_user(client, landscape, "repurposer")
    rows = list(csv.DictReader(io.StringIO(c.get(f"/health/{fleet.ids['a']}?csv=forecast").text)))
    crossing = next(r for r in rows if r["series"].startswith("crossing"))
    slope = (100.0 - 77.0) / 1200.0
    assert float(crossing["full_equivalent_cycles"]) == pytest.approx(30.0 / slope, rel=1e-3)
    when = datetime.fromisoformat(crossing["time_utc"])
    assert when == pytest.approx(START + timedelta(days=30.0 / slope * 0.4), abs=timedelta(hours=1))
    assert float(crossing["soh_pct"]) == THRESHOLD_PCT
    low = next(r for r in rows if r["series"].startswith("interval low"))
    high = next(r for r in rows if r["series"].startswith("interval high"))
    assert float(low["full_equivalent_cycles"]) <= float(crossing["full_equivalent_cycles"])
    assert float(high["full_equivalent_cycles"]) >= float(crossing["full_equivalent_cycles"])
    html = c.get(f"/health/{fleet.ids['a']}").text
    assert "Remaining cycles" in html and f"{30.0 / slope - 1200:.0f}" in html
    assert "70 % of the rated capacity (from the passport)" in html
    forecast = figures(html)["forecast"]
    band = next(trace for trace in forecast["data"] if trace.get("fill") == "toself")
    assert max(band["y"]) == THRESHOLD_PCT  # the band reaches up to the end-of-life threshold


def test_the_forecast_band_of_a_noisy_history_holds_the_crossing(
    client: TestClient, landscape: Landscape, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """Eight check-ups around a straight fade line with +-0.4 % of noise: the interval of the crossing is wide, holds
    the crossing, and the band on the chart spans it up to the threshold."""
    noise = (0.0, 0.4, -0.3, 0.2, -0.4, 0.3, -0.2, 0.1)
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        maker = svc.viewer_for("maker-op")
        pid = svc.create(maker, ev_model("PACK-NOISY")).id
        for k, dev in enumerate(noise):
            n = 150.0 * k
            soh = 100.0 - 0.02 * n + dev
            svc.update_dynamic(
                maker,
                pid,
                {
                    "remaining_capacity_Ah": round(RATED_AH * soh / 100.0, 4),
                    "soh_capacity_pct": round(soh, 4),
                    "full_equivalent_cycles": n,
                },
                measured_at=START + timedelta(days=60 * k),
                method=f"check-up {k + 1}",
            )
    c = as_user(client, landscape, "maker-op")
    rows = list(csv.DictReader(io.StringIO(c.get(f"/health/{pid}?csv=forecast").text)))
    crossing = float(next(r for r in rows if r["series"].startswith("crossing"))["full_equivalent_cycles"])
    low = float(next(r for r in rows if r["series"].startswith("interval low"))["full_equivalent_cycles"])
    high = float(next(r for r in rows if r["series"].startswith("interval high"))["full_equivalent_cycles"])
    assert low < crossing < high
    assert crossing == pytest.approx(30.0 / 0.02, rel=0.1)  # the line without noise crosses 70 % at 1500 cycles
    band = next(t for t in figures(c.get(f"/health/{pid}").text)["forecast"]["data"] if t.get("fill") == "toself")
    assert min(band["x"]) == pytest.approx(low, abs=0.01)
    assert max(band["x"]) == pytest.approx(high, abs=0.01)
    assert max(band["y"]) == THRESHOLD_PCT


def test_a_battery_below_its_threshold_shows_the_observed_crossing(
    client: TestClient, landscape: Landscape, fleet: Fleet
) -> None:
    html = as_user(client, landscape, "maker-op").get(f"/health/{fleet.ids['e']}").text
    assert "Already below the threshold" in html


def test_a_passport_without_health_data_says_so(client: TestClient, landscape: Landscape, fleet: Fleet) -> None:
    response = as_user(client, landscape, "maker-op").get(f"/health/{fleet.ids['new']}")
    assert response.status_code == 200
    assert "No health data has been recorded" in response.text
    assert "data-figure" not in response.text


def test_too_few_check_ups_give_a_message_instead_of_a_forecast(
    client: TestClient, landscape: Landscape, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        maker = svc.viewer_for("maker-op")
        pid = svc.create(maker, ev_model("PACK-FEW")).id
        record_checkups(svc, maker, pid, 90.0, cycles=(0.0, 100.0, 200.0))
    html = as_user(client, landscape, "maker-op").get(f"/health/{pid}").text
    assert "The forecast needs at least 4 check-ups with a capacity; this passport has 3." in html
    assert "forecast" not in figures(html)
    assert "soh" in figures(html)


def test_the_temperature_bands_come_from_the_telemetry_store(
    client: TestClient, landscape: Landscape, fleet: Fleet, settings: Settings
) -> None:
    """Samples every 60 s: 120 at -25 degC, 300 at 20 degC, 60 at 50 degC, 30 at 65 degC (NMC limits of
    rules/chemistry.csv: operating -20..60, charging 0..45). The trapezoidal time of each band is its samples x 60 s
    within one interval at each change."""
    temps = [-25.0] * 120 + [20.0] * 300 + [50.0] * 60 + [65.0] * 30
    n = len(temps)
    frame = pl.DataFrame(
        {
            "battery_id": [fleet.ids["a"]] * n,
            "timestamp": [START + timedelta(minutes=i) for i in range(n)],
            "current_A": [-10.0] * n,
            "voltage_V": [360.0] * n,
            "temperature_C": temps,
        },
        schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
    )
    TelemetryStore(settings.data_dir / "telemetry").write(frame)
    c = as_user(client, landscape, "repurposer")
    html = c.get(f"/health/{fleet.ids['a']}").text
    assert "temperature_bands" in figures(html)
    rows = {
        r["band"]: float(r["hours"])
        for r in csv.DictReader(io.StringIO(c.get(f"/health/{fleet.ids['a']}?csv=temperature_bands").text))
    }
    assert rows["extreme_low"] == pytest.approx(2.0, abs=1 / 60)
    assert rows["normal"] == pytest.approx(5.0, abs=1 / 60)
    assert rows["hot"] == pytest.approx(1.0, abs=1 / 60)
    assert rows["extreme_high"] == pytest.approx(0.5, abs=1 / 60)
    assert rows["cold"] == 0.0
    assert sum(rows.values()) == pytest.approx((n - 1) / 60, abs=1 / 60)
    # another battery has no telemetry: the page says so instead of drawing an empty chart
    html = c.get(f"/health/{fleet.ids['b']}").text
    assert "temperature_bands" not in figures(html)
    assert "No telemetry of this battery" in html


def test_the_page_is_in_dutch_on_request(client: TestClient, landscape: Landscape, fleet: Fleet) -> None:
    html = as_user(client, landscape, "repurposer").get(f"/health/{fleet.ids['a']}?lang=nl").text
    assert "<h1>EV-75</h1>" in html
    assert "Gezondheidstoestand in de tijd" in html
    assert "Resterende cycli" in html
    assert "Gezondheidstoestand (capaciteit)" in html
    assert "77,0 %" in html and "77.0 %" not in html  # Dutch decimal comma


def test_reading_a_health_page_is_written_to_the_access_log(
    client: TestClient, landscape: Landscape, fleet: Fleet, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    as_user(client, landscape, "repurposer").get(f"/health/{fleet.ids['a']}")
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        log = svc.access_log(svc.viewer_for("maker-op"), passport_id=fleet.ids["a"])
    entries = [e for e in log if e["account"] == "repurposer" and e["route"] == "GET /health"]
    assert entries, "the service logs what the page read"
    assert any("soh_capacity_pct" in e["attributes"] for e in entries)


def test_role_check_is_not_only_in_the_menu(client: TestClient, landscape: Landscape, fleet: Fleet) -> None:
    """Every signed-in role may open the list (it shows what the role may read); the battery page decides per
    battery. The anonymous public is sent to sign in."""
    response = as_user(client, landscape, None).get(f"/health/{fleet.ids['a']}", follow_redirects=False)
    assert response.status_code == 303
    for role_account in ("repairer", "recycler", "notified-body"):
        assert as_user(client, landscape, role_account).get("/health").status_code == 200
