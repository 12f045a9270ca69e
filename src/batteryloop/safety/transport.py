"""ADR classification of a battery consignment: UN number, special provisions, packing instructions and marking.

Every figure and text comes from ``adr_rules.csv`` next to this module; each row there carries its source. The
classification is pure: it reads no database and no file beyond that table.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from batteryloop.errors import Problem, ValidationError

CHEMISTRIES = ("li-ion", "li-metal", "na-ion")
CONDITIONS = ("intact", "damaged", "critical", "waste")
PACKAGINGS = ("alone", "in-equipment", "with-equipment", "vehicle")
PURPOSES = ("disposal", "recycling")

_UN = {
    # (chemistry, packaging) -> UN number
    ("li-ion", "alone"): "UN3480",
    ("li-ion", "in-equipment"): "UN3481",
    ("li-ion", "with-equipment"): "UN3481",
    ("li-ion", "vehicle"): "UN3556",
    ("li-metal", "alone"): "UN3090",
    ("li-metal", "in-equipment"): "UN3091",
    ("li-metal", "with-equipment"): "UN3091",
    ("li-metal", "vehicle"): "UN3557",
    ("na-ion", "alone"): "UN3551",
    ("na-ion", "in-equipment"): "UN3552",
    ("na-ion", "with-equipment"): "UN3552",
    ("na-ion", "vehicle"): "UN3558",
}
_BATTERY_NAME = {
    "li-ion": "LITHIUM ION BATTERIES",
    "li-metal": "LITHIUM METAL BATTERIES",
    "na-ion": "SODIUM ION BATTERIES",
}


@dataclass(frozen=True)
class AdrRule:
    """One row of ``adr_rules.csv``."""

    item: str
    kind: str
    value: str
    unit: str
    text: str
    source: str

    def number(self) -> float:
        return float(self.value)

    def cite(self) -> dict[str, str]:
        return {"rule": self.item, "text": self.text, "source": self.source}


@cache
def adr_rules() -> dict[str, AdrRule]:
    """The ADR rule table shipped with the package, by item."""
    text = resources.files("batteryloop.safety").joinpath("adr_rules.csv").read_text(encoding="utf-8")
    return {row["item"]: AdrRule(**row) for row in csv.DictReader(text.splitlines())}


@dataclass(frozen=True)
class Consignment:
    """What is carried: one kind of cell or battery (figures per cell or battery) and its condition."""

    chemistry: str
    mass_kg: float
    energy_Wh: float
    condition: str
    packaging: str = "alone"
    cell: bool = False
    lithium_g: float | None = None
    purpose: str = "recycling"
    on: date | None = None

    def check(self) -> None:
        problems: list[Problem] = []

        def choice(name: str, value: str, options: tuple[str, ...]) -> None:
            if value not in options:
                problems.append(Problem(name, f"unknown value {value!r}", " | ".join(options)))

        choice("chemistry", self.chemistry, CHEMISTRIES)
        choice("condition", self.condition, CONDITIONS)
        choice("packaging", self.packaging, PACKAGINGS)
        choice("purpose", self.purpose, PURPOSES)
        for name, number in (("mass_kg", self.mass_kg), ("energy_Wh", self.energy_Wh), ("lithium_g", self.lithium_g)):
            if number is None:
                continue
            if not math.isfinite(number) or number < 0:
                problems.append(Problem(name, f"{number!r} is not a non-negative number", "a number >= 0"))
        if self.cell and self.packaging == "vehicle":
            problems.append(Problem("cell", "a vehicle is not a cell", "--cell without --vehicle"))
        if problems:
            raise ValidationError("the consignment cannot be classified", problems=problems)


@dataclass
class Classification:
    """The outcome: what the consignor writes on the transport document and the package."""

    un_number: str
    proper_shipping_name: str
    special_provisions: list[str] = field(default_factory=list)
    packing_instructions: list[str] = field(default_factory=list)
    marking: list[str] = field(default_factory=list)
    subject_to_adr: bool = True
    notes: list[str] = field(default_factory=list)
    citations: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "un_number": self.un_number,
            "proper_shipping_name": self.proper_shipping_name,
            "class": "9",
            "special_provisions": self.special_provisions,
            "packing_instructions": self.packing_instructions,
            "marking": self.marking,
            "subject_to_adr": self.subject_to_adr,
            "notes": self.notes,
            "citations": self.citations,
        }


def _sp188(c: Consignment, rules: dict[str, AdrRule]) -> tuple[bool | None, str]:
    """Whether the SP188 limits hold (None: cannot be decided from the inputs), and why."""
    what = "cell" if c.cell else "battery"
    if c.chemistry == "li-ion":
        limit = rules["SP188_LI_ION_CELL" if c.cell else "SP188_LI_ION_BATTERY"].number()
        return c.energy_Wh <= limit, f"{c.energy_Wh:g} Wh per {what} against the SP188 limit {limit:g} Wh"
    if c.chemistry == "li-metal":
        limit = rules["SP188_LI_METAL_CELL" if c.cell else "SP188_LI_METAL_BATTERY"].number()
        if c.lithium_g is None:
            return None, f"lithium content unknown: SP188 ({limit:g} g per {what}) cannot be claimed"
        return c.lithium_g <= limit, f"{c.lithium_g:g} g lithium per {what} against the SP188 limit {limit:g} g"
    return None, "the rule table holds no SP188 limits for sodium ion: the relief is not applied"


def classify(c: Consignment) -> Classification:
    """Classify a consignment under ADR (2025 edition as cited in ``adr_rules.csv``)."""
    c.check()
    rules = adr_rules()
    on = c.on or date.today()
    un = _UN[(c.chemistry, c.packaging)]
    notes: list[str] = []
    if c.packaging == "vehicle" and on < date.fromisoformat(rules["UN3171"].value) and c.chemistry != "na-ion":
        notes.append(f"before {rules['UN3171'].value} a lithium-powered vehicle may still be carried as UN3171")
        un = "UN3171"
    result = Classification(un, rules[un].text, notes=notes)
    result.citations.append(rules[un].cite())
    name = _BATTERY_NAME[c.chemistry]

    def cite(*items: str) -> None:
        for item in items:
            result.citations.append(rules[item].cite())

    if c.packaging == "vehicle":
        if c.condition != "intact":
            result.notes.append(
                f"SP376/SP377 cover cells and batteries, not vehicles: the rule table holds no provision for a "
                f"{c.condition} vehicle; ask the competent authority or a dangerous-goods safety adviser"
            )
        result.notes.append("vehicles are carried unpackaged: no packing instruction is given by the rule table")
        result.marking.append(f"UN number mark {un}")
        return result

    if c.condition == "intact":
        result.special_provisions.append("SP230")
        cite("SP230")
        holds, why = _sp188(c, rules)
        result.notes.append(why)
        if holds:
            result.special_provisions.append("SP188")
            result.subject_to_adr = False
            result.marking.append(f"lithium battery mark with {un} (SP188)")
            cite("SP188")
        else:
            result.packing_instructions.append("P903")
            result.marking += [f"UN number mark {un}", "class 9A lithium battery hazard label"]
            cite("P903")
    elif c.condition in ("damaged", "critical"):
        result.special_provisions.append("SP376")
        cite("SP376")
        pis = ["P908", "LP904"] if c.condition == "damaged" else ["P911", "LP906"]
        result.packing_instructions += pis
        cite(*pis)
        result.marking += [
            f"UN number mark {un}",
            rules["MARK_DAMAGED"].text.split(" (")[0].format(name=name),
            "class 9A lithium battery hazard label",
        ]
        cite("MARK_DAMAGED")
        result.notes.append("SP230 (UN 38.3) does not apply to damaged or defective cells and batteries")
    else:  # waste
        result.special_provisions.append("SP377")
        result.packing_instructions.append("P909")
        cite("SP377", "P909")
        waste_mark = rules["MARK_WASTE"].text.split(" (")[0].format(name=name, purpose=c.purpose.upper())
        max_kg = rules["SP636"].number()
        if c.chemistry != "na-ion" and c.mass_kg <= max_kg:
            result.special_provisions.append("SP636")
            result.subject_to_adr = False
            cite("SP636", "SP636_TRANSPORT_UNIT")
            result.notes.append(
                f"{c.mass_kg:g} kg gross per cell/battery <= {max_kg:g} kg: SP636 up to the intermediate processing "
                f"facility, with a quality-assurance system keeping <= {rules['SP636_TRANSPORT_UNIT'].value} kg "
                "of lithium cells/batteries per transport unit"
            )
            result.marking.append(waste_mark)
        else:
            if c.chemistry != "na-ion":
                result.notes.append(f"{c.mass_kg:g} kg gross per cell/battery > {max_kg:g} kg: SP636 does not apply")
            result.marking += [
                f"UN number mark {un}",
                waste_mark,
                "class 9A lithium battery hazard label",
            ]
        cite("MARK_WASTE")
    return result


def consignment_from_passport(
    data: dict[str, Any], *, condition: str, packaging: str = "alone", cell: bool = False, **extra: Any
) -> Consignment:
    """A consignment from a passport's data: ``battery_chemistry``, ``battery_mass_kg`` and the rated energy.

    The chemistry short name maps to the ADR family: ``Na-ion`` (or a name starting with ``Na``/``sodium``) is sodium
    ion, ``Li-metal``/``lithium metal`` is lithium metal, every other lithium chemistry (NMC, LFP, NCA, LMO, LCO, LTO)
    is lithium ion.
    """
    problems: list[Problem] = []
    chem_raw = data.get("battery_chemistry")
    chemistry = ""
    if not isinstance(chem_raw, str) or not chem_raw.strip():
        problems.append(Problem("battery_chemistry", "missing from the passport", "a chemistry short name"))
    else:
        low = chem_raw.strip().lower()
        if low.startswith(("na", "sodium")):
            chemistry = "na-ion"
        elif "metal" in low or low in {"li-mno2", "li-fes2", "li-socl2", "limno2"}:
            chemistry = "li-metal"
        else:
            chemistry = "li-ion"
    mass = data.get("battery_mass_kg")
    if not isinstance(mass, (int, float)):
        problems.append(Problem("battery_mass_kg", "missing from the passport", "a mass in kg"))
    energy_kWh = data.get("rated_energy_kWh")
    energy_Wh: float | None = None
    if isinstance(energy_kWh, (int, float)):
        energy_Wh = float(energy_kWh) * 1000.0
    else:
        ah, volt = data.get("rated_capacity_Ah"), data.get("nominal_voltage_V")
        if isinstance(ah, (int, float)) and isinstance(volt, (int, float)):
            energy_Wh = float(ah) * float(volt)
    if energy_Wh is None:
        problems.append(
            Problem("rated_energy_kWh", "missing from the passport", "rated_energy_kWh or rated_capacity_Ah and V")
        )
    if problems:
        raise ValidationError("the passport lacks what the classification needs", problems=problems)
    assert isinstance(mass, (int, float))
    assert energy_Wh is not None
    return Consignment(chemistry, float(mass), energy_Wh, condition, packaging, cell, **extra)
