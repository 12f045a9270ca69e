"""The dispatch LP against cases solved by hand, the stacked-service accounting and the rolling horizon."""

from __future__ import annotations

import numpy as np
import pytest

from batteryloop.energy.asset import Asset
from batteryloop.energy.degradation import throughput_cost_eur_per_MWh
from batteryloop.energy.dispatch import BehindTheMeter, FcrMarket, Horizon, SolveStatus, dispatch
from batteryloop.errors import ValidationError

# a winter day in Europe/Amsterdam: 23:00 UTC is local midnight
DAY0 = np.datetime64("2024-01-09T23:00", "us")


def hours(n: int, start: np.datetime64 = DAY0) -> np.ndarray:
    return start + np.arange(n) * np.timedelta64(1, "h")


def two_price_day(low: float, high: float) -> np.ndarray:
    return np.array([low] * 12 + [high] * 12)


def test_two_price_day_exact_revenue():
    asset = Asset(
        power_kW=1000, energy_kWh=2000, charge_efficiency=0.9, discharge_efficiency=0.8, soc_start=0, soc_end=0
    )
    result = dispatch(hours(24), two_price_day(20.0, 100.0), asset, step_minutes=60)
    E = 2.0  # MWh stored
    assert result.status is SolveStatus.OPTIMAL
    assert result.revenue_eur["arbitrage"] == pytest.approx(E * (100 * 0.8 - 20 / 0.9), rel=1e-9)
    assert result.objective_eur == pytest.approx(result.revenue_eur["arbitrage"], rel=1e-9)
    assert result.full_equivalent_cycles == pytest.approx(1.0, rel=1e-9)
    assert result.simultaneous_steps == 0
    soc = result.schedule["soc_kWh"].to_numpy()
    assert soc.max() == pytest.approx(2000.0)
    assert soc[-1] == pytest.approx(0.0, abs=1e-6)


def test_spread_below_losses_is_not_traded():
    asset = Asset(power_kW=1000, energy_kWh=2000, soc_start=0.5, soc_end=0.5)
    # 50 * 0.95 * 0.95 = 45.1 < 46: a round trip loses money
    result = dispatch(hours(24), two_price_day(46.0, 50.0), asset, step_minutes=60)
    assert result.revenue_eur["arbitrage"] == pytest.approx(0.0, abs=1e-6)
    assert result.full_equivalent_cycles == pytest.approx(0.0, abs=1e-9)


def test_power_limit_binds():
    # 2 cheap hours, 2 dear hours; 500 kW cannot fill 2000 kWh in 2 hours
    price = np.array([10.0, 10.0, 90.0, 90.0])
    asset = Asset(power_kW=500, energy_kWh=2000, charge_efficiency=1, discharge_efficiency=1, soc_start=0, soc_end=0)
    result = dispatch(hours(4), price, asset, step_minutes=60)
    assert result.revenue_eur["arbitrage"] == pytest.approx(1.0 * (90 - 10), rel=1e-9)  # 1 MWh moved
    assert result.schedule["charge_kW"].to_numpy()[:2] == pytest.approx([500, 500])


def test_energy_limit_binds_and_soc_window():
    price = np.array([10.0] * 6 + [90.0] * 6)
    asset = Asset(
        power_kW=1000,
        energy_kWh=1000,
        charge_efficiency=1,
        discharge_efficiency=1,
        soc_min=0.2,
        soc_max=0.9,
        soc_start=0.2,
        soc_end=0.2,
    )
    result = dispatch(hours(12), price, asset, step_minutes=60)
    assert result.revenue_eur["arbitrage"] == pytest.approx(0.7 * 80, rel=1e-9)
    soc = result.schedule["soc_kWh"].to_numpy()
    assert soc.min() >= 200 - 1e-6
    assert soc.max() == pytest.approx(900)


def test_soc_end_respected():
    # prices only fall: without an end constraint the battery would sell its 1000 kWh at once
    price = np.array([100.0, 90, 80, 70])
    asset = Asset(
        power_kW=1000, energy_kWh=2000, charge_efficiency=1, discharge_efficiency=1, soc_start=0.5, soc_end=0.5
    )
    result = dispatch(hours(4), price, asset, step_minutes=60)
    assert result.schedule["soc_kWh"].to_numpy()[-1] >= 1000 - 1e-6
    # best: sell 1000 kWh at 100, buy back at 70
    assert result.revenue_eur["arbitrage"] == pytest.approx(1.0 * (100 - 70), rel=1e-9)


def test_negative_price_is_paid_to_charge():
    price = np.array([-50.0, 0.0])
    asset = Asset(power_kW=1000, energy_kWh=1000, charge_efficiency=1, discharge_efficiency=1, soc_start=0, soc_end=0)
    result = dispatch(hours(2), price, asset, step_minutes=60)
    # charge 1 MWh at -50 (earns 50), discharge at 0
    assert result.revenue_eur["arbitrage"] == pytest.approx(50.0, rel=1e-9)


def test_no_simultaneous_charge_discharge_with_positive_prices():
    rng = np.random.default_rng(3)
    price = rng.uniform(5, 150, 24 * 7)
    result = dispatch(hours(len(price)), price, Asset(power_kW=1000, energy_kWh=2000), step_minutes=60)
    assert result.status is SolveStatus.OPTIMAL
    assert result.simultaneous_steps == 0


def test_degradation_cost_at_break_even_spread():
    eta = 0.95
    k = 10.0  # EUR/MWh drawn from the cells
    asset = Asset(
        power_kW=1000, energy_kWh=2000, charge_efficiency=eta, discharge_efficiency=eta, soc_start=0, soc_end=0
    )
    low = 40.0
    # per MWh bought: eta * eta * high - low - k * eta = 0
    high = (low + k * eta) / (eta * eta)
    at = dispatch(hours(24), two_price_day(low, high - 0.01), asset, step_minutes=60, degradation_eur_per_MWh=k)
    assert at.full_equivalent_cycles == pytest.approx(0.0, abs=1e-9)
    above = dispatch(hours(24), two_price_day(low, high + 0.01), asset, step_minutes=60, degradation_eur_per_MWh=k)
    assert above.full_equivalent_cycles == pytest.approx(1.0, rel=1e-9)
    # the degradation line is k per MWh drawn: one full cycle of 2 MWh
    assert above.revenue_eur["degradation"] == pytest.approx(-2 * k, rel=1e-9)
    assert sum(above.revenue_eur.values()) == pytest.approx(above.objective_eur, rel=1e-9)


def test_throughput_cost_formula():
    # 100 kEUR left to lose over 4000 cycles of 2 MWh: 12.5 EUR/MWh
    assert throughput_cost_eur_per_MWh(120_000, 4000, 2000, end_of_life_value_eur=20_000) == pytest.approx(12.5)
    with pytest.raises(ValidationError) as info:
        throughput_cost_eur_per_MWh(1.0, 0, 2000)
    assert info.value.problems[0].field == "remaining_full_cycles"


def test_behind_the_meter_peak_shaving_by_the_battery_power():
    load = np.full(24, 500.0)
    load[18] = 1500.0
    asset = Asset(power_kW=400, energy_kWh=2000, soc_start=0.5, soc_end=0.5)
    site = BehindTheMeter(load_kW=load, pv_kW=np.zeros(24), capacity_tariff_eur_per_kW=5.0)
    result = dispatch(hours(24), np.full(24, 50.0), asset, step_minutes=60, behind_the_meter=site)
    imports = result.schedule["grid_import_kW"].to_numpy()
    assert imports.max() == pytest.approx(1500 - 400, rel=1e-9)
    assert result.revenue_eur["peak_shaving"] == pytest.approx(5.0 * 400, rel=1e-9)
    assert sum(result.revenue_eur.values()) == pytest.approx(result.objective_eur + result.baseline_cost_eur, rel=1e-9)


def test_behind_the_meter_self_consumption():
    # PV surplus at midday is exported at 0 EUR/MWh; imports cost 200: storing it is worth 200 * eta^2 per MWh
    load = np.full(24, 100.0)
    pv = np.zeros(24)
    pv[10:14] = 600.0  # 500 kW surplus for 4 h = 2000 kWh
    asset = Asset(power_kW=1000, energy_kWh=10000, charge_efficiency=1, discharge_efficiency=1, soc_start=0, soc_end=0)
    site = BehindTheMeter(load_kW=load, pv_kW=pv, import_adder_eur_per_MWh=200.0, export_adder_eur_per_MWh=0.0)
    result = dispatch(hours(24), np.zeros(24), asset, step_minutes=60, behind_the_meter=site)
    # the battery starts and ends empty: the stored surplus can only serve the 10 hours after the sun, 1000 kWh
    assert result.revenue_eur["energy"] == pytest.approx(1.0 * 200, rel=1e-9)
    assert result.schedule["soc_kWh"].to_numpy().max() == pytest.approx(1000.0)


def test_fcr_reservation_keeps_headroom_and_adds_up():
    asset = Asset(
        power_kW=1000, energy_kWh=1000, charge_efficiency=1, discharge_efficiency=1, soc_start=0.5, soc_end=0.5
    )
    fcr = FcrMarket(price_eur_per_MW=np.full(24, 100.0), activation_minutes=30)
    result = dispatch(hours(24), np.full(24, 50.0), asset, step_minutes=60, fcr=fcr)
    # flat prices: all power to FCR; 1 MW for 30 min needs 500 kWh each way: the 50 % state of charge allows it
    assert result.revenue_eur["fcr"] == pytest.approx(6 * 100.0, rel=1e-9)
    assert result.schedule["fcr_kW"].to_numpy() == pytest.approx(np.full(24, 1000.0))
    # with 60 minutes of activation only 500 kW fit either way
    long = dispatch(hours(24), np.full(24, 50.0), asset, step_minutes=60, fcr=FcrMarket(np.full(24, 100.0), 60))
    assert long.schedule["fcr_kW"].to_numpy() == pytest.approx(np.full(24, 500.0))
    assert long.fcr_blocks_below_min_bid == 6


def test_stacked_fcr_and_arbitrage_sum_to_objective():
    rng = np.random.default_rng(7)
    price = rng.uniform(0, 200, 48)
    fcr = FcrMarket(price_eur_per_MW=np.repeat(rng.uniform(5, 40, 12), 4), activation_minutes=15)
    asset = Asset(power_kW=1000, energy_kWh=2000, grid_limit_kW=800)
    result = dispatch(hours(48), price, asset, step_minutes=60, fcr=fcr, degradation_eur_per_MWh=5.0)
    assert set(result.revenue_eur) == {"arbitrage", "fcr", "degradation"}
    assert sum(result.revenue_eur.values()) == pytest.approx(result.objective_eur, rel=1e-9)
    s = result.schedule
    net = s["discharge_kW"].to_numpy() - s["charge_kW"].to_numpy()
    r = s["fcr_kW"].to_numpy()
    assert np.all(np.abs(net) + r <= 800 + 1e-6)
    soc = s["soc_kWh"].to_numpy()
    assert np.all(soc - r * 0.25 / 0.95 >= -1e-6)
    assert np.all(soc + r * 0.25 * 0.95 <= 2000 + 1e-6)


def days_of_prices(days: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    return rng.uniform(0, 150, 24 * days)


def test_rolling_never_beats_perfect_foresight():
    price = days_of_prices(7)
    price[24 * 3 : 24 * 4] += 300  # a dear day rewards carrying energy into it
    asset = Asset(power_kW=1000, energy_kWh=4000, soc_start=0.5, soc_end=0.5)
    full = dispatch(hours(len(price)), price, asset, step_minutes=60)
    rolling = dispatch(hours(len(price)), price, asset, step_minutes=60, horizon=Horizon.ROLLING)
    assert rolling.windows == 7
    assert rolling.objective_eur <= full.objective_eur + 1e-6
    assert rolling.objective_eur < full.objective_eur - 1.0


def test_rolling_equals_foresight_when_each_day_is_self_contained():
    day = two_price_day(20.0, 100.0)
    price = np.tile(day, 5)
    asset = Asset(power_kW=1000, energy_kWh=2000, soc_start=0.0, soc_end=0.0)
    full = dispatch(hours(len(price)), price, asset, step_minutes=60)
    rolling = dispatch(hours(len(price)), price, asset, step_minutes=60, horizon=Horizon.ROLLING)
    assert rolling.objective_eur == pytest.approx(full.objective_eur, rel=1e-9)
    assert rolling.objective_eur == pytest.approx(5 * 2.0 * (100 * 0.95 - 20 / 0.95), rel=1e-9)


def test_rolling_windows_follow_local_days_across_dst():
    # 2024-03-31 has 23 local hours
    start = np.datetime64("2024-03-29T23:00", "us")
    price = days_of_prices(3)[: 24 + 23 + 24]
    result = dispatch(
        hours(len(price), start), price, Asset(power_kW=100, energy_kWh=200), step_minutes=60, horizon=Horizon.ROLLING
    )
    assert result.windows == 3


def test_missing_price_steps_are_idle():
    price = two_price_day(20.0, 100.0)
    price[5] = np.nan
    result = dispatch(hours(24), price, Asset(power_kW=1000, energy_kWh=2000, soc_start=0, soc_end=0), step_minutes=60)
    assert result.idle_steps == 1
    s = result.schedule
    assert s["charge_kW"][5] == 0 and s["discharge_kW"][5] == 0


def test_15_minute_steps_scale_energy():
    price = np.repeat(two_price_day(20.0, 100.0), 4)
    ts = DAY0 + np.arange(96) * np.timedelta64(15, "m")
    asset = Asset(power_kW=1000, energy_kWh=2000, soc_start=0, soc_end=0)
    result = dispatch(ts, price, asset, step_minutes=15)
    assert result.revenue_eur["arbitrage"] == pytest.approx(2.0 * (100 * 0.95 - 20 / 0.95), rel=1e-9)


def test_asset_validation_names_fields():
    with pytest.raises(ValidationError) as info:
        Asset(power_kW=-1, energy_kWh=100, soc_start=1.5)
    fields = {p.field for p in info.value.problems}
    assert {"power_kW", "soc_start"} <= fields


def test_cycle_depth_cost_uses_only_the_shallow_segment():
    from batteryloop.energy.degradation import cycle_depth_segment_costs, power_law_stress

    # full battery, dear morning then cheap evening: each MWh drawn and bought back earns 100 - 20 = 80
    price = np.array([100.0] * 12 + [20.0] * 12)
    asset = Asset(power_kW=2000, energy_kWh=2000, charge_efficiency=1, discharge_efficiency=1, soc_start=1, soc_end=1)
    # two segments of 1000 kWh: the top costs 50 per MWh drawn (< 80: used), the bottom 150 (> 80: not used)
    result = dispatch(hours(24), price, asset, step_minutes=60, cycle_depth_costs_eur_per_MWh=np.array([50.0, 150.0]))
    assert result.revenue_eur["arbitrage"] == pytest.approx(80.0, rel=1e-9)
    assert result.revenue_eur["cycle_depth"] == pytest.approx(-50.0, rel=1e-9)
    assert result.objective_eur == pytest.approx(30.0, rel=1e-9)
    assert result.schedule["soc_kWh"].to_numpy().min() == pytest.approx(1000.0)
    # the segment costs of phi(d) = d^2 for 2 segments and a full-cycle cost of 100: 100 * 2 * (1/4, 3/4)
    assert cycle_depth_segment_costs(power_law_stress(2.0), 2, 100.0) == pytest.approx([50.0, 150.0])


def test_one_segment_equals_the_throughput_cost():
    rng = np.random.default_rng(5)
    price = rng.uniform(0, 200, 48)
    asset = Asset(power_kW=1000, energy_kWh=2000)
    flat = dispatch(hours(48), price, asset, step_minutes=60, degradation_eur_per_MWh=30.0)
    seg = dispatch(hours(48), price, asset, step_minutes=60, cycle_depth_costs_eur_per_MWh=np.array([30.0]))
    assert seg.objective_eur == pytest.approx(flat.objective_eur, rel=1e-9)
    assert seg.revenue_eur["cycle_depth"] == pytest.approx(flat.revenue_eur["degradation"], rel=1e-9)


@pytest.mark.parametrize("rolling", [False, True])
def test_eliminating_the_discharge_keeps_the_optimum(rolling):
    rng = np.random.default_rng(13)
    n = 72
    price = rng.uniform(-20, 200, n)
    site = BehindTheMeter(
        load_kW=rng.uniform(100, 900, n),
        pv_kW=rng.uniform(0, 600, n),
        capacity_tariff_eur_per_kW=3.0,
        import_adder_eur_per_MWh=40.0,
        export_adder_eur_per_MWh=-10.0,
    )
    fcr = FcrMarket(price_eur_per_MW=np.repeat(rng.uniform(5, 40, n // 4), 4))
    asset = Asset(power_kW=500, energy_kWh=1000, grid_limit_kW=1500, soc_min=0.1, soc_max=0.9)
    horizon = Horizon.ROLLING if rolling else Horizon.FULL
    kwargs = dict(
        step_minutes=60,
        horizon=horizon,
        behind_the_meter=site,
        fcr=fcr,
        cycle_depth_costs_eur_per_MWh=np.array([5.0, 15.0, 30.0]),
    )
    reduced = dispatch(hours(n), price, asset, **kwargs)
    full = dispatch(hours(n), price, asset, eliminate_discharge=False, **kwargs)
    assert reduced.status is SolveStatus.OPTIMAL
    assert reduced.objective_eur == pytest.approx(full.objective_eur, rel=1e-8)
    assert sum(reduced.revenue_eur.values()) == pytest.approx(
        reduced.objective_eur + reduced.baseline_cost_eur, rel=1e-8
    )
    # the reconstructed discharge keeps the balance of every step
    s = reduced.schedule
    soc = s["soc_kWh"].to_numpy()
    prev = np.r_[asset.soc_start * asset.energy_kWh, soc[:-1]]
    balance = prev + 0.95 * s["charge_kW"].to_numpy() - s["discharge_kW"].to_numpy() / 0.95
    np.testing.assert_allclose(soc, balance, atol=1e-6)


def test_throughput_cost_from_a_lifetime_prediction():
    from dataclasses import dataclass

    from batteryloop.energy.degradation import throughput_cost_from_lifetime

    @dataclass
    class Prediction:
        remaining_cycles: float | None

    assert throughput_cost_from_lifetime(
        Prediction(2500.0), residual_value_eur=60_000, energy_kWh=1600, end_of_life_value_eur=10_000
    ) == pytest.approx(50_000 / (2500 * 1.6))
    with pytest.raises(ValidationError) as info:
        throughput_cost_from_lifetime(Prediction(None), residual_value_eur=1.0, energy_kWh=1.0)
    assert info.value.problems[0].field == "remaining_cycles"
