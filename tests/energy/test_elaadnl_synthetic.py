"""The package's own parametric charging statistics: the ElaadNL layout, sampled like the real ones, in the same
ballpark as the ElaadNL statistics where ../shared is present, and the fallback where it is not."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from batteryloop.energy import elaadnl
from batteryloop.energy.elaadnl import (
    LOCATIONS,
    SYNTHETIC_SOURCE,
    ElaadStats,
    default_stats,
    ev_model_rows,
    is_synthetic,
    load_stats,
    sample_sessions,
    session_parameters,
    synthetic_stats,
)
from batteryloop.energy.fleet import defaults
from batteryloop.errors import ImportFormatError
from tests.conftest import shared_path

WEDNESDAY = date(2024, 6, 12)
SATURDAY = date(2024, 6, 15)
N = 20_000

# tolerances of "the same ballpark": the synthetic model is a stylised fit, not the data
STAY_TOLERANCE = 0.20  # relative, mean connection time of sampled sessions
ENERGY_TOLERANCE = 0.20  # relative, mean energy delivered per sampled session
PEAK_HOURS_WEEKDAY = 1  # hours between the busiest arrival hours
PEAK_HOURS_WEEKEND = 2


def _stay_h(stats: ElaadStats, day: date, loc: str) -> tuple[float, float]:
    fleet = sample_sessions(N, day, seed=5, mix={loc: 1.0}, stats=stats)
    stay = (fleet.sessions.departure - fleet.sessions.arrival).astype("timedelta64[s]").astype(np.float64) / 3600.0
    return float(stay.mean()), float(fleet.sessions.energy_kWh.mean())


def _peak_hour(pct: np.ndarray) -> int:
    return int(np.argmax(pct.reshape(24, 4).sum(axis=1)))


def _hours_apart(a: int, b: int) -> int:
    return min(abs(a - b), 24 - abs(a - b))


@pytest.fixture(scope="module")
def real() -> ElaadStats:
    return load_stats(shared_path("grid", "elaadnl_ev_charging_stats"))


def test_the_synthetic_statistics_have_the_elaadnl_layout() -> None:
    s = synthetic_stats()
    assert s.source == SYNTHETIC_SOURCE and "synthetic" in s.source and is_synthetic(s)
    for loc in LOCATIONS:
        for table in (s.arrival_weekday_pct[loc], s.arrival_weekend_pct[loc]):
            assert table.shape == (96,) and np.all(table >= 0)
            assert table.sum() == pytest.approx(100.0)
        for table, top in ((s.connection_h[loc], 72.0), (s.demand_kWh[loc], 100.0)):
            assert table.shape == (101,)
            assert table[0] == top and table[-1] == 0.0
            assert np.all(np.diff(table) <= 1e-12)  # exceeded by more events -> smaller
        assert s.mean_session_h[loc].shape == (48,) and s.mean_demand_kWh[loc].shape == (48,)
    # the workplace chart is blank at night, as in the ElaadNL data
    assert np.isnan(s.mean_session_h["work"][0]) and np.isfinite(s.mean_session_h["work"][16])
    assert len(s.models.names) == len(ev_model_rows()) and np.all(s.models.ac_discharge_kW == 0)
    assert set(s.v2g_models.names) <= set(s.models.names) and np.all(s.v2g_models.ac_discharge_kW > 0)


def test_a_lognormal_quantile_table_reads_back_its_median() -> None:
    """The table is an exceedance table: at p = 50 the median of the mixture (checked for one component)."""
    table = elaadnl._lognormal_mixture_table([(1.0, 5.0, 0.5)], 72.0)
    assert table[50] == pytest.approx(5.0, rel=1e-3)
    # 16 % of events exceed median * exp(sigma) (one standard deviation in log space)
    assert elaadnl._quantile_draw(table, np.array([0.1587]))[0] == pytest.approx(5.0 * np.exp(0.5), rel=0.01)


def test_gamma_demand_table_has_the_parameter_mean() -> None:
    p = session_parameters()
    s = synthetic_stats()
    for loc in LOCATIONS:
        mean = p[(loc, "all", "demand_mean_kWh")][0.0]
        # the top 1 % is clipped at 100 kWh and the trapezoids are coarse in the tail: within 5 %
        assert s.quantile_mean(s.demand_kWh, loc) == pytest.approx(mean, rel=0.05)


def test_sample_sessions_draws_from_the_synthetic_statistics() -> None:
    s = synthetic_stats()
    fleet = sample_sessions(2000, WEDNESDAY, seed=1, stats=s)
    sessions = fleet.sessions
    assert len(sessions.arrival) == 2000
    assert np.all(sessions.departure > sessions.arrival)
    d = defaults()  # the energy is drawn from the grid: at most the battery's window over the charge efficiency
    assert np.all(sessions.energy_kWh >= 0)
    assert np.all(sessions.energy_kWh <= sessions.battery_kWh * d["max_soc"] / d["charge_efficiency"] + 1e-9)
    assert set(fleet.model) <= set(s.models.names)
    stay_h = (sessions.departure - sessions.arrival).astype("timedelta64[s]").astype(np.float64) / 3600.0
    assert np.all(sessions.energy_kWh <= sessions.max_charge_kW * stay_h + 1e-6)
    v2g = sample_sessions(500, WEDNESDAY, seed=1, v2g=True, stats=s)
    assert set(v2g.model) <= set(s.v2g_models.names) and np.all(v2g.sessions.max_discharge_kW > 0)
    # reproducible
    again = sample_sessions(2000, WEDNESDAY, seed=1, stats=s)
    assert np.array_equal(again.sessions.arrival, sessions.arrival)


@pytest.mark.parametrize("loc", LOCATIONS)
def test_synthetic_sessions_are_in_the_ballpark_of_the_elaadnl_statistics(real: ElaadStats, loc: str) -> None:
    synth = synthetic_stats()
    real_stay, real_energy = _stay_h(real, WEDNESDAY, loc)
    synth_stay, synth_energy = _stay_h(synth, WEDNESDAY, loc)
    print(f"{loc}: stay {synth_stay:.2f} h vs {real_stay:.2f} h; energy {synth_energy:.2f} vs {real_energy:.2f} kWh")
    assert synth_stay == pytest.approx(real_stay, rel=STAY_TOLERANCE)
    assert synth_energy == pytest.approx(real_energy, rel=ENERGY_TOLERANCE)
    assert _hours_apart(_peak_hour(synth.arrival_weekday_pct[loc]), _peak_hour(real.arrival_weekday_pct[loc])) <= (
        PEAK_HOURS_WEEKDAY
    )
    assert _hours_apart(_peak_hour(synth.arrival_weekend_pct[loc]), _peak_hour(real.arrival_weekend_pct[loc])) <= (
        PEAK_HOURS_WEEKEND
    )
    weekend_stay, _ = _stay_h(synth, SATURDAY, loc)
    real_weekend_stay, _ = _stay_h(real, SATURDAY, loc)
    assert weekend_stay == pytest.approx(real_weekend_stay, rel=STAY_TOLERANCE)


def test_the_model_table_is_close_to_the_public_battery_capacities_in_the_shared_specs(real: ElaadStats) -> None:
    """Where a model of the package's table is also in the shared specifications, the capacity agrees within 5 %."""
    synth = synthetic_stats().models
    both = 0
    for name, capacity in zip(synth.names, synth.battery_kWh, strict=True):
        if name in real.models.names:
            both += 1
            assert capacity == pytest.approx(real.models.battery_kWh[real.models.names.index(name)], rel=0.05), name
    assert both >= 5


def test_default_stats_is_the_shared_folder_or_the_synthetic_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = elaadnl.default_dir()  # the shared folder of this checkout, if any
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(tmp_path))  # an empty folder: a fresh clone
    assert elaadnl.default_dir() is None
    assert default_stats() is synthetic_stats()
    with pytest.raises(ImportFormatError) as exc:
        load_stats()
    assert "elaadnl_ev_charging_stats" in str(exc.value) and "synthetic_stats" in str(exc.value.expected)
    fleet = sample_sessions(50, WEDNESDAY, seed=2)  # no stats given: the default
    assert set(fleet.model) <= set(synthetic_stats().models.names)
    if real is None:
        return  # no shared data here: the fallback half above is the test
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(real.parents[1]))
    assert elaadnl.default_dir() == real
    assert not is_synthetic(default_stats()) and default_stats().source == str(real)


def test_a_bad_parameter_row_names_the_line_and_field() -> None:
    header = "location,daytype,parameter,index,value,unit,source\n"
    with pytest.raises(ImportFormatError) as exc:
        session_parameters(header + "home,all,demand_shape,,1.8,1,ok\nhome,all,demand_mean_kWh,,lots,kWh,ok\n")
    assert "synthetic_sessions.csv:3: index/value" in str(exc.value.problems[0].field)
    with pytest.raises(ImportFormatError) as exc:
        session_parameters(header + "garage,all,demand_shape,,1.8,1,ok\n")
    assert exc.value.problems[0].field == "synthetic_sessions.csv:2: location"
    with pytest.raises(ImportFormatError) as exc:
        session_parameters(header + "home,all,demand_shape,,1.8,1,\n")
    assert exc.value.problems[0].field == "synthetic_sessions.csv:2: source"
    models = "name,weight,battery_kWh,ac_charge_kW,v2g_ac_kW,spec_source,weight_source\n"
    with pytest.raises(ImportFormatError) as exc:
        ev_model_rows(models + "Car,1,-5,11,0,spec,weight\n")
    assert exc.value.problems[0].field == "synthetic_ev_models.csv:2: battery_kWh"


def test_every_parameter_and_model_cites_a_source() -> None:
    assert all(r["spec_source"] and r["weight_source"] for r in ev_model_rows())
    assert session_parameters()  # raises on a row without a source
