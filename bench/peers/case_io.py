"""The dispatch case exchanged between bench/energy_peers.py and the peer scripts (JSON, standard library only).

Case (input)::

    {"step_minutes": 60,
     "timestamps": ["2023-12-31T23:00:00Z", ...],        interval starts, UTC, a regular grid
     "price_eur_per_MWh": [.., null, ..],                null: no price (the step is idle: no charge, no discharge)
     "asset": {"power_MW", "energy_MWh", "charge_efficiency", "discharge_efficiency",
               "soc_min", "soc_max", "soc_start", "soc_end"},   fractions of energy_MWh
     "windows": [[lo, hi], ...],                         optimised one after the other, state of charge carried;
                                                         [[0, T]] is the whole period with perfect foresight
     "schedule": true}                                   return the schedule per step

Result (output): ``peer``, ``versions``, ``import_s`` (loading the peer's modules), per window ``build_s``,
``solve_s``, ``total_s``, ``status``, ``objective_eur`` (the peer's own objective, as revenue), and for the whole run
``revenue_eur`` (computed here from the peer's schedule, the same way for every peer), ``soc_end_MWh``,
``simultaneous_steps`` and optionally ``charge_MW``, ``discharge_MW``, ``soc_MWh``.
"""

from __future__ import annotations

import json
import math
import sys
from importlib import metadata
from typing import Any


def read_case(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        case: dict[str, Any] = json.load(f)
    return case


def versions(*names: str) -> dict[str, str]:
    out: dict[str, str] = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def revenue(price: list[float | None], charge: list[float], discharge: list[float], dt_h: float) -> float:
    """Revenue in EUR of a schedule (MW, AC side) at the prices (EUR/MWh); steps without a price count zero."""
    return sum(dt_h * p * (d - c) for p, c, d in zip(price, charge, discharge, strict=True) if p is not None)


def simultaneous(charge: list[float], discharge: list[float], tol: float = 1e-6) -> int:
    return sum(1 for c, d in zip(charge, discharge, strict=True) if c > tol and d > tol)


def write_result(path: str, result: dict[str, Any]) -> None:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    for key in ("charge_MW", "discharge_MW", "soc_MWh"):
        if key in result:
            result[key] = [clean(float(v)) for v in result[key]]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f)


def main_args() -> tuple[str, str]:
    if len(sys.argv) != 3:
        raise SystemExit(f"usage: {sys.argv[0]} CASE.json RESULT.json")
    return sys.argv[1], sys.argv[2]
