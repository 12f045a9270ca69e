"""Unit helpers.

Quantities carry their unit in their name (``rated_capacity_Ah``, ``battery_mass_kg``). Where a value arrives with a
unit of its own (``{"value": 51200, "unit": "mAh"}``, or a Catena-X ``unit:gram``), :func:`convert` turns it into the
attribute's unit or says why it cannot.

A small explicit table rather than a general units library: the passport needs a dozen linear units, the exporters
need the exact spellings of three data models (``unit:gram``, UN/CEFACT codes), and an explicit table keeps that
mapping reviewable in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from batteryloop.errors import ValidationError


@dataclass(frozen=True)
class Unit:
    symbol: str
    dimension: str
    factor: Fraction  # multiply a value in this unit by ``factor`` to get the dimension's base unit
    offset: Fraction = Fraction(0)  # added after the factor (temperature only)


_UNITS: list[Unit] = [
    # charge, base Ah
    Unit("Ah", "charge", Fraction("1.0")),
    Unit("mAh", "charge", Fraction("1e-3")),
    Unit("kAh", "charge", Fraction("1e3")),
    Unit("C", "charge", Fraction("1/3600")),  # coulomb
    # energy, base kWh
    Unit("kWh", "energy", Fraction("1.0")),
    Unit("Wh", "energy", Fraction("1e-3")),
    Unit("MWh", "energy", Fraction("1e3")),
    Unit("J", "energy", Fraction("1/3600000")),
    Unit("MJ", "energy", Fraction("5/18")),
    # power, base W
    Unit("W", "power", Fraction("1.0")),
    Unit("kW", "power", Fraction("1e3")),
    Unit("MW", "power", Fraction("1e6")),
    # voltage, base V
    Unit("V", "voltage", Fraction("1.0")),
    Unit("mV", "voltage", Fraction("1e-3")),
    Unit("kV", "voltage", Fraction("1e3")),
    # current, base A
    Unit("A", "current", Fraction("1.0")),
    Unit("mA", "current", Fraction("1e-3")),
    # resistance, base Ohm
    Unit("Ohm", "resistance", Fraction("1.0")),
    Unit("mOhm", "resistance", Fraction("1e-3")),
    Unit("uOhm", "resistance", Fraction("1e-6")),
    # mass, base kg
    Unit("kg", "mass", Fraction("1.0")),
    Unit("g", "mass", Fraction("1e-3")),
    Unit("mg", "mass", Fraction("1e-6")),
    Unit("t", "mass", Fraction("1e3")),
    # length, base mm
    Unit("mm", "length", Fraction("1.0")),
    Unit("cm", "length", Fraction("10.0")),
    Unit("m", "length", Fraction("1000.0")),
    # temperature, base degC
    Unit("degC", "temperature", Fraction("1.0")),
    Unit("K", "temperature", Fraction("1.0"), Fraction("-273.15")),
    # time, base h
    Unit("h", "time", Fraction("1.0")),
    Unit("min", "time", Fraction("1/60")),
    Unit("s", "time", Fraction("1/3600")),
    Unit("d", "time", Fraction("24.0")),
    Unit("month", "time", Fraction("730.5")),  # a mean Gregorian month, 365.25 d / 12
    Unit("a", "time", Fraction("8766.0")),  # a Julian year, 365.25 d
    # ratios, base percent
    Unit("%", "ratio", Fraction("1.0")),
    Unit("fraction", "ratio", Fraction("100.0")),
    Unit("ppm", "ratio", Fraction("1e-4")),
    # specific emissions, base kg CO2e per kWh
    Unit("kgCO2e/kWh", "specific_emission", Fraction("1.0")),
    Unit("gCO2e/kWh", "specific_emission", Fraction("1e-3")),
    Unit("kgCO2e", "emission", Fraction("1.0")),
    Unit("tCO2e", "emission", Fraction("1e3")),
    # rates and ratios of units
    Unit("1/h", "c_rate", Fraction("1.0")),
    Unit("W/Wh", "power_energy_ratio", Fraction("1.0")),
    Unit("%/month", "self_discharge", Fraction("1.0")),
    Unit("%/d", "self_discharge", Fraction("30.4375")),
    Unit("1", "count", Fraction("1.0")),
]

# Other spellings met in the data models (Catena-X ``unit:`` names from the SAMM unit catalogue, UN/CEFACT
# common codes used by the IDTA submodel templates) and by people.
_ALIASES: dict[str, str] = {
    "ampere hour": "Ah",
    "ampereHour": "Ah",
    "unit:ampereHour": "Ah",
    "AMH": "Ah",
    "milliampere hour": "mAh",
    "unit:milliampereHour": "mAh",
    "E09": "mAh",
    "unit:kilowattHour": "kWh",
    "KWH": "kWh",
    "unit:wattHour": "Wh",
    "WHR": "Wh",
    "unit:watt": "W",
    "WTT": "W",
    "unit:kilowatt": "kW",
    "KWT": "kW",
    "unit:volt": "V",
    "VLT": "V",
    "unit:millivolt": "mV",
    "unit:ohm": "Ohm",
    "OHM": "Ohm",
    "ohm": "Ohm",
    "Ω": "Ohm",
    "unit:milliohm": "mOhm",
    "mΩ": "mOhm",
    "unit:kilogram": "kg",
    "KGM": "kg",
    "unit:gram": "g",
    "GRM": "g",
    "unit:tonneMetricTon": "t",
    "unit:millimetre": "mm",
    "MMT": "mm",
    "unit:centimetre": "cm",
    "unit:metre": "m",
    "unit:degreeCelsius": "degC",
    "°C": "degC",
    "CEL": "degC",
    "unit:kelvin": "K",
    "unit:hour": "h",
    "HUR": "h",
    "unit:minute": "min",
    "unit:secondUnitOfTime": "s",
    "unit:day": "d",
    "unit:month": "month",
    "unit:year": "a",
    "ANN": "a",
    "DAY": "d",
    "percent": "%",
    "unit:percent": "%",
    "P1": "%",
    "unit:partPerMillion": "ppm",
    "kg CO2 / kWh": "kgCO2e/kWh",
    "kg CO2e / kWh": "kgCO2e/kWh",
    "kgCO2/kWh": "kgCO2e/kWh",
}

UNITS: dict[str, Unit] = {u.symbol: u for u in _UNITS}


def lookup(symbol: str) -> Unit:
    """The unit spelled ``symbol`` (a symbol or a known alias)."""
    key = symbol.strip()
    key = _ALIASES.get(key, key)
    unit = UNITS.get(key)
    if unit is None:
        raise ValidationError(f"unknown unit {symbol!r}", field="unit", expected=f"one of {', '.join(UNITS)}")
    return unit


def convert(value: float, from_unit: str, to_unit: str, *, field: str = "value") -> float:
    """Convert ``value`` from ``from_unit`` to ``to_unit``; both must measure the same dimension."""
    if not math.isfinite(value):
        raise ValidationError(f"{value} is not a finite number", field=field, expected="a finite number")
    src = lookup(from_unit)
    dst = lookup(to_unit)
    if src.dimension != dst.dimension:
        raise ValidationError(
            f"unit {from_unit!r} measures {src.dimension}, not {dst.dimension}",
            field=field,
            expected=f"a {dst.dimension} unit such as {dst.symbol}",
        )
    if src.symbol == dst.symbol:
        return value
    # Exact rational arithmetic, so that 2800 g is 2.8 kg and not 2.8000000000000003 kg.
    # A result beyond the float range is infinite, as in IEEE arithmetic; validation then refuses it as not finite.
    exact = (Fraction(value) * src.factor + src.offset - dst.offset) / dst.factor
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


def dimension_of(symbol: str) -> str:
    return lookup(symbol).dimension
