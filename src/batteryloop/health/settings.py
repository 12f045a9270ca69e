"""The method parameters of the health estimates, read from ``method_defaults.csv`` (each row with its reason).

Thresholds are data, not literals in code: :func:`defaults` gives the values of the CSV, and a caller may replace any
of them (``dataclasses.replace(defaults(), min_rest_s=3600)``) and the result records what was used.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class MethodSettings:
    """Method parameters; see ``method_defaults.csv`` for the unit and the reason of each."""

    rest_current_C_rate: float
    min_rest_s: float
    rest_tail_s: float
    ocv_table_uncertainty_V: float
    max_gap_s: float
    max_window_h: float
    bms_soc_min_interval_s: float
    min_windows: int
    full_discharge_voltage_margin_V: float
    resistance_step_C_rate: float
    resistance_min_dt_s: float
    resistance_max_dt_s: float
    resistance_steady_fraction: float
    resistance_temperature_min_C: float
    resistance_temperature_max_C: float
    self_discharge_min_rest_s: float
    self_discharge_skip_s: float
    energy_reference_C_rate: float
    power_soc_pct: tuple[float, ...]
    min_trend_days: float
    outlier_sigma: float
    min_window_span_pct: float
    deep_discharge_hysteresis_V: float
    deep_discharge_margin_V: float
    efficiency_group_cycles: float

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["power_soc_pct"] = list(self.power_soc_pct)
        return out


@cache
def sources() -> dict[str, tuple[str, str]]:
    """``name -> (unit, source)`` of every method parameter."""
    return {row["name"]: (row["unit"], row["source"]) for row in _rows()}


def _rows() -> list[dict[str, str]]:
    text = resources.files("batteryloop.health").joinpath("method_defaults.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@cache
def defaults() -> MethodSettings:
    """The method parameters of ``method_defaults.csv``."""
    raw = {row["name"]: row["value"] for row in _rows()}
    values: dict[str, Any] = {}
    for f in fields(MethodSettings):
        text = raw[f.name]
        if f.name == "power_soc_pct":
            values[f.name] = tuple(float(x) for x in text.split(";"))
        elif f.type == "int":
            values[f.name] = int(text)
        else:
            values[f.name] = float(text)
    return MethodSettings(**values)
