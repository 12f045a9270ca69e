"""The battery asset that the dispatch optimiser schedules: power, energy, efficiencies, state-of-charge window."""

from __future__ import annotations

import math
from dataclasses import dataclass

from batteryloop.errors import Problem, collect


@dataclass(frozen=True)
class Asset:
    """One stationary battery behind a grid connection.

    Parameters
    ----------
    power_kW : float
        Rated power, the same for charge and discharge, at the AC side. [kW]
    energy_kWh : float
        Usable energy content at 100 % state of charge (the capacity the state of charge refers to). [kWh]
    charge_efficiency : float
        Fraction of the energy drawn from the grid that reaches the cells. [-]
    discharge_efficiency : float
        Fraction of the energy drawn from the cells that reaches the grid. [-]
    soc_min, soc_max : float
        State-of-charge window as fractions of ``energy_kWh``. [-]
    soc_start : float
        State of charge at the start of the horizon. [-]
    soc_end : float
        Least state of charge at the end of the horizon (and at the end of each window of a rolling horizon). [-]
    grid_limit_kW : float or None
        Limit of the grid connection in both directions; ``None`` for no limit beyond the battery's power. [kW]
    """

    power_kW: float
    energy_kWh: float
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    soc_min: float = 0.0
    soc_max: float = 1.0
    soc_start: float = 0.5
    soc_end: float = 0.5
    grid_limit_kW: float | None = None

    def __post_init__(self) -> None:
        problems: list[Problem] = []

        def positive(name: str, value: float) -> None:
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                problems.append(Problem(name, f"{value!r} is not a positive number", "a number > 0"))

        def fraction(name: str, value: float, *, open_low: bool = False) -> None:
            ok = isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1
            if ok and open_low and value == 0:
                ok = False
            if not ok:
                expected = "a fraction in (0, 1]" if open_low else "a fraction in [0, 1]"
                problems.append(Problem(name, f"{value!r} is out of range", expected))

        positive("power_kW", self.power_kW)
        positive("energy_kWh", self.energy_kWh)
        fraction("charge_efficiency", self.charge_efficiency, open_low=True)
        fraction("discharge_efficiency", self.discharge_efficiency, open_low=True)
        for name in ("soc_min", "soc_max", "soc_start", "soc_end"):
            fraction(name, getattr(self, name))
        if self.grid_limit_kW is not None:
            positive("grid_limit_kW", self.grid_limit_kW)
        if not problems:
            if self.soc_min >= self.soc_max:
                problems.append(Problem("soc_min", "is not below soc_max", f"soc_min < soc_max ({self.soc_max})"))
            for name in ("soc_start", "soc_end"):
                value = getattr(self, name)
                if not self.soc_min <= value <= self.soc_max:
                    problems.append(
                        Problem(
                            name,
                            f"{value} lies outside the state-of-charge window",
                            f"between soc_min {self.soc_min} and soc_max {self.soc_max}",
                        )
                    )
        collect(problems, "invalid battery asset")

    @property
    def round_trip_efficiency(self) -> float:
        """Charge times discharge efficiency. [-]"""
        return self.charge_efficiency * self.discharge_efficiency

    @property
    def usable_energy_kWh(self) -> float:
        """Energy between ``soc_min`` and ``soc_max``. [kWh]"""
        return (self.soc_max - self.soc_min) * self.energy_kWh

    @property
    def max_charge_kW(self) -> float:
        """Charge power allowed by the battery and the grid connection. [kW]"""
        return self.power_kW if self.grid_limit_kW is None else min(self.power_kW, self.grid_limit_kW)

    @property
    def max_discharge_kW(self) -> float:
        """Discharge power allowed by the battery and the grid connection. [kW]"""
        return self.max_charge_kW
