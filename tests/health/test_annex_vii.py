"""Hand-computed cases for every Annex VII parameter (health.annex_vii, health.resistance, health.pipeline).

The reference cycle: a 2 Ah cell with a linear OCV (2.6 V at 0 %, 4.1 V at 100 %) and a 50 mOhm resistance, sampled
at 1 Hz: one hour at rest empty, one hour charging at 2 A, one hour at rest full, one hour discharging at 2 A, one
hour at rest. By hand (the mean OCV over the charge is 3.35 V):

* capacity 2 Ah in and out, so one full equivalent cycle of a 2 Ah battery;
* energy charged 2 A x 1 h x (3.35 + 0.1) V = 6.9 Wh, discharged 2 A x 1 h x (3.35 - 0.1) V = 6.5 Wh;
* round-trip efficiency 6.5 / 6.9 = 94.2029 %;
* resistance 0.1 V / 2 A = 50 mOhm;
* power at 80 % SoC: V_min (OCV - V_min) / R = 2.5 x (3.8 - 2.5) / 0.05 = 65 W; at 20 %: 2.5 x 0.4 / 0.05 = 20 W.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from batteryloop.health import annex_vii, capacity, resistance
from batteryloop.health.ocv import OcvTable, default_table
from batteryloop.health.pipeline import Reference, estimate
from batteryloop.health.series import from_frame
from batteryloop.health.settings import defaults
from tests.health.synthetic import Cell

START = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
LINEAR = OcvTable(np.array([0.0, 100.0]), np.array([2.6, 4.1]), name="linear", source="test")


def frame_of(current: np.ndarray, voltage: np.ndarray, temperature: np.ndarray | float = 25.0, **extra) -> pl.DataFrame:
    n = current.size
    micros = int(START.timestamp() * 1e6) + np.arange(n, dtype=np.int64) * 1_000_000
    data = {
        "battery_id": ["cell"] * n,
        "timestamp": pl.Series(micros).cast(pl.Datetime("us", "UTC")),
        "current_A": current.astype(float),
        "voltage_V": voltage.astype(float),
        "temperature_C": np.broadcast_to(np.asarray(temperature, dtype=float), (n,)).copy(),
    }
    data.update(extra)
    return pl.DataFrame(data)


def reference_cycle(hours: int = 1) -> pl.DataFrame:
    """The cycle of the module text (trapezoidal charge: the current ramps between the samples around a step)."""
    h = 3600 * hours
    current = np.concatenate([np.zeros(h), np.full(h, 2.0), np.zeros(h), np.full(h, -2.0), np.zeros(h)])
    q = np.concatenate(([0.0], np.cumsum(0.5 * (current[1:] + current[:-1]))))  # [A s]
    soc = 100.0 * q / (7200.0 * hours)
    voltage = 2.6 + 1.5 * soc / 100.0 + 0.05 * current
    return frame_of(current, voltage)


@pytest.fixture(scope="module")
def cycle_estimate():
    return estimate(
        reference_cycle(),
        nominal_capacity_Ah=2.0,
        nominal_energy_kWh=0.0065,
        chemistry="NMC",
        ocv_table=LINEAR,
    )


def test_constant_current_cycle_capacity_energy_efficiency_throughput(cycle_estimate):
    d = cycle_estimate.as_dict()
    assert d["remaining_capacity_Ah"]["value"] == pytest.approx(2.0, rel=1e-6)
    assert "complete discharges" in d["remaining_capacity_Ah"]["method"]
    assert d["soh_capacity_pct"]["value"] == pytest.approx(100.0, rel=1e-6)
    assert d["capacity_fade_pct"]["value"] == pytest.approx(0.0, abs=1e-4)
    assert d["capacity_throughput_Ah"]["value"] == pytest.approx(2.0, rel=1e-9)
    assert d["details"]["throughput"]["charge_in_Ah"] == pytest.approx(2.0, rel=1e-9)
    assert d["energy_throughput_kWh"]["value"] == pytest.approx(0.0065, rel=1e-6)
    assert d["details"]["throughput"]["energy_in_kWh"] == pytest.approx(0.0069, rel=1e-6)
    assert d["full_equivalent_cycles"]["value"] == pytest.approx(1.0, rel=1e-9)
    assert d["remaining_energy_kWh"]["value"] == pytest.approx(0.0065, rel=1e-6)
    assert d["state_of_certified_energy_pct"]["value"] == pytest.approx(100.0, rel=1e-5)
    assert d["remaining_round_trip_efficiency_pct"]["value"] == pytest.approx(100 * 6.5 / 6.9, rel=1e-6)
    assert d["putting_into_service_date"]["value"] == "2025-03-03"
    assert d["deep_discharge_events"]["value"] == 0
    assert d["state_of_charge_pct"]["value"] == pytest.approx(0.0, abs=1e-6)


def test_current_steps_give_the_known_resistance_and_power(cycle_estimate):
    d = cycle_estimate.as_dict()
    assert d["ohmic_resistance_mOhm"]["value"] == pytest.approx(50.0, rel=1e-4)
    assert d["details"]["resistance"]["used"] == 4
    power = {p["soc_pct"]: p["power_W"] for p in d["remaining_power_capability"]["value"]}
    assert power[80.0] == pytest.approx(65.0, rel=1e-3)
    assert power[20.0] == pytest.approx(20.0, rel=1e-3)


def test_every_parameter_has_a_method_and_reuses_the_passport_keys(cycle_estimate):
    from batteryloop.passport.attributes import attributes

    d = cycle_estimate.as_dict()
    table = attributes()
    params = {k: v for k, v in d.items() if isinstance(v, dict) and "method" in v}
    for key in (
        "remaining_capacity_Ah",
        "capacity_fade_pct",
        "state_of_certified_energy_pct",
        "remaining_energy_kWh",
        "remaining_power_capability",
        "power_fade_pct",
        "remaining_round_trip_efficiency_pct",
        "round_trip_efficiency_fade_pct",
        "current_self_discharge_rate_pct_per_month",
        "evolution_of_self_discharge_pct",
        "ohmic_resistance_mOhm",
        "internal_resistance_increase_pct",
        "energy_throughput_kWh",
        "capacity_throughput_Ah",
        "full_equivalent_cycles",
        "deep_discharge_events",
        "time_extreme_high_temperature_h",
        "time_extreme_low_temperature_h",
        "time_charging_extreme_high_temperature_h",
        "time_charging_extreme_low_temperature_h",
        "putting_into_service_date",
    ):
        assert key in table, key
        assert params[key]["method"], key
        assert params[key]["value"] is not None or params[key]["note"], key
    for key in params:
        assert key in table, f"{key} is not a passport attribute"
    # values the data cannot give say why (no begin-of-life resistance, no long rest)
    assert d["internal_resistance_increase_pct"]["value"] is None
    assert "--initial-resistance-mOhm" in d["internal_resistance_increase_pct"]["note"]


def test_passport_values_are_what_update_dynamic_takes(cycle_estimate):
    from batteryloop.passport.attributes import validate_values

    values, skipped = cycle_estimate.passport_values("ev")
    assert "remaining_capacity_Ah" in values
    assert set(values["remaining_capacity_Ah"]) <= {"value", "method", "uncertainty", "measured_at"}
    assert values["remaining_capacity_Ah"]["measured_at"].endswith("Z")
    assert "internal_resistance_increase_pct" in skipped
    validate_values({k: v["value"] for k, v in values.items()}, "ev", only_dynamic=True)


def test_stated_begin_of_life_values_give_fades():
    est = estimate(
        reference_cycle(),
        nominal_capacity_Ah=2.0,
        chemistry="NMC",
        ocv_table=LINEAR,
        reference=Reference(initial_resistance_mOhm=40.0, initial_round_trip_efficiency_pct=95.0),
    )
    d = est.as_dict()
    assert d["internal_resistance_increase_pct"]["value"] == pytest.approx(25.0, rel=1e-3)
    assert d["power_fade_pct"]["value"] == pytest.approx(100 * (1 - 40 / 50), rel=1e-3)
    assert d["round_trip_efficiency_fade_pct"]["value"] == pytest.approx(100 * (1 - (6.5 / 6.9) / 0.95), rel=1e-5)


def test_ocv_windows_give_the_capacity_of_two_reference_cycles():
    one = reference_cycle()
    two = pl.concat([one, one.with_columns(pl.col("timestamp") + timedelta(hours=5))])
    s = from_frame(two, rest_current_A=0.04, max_gap_s=120)
    rests = capacity.rest_periods(s, 1800)
    assert len(rests) == 5  # the last rest of the first cycle runs into the first rest of the second
    anchors = capacity.ocv_anchors(s, rests, LINEAR, tail_s=300)
    fit = capacity.fit_capacity(
        s, anchors, max_window_h=48, min_window_span_Ah=0.1, min_windows=3, min_trend_days=30, outlier_sigma=4
    )
    assert fit is not None
    assert fit.capacity_Ah == pytest.approx(2.0, rel=1e-6)


def test_deep_discharge_events_are_counted_not_samples():
    v = np.array(
        [3.0] * 5 + [2.45] * 3 + [3.0] * 5 + [2.49, 2.52, 2.49, 2.53, 2.49] + [3.0] * 5 + [2.3] + [3.0] * 3,
        dtype=float,
    )
    s = from_frame(frame_of(np.zeros(v.size), v), rest_current_A=0.01, max_gap_s=120)
    events = annex_vii.deep_discharge_events(s, 2.5, 0.05)
    assert events.count == 3  # the noisy dip near the cut-off never recovers by 0.05 V: one event
    assert list(events.lowest_V) == pytest.approx([2.45, 2.49, 2.3])
    assert list(events.start_s) == [5.0, 13.0, 23.0]
    # a pack of 4 cells: the same in pack volts
    s4 = from_frame(frame_of(np.zeros(v.size), 4 * v), rest_current_A=0.01, max_gap_s=120, cells_in_series=4)
    assert annex_vii.deep_discharge_events(s4, 2.5, 0.05).count == 3
    # the lowest cell voltage takes precedence over the mean
    cmin = np.where(np.arange(v.size) == 2, 2.0, 3.0)
    s_min = from_frame(frame_of(np.zeros(v.size), v, cell_voltage_min_V=cmin), rest_current_A=0.01, max_gap_s=120)
    assert annex_vii.deep_discharge_events(s_min, 2.5, 0.05).count == 1
    # with a margin, a dip of 10 mV (a normal end of discharge) is not an event; 50 and 200 mV are
    assert annex_vii.deep_discharge_events(s, 2.5, 0.05, margin_V=0.02).count == 2
    assert list(annex_vii.deep_discharge_events(s, 2.5, 0.05, margin_V=0.02).lowest_V) == pytest.approx([2.45, 2.3])


def test_time_in_extreme_temperatures():
    hour = 3600
    temp = np.concatenate([np.full(hour, 25.0), np.full(hour, 65.0), np.full(hour, -25.0), np.full(hour, -5.0)])
    current = np.concatenate([np.zeros(hour), np.full(hour // 2, 1.0), np.zeros(hour // 2), np.zeros(hour)])
    current = np.concatenate([current, np.full(hour // 2, 1.0), np.zeros(hour // 2)])
    s = from_frame(frame_of(current, np.full(current.size, 3.7), temp), rest_current_A=0.02, max_gap_s=120)
    exp = annex_vii.temperature_exposure(s, operating_min_C=-20, operating_max_C=60, charge_min_C=0, charge_max_C=45)
    assert exp is not None
    assert exp.high_s / hour == pytest.approx(1.0)
    assert exp.low_s / hour == pytest.approx(1.0)
    assert exp.charging_high_s / hour == pytest.approx(0.5)
    assert exp.charging_low_s / hour == pytest.approx(0.5)
    assert exp.high_uncertainty_s == pytest.approx(math.sqrt(2 / 12))  # two changes of state, 1 s apart each
    # the pipeline reports the same in hours, with NMC's ranges from rules/chemistry.csv
    d = estimate(frame_of(current, np.full(current.size, 3.7), temp), nominal_capacity_Ah=1.0, chemistry="NMC")
    assert d.value("time_extreme_high_temperature_h") == pytest.approx(1.0)
    assert d.value("time_charging_extreme_low_temperature_h") == pytest.approx(0.5)
    # a gap longer than max_gap_s is not counted as time in any state
    with_gap = frame_of(current, np.full(current.size, 3.7), temp).with_columns(
        pl.when(pl.int_range(pl.len()) >= hour + 10)
        .then(pl.col("timestamp") + timedelta(hours=10))
        .otherwise(pl.col("timestamp"))
    )
    s_gap = from_frame(with_gap, rest_current_A=0.02, max_gap_s=120)
    exp_gap = annex_vii.temperature_exposure(
        s_gap, operating_min_C=-20, operating_max_C=60, charge_min_C=0, charge_max_C=45
    )
    assert exp_gap is not None
    assert exp_gap.high_s / hour == pytest.approx(1.0 - 1.0 / hour)  # the 1 s interval replaced by the gap is lost


def test_step_resistance_with_noise_and_pack_voltage():
    rng = np.random.default_rng(3)
    n = 20_000
    levels = rng.choice([-20.0, -5.0, 0.0, 8.0], size=n // 20)
    current = np.repeat(levels, 20)
    r_pack = 0.012 * 96  # 96 cells of 12 mOhm
    voltage = 96 * 3.7 + current * r_pack + rng.uniform(-0.01, 0.01, n)
    s = from_frame(frame_of(current, voltage), rest_current_A=0.5, max_gap_s=120, cells_in_series=96)
    steps = resistance.current_steps(s, min_step_A=2.0, min_dt_s=1.0, max_dt_s=10.0, steady_fraction=0.1)
    assert len(steps) > 200
    fit = annex_vii.trend(
        s.time_s[steps.reading],
        steps.resistance_Ohm,
        steps.delta_I_A**2,
        sigma_known=False,
        min_span_s=30 * 86400,
        min_count=3,
        outlier_sigma=4,
    )
    assert fit is not None
    assert fit.value == pytest.approx(r_pack, rel=2e-3)
    assert fit.uncertainty < 0.002 * r_pack


def test_steps_slower_than_ten_seconds_are_not_read():
    current = np.repeat([0.0, 5.0, 0.0, 5.0, 0.0], 10)
    voltage = 3.7 + 0.02 * current
    df = frame_of(current, voltage).with_columns(
        (pl.lit(START) + pl.duration(seconds=pl.int_range(pl.len()) * 30)).alias("timestamp")
    )
    s = from_frame(df, rest_current_A=0.1, max_gap_s=120)
    assert len(resistance.current_steps(s, min_step_A=1.0, min_dt_s=1.0, max_dt_s=10.0, steady_fraction=0.1)) == 0


def test_self_discharge_from_long_rests():
    table = default_table("NMC")
    cell = Cell(capacity_Ah=5.0, table=table, r0_Ohm=0.02, soc_pct=60.0, dt_s=60.0, self_discharge_pct_per_month=3.0)
    for _ in range(6):
        cell.rest(24 * 3600)
        cell.cc(-2.5, duration_s=600)
        cell.cc(2.5, duration_s=600)
    df = cell.frame()
    s = from_frame(df, rest_current_A=0.1, max_gap_s=120)
    rests = capacity.rest_periods(s, 6 * 3600)
    rates = annex_vii.self_discharge_rates(s, rests, table, skip_s=3600, tail_s=300)
    assert rates.time_s.size == 6
    assert np.median(rates.rate_pct_per_month) == pytest.approx(3.0, rel=0.02)
    est = estimate(
        df, nominal_capacity_Ah=5.0, chemistry="NMC", reference=Reference(initial_self_discharge_rate_pct_per_month=2.0)
    )
    assert est.value("current_self_discharge_rate_pct_per_month") == pytest.approx(3.0, rel=0.02)
    assert est.value("evolution_of_self_discharge_pct") == pytest.approx(50.0, abs=3.0)


def test_trend_recovers_a_linear_drift_and_its_start():
    t = np.linspace(0, 200 * 86400, 400)
    y = 100.0 - 0.05 * t / 86400
    fit = annex_vii.trend(t, y, np.ones(t.size), sigma_known=False, min_span_s=30 * 86400, min_count=3, outlier_sigma=4)
    assert fit is not None and fit.trend
    assert fit.value == pytest.approx(90.0)
    assert fit.start_value == pytest.approx(100.0)
    y[17] = 500.0  # an outlier is left out
    fit = annex_vii.trend(t, y, np.ones(t.size), sigma_known=False, min_span_s=30 * 86400, min_count=3, outlier_sigma=4)
    assert fit is not None and fit.outliers == 1
    assert fit.value == pytest.approx(90.0)


def test_uncovered_gap_with_current_is_not_counted_and_reported():
    current = np.full(600, -1.0)
    df = frame_of(current, np.full(600, 3.6)).with_columns(
        pl.when(pl.int_range(pl.len()) >= 300)
        .then(pl.col("timestamp") + timedelta(hours=1))
        .otherwise(pl.col("timestamp"))
    )
    est = estimate(df, nominal_capacity_Ah=1.0, chemistry="NMC")
    tp = est.details["throughput"]
    assert tp["charge_out_Ah"] == pytest.approx(598 / 3600)  # 299 + 299 one-second intervals
    assert tp["uncovered_h"] == pytest.approx(3601 / 3600)
    assert est.parameters["capacity_throughput_Ah"].uncertainty > 0
    assert "could not be counted" in est.parameters["capacity_throughput_Ah"].method


def test_method_settings_are_data_with_sources():
    from batteryloop.health.settings import sources

    cfg = defaults()
    table = sources()
    for name in cfg.as_dict():
        _, source = table[name]
        assert source, name
    assert cfg.resistance_max_dt_s == 10.0
