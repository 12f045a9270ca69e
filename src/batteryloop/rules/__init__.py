"""Rules and thresholds as data, each row with its source: read them here, never as literals in code.

``chemistry.csv``: per chemistry the cell voltage window (the deep-discharge limit is the lower cut-off), the
temperature range for charging and for operation (outside them is "extreme" in the sense of Annex VII Part B(4)),
with the datasheet or paper each number comes from.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from batteryloop.errors import ValidationError


@dataclass(frozen=True)
class ChemistryLimits:
    chemistry: str
    cell_voltage_min_V: float
    cell_voltage_nominal_V: float
    cell_voltage_max_V: float
    charge_temperature_min_C: float
    charge_temperature_max_C: float
    operating_temperature_min_C: float
    operating_temperature_max_C: float
    source: str
    confidence: str
    note: str


@cache
def chemistries() -> dict[str, ChemistryLimits]:
    text = resources.files("batteryloop.rules").joinpath("chemistry.csv").read_text(encoding="utf-8")
    out: dict[str, ChemistryLimits] = {}
    for row in csv.DictReader(io.StringIO(text)):
        floats = {k: float(v) for k, v in row.items() if k.endswith(("_V", "_C"))}
        out[row["chemistry"]] = ChemistryLimits(
            chemistry=row["chemistry"], source=row["source"], confidence=row["confidence"], note=row["note"], **floats
        )
    return out


def chemistry(name: str) -> ChemistryLimits:
    """The limits of a chemistry (NMC, NCA, LFP, LCO, LMO; case does not matter)."""
    table = chemistries()
    key = name.strip().upper()
    if key not in table:
        raise ValidationError(
            f"unknown chemistry {name!r}", field="chemistry", expected="one of " + ", ".join(sorted(table))
        )
    return table[key]
