"""The demo's battery models, after real product specifications, and the passport data of each.

EV models come from the ElaadNL/ev2gym ``ev_specs.json`` in the shared data where it is present (the models driven in
the Netherlands, their battery capacity and their registrations, which weight how many passports each model gets),
completed with the pack details of ``ev_models.csv`` (chemistry, nominal voltage, cells in series, mass; each row
with its source and a confidence). Without the shared data, ``ev_models.csv`` alone gives the same models: it is the
project's own table of public specifications (each row cites them), not a copy of the shared file.
E-bike (LMT) and stationary (industrial) models are in ``battery_models.csv``: real products where the row says so,
fictional demo products (clearly marked ``demo``) otherwise.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from batteryloop.demo.sources import EV_SPECS, Source, ev_specs
from batteryloop.errors import ImportFormatError
from batteryloop.passport.identifiers import gtin_check_digit
from batteryloop.rules import chemistry as chemistry_limits


@cache
def assumptions() -> dict[str, float]:
    """The demo's stated assumptions (``assumptions.csv``: name, value, unit, source)."""
    text = resources.files("batteryloop.demo").joinpath("assumptions.csv").read_text(encoding="utf-8")
    out: dict[str, float] = {}
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        out[row["name"]] = _number(row, "value", f"assumptions.csv line {line}")
    return out


@dataclass(frozen=True)
class BatteryModel:
    key: str
    category: str  # ev, lmt, industrial
    manufacturer: str
    model: str
    chemistry: str
    chemistry_name: str
    rated_energy_kWh: float
    nominal_voltage_V: float
    cells_in_series: int
    battery_mass_kg: float
    max_power_W: float
    expected_lifetime_cycles: int
    warranty: str
    duty: str
    weight: float
    source: str
    confidence: str

    @property
    def rated_capacity_Ah(self) -> float:
        return round(self.rated_energy_kWh * 1000.0 / self.nominal_voltage_V, 1)

    @property
    def cell_voltage_min_V(self) -> float:
        return chemistry_limits(self.chemistry).cell_voltage_min_V

    @property
    def cell_voltage_max_V(self) -> float:
        return chemistry_limits(self.chemistry).cell_voltage_max_V

    @property
    def pack_resistance_mOhm(self) -> float:
        """Begin-of-life pack resistance (``pack_resistance_drop_<category>`` of ``assumptions.csv``). [mOhm]"""
        share = assumptions()[f"pack_resistance_drop_{self.category}"]
        return round(share * self.nominal_voltage_V / self.rated_capacity_Ah * 1000.0, 2)


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("batteryloop.demo").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _number(row: dict[str, str], key: str, where: str) -> float:
    try:
        return float(row[key])
    except (KeyError, ValueError):
        raise ImportFormatError(
            f"{where}: {key} is {row.get(key)!r}, not a number", field=f"{where}:{key}", expected="a number"
        ) from None


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _brand(name: str) -> str:
    return name.split(" ")[0]


@cache
def ev_details() -> dict[str, dict[str, str]]:
    """``ev_models.csv`` by model name."""
    return {row["name"]: row for row in _read_csv("ev_models.csv")}


def ev_models() -> tuple[list[BatteryModel], str]:
    """The EV models and a sentence saying where they come from."""
    specs: Source | None = ev_specs()
    details = ev_details()
    rows: list[tuple[str, float, float, float | None]] = []
    if specs is not None:
        try:
            data: dict[str, dict[str, Any]] = json.loads(specs.path.read_text(encoding="utf-8"))
            for name, spec in data.items():
                rows.append(
                    (
                        name,
                        float(spec["battery_capacity"]),
                        float(spec["number_of_registrations"]),
                        float(spec["max_dc_charge_power"]) if spec.get("max_dc_charge_power") else None,
                    )
                )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ImportFormatError(
                f"{specs.path}: {exc}",
                field=str(specs.path),
                expected="ev2gym ev_specs.json: per model battery_capacity, number_of_registrations",
            ) from None
        origin = specs.description + "; pack details from batteryloop/demo/ev_models.csv"
    else:
        for i, row in enumerate(details.values(), start=2):
            where = f"ev_models.csv line {i}"
            rows.append(
                (
                    row["name"],
                    _number(row, "battery_kWh", where),
                    _number(row, "nl_registrations", where),
                    _number(row, "max_dc_charge_kW", where),
                )
            )
        origin = (
            "EV models: batteryloop/demo/ev_models.csv (the project's own table of public specifications; no "
            f"{EV_SPECS} in the shared data folder)"
        )
    out = []
    for name, kwh, registrations, dc_kw in rows:
        detail = details.get(name)
        if detail is not None:
            row = detail
            where = f"ev_models.csv ({name})"
            chem = row["chemistry"]
            chem_name = row["chemistry_name"]
            voltage = _number(row, "nominal_voltage_V", where)
            cells = int(_number(row, "cells_in_series", where))
            mass = _number(row, "pack_mass_kg", where)
            source = f"{row['capacity_source']}; pack: {row['pack_source']}"
            confidence = row["confidence"]
        else:
            chem, chem_name, voltage, cells = "NMC", "Lithium-ion (NMC assumed)", 355.0, 96
            mass = round(kwh * 1000.0 / assumptions()["energy_density_other"], 0)
            source = "battery capacity from ev_specs.json; pack details assumed (400 V class NMC)"
            confidence = "low"
        power_kW = dc_kw if dc_kw else kwh * 2.0
        out.append(
            BatteryModel(
                key=_slug(name),
                category="ev",
                manufacturer=f"{_brand(name)} (demo importer account)",
                model=f"{name} traction battery {kwh:g} kWh",
                chemistry=chem,
                chemistry_name=chem_name,
                rated_energy_kWh=kwh,
                nominal_voltage_V=voltage,
                cells_in_series=cells,
                battery_mass_kg=mass,
                max_power_W=round(power_kW * 1000.0),
                expected_lifetime_cycles=1500 if chem != "LFP" else 3000,
                warranty="P8Y",
                duty="ev",
                weight=registrations,
                source=source,
                confidence=confidence,
            )
        )
    return out, origin


@cache
def other_models() -> tuple[BatteryModel, ...]:
    """The e-bike and stationary models of ``battery_models.csv``."""
    out = []
    for i, row in enumerate(_read_csv("battery_models.csv"), start=2):
        where = f"battery_models.csv line {i}"
        out.append(
            BatteryModel(
                key=row["key"],
                category=row["category"],
                manufacturer=row["manufacturer"],
                model=row["model"],
                chemistry=row["chemistry"],
                chemistry_name=row["chemistry_name"],
                rated_energy_kWh=_number(row, "rated_energy_kWh", where),
                nominal_voltage_V=_number(row, "nominal_voltage_V", where),
                cells_in_series=int(_number(row, "cells_in_series", where)),
                battery_mass_kg=_number(row, "battery_mass_kg", where),
                max_power_W=_number(row, "max_power_W", where),
                expected_lifetime_cycles=int(_number(row, "expected_lifetime_cycles", where)),
                warranty=row["warranty"],
                duty=row["duty"],
                weight=1.0,
                source=row["source"],
                confidence=row["confidence"],
            )
        )
    return tuple(out)


def gtin13(company_prefix: str, item: int) -> str:
    body = f"{company_prefix}{item:0{12 - len(company_prefix)}d}"
    return body + str(gtin_check_digit(body))


def document(url: str, title: str, mime_type: str = "application/pdf") -> dict[str, str]:
    """A document of a passport: its link, title and MIME type."""
    return {"url": url, "title": title, "mime_type": mime_type}


COMMON_LINKS: dict[str, list[dict[str, str]]] = {
    "waste_prevention_information": [
        document("https://www.stibat.nl/", "Stibat: batterijen langer gebruiken en inleveren", "text/html")
    ],
    "separate_collection_information": [
        document("https://www.legebatterijen.nl/", "Lege batterijen gescheiden inleveren", "text/html")
    ],
    "collection_and_reuse_information": [
        document("https://www.legebatterijen.nl/inleverpunten", "Inleverpunten voor batterijen", "text/html")
    ],
}

CRITICAL_RAW_MATERIALS = {
    "LFP": ["lithium", "natural graphite", "phosphorus"],
    "NMC": ["cobalt", "lithium", "natural graphite", "nickel", "manganese"],
    "NCA": ["cobalt", "lithium", "natural graphite", "nickel"],
    "LMO": ["lithium", "natural graphite", "manganese", "nickel", "cobalt"],
}


def passport_data(model: BatteryModel, gtin: str, *, due_diligence: bool, third_party: bool) -> dict[str, Any]:
    """The model-level static data of a passport of ``model`` (serial and dates are added per battery)."""
    site = f"https://{_slug(_brand(model.manufacturer))}.example"
    limits = chemistry_limits(model.chemistry)
    data: dict[str, Any] = {
        "battery_category": model.category,
        "battery_model_identifier": model.model,
        "gtin": gtin,
        "manufacturer_name": model.manufacturer,
        "manufacturer_postal_address": "Demo importer address, Nederland",
        "manufacturer_web_address": site,
        "battery_mass_kg": model.battery_mass_kg,
        "battery_chemistry": model.chemistry,
        "battery_chemistry_name": model.chemistry_name,
        "usable_extinguishing_agent": ["water (large quantities, cooling)"],
        "critical_raw_materials": CRITICAL_RAW_MATERIALS.get(model.chemistry, ["lithium"]),
        "rated_capacity_Ah": model.rated_capacity_Ah,
        "rated_energy_kWh": model.rated_energy_kWh,
        "nominal_voltage_V": model.nominal_voltage_V,
        "minimum_voltage_V": round(limits.cell_voltage_min_V * model.cells_in_series, 1),
        "maximum_voltage_V": round(limits.cell_voltage_max_V * model.cells_in_series, 1),
        "original_power_capability": [
            {"soc_pct": 80.0, "power_W": model.max_power_W},
            {"soc_pct": 20.0, "power_W": round(model.max_power_W * 0.7)},
        ],
        "maximum_permitted_power_W": model.max_power_W,
        "expected_lifetime_cycles": model.expected_lifetime_cycles,
        "idle_temperature_lower_C": limits.operating_temperature_min_C,
        "idle_temperature_upper_C": limits.operating_temperature_max_C,
        "commercial_warranty_period": model.warranty,
        "initial_round_trip_efficiency_pct": 95.0 if model.chemistry != "LFP" else 96.0,
        "initial_internal_resistance_pack_mOhm": model.pack_resistance_mOhm,
        "renewable_content_pct": 0.0,
        "carbon_footprint_kgCO2e_per_kWh": assumptions().get(f"carbon_footprint_{model.chemistry}", 70.0),
        "labels": [{"subject": "separate collection", "meaning": "Gescheiden inleveren; niet bij het huisvuil"}],
        "eu_declaration_of_conformity": [
            document(f"{site}/doc/{_slug(model.model)}.pdf", f"EU declaration of conformity {model.model}")
        ],
        **COMMON_LINKS,
    }
    if model.category == "ev":
        data["capacity_threshold_exhaustion_pct"] = 70.0  # Annex XIII 1(k) applies to EV batteries only
    if due_diligence:
        data["due_diligence_report"] = [
            document(f"{site}/due-diligence-2026.pdf", "Due diligence report 2026 (Art. 52(3))"),
        ]
    if third_party:
        data["third_party_assurance"] = [
            document(f"{site}/due-diligence-2026-verification.pdf", "Third-party verification of due diligence"),
        ]
    return data
