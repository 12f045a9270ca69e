"""PGS 37-2 (2023) checks of a storage site: per fire compartment, the thresholds, damaged carriers and activities.

Every threshold comes from ``pgs37_rules.csv`` next to this module, each row with its source and the confidence the
sources allow. Where the sources disagree (the threshold for damaged carriers) both readings are reported.

A site is a mapping::

    {"site": "name", "compartments": [
        {"id": "A", "outdoor": false, "area_m2": 400, "activities": ["charging"],
         "batteries": [{"gross_kg": 350, "kWh": 40, "chemistry": "li-ion", "damaged": false,
                        "carrier": "standard" | "other" | "vehicle", "sp188": false, "in_use": false, "count": 1}]}]}

``gross_kg`` and ``kWh`` are per item, ``count`` (default 1) multiplies them.
"""

from __future__ import annotations

import csv
import json
import math
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import import_module, resources
from pathlib import Path
from typing import Any

from batteryloop.errors import Problem, ValidationError

FORBIDDEN_ACTIVITIES = ("testing", "measuring", "shipping_preparation", "charging")
KNOWN_ACTIVITIES = (*FORBIDDEN_ACTIVITIES, "storage")
CARRIERS = ("standard", "other", "vehicle")
CHEMISTRIES = ("li-ion", "li-metal", "na-ion")


@dataclass(frozen=True)
class PgsRule:
    """One row of ``pgs37_rules.csv``."""

    check_id: str
    guideline: str
    rule: str
    value: str
    unit: str
    source: str
    confidence: str

    def number(self) -> float:
        return float(self.value)

    def cite(self) -> dict[str, str]:
        return {
            "rule": self.check_id,
            "guideline": self.guideline,
            "source": self.source,
            "confidence": self.confidence,
        }


@cache
def pgs_rules() -> dict[str, PgsRule]:
    """The PGS 37 rule table shipped with the package, by check id."""
    text = resources.files("batteryloop.safety").joinpath("pgs37_rules.csv").read_text(encoding="utf-8")
    return {row["check_id"]: PgsRule(**row) for row in csv.DictReader(text.splitlines())}


def yaml_available() -> bool:
    try:
        import_module("yaml")
    except ImportError:
        return False
    return True


def read_site(path: Path) -> dict[str, Any]:
    """Read a site file: YAML (``.yaml``/``.yml``, when PyYAML is installed), JSON (``.json``) or TOML (``.toml``)."""
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: cannot read ({exc})", field=str(path), expected="a site file") from None
    try:
        if suffix == ".json":
            data: Any = json.loads(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            if not yaml_available():
                raise ValidationError(
                    f"{path}: YAML needs PyYAML, which is not installed",
                    field=str(path),
                    expected="a .json or .toml site file, or `pip install pyyaml`",
                )
            data = import_module("yaml").safe_load(text)
        else:
            raise ValidationError(
                f"{path}: unknown site file type {suffix!r}", field=str(path), expected=".yaml, .yml, .json or .toml"
            )
    except ValidationError:
        raise
    except Exception as exc:  # the parsers' own errors (JSON, TOML, YAML) name line and column
        raise ValidationError(
            f"{path}: cannot parse ({exc})", field=str(path), expected=f"valid {suffix[1:]}"
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path}: not a mapping", field=str(path), expected='{"compartments": [...]}')
    return data


@dataclass(frozen=True)
class Item:
    gross_kg: float
    kWh: float
    chemistry: str
    damaged: bool
    carrier: str
    sp188: bool
    in_use: bool


def _items(comp: dict[str, Any], where: str, problems: list[Problem]) -> list[Item]:
    raw = comp.get("batteries", [])
    if not isinstance(raw, list):
        problems.append(Problem(f"{where}.batteries", "not a list", "a list of battery entries"))
        return []
    items: list[Item] = []
    for j, b in enumerate(raw):
        at = f"{where}.batteries[{j}]"
        if not isinstance(b, dict):
            problems.append(Problem(at, "not a mapping", "{gross_kg, kWh, chemistry, damaged}"))
            continue
        ok = True
        nums: dict[str, float] = {}
        for key, required in (("gross_kg", True), ("kWh", False), ("count", False)):
            value = b.get(key, None if required else (1 if key == "count" else 0.0))
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                problems.append(Problem(f"{at}.{key}", f"{value!r} is not a non-negative number", "a number >= 0"))
                ok = False
            else:
                nums[key] = float(value)
        chem = b.get("chemistry", "li-ion")
        if chem not in CHEMISTRIES:
            problems.append(Problem(f"{at}.chemistry", f"unknown chemistry {chem!r}", " | ".join(CHEMISTRIES)))
            ok = False
        carrier = b.get("carrier", "standard")
        if carrier not in CARRIERS:
            problems.append(Problem(f"{at}.carrier", f"unknown carrier type {carrier!r}", " | ".join(CARRIERS)))
            ok = False
        flags: dict[str, bool] = {}
        for key in ("damaged", "sp188", "in_use"):
            value = b.get(key, False)
            if not isinstance(value, bool):
                problems.append(Problem(f"{at}.{key}", f"{value!r} is not true or false", "true | false"))
                ok = False
            else:
                flags[key] = value
        if ok and not (math.isfinite(nums["gross_kg"] * nums["count"]) and math.isfinite(nums["kWh"] * nums["count"])):
            problems.append(
                Problem(f"{at}.count", "count x gross_kg (or kWh) is not a finite number", "realistic figures")
            )
            ok = False
        if ok:
            n = nums["count"]
            items.append(
                Item(
                    nums["gross_kg"] * n,
                    nums["kWh"] * n,
                    chem,
                    flags["damaged"],
                    carrier,
                    flags["sp188"],
                    flags["in_use"],
                )
            )
    return items


def _compartment(comp: dict[str, Any], where: str, problems: list[Problem]) -> dict[str, Any] | None:
    rules = pgs_rules()
    cid = comp.get("id")
    if not isinstance(cid, str) or not cid:
        problems.append(Problem(f"{where}.id", "missing", "a compartment name"))
    outdoor = comp.get("outdoor", False)
    if not isinstance(outdoor, bool):
        problems.append(Problem(f"{where}.outdoor", f"{outdoor!r} is not true or false", "true | false"))
        outdoor = False
    area = comp.get("area_m2")
    if area is not None and (isinstance(area, bool) or not isinstance(area, (int, float)) or area < 0):
        problems.append(Problem(f"{where}.area_m2", f"{area!r} is not a non-negative number", "a number >= 0"))
        area = None
    acts = comp.get("activities", [])
    if not isinstance(acts, list) or any(a not in KNOWN_ACTIVITIES for a in acts):
        problems.append(Problem(f"{where}.activities", f"{acts!r}", "a list of " + " | ".join(KNOWN_ACTIVITIES)))
        acts = []
    items = _items(comp, where, problems)
    if problems:
        return None

    excluded_kg = sum(i.gross_kg for i in items if i.in_use)
    out_of_scope_kg = sum(i.gross_kg for i in items if not i.in_use and i.chemistry == "na-ion")
    stored = [i for i in items if not i.in_use and i.chemistry != "na-ion"]
    intact = [i for i in stored if not i.damaged]
    damaged = [i for i in stored if i.damaged]
    std_kg = sum(i.gross_kg for i in intact if i.carrier == "standard")
    other_kg = sum(i.gross_kg for i in intact if i.carrier == "other")
    veh_kg = sum(i.gross_kg for i in intact if i.carrier == "vehicle" and not i.sp188)
    dmg_kg = sum(i.gross_kg for i in damaged)

    checks: list[dict[str, Any]] = []

    def check(rule_id: str, figure: float, limit: float, unit: str, reached: bool, **extra: Any) -> None:
        checks.append(
            {"rule": rule_id, "figure": round(figure, 6), "threshold": limit, "unit": unit, "reached": reached}
            | extra
            | {"citation": rules[rule_id].cite()}
        )

    a = rules["PGS37_2_THRESH_A"].number()
    check("PGS37_2_THRESH_A", std_kg, a, "kg", std_kg >= a)
    b = rules["PGS37_2_THRESH_B"].number()
    check("PGS37_2_THRESH_B", other_kg, b, "kg", other_kg >= b)
    veh_limit, veh_area = rules["PGS37_2_OUTDOOR_VEH"].number(), rules["PGS37_2_OUTDOOR_AREA"].number()
    if outdoor:
        area_over = area is not None and area > veh_area
        check(
            "PGS37_2_OUTDOOR_VEH",
            veh_kg,
            veh_limit,
            "kg",
            veh_kg >= veh_limit and area_over,
            area_m2=area,
            area_threshold_m2=veh_area,
        )
    elif veh_kg:
        check("PGS37_2_THRESH_A", veh_kg, a, "kg", veh_kg >= a, note="vehicles/machines stored indoors")
    concept = len(damaged) >= rules["PGS37_2_THRESH_DAMAGED_CONCEPT"].number()
    final = dmg_kg >= rules["PGS37_2_THRESH_DAMAGED_FINAL"].number()
    damaged_reading = {
        "sources_disagree": True,
        "readings": [
            {
                "rule": "PGS37_2_THRESH_DAMAGED_CONCEPT",
                "figure": len(damaged),
                "threshold": rules["PGS37_2_THRESH_DAMAGED_CONCEPT"].number(),
                "unit": "piece",
                "reached": concept,
                "citation": rules["PGS37_2_THRESH_DAMAGED_CONCEPT"].cite(),
            },
            {
                "rule": "PGS37_2_THRESH_DAMAGED_FINAL",
                "figure": round(dmg_kg, 6),
                "threshold": rules["PGS37_2_THRESH_DAMAGED_FINAL"].number(),
                "unit": "kg",
                "reached": final,
                "citation": rules["PGS37_2_THRESH_DAMAGED_FINAL"].cite(),
            },
        ],
        "verdict": "in scope" if concept and final else ("disputed" if concept != final else "not in scope"),
    }
    intact_in_scope = any(c["reached"] for c in checks)
    in_scope: bool | str = True if intact_in_scope or (concept and final) else ("disputed" if concept else False)

    findings: list[dict[str, Any]] = []
    measures: list[dict[str, Any]] = []
    if in_scope:
        forbidden = sorted(set(acts) & set(FORBIDDEN_ACTIVITIES))
        for act in forbidden:
            findings.append(
                {
                    "rule": "PGS37_2_NO_OTHER_ACT",
                    "finding": f"activity '{act}' in a storage fire compartment under PGS 37-2",
                    "conditional_on_damaged_reading": in_scope == "disputed",
                    "citation": rules["PGS37_2_NO_OTHER_ACT"].cite(),
                }
            )
        measures.append(
            {
                "rule": "PGS37_2_NO_OTHER_ACT",
                "measure": "keep testing, measuring, shipping preparation and charging out of this compartment",
                "citation": rules["PGS37_2_NO_OTHER_ACT"].cite(),
            }
        )
        measures.append(
            {
                "rule": "PGS37_STATUS",
                "measure": "apply the PGS 37-2 measures for this compartment through the permit, duty of care or "
                "tailored rules (the guideline's legal anchoring)",
                "citation": rules["PGS37_STATUS"].cite(),
            }
        )
    for measure in measures:
        measure["conditional_on_damaged_reading"] = in_scope == "disputed"
    return {
        "id": cid,
        "outdoor": outdoor,
        "gross_kg": {
            "intact_standard": round(std_kg, 6),
            "intact_other": round(other_kg, 6),
            "vehicles_not_sp188": round(veh_kg, 6),
            "damaged": round(dmg_kg, 6),
            "in_use_excluded": round(excluded_kg, 6),
            "sodium_ion_outside_scope": round(out_of_scope_kg, 6),
        },
        "kWh": round(sum(i.kWh for i in stored), 6),
        "checks": checks,
        "damaged": damaged_reading,
        "in_scope": in_scope,
        "findings": findings,
        "measures": measures,
        "notes": [
            *(["carriers in use are excluded (" + rules["PGS37_2_IN_USE_EXCL"].source + ")"] if excluded_kg else []),
            *(
                ["sodium ion carriers are not in the PGS 37-2 UN scope (" + rules["PGS37_2_SCOPE_UN"].source + ")"]
                if out_of_scope_kg
                else []
            ),
        ],
    }


def check_site(site: dict[str, Any]) -> dict[str, Any]:
    """Check every fire compartment of a site; raise a ValidationError naming every bad field."""
    problems: list[Problem] = []
    comps = site.get("compartments")
    if not isinstance(comps, list) or not comps:
        raise ValidationError("the site has no compartments", field="compartments", expected="a non-empty list")
    results: list[dict[str, Any]] = []
    for k, comp in enumerate(comps):
        where = f"compartments[{k}]"
        if not isinstance(comp, dict):
            problems.append(Problem(where, "not a mapping", "{id, batteries, activities}"))
            continue
        result = _compartment(comp, where, problems)
        if result is not None:
            results.append(result)
    if problems:
        raise ValidationError("the site cannot be checked", problems=problems)
    return {
        "site": site.get("site"),
        "guideline": "PGS 37-2:2023",
        "compartments": results,
        "findings": sum(len(r["findings"]) for r in results),
        "status": pgs_rules()["PGS37_STATUS"].cite() | {"rule_text": pgs_rules()["PGS37_STATUS"].rule},
    }
