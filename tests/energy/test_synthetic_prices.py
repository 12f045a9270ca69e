"""The package's own synthetic Dutch-like prices: calibrated, reproducible, and close enough to the real 2024 year in
the features that matter for storage (daily spread, negative hours, the shape of the day)."""

from __future__ import annotations

import numpy as np
import pytest

from batteryloop.energy.prices import load_prices
from batteryloop.energy.synthetic_prices import SOURCE, parameters, synthetic_day_ahead
from tests.conftest import shared_path


def _daily(values: np.ndarray) -> np.ndarray:
    return values[: len(values) // 24 * 24].reshape(-1, 24)


def test_a_year_has_every_hour_and_the_calibrated_mean() -> None:
    series = synthetic_day_ahead(2024)
    assert len(series.values) == 8784  # a leap year
    assert series.gaps == []
    assert series.step_minutes == 60
    assert series.values.mean() == pytest.approx(parameters().annual_mean, abs=0.01)
    assert series.values.min() >= parameters().floor
    assert "not market data" in series.source and series.source == SOURCE
    assert len(synthetic_day_ahead(2025).values) == 8760


def test_the_same_year_and_seed_give_the_same_prices() -> None:
    assert np.array_equal(synthetic_day_ahead(2024).values, synthetic_day_ahead(2024).values)
    assert not np.array_equal(synthetic_day_ahead(2024).values, synthetic_day_ahead(2024, seed=7).values)


def test_the_day_has_an_evening_peak_and_a_midday_dip_in_summer() -> None:
    series = synthetic_day_ahead(2024)
    july = _daily(series.values[182 * 24 : 213 * 24]).mean(axis=0)  # UTC hours; local = UTC + 2 in summer
    assert july[17] > july[11] + 40  # 19:00 local above 13:00 local
    assert (series.values < 0).sum() > 50  # negative hours occur, on sunny middays


def test_close_to_the_real_2024_prices_in_spread_and_negative_hours() -> None:
    real = load_prices(shared_path("grid", "nl_dayahead_hourly", "nl_da_hourly_2015_2026_merged.csv"))
    start = np.datetime64("2024-01-01T00:00", "us")
    end = np.datetime64("2025-01-01T00:00", "us")
    inside = (real.timestamps >= start) & (real.timestamps < end)
    actual = real.values[inside]
    made = synthetic_day_ahead(2024).values
    assert made.mean() == pytest.approx(actual.mean(), rel=0.01)
    spread_real = np.ptp(_daily(actual), axis=1).mean()
    spread_made = np.ptp(_daily(made), axis=1).mean()
    assert spread_made == pytest.approx(spread_real, rel=0.25)
    assert 0.5 < (made < 0).sum() / (actual < 0).sum() < 1.5
