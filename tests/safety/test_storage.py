"""PGS 37-2 storage checks: one case per threshold and per disagreement between sources; bad input named."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from batteryloop.errors import ValidationError
from batteryloop.safety.storage import check_site, pgs_rules, read_site, yaml_available

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "rules" / "pgs37_checks.csv"


def _site(*batteries: dict[str, Any], **comp: Any) -> dict[str, Any]:
    return {"site": "test", "compartments": [{"id": "A", "batteries": list(batteries)} | comp]}


def _one(site: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = check_site(site)["compartments"][0]
    return result


def _check(comp: dict[str, Any], rule: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in comp["checks"] if c["rule"] == rule]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize(("kg", "reached"), [(332.9, False), (333.0, True)])
def test_threshold_a_333_kg_gross_per_compartment(kg: float, reached: bool) -> None:
    # 333 kg gross per fire compartment (PGS 37-2:2023); split over items: 3 x kg/3.
    comp = _one(_site({"gross_kg": kg / 3, "count": 3, "kWh": 10}))
    assert _check(comp, "PGS37_2_THRESH_A")["reached"] is reached
    assert comp["in_scope"] is reached
    assert comp["gross_kg"]["intact_standard"] == pytest.approx(kg)


@pytest.mark.parametrize(("kg", "reached"), [(999.0, False), (1000.0, True)])
def test_threshold_b_1000_kg_for_other_carriers(kg: float, reached: bool) -> None:
    comp = _one(_site({"gross_kg": kg, "carrier": "other"}))
    assert _check(comp, "PGS37_2_THRESH_B")["reached"] is reached
    assert _check(comp, "PGS37_2_THRESH_A")["figure"] == 0
    assert comp["in_scope"] is reached


@pytest.mark.parametrize(
    ("kg", "area", "reached"), [(400.0, 3000.0, True), (400.0, 2500.0, False), (300.0, 3000.0, False)]
)
def test_outdoor_vehicles_333_kg_and_2500_m2(kg: float, area: float, reached: bool) -> None:
    comp = _one(_site({"gross_kg": kg, "carrier": "vehicle"}, outdoor=True, area_m2=area))
    check = _check(comp, "PGS37_2_OUTDOOR_VEH")
    assert check["reached"] is reached
    assert check["area_threshold_m2"] == 2500


def test_outdoor_vehicles_under_sp188_do_not_count() -> None:
    comp = _one(_site({"gross_kg": 900.0, "carrier": "vehicle", "sp188": True}, outdoor=True, area_m2=5000))
    assert _check(comp, "PGS37_2_OUTDOOR_VEH")["figure"] == 0
    assert comp["in_scope"] is False


def test_damaged_sources_disagree_both_readings_reported() -> None:
    # One damaged 12 kg module: in scope under the concept (any piece), not under the 30 kg reading -> disputed.
    comp = _one(_site({"gross_kg": 12.0, "damaged": True}))
    dmg = comp["damaged"]
    assert dmg["sources_disagree"] is True
    readings = {r["rule"]: r for r in dmg["readings"]}
    assert readings["PGS37_2_THRESH_DAMAGED_CONCEPT"]["reached"] is True
    assert readings["PGS37_2_THRESH_DAMAGED_FINAL"]["reached"] is False
    assert readings["PGS37_2_THRESH_DAMAGED_FINAL"]["threshold"] == 30
    assert dmg["verdict"] == "disputed"
    assert comp["in_scope"] == "disputed"
    assert all("low" in r["citation"]["confidence"] for r in dmg["readings"])


def test_damaged_above_30_kg_in_scope_under_both_readings() -> None:
    comp = _one(_site({"gross_kg": 15.0, "damaged": True, "count": 2}))
    assert comp["damaged"]["verdict"] == "in scope"
    assert comp["in_scope"] is True
    # damaged mass does not count towards the intact 333 kg threshold
    assert _check(comp, "PGS37_2_THRESH_A")["figure"] == 0


def test_forbidden_activities_reported_when_in_scope() -> None:
    comp = _one(_site({"gross_kg": 500.0}, activities=["storage", "charging", "testing"]))
    found = sorted(f["finding"] for f in comp["findings"])
    assert len(found) == 2
    assert "charging" in found[0]
    assert "testing" in found[1]
    assert all(f["rule"] == "PGS37_2_NO_OTHER_ACT" for f in comp["findings"])
    assert {m["rule"] for m in comp["measures"]} == {"PGS37_2_NO_OTHER_ACT", "PGS37_STATUS"}


def test_activities_no_finding_below_thresholds() -> None:
    comp = _one(_site({"gross_kg": 100.0}, activities=["charging"]))
    assert comp["findings"] == []
    assert comp["measures"] == []


def test_in_use_and_sodium_ion_excluded() -> None:
    comp = _one(
        _site({"gross_kg": 300.0, "in_use": True}, {"gross_kg": 300.0, "chemistry": "na-ion"}, {"gross_kg": 40})
    )
    assert comp["gross_kg"]["in_use_excluded"] == 300
    assert comp["gross_kg"]["sodium_ion_outside_scope"] == 300
    assert _check(comp, "PGS37_2_THRESH_A")["figure"] == 40
    assert comp["in_scope"] is False
    assert len(comp["notes"]) == 2


def test_bad_input_names_every_field() -> None:
    site = {
        "compartments": [
            {"id": "A", "batteries": [{"gross_kg": -5}, {"gross_kg": 1, "chemistry": "lead"}]},
            {"id": "B", "batteries": [{"kWh": 3}], "activities": ["welding"]},
        ]
    }
    with pytest.raises(ValidationError) as exc:
        check_site(site)
    fields = {p.field for p in exc.value.problems}
    assert fields == {
        "compartments[0].batteries[0].gross_kg",
        "compartments[0].batteries[1].chemistry",
        "compartments[1].activities",
        "compartments[1].batteries[0].gross_kg",
    }
    with pytest.raises(ValidationError) as exc:
        check_site({"site": "empty"})
    assert exc.value.problems[0].field == "compartments"


def test_read_site_json_toml_and_yaml(tmp_path: Path) -> None:
    site = _site({"gross_kg": 400.0})
    (tmp_path / "s.json").write_text(json.dumps(site))
    (tmp_path / "s.toml").write_text(
        'site = "test"\n[[compartments]]\nid = "A"\n[[compartments.batteries]]\ngross_kg = 400.0\n'
    )
    assert read_site(tmp_path / "s.json") == site
    assert read_site(tmp_path / "s.toml") == site
    (tmp_path / "s.yaml").write_text("site: test\ncompartments:\n  - id: A\n    batteries:\n      - gross_kg: 400.0\n")
    assert yaml_available()  # PyYAML is a dependency: SITE.yaml is the documented form
    assert read_site(tmp_path / "s.yaml") == site
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValidationError) as exc:
        read_site(tmp_path / "bad.json")
    assert exc.value.problems[0].field.endswith("bad.json")


def test_rules_cite_sources_and_match_shared_data() -> None:
    rules = pgs_rules()
    assert all(r.source.strip() for r in rules.values())
    if not SHARED.exists():
        pytest.skip(f"shared rule data absent: {SHARED}")
    with SHARED.open(encoding="utf-8") as fh:
        shared = {row["check_id"]: row for row in csv.DictReader(fh)}
    for key in ("PGS37_2_THRESH_A", "PGS37_2_THRESH_B"):
        assert rules[key].value == shared[key]["value"]
    assert rules["PGS37_2_THRESH_DAMAGED_FINAL"].value == shared["PGS37_2_THRESH_DAMAGED"]["value"]
    assert "sources differ" in shared["PGS37_2_THRESH_DAMAGED"]["confidence"]
    assert shared["PGS37_2_OUTDOOR_VEH"]["value"].startswith(rules["PGS37_2_OUTDOOR_VEH"].value)
    assert rules["PGS37_2_OUTDOOR_AREA"].value in shared["PGS37_2_OUTDOOR_VEH"]["value"]


def test_cli_storage_json(tmp_path: Path) -> None:
    from batteryloop.cli import app
    from batteryloop.commands import load_all

    load_all()
    path = tmp_path / "site.json"
    path.write_text(json.dumps(_site({"gross_kg": 350.0}, activities=["charging"])))
    res = CliRunner().invoke(app, ["safety", "storage", str(path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["compartments"][0]["in_scope"] is True
    assert out["findings"] == 1


def test_quantities_that_overflow_are_refused_not_ignored() -> None:
    site = {"site": "s", "compartments": [{"id": "A", "batteries": [{"gross_kg": 1e308, "count": 1e308}]}]}
    with pytest.raises(ValidationError) as info:
        check_site(site)
    assert any(p.field.endswith("batteries[0].count") for p in info.value.problems)
