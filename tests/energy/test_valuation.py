"""Second-life value: NPV against the annuity formula, break-even price, fade, recycling value from the CSV, the
dispatch revenue of a year solved by hand, the passport path with access control, and the command end to end."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from batteryloop.config import Settings
from batteryloop.db import make_engine, make_session_factory, transaction
from batteryloop.energy.dispatch import Horizon
from batteryloop.energy.prices import PriceSeries, load_prices
from batteryloop.energy.valuation import (
    RECYCLING_FILE,
    Economics,
    MarketRevenue,
    RevenueModel,
    UsedBattery,
    YearRevenue,
    figures_from_passport,
    npv,
    recycling_value,
    value_second_life,
)
from batteryloop.errors import PermissionDeniedError, ValidationError
from batteryloop.migrate import upgrade
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.service import PassportService
from tests.conftest import shared_path

LOW, HIGH = 20.0, 200.0  # EUR/MWh, before and after local noon on every day


def constant_revenue(amount: float, cycles: float = 0.0) -> RevenueModel:
    def model(year: int, energy_kWh: float, power_kW: float, wear: float) -> YearRevenue:
        return YearRevenue({"arbitrage": amount}, cycles)

    return model


def economics(**kw: float) -> Economics:
    base: dict[str, float] = {
        "discount_rate": 0.08,
        "lifetime_cutoff_years": 10,
        "end_soh_pct": 60,
        "repurposing_eur_per_kWh": 50,
        "repurposing_fixed_eur": 1000,
        "bos_eur_per_kW": 100,
        "om_pct_of_capex_per_year": 2.0,
        "calendar_fade_pct_per_year": 0.0,
        "cycle_fade_pct_per_fec": 0.01,
        "recycling_cost_eur_per_kWh": 5.0,
        "wear_cost_eur_per_MWh": 0.0,
    }
    return Economics(**{**base, **kw})  # type: ignore[arg-type]


def csv_recycling_eur_per_kWh(chemistry: str) -> float:
    with RECYCLING_FILE.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["chemistry"] == chemistry]
    assert rows
    return sum(float(r["kg_per_kWh"]) * float(r["price_eur_per_kg"]) * float(r["recovery_fraction"]) for r in rows)


# ---------------------------------------------------------------------------------------------------------------------
# the cash-flow arithmetic


def test_npv_of_constant_cash_flows_is_the_annuity():
    battery = UsedBattery(rated_energy_kWh=100, soh_pct=80, round_trip_efficiency=0.9, chemistry="LFP", power_kW=40)
    result = value_second_life(battery, constant_revenue(2000.0), economics=economics(), price_years=[2023])
    capex = 50 * 80 + 1000 + 100 * 40  # 9,000 EUR
    om = 0.02 * capex  # 180 EUR a year
    annuity_8pct_10y = 6.710081  # present value of 1 a year for 10 years at 8 % (annuity tables)
    eol = (csv_recycling_eur_per_kWh("LFP") - 5.0) * 100
    expected = -capex + (2000.0 - om) * annuity_8pct_10y + eol / 1.08**10
    assert result.capex_eur == pytest.approx(capex)
    assert result.npv_eur == pytest.approx(expected, abs=0.01)
    assert result.years_of_service == pytest.approx(10.0)
    assert result.end_reason == "lifetime cut-off"
    assert [y.cash_flow_eur for y in result.years] == pytest.approx([2000.0 - om] * 10)
    assert npv([(0, -100.0), (1, 108.0)], 0.08) == pytest.approx(0.0, abs=1e-12)


def test_break_even_purchase_price_makes_the_npv_zero():
    battery = UsedBattery(rated_energy_kWh=100, soh_pct=80, round_trip_efficiency=0.9, chemistry="NMC", power_kW=40)
    free = value_second_life(battery, constant_revenue(2500.0), economics=economics(), price_years=[2023])
    price = free.break_even_eur_per_kWh
    assert price > 0
    paid = value_second_life(
        battery, constant_revenue(2500.0), economics=economics(purchase_eur_per_kWh=price), price_years=[2023]
    )
    assert paid.npv_eur == pytest.approx(0.0, abs=1e-6)
    assert paid.purchase_eur == pytest.approx(price * 80)
    above = value_second_life(
        battery, constant_revenue(2500.0), economics=economics(purchase_eur_per_kWh=price + 1), price_years=[2023]
    )
    assert above.npv_eur == pytest.approx(-80.0, abs=1e-6)  # one EUR/kWh more on 80 kWh usable


def test_fade_ends_service_pro_rata_at_the_threshold():
    # 100 cycles a year, 20 points of headroom over 250 remaining cycles: 0.08 points per cycle, 8 a year -> 2.5 years
    battery = UsedBattery(100, 80, 0.9, chemistry="NMC", power_kW=40, remaining_cycles=250)
    result = value_second_life(battery, constant_revenue(3000.0, cycles=100), economics=economics(), price_years=[2023])
    assert result.years_of_service == pytest.approx(2.5)
    assert "60" in result.end_reason
    assert [y.share_in_service for y in result.years] == pytest.approx([1, 1, 0.5])
    assert [y.soh_start_pct for y in result.years] == pytest.approx([80, 72, 64])
    assert [y.energy_kWh for y in result.years] == pytest.approx([80, 72, 64])
    om = 0.02 * (50 * 80 + 1000 + 100 * 40)
    assert result.years[-1].cash_flow_eur == pytest.approx(0.5 * (3000 - om))
    assert result.years[-1].time_years == pytest.approx(2.5)


def test_a_battery_at_the_threshold_is_refused_by_name():
    with pytest.raises(ValidationError) as info:
        value_second_life(UsedBattery(100, 60, 0.9), constant_revenue(1.0), economics=economics(), price_years=[2023])
    assert info.value.field == "soh_pct"
    with pytest.raises(ValidationError) as bad:
        UsedBattery(100, 80, 1.5)
    assert "round_trip_efficiency" in str(bad.value.problems[0])


# ---------------------------------------------------------------------------------------------------------------------
# recycling value


def test_recycling_value_by_hand_from_the_csv():
    nmc = recycling_value("NMC", cost_eur_per_kWh=15.0)
    # by hand from the rows: Li 0.1121*61.0*0.5 + Ni 0.5688*16.1*0.9 + Co 0.1904*24.8*0.9 + Mn 0 + Cu 0.4*8.9*0.9
    by_hand = 0.1121 * 61.0 * 0.5 + 0.5688 * 16.1 * 0.9 + 0.1904 * 24.8 * 0.9 + 0.1775 * 1.8 * 0.0 + 0.4 * 8.9 * 0.9
    assert nmc.gross_eur_per_kWh == pytest.approx(by_hand, rel=1e-9)
    assert nmc.gross_eur_per_kWh == pytest.approx(csv_recycling_eur_per_kWh("NMC"), rel=1e-12)
    assert nmc.net_eur_per_kWh == pytest.approx(by_hand - 15.0, rel=1e-9)
    assert nmc.confidence == "low"  # copper and manganese rows are low confidence
    assert recycling_value("lfp").net_eur_per_kWh < nmc.net_eur_per_kWh  # no nickel or cobalt in LFP


def test_metal_contents_follow_the_cathode_stoichiometry():
    # NMC622: 1 / (0.175 Ah/g x 3.65 V) = 1.5656 kg LiNi0.6Mn0.2Co0.2O2 per kWh; Li is 6.941 / 96.93 of it
    li = 1 / (0.175 * 3.65) * 6.941 / 96.93
    ni = 1 / (0.175 * 3.65) * 0.6 * 58.693 / 96.93
    rows = {e["element"]: e for e in recycling_value("NMC622").elements}
    assert rows["Li"]["kg_per_kWh"] == pytest.approx(li, rel=1e-3)
    assert rows["Ni"]["kg_per_kWh"] == pytest.approx(ni, rel=1e-3)
    # LFP: 1 / (0.155 x 3.25) kg LiFePO4 per kWh, Li 6.941 / 157.76
    lfp = {e["element"]: e for e in recycling_value("LFP").elements}
    assert lfp["Li"]["kg_per_kWh"] == pytest.approx(1 / (0.155 * 3.25) * 6.941 / 157.76, rel=1e-3)


def test_unknown_chemistry_is_named():
    with pytest.raises(ValidationError) as info:
        recycling_value("unobtainium")
    assert info.value.field == "chemistry" and "NMC" in (info.value.expected or "")


# ---------------------------------------------------------------------------------------------------------------------
# the dispatch revenue of a year


def two_price_year(year: int) -> PriceSeries:
    """Hourly prices: LOW before local noon, HIGH after, every Europe/Amsterdam day of ``year``."""
    tz = ZoneInfo("Europe/Amsterdam")
    start = datetime(year, 1, 1, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
    end = datetime(year + 1, 1, 1, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
    ts = np.arange(np.datetime64(start, "us"), np.datetime64(end, "us"), np.timedelta64(1, "h"))
    local_hour = np.array([t.astype(datetime).replace(tzinfo=UTC).astimezone(tz).hour for t in ts])
    return PriceSeries(ts, np.where(local_hour < 12, LOW, HIGH), step_minutes=60, source="two-price year")


def test_market_revenue_of_a_two_price_year_by_hand():
    # rolling: every day starts at half charge, fills up before noon and sells back down to half: 0.5 E a day
    model = MarketRevenue(two_price_year(2023), round_trip_efficiency=0.81, horizon=Horizon.ROLLING)
    e = 100.0
    year = model(2023, e, 50.0, 10.0)
    per_day = 0.5 * e / 1000 * (HIGH * 0.9 - LOW / 0.9)  # EUR; the wear cost is not a cash flow
    assert year.revenue_eur["arbitrage"] == pytest.approx(365 * per_day, rel=1e-6)
    assert year.full_equivalent_cycles == pytest.approx(365 * 0.5, rel=1e-6)
    assert year.hours_without_price == 0
    with pytest.raises(ValidationError) as info:
        model(2019, e, 50.0, 0.0)
    assert info.value.field == "price_years"


def test_a_better_state_of_health_is_worth_more():
    model = MarketRevenue(two_price_year(2023), round_trip_efficiency=0.81, horizon=Horizon.ROLLING)
    econ = economics(lifetime_cutoff_years=3, calendar_fade_pct_per_year=1.0, wear_cost_eur_per_MWh=None)
    values = [
        value_second_life(UsedBattery(100, soh, 0.81, power_kW=40), model, economics=econ, price_years=[2023])
        for soh in (70, 80, 90)
    ]
    npvs = [v.npv_eur for v in values]
    assert npvs[0] < npvs[1] < npvs[2]
    assert values[0].break_even_eur_per_kWh < values[2].break_even_eur_per_kWh
    # the first year of the 90 % battery is the two-price day at 90 kWh, by hand
    per_day = 0.5 * 90 / 1000 * (HIGH * 0.9 - LOW / 0.9)
    assert values[2].years[0].revenue_eur["arbitrage"] == pytest.approx(365 * per_day, rel=1e-6)
    assert values[2].years[1].soh_start_pct == pytest.approx(90 - 182.5 * 0.01 - 1.0, rel=1e-6)


def test_arbitrage_plus_fcr_needs_fcr_prices():
    with pytest.raises(ValidationError) as info:
        MarketRevenue(two_price_year(2023), round_trip_efficiency=0.9, services="arbitrage+fcr")
    assert info.value.field == "fcr_prices"


def test_real_nl_year_values_a_used_ev_pack():
    path = shared_path("grid", "nl_dayahead_hourly", "nl_da_hourly_2015_2026_merged.csv")
    model = MarketRevenue(load_prices(path), round_trip_efficiency=0.9, horizon=Horizon.FULL)
    low, high = (
        value_second_life(UsedBattery(75, soh, 0.9, chemistry="NMC"), model, price_years=[2024]) for soh in (75.0, 85.0)
    )
    assert high.npv_without_purchase_eur > low.npv_without_purchase_eur
    assert high.years[0].hours_without_price == 1  # the one missing hour of 2024 in the merged file
    assert high.verdict in ("repurpose", "recycle")
    assert high.margin_eur == pytest.approx(high.npv_without_purchase_eur - high.recycling_now_eur)


# ---------------------------------------------------------------------------------------------------------------------
# a passport's figures, with access control


EV = {
    "battery_category": "ev",
    "serial_number": "PACK-SL-1",
    "gtin": "6291041500213",
    "battery_model_identifier": "EV-75",
    "battery_chemistry": "NMC",
    "rated_capacity_Ah": 211.0,
    "nominal_voltage_V": 355.0,
    "rated_energy_kWh": 75.0,
    "expected_lifetime_cycles": 2000,
    "capacity_threshold_exhaustion_pct": 70.0,
    "manufacturer_name": "Maker B.V.",
}


def _registry(settings: Settings) -> str:
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        org = svc.create_organisation("Maker B.V.", identifier="ID-MAKER", kind="manufacturer")
        svc.create_organisation("Second Life B.V.", identifier="ID-SL", kind="manufacturer")
        svc.create_account("maker-op", Role.ECONOMIC_OPERATOR, org.name)
        svc.create_account("repurposer", Role.REPURPOSER, "Second Life B.V.")
        viewer = Viewer(Role.ECONOMIC_OPERATOR, account="maker-op", organisation_id=org.id)
        pid = svc.create(viewer, EV).id
        svc.update_dynamic(
            viewer,
            pid,
            {"soh_capacity_pct": 82.0, "remaining_round_trip_efficiency_pct": 91.0},
            measured_at=datetime(2026, 1, 5, tzinfo=UTC),
            method="capacity test",
        )
    engine.dispose()
    return pid


def _grant(settings: Settings, pid: str) -> None:
    engine = make_engine(settings.resolved_database_url())
    with transaction(make_session_factory(engine)) as session:
        svc = PassportService(session, settings)
        svc.grant(svc.viewer_for("maker-op"), pid, "repurposer")
    engine.dispose()


def test_passport_figures_respect_access_rules(tmp_path):
    settings = Settings(data_dir=tmp_path)
    pid = _registry(settings)
    engine = make_engine(settings.resolved_database_url())
    with transaction(make_session_factory(engine)) as session:
        svc = PassportService(session, settings)
        view = svc.view(svc.viewer_for("repurposer"), pid)
        assert "soh_capacity_pct" not in view.data  # withheld without a grant
        with pytest.raises(PermissionDeniedError) as info:
            figures_from_passport(pid, view.data, [g.value for g in view.groups])
        assert info.value.field == "soh_capacity_pct" and "grant" in (info.value.expected or "")
        own = svc.view(svc.viewer_for("maker-op"), pid)
        figures = figures_from_passport(pid, own.data, [g.value for g in own.groups])
    engine.dispose()
    assert figures.values["soh_pct"] == 82.0
    assert figures.values["round_trip_efficiency"] == pytest.approx(0.91)
    assert figures.values["rated_energy_kWh"] == 75.0
    assert figures.values["cycle_fade_pct_per_fec"] == pytest.approx(30.0 / 2000)
    assert figures.sources["soh_pct"].endswith("soh_capacity_pct")


# ---------------------------------------------------------------------------------------------------------------------
# the command


def _cli(tmp: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATTERYLOOP_DATA_DIR": str(tmp)}
    env.pop("BATTERYLOOP_DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "batteryloop.cli", *args], env=env, capture_output=True, text=True, timeout=300, cwd=tmp
    )
    assert proc.returncode == expect, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc


def test_cli_values_a_passport_as_the_caller_may_see_it(tmp_path):
    pid = _registry(Settings(data_dir=tmp_path))
    prices = tmp_path / "prices.csv"
    series = two_price_year(2023)
    with prices.open("w", encoding="utf-8") as handle:
        handle.write("datetime_utc,price_eur_per_mwh\n")
        for t, p in zip(series.timestamps, series.values, strict=True):
            handle.write(f"{str(t.astype('datetime64[s]')).replace('T', ' ')}+00:00,{p}\n")
    run = ["energy", "value", "--passport", pid, "--prices", str(prices), "--price-years", "2023"]
    run += ["--horizon", "full", "--lifetime-years", "2", "--json"]
    refused = _cli(tmp_path, *run, "--account", "repurposer", expect=2)
    assert "soh_capacity_pct" in refused.stderr and "grant" in refused.stderr
    _grant(Settings(data_dir=tmp_path), pid)
    data = json.loads(_cli(tmp_path, *run, "--account", "repurposer").stdout)
    assert data["battery"]["soh_pct"] == 82.0 and data["battery"]["rated_energy_kWh"] == 75.0
    assert data["sources"]["soh_pct"] == f"passport {pid}: soh_capacity_pct"
    assert data["sources"]["round_trip_efficiency"].endswith("remaining_round_trip_efficiency_pct")
    assert data["sources"]["read_as"] == "repurposer"
    assert data["years_of_service"] == pytest.approx(2.0)
    assert len(data["annual"]) == 2 and data["verdict"] in ("repurpose", "recycle")
    assert data["npv_eur"] == pytest.approx(
        sum(y["present_value_eur"] for y in data["annual"])
        - data["economics"]["capex_eur"]
        + data["end_of_life_present_value_eur"],
        abs=0.05,
    )
    assert math.isfinite(data["break_even_purchase_eur_per_kWh"])
    # given figures need no passport; a missing one is named
    manual = _cli(tmp_path, "energy", "value", "--capacity-kWh", "75", "--soh-pct", "80", *run[4:])
    assert json.loads(manual.stdout)["sources"]["chemistry"].startswith("assumed NMC")
    missing = _cli(tmp_path, "energy", "value", "--capacity-kWh", "75", *run[4:], expect=2)
    assert "--soh-pct" in missing.stderr


def test_arbitrage_plus_fcr_adds_the_capacity_revenue():
    prices = two_price_year(2023)
    fcr = PriceSeries(prices.timestamps, np.full(len(prices), 15.0), step_minutes=60, source="flat FCR")
    both = MarketRevenue(prices, round_trip_efficiency=0.81, services="arbitrage+fcr", fcr_prices=fcr)
    alone = MarketRevenue(prices, round_trip_efficiency=0.81)
    with_fcr, without = both(2023, 100.0, 50.0, 0.0), alone(2023, 100.0, 50.0, 0.0)
    assert with_fcr.revenue_eur["fcr"] > 0
    assert with_fcr.total_eur >= without.total_eur - 1e-6  # the LP may always offer no capacity
    assert both.fcr_blocks_without_price == {2023: 0}
