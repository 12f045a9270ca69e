"""Unit helpers.

Quantities carry their unit in their name (``rated_capacity_Ah``, ``battery_mass_kg``). Where a value arrives with a
unit of its own (``{"value": 51200, "unit": "mAh"}``, or a Catena-X ``unit:gram``), :func:`convert` turns it into the
attribute's unit or says why it cannot.

A small explicit table rather than a general units library: the passport needs a dozen linear units, the exporters
need the exact spellings of three data models (``unit:gram``, UN/CEFACT codes), and an explicit table keeps that
mapping reviewable in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from batteryloop.errors import ValidationError


@dataclass(frozen=True)
class Unit:
    symbol: str
    dimension: str
    factor: float  # multiply a value in this unit by ``factor`` to get the dimension's base unit
    offset: float = 0.0  # added after the factor (temperature only)


_UNITS: list[Unit] = [
    # charge, base Ah
    Unit("Ah", "charge", 1.0),
    Unit("mAh", "charge", 1e-3),
    Unit("kAh", "charge", 1e3),
    Unit("C", "charge", 1.0 / 3600.0),  # coulomb
    # energy, base kWh
    Unit("kWh", "energy", 1.0),
    Unit("Wh", "energy", 1e-3),
    Unit("MWh", "energy", 1e3),
    Unit("J", "energy", 1.0 / 3.6e6),
    Unit("MJ", "energy", 1.0 / 3.6),
    # power, base W
    Unit("W", "power", 1.0),
    Unit("kW", "power", 1e3),
    Unit("MW", "power", 1e6),
    # voltage, base V
    Unit("V", "voltage", 1.0),
    Unit("mV", "voltage", 1e-3),
    Unit("kV", "voltage", 1e3),
    # current, base A
    Unit("A", "current", 1.0),
    Unit("mA", "current", 1e-3),
    # resistance, base Ohm
    Unit("Ohm", "resistance", 1.0),
    Unit("mOhm", "resistance", 1e-3),
    Unit("uOhm", "resistance", 1e-6),
    # mass, base kg
    Unit("kg", "mass", 1.0),
    Unit("g", "mass", 1e-3),
    Unit("mg", "mass", 1e-6),
    Unit("t", "mass", 1e3),
    # length, base mm
    Unit("mm", "length", 1.0),
    Unit("cm", "length", 10.0),
    Unit("m", "length", 1000.0),
    # temperature, base degC
    Unit("degC", "temperature", 1.0),
    Unit("K", "temperature", 1.0, -273.15),
    # time, base h
    Unit("h", "time", 1.0),
    Unit("min", "time", 1.0 / 60.0),
    Unit("s", "time", 1.0 / 3600.0),
    Unit("d", "time", 24.0),
    Unit("month", "time", 730.5),  # a mean Gregorian month, 365.25 d / 12
    Unit("a", "time", 8766.0),  # a Julian year, 365.25 d
    # ratios, base percent
    Unit("%", "ratio", 1.0),
    Unit("fraction", "ratio", 100.0),
    Unit("ppm", "ratio", 1e-4),
    # specific emissions, base kg CO2e per kWh
    Unit("kgCO2e/kWh", "specific_emission", 1.0),
    Unit("gCO2e/kWh", "specific_emission", 1e-3),
    Unit("kgCO2e", "emission", 1.0),
    Unit("tCO2e", "emission", 1e3),
    # rates and ratios of units
    Unit("1/h", "c_rate", 1.0),
    Unit("W/Wh", "power_energy_ratio", 1.0),
    Unit("%/month", "self_discharge", 1.0),
    Unit("%/d", "self_discharge", 30.4375),
    Unit("1", "count", 1.0),
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
    base = value * src.factor + src.offset
    return (base - dst.offset) / dst.factor


def dimension_of(symbol: str) -> str:
    return lookup(symbol).dimension
