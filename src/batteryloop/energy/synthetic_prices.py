"""A synthetic year of Dutch-like hourly day-ahead prices, made by the package itself.

Real prices come from a price file (:func:`batteryloop.energy.prices.load_prices`), such as the Dutch day-ahead series
in ``../shared/data``. Where no such file is at hand (a fresh clone, the demo on a new machine) the pages and the demo
use this series instead and say so. It is a stylised model, not a forecast and not a copy of any market data:

    price(t) = mean * level[month] * shape[hour] * (weekend_factor on Sat/Sun)
               - solar_dip * sun(hour, month) * (1 on weekdays, 1.5 on weekends)
               + e(t),   e(t) = ar * e(t-1) + noise_sd * sqrt(1 - ar^2) * N(0, 1)

in local time (Europe/Amsterdam), floored at the market's minimum clearing price and rescaled so that the year's mean
is the calibration target. Every parameter is a row of ``synthetic_prices.csv`` with its source; all but the mean and
the floor are the project's own assumptions. The series is reproducible: the same year and seed give the same prices.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

import numpy as np

from batteryloop.energy.prices import LOCAL_TZ, PriceSeries

SOURCE = "synthetic Dutch-like day-ahead prices made by batteryloop (energy/synthetic_prices.csv), not market data"


@dataclass(frozen=True)
class Parameters:
    annual_mean: float
    month_level: tuple[float, ...]
    hour_shape: tuple[float, ...]
    weekend_factor: float
    solar_dip: float
    noise_sd: float
    noise_ar: float
    floor: float


@cache
def parameters() -> Parameters:
    text = resources.files("batteryloop.energy").joinpath("synthetic_prices.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    scalar = {r["parameter"]: float(r["value"]) for r in rows if not r["index"]}
    month = {int(r["index"]): float(r["value"]) for r in rows if r["parameter"] == "month_level"}
    hour = {int(r["index"]): float(r["value"]) for r in rows if r["parameter"] == "hour_shape"}
    if sorted(month) != list(range(1, 13)) or sorted(hour) != list(range(24)):
        raise ValueError("synthetic_prices.csv: month_level needs months 1-12 and hour_shape hours 0-23")
    return Parameters(
        annual_mean=scalar["annual_mean"],
        month_level=tuple(month[m] for m in range(1, 13)),
        hour_shape=tuple(hour[h] for h in range(24)),
        weekend_factor=scalar["weekend_factor"],
        solar_dip=scalar["solar_dip"],
        noise_sd=scalar["noise_sd"],
        noise_ar=scalar["noise_ar"],
        floor=scalar["floor"],
    )


def synthetic_day_ahead(year: int, *, seed: int = 2024) -> PriceSeries:
    """Hourly prices [EUR/MWh] for every hour of ``year`` (UTC interval starts), see the module text."""
    p = parameters()
    start = np.datetime64(datetime(year, 1, 1, tzinfo=UTC).replace(tzinfo=None), "h")
    end = np.datetime64(datetime(year + 1, 1, 1, tzinfo=UTC).replace(tzinfo=None), "h")
    stamps = np.arange(start, end, np.timedelta64(1, "h"))
    zone = ZoneInfo(LOCAL_TZ)
    local = [datetime.fromtimestamp(int(s.astype("datetime64[s]").astype(np.int64)), tz=zone) for s in stamps]
    month = np.array([t.month for t in local])
    hour = np.array([t.hour for t in local])
    weekend = np.array([t.weekday() >= 5 for t in local])
    day_of_year = np.array([t.timetuple().tm_yday for t in local])

    level = np.asarray(p.month_level)[month - 1] * np.asarray(p.hour_shape)[hour]
    level = np.where(weekend, level * p.weekend_factor, level)
    # the sun: height over the day (cosine of the hour angle around 13:00 local time) times the season's day length
    day_length = 0.5 + 0.5 * np.cos(2 * np.pi * (day_of_year - 172) / 365.25)
    sun = np.clip(np.cos((hour - 13) * np.pi / 12 * 1.6), 0.0, None) * day_length
    dip = p.solar_dip * sun * np.where(weekend, 1.5, 1.0)

    rng = np.random.default_rng(seed + year)
    shocks = rng.standard_normal(len(stamps)) * p.noise_sd * np.sqrt(1 - p.noise_ar**2)
    noise = np.empty(len(stamps))
    previous = 0.0
    for i, shock in enumerate(shocks):
        previous = p.noise_ar * previous + shock
        noise[i] = previous

    base = level * p.annual_mean
    raw = base - dip + noise
    # rescale the shape part so that the year's mean is the calibration target, then apply the floor
    shape_mean = float(np.mean(base))
    shift = p.annual_mean - float(np.mean(raw))
    prices = raw + shift * base / shape_mean
    prices = np.maximum(prices, p.floor)
    prices += p.annual_mean - float(np.mean(prices))
    return PriceSeries(
        timestamps=stamps.astype("datetime64[us]"),
        values=np.round(prices, 2).astype(np.float64),
        step_minutes=60,
        source=SOURCE,
    )
