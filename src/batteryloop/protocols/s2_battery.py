"""A battery as an S2 (EN 50491-12-2) fill-rate-based (FRBC) device, both ways: description <-> battery.

The resource manager (RM) of a battery describes it to the Customer Energy Manager (CEM) with one actuator and three
operation modes, the fill level being the state of charge [%] over the usable energy:

========== =========================== ============================== ===========================================
mode       power range [W]             fill rate [%/s]                factor f in [0, 1]
========== =========================== ============================== ===========================================
charge     0 .. P                      0 .. 100 eta P / (3600 E)      power f P, fill rate f x end of range
idle       0 .. 0                      0 .. 0                         -
discharge  -P .. 0                     -100 P / (3600 eta E) .. 0     power -(1 - f) P (grid side)
========== =========================== ============================== ===========================================

``P`` [kW -> W] is the power, ``E`` [kWh] the usable energy, ``eta`` the one-way efficiency (charge and discharge
alike: the square root of the round-trip efficiency). FRBC interpolates power and fill rate linearly with the factor
between the start and end of each range (a range runs from low to high: s2-python checks it), so charging at ``c``
kW is factor ``c / P`` of the charge mode and discharging at ``d`` kW factor ``1 - d / P`` of the discharge mode. The
CEM reads the battery back from the description
alone: ``P`` from the power range, and from the two fill rates ``a = eta P / E`` and ``b = P / (eta E)``:
``eta = sqrt(a / b)`` and ``E = eta P / a``.

A battery known to batteryloop takes ``E`` and ``eta`` from its passport (:meth:`BatterySpec.from_passport`): usable
energy = rated energy (Annex XIII 1(g) / Annex VI) x state of health (capacity, Annex VII Part A(1)), round-trip
efficiency = the remaining round-trip efficiency (Annex VII Part A(3)) or else the initial one (Annex XIII 1(n)).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from s2python.common import NumberRange, PowerRange, Transition
from s2python.frbc import (
    FRBCActuatorDescription,
    FRBCOperationMode,
    FRBCOperationModeElement,
    FRBCStorageDescription,
    FRBCSystemDescription,
)

from batteryloop.errors import Problem, ValidationError, collect

POWER = "ELECTRIC.POWER.3_PHASE_SYMMETRIC"
MODES = ("charge", "idle", "discharge")


def message_id(message: object) -> uuid.UUID:
    """The ``message_id`` of an S2 message (the nil UUID for ReceptionStatus, which has none)."""
    value = getattr(message, "message_id", None)
    return value if isinstance(value, uuid.UUID) else uuid.UUID(int=0)


@dataclass(frozen=True)
class BatterySpec:
    """A battery for S2: power [kW], usable energy [kWh], one-way efficiency (0..1]."""

    power_kW: float
    energy_kWh: float
    efficiency: float
    name: str = "battery"

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.power_kW) and self.power_kW > 0):
            problems.append(Problem("power_kW", f"{self.power_kW!r}", "a number > 0 (kW)"))
        if not (math.isfinite(self.energy_kWh) and self.energy_kWh > 0):
            problems.append(Problem("energy_kWh", f"{self.energy_kWh!r}", "a number > 0 (kWh)"))
        if not (math.isfinite(self.efficiency) and 0 < self.efficiency <= 1):
            problems.append(Problem("efficiency", f"{self.efficiency!r}", "0 < efficiency <= 1"))
        collect(problems, "invalid battery")

    @classmethod
    def from_passport(cls, values: Mapping[str, Any], *, power_kW: float, name: str = "battery") -> BatterySpec:
        """From passport attribute values (keys of passport/attributes.csv): ``rated_energy_kWh``,
        ``soh_capacity_pct`` and ``remaining_round_trip_efficiency_pct`` or ``initial_round_trip_efficiency_pct``."""

        def number(key: str, low: float, high: float) -> float | None:
            raw = values.get(key)
            if raw is None:
                return None
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise ValidationError(f"{raw!r} is not a number", field=key, expected=f"{low}..{high}") from None
            if not (math.isfinite(value) and low < value <= high):
                raise ValidationError(f"{value!r} is out of range", field=key, expected=f"{low} < value <= {high}")
            return value

        rated = number("rated_energy_kWh", 0.0, math.inf)
        soh = number("soh_capacity_pct", 0.0, 100.0)
        rte = number("remaining_round_trip_efficiency_pct", 0.0, 100.0)
        if rte is None:
            rte = number("initial_round_trip_efficiency_pct", 0.0, 100.0)
        problems = []
        if rated is None:
            problems.append(Problem("rated_energy_kWh", "missing", "the battery's rated energy (kWh)"))
        if soh is None:
            problems.append(Problem("soh_capacity_pct", "missing", "the state of health (capacity) in %"))
        if rte is None:
            problems.append(
                Problem(
                    "remaining_round_trip_efficiency_pct",
                    "missing (and no initial_round_trip_efficiency_pct)",
                    "the round-trip efficiency in %",
                )
            )
        collect(problems, "the passport lacks what the S2 resource manager needs")
        if rated is None or soh is None or rte is None:  # collect() raised above; this narrows the types
            raise ValidationError("incomplete passport", field="passport")
        return cls(power_kW, rated * soh / 100.0, math.sqrt(rte / 100.0), name)

    @property
    def charge_rate_pct_per_s(self) -> float:
        return 100.0 * self.efficiency * self.power_kW / (3600.0 * self.energy_kWh)

    @property
    def discharge_rate_pct_per_s(self) -> float:
        return 100.0 * self.power_kW / (3600.0 * self.efficiency * self.energy_kWh)


@dataclass(frozen=True)
class FrbcIds:
    actuator: uuid.UUID
    modes: dict[str, uuid.UUID]  # charge, idle, discharge

    @classmethod
    def new(cls) -> FrbcIds:
        return cls(uuid.uuid4(), {m: uuid.uuid4() for m in MODES})


def system_description(spec: BatterySpec, ids: FrbcIds, valid_from: datetime) -> FRBCSystemDescription:
    """The FRBC.SystemDescription of ``spec`` (see the module text)."""
    watts = spec.power_kW * 1000.0
    full = NumberRange(start_of_range=0.0, end_of_range=100.0)
    ranges = {  # (power from, to [W]), (fill rate from, to [%/s])
        "charge": ((0.0, watts), (0.0, spec.charge_rate_pct_per_s)),
        "idle": ((0.0, 0.0), (0.0, 0.0)),
        "discharge": ((-watts, 0.0), (-spec.discharge_rate_pct_per_s, 0.0)),
    }
    modes = [
        FRBCOperationMode(
            id=ids.modes[name],
            diagnostic_label=name,
            abnormal_condition_only=False,
            elements=[
                FRBCOperationModeElement(
                    fill_level_range=full,
                    fill_rate=NumberRange(start_of_range=rate[0], end_of_range=rate[1]),
                    power_ranges=[PowerRange(start_of_range=power[0], end_of_range=power[1], commodity_quantity=POWER)],
                )
            ],
        )
        for name, (power, rate) in ranges.items()
    ]
    transitions = [
        Transition(
            id=uuid.uuid4(),
            **{"from": ids.modes[a]},
            to=ids.modes[b],
            start_timers=[],
            blocking_timers=[],
            abnormal_condition_only=False,
        )
        for a in MODES
        for b in MODES
        if a != b
    ]
    return FRBCSystemDescription(
        message_id=uuid.uuid4(),
        valid_from=valid_from,
        actuators=[
            FRBCActuatorDescription(
                id=ids.actuator,
                diagnostic_label=spec.name,
                supported_commodities=["ELECTRICITY"],
                operation_modes=modes,
                transitions=transitions,
                timers=[],
            )
        ],
        storage=FRBCStorageDescription(
            diagnostic_label=spec.name,
            fill_level_label="state of charge [%]",
            provides_leakage_behaviour=False,
            provides_fill_level_target_profile=False,
            provides_usage_forecast=False,
            fill_level_range=full,
        ),
    )


def battery_from_description(desc: FRBCSystemDescription) -> tuple[BatterySpec, FrbcIds]:
    """The CEM's reading of a battery's FRBC.SystemDescription (see the module text). A description that is not a
    battery of this shape raises ValidationError naming the part."""
    if len(desc.actuators) != 1:
        raise ValidationError(f"{len(desc.actuators)} actuators", field="actuators", expected="one actuator")
    actuator = desc.actuators[0]
    found: dict[str, tuple[uuid.UUID, float, float]] = {}  # kind -> (id, power end [W], fill rate end [%/s])
    for k, mode in enumerate(actuator.operation_modes):
        if mode.abnormal_condition_only or len(mode.elements) != 1 or len(mode.elements[0].power_ranges) != 1:
            continue
        element = mode.elements[0]
        power, rate = element.power_ranges[0], element.fill_rate
        lo, hi = float(power.start_of_range), float(power.end_of_range)
        if lo == 0 and hi > 0 and rate.start_of_range == 0:
            found.setdefault("charge", (mode.id, hi, float(rate.end_of_range)))
        elif lo < 0 and hi == 0 and rate.end_of_range == 0:
            found.setdefault("discharge", (mode.id, lo, float(rate.start_of_range)))
        elif lo == hi == 0:
            found.setdefault("idle", (mode.id, 0.0, 0.0))
        else:
            raise ValidationError(
                f"power {lo} .. {hi} W, fill rate {rate.start_of_range} .. {rate.end_of_range} %/s",
                field=f"actuators[0].operation_modes[{k}]",
                expected="charge 0 .. P, idle 0 .. 0 or discharge -P .. 0 (fill rate alike)",
            )
    missing = [m for m in MODES if m not in found]
    if missing:
        raise ValidationError(
            f"no {', '.join(missing)} operation mode",
            field="actuators[0].operation_modes",
            expected="charge, idle, discharge modes with one power range each",
        )
    p_c, a = found["charge"][1], found["charge"][2]
    p_d, b = -found["discharge"][1], -found["discharge"][2]
    if a <= 0 or b <= 0 or abs(p_c - p_d) > 1e-6 * p_c:
        raise ValidationError(
            f"charge {p_c} W at {a} %/s, discharge {p_d} W at {b} %/s",
            field="actuators[0].operation_modes",
            expected="equal charge and discharge power, positive fill rates",
        )
    eta = math.sqrt(a / b)
    power_kW = p_c / 1000.0
    energy_kWh = 100.0 * eta * power_kW / (3600.0 * a)
    spec = BatterySpec(power_kW, energy_kWh, eta, actuator.diagnostic_label or "battery")
    return spec, FrbcIds(actuator.id, {m: found[m][0] for m in MODES})
