"""Carbon footprint per functional unit: the arithmetic by hand, bad inputs, and the passport's section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.errors import PermissionDeniedError, ValidationError
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.service import PassportService
from batteryloop.sourcing.carbon_footprint import NO_CLASS_NOTE, carbon_footprint, load_parameters

INPUTS: dict[str, Any] = {
    "stages_kgCO2e": {
        "raw_material_acquisition": 4000,
        "main_product_production": 2500,
        "distribution": 100,
        "end_of_life_and_recycling": 400,
    },
    "energy_kWh": 70,
    "cycles_per_year": 100,
    "service_life_years": 10,
}
CLASSES = [
    {"class": "A", "max_kgCO2e_per_kWh": 0.05},
    {"class": "B", "max_kgCO2e_per_kWh": 0.12},
    {"class": "C", "max_kgCO2e_per_kWh": 0.3},
]
STUDY = {"url": "https://maker.example/cf-study-ev75.pdf", "title": "Carbon footprint study EV-75"}


def test_arithmetic_checked_by_hand() -> None:
    # 4000 + 2500 + 100 + 400 = 7000 kgCO2e over 70 kWh x 100 cycles/year x 10 years = 70 000 kWh -> 0.1 kgCO2e/kWh
    result = carbon_footprint(INPUTS)
    assert result.total_kgCO2e == 7000.0
    assert result.total_energy_kWh == 70_000.0
    assert result.kgCO2e_per_kWh == pytest.approx(0.1, rel=1e-12)
    by_stage = {s.stage: s for s in result.stages}
    # raw materials 4000 / 70 000 = 0.0571428...; share 4000 / 7000 = 57.142857 %
    assert by_stage["raw_material_acquisition"].kgCO2e_per_kWh == pytest.approx(0.057142857, rel=1e-8)
    assert by_stage["raw_material_acquisition"].share_pct == pytest.approx(57.142857, rel=1e-7)
    assert by_stage["main_product_production"].share_pct == pytest.approx(35.714286, rel=1e-7)
    assert by_stage["distribution"].kgCO2e_per_kWh == pytest.approx(0.00142857142857, rel=1e-10)
    assert by_stage["end_of_life_and_recycling"].share_pct == pytest.approx(5.7142857, rel=1e-7)
    assert sum(s.share_pct for s in result.stages) == pytest.approx(100.0)
    assert result.performance_class is None
    assert result.class_note == NO_CLASS_NOTE


def test_performance_class_only_from_the_given_table() -> None:
    assert carbon_footprint({**INPUTS, "performance_classes": CLASSES}).performance_class == "B"  # 0.05 < 0.1 <= 0.12
    above = carbon_footprint({**INPUTS, "performance_classes": CLASSES[:1]})
    assert above.performance_class is None
    assert "above the highest bound" in above.class_note


def test_cycles_and_service_life_from_the_vehicle_type() -> None:
    inputs = {k: v for k, v in INPUTS.items() if k not in ("cycles_per_year", "service_life_years")}
    result = carbon_footprint({**inputs, "vehicle_type": "M1"})
    m1 = load_parameters()["M1"]
    assert (result.cycles_per_year, result.service_life_years) == (m1.fec_per_year, m1.service_life_years)
    assert result.total_energy_kWh == 70 * m1.fec_per_year * m1.service_life_years
    assert result.kgCO2e_per_kWh == pytest.approx(7000 / result.total_energy_kWh)
    assert "confidence" in result.cycles_source
    for row in load_parameters().values():  # every row states its source and how sure it is
        assert row.source and row.confidence in {"high", "medium", "low"} and row.rationale


def _fields(data: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as info:
        carbon_footprint(data)
    return {p.field for p in info.value.problems}


def test_bad_inputs_name_the_field() -> None:
    negative = {**INPUTS, "stages_kgCO2e": {**INPUTS["stages_kgCO2e"], "distribution": -5}}
    assert _fields(negative) == {"stages_kgCO2e.distribution"}
    assert _fields({**INPUTS, "energy_kWh": 0}) == {"energy_kWh"}
    no_cycles = {k: v for k, v in INPUTS.items() if k not in ("cycles_per_year", "service_life_years")}
    assert _fields({**no_cycles, "vehicle_type": "L7e-bike"}) == {"vehicle_type"}
    assert _fields(no_cycles) == {"vehicle_type"}
    missing_stage = {**INPUTS, "stages_kgCO2e": {"raw_material_acquisition": 1, "use_phase": 2}}
    assert {"stages_kgCO2e.use_phase", "stages_kgCO2e.distribution"} <= _fields(missing_stage)
    bad_classes = [{"class": "A", "max_kgCO2e_per_kWh": 0.2}, {"class": "B", "max_kgCO2e_per_kWh": 0.1}]
    assert _fields({**INPUTS, "performance_classes": bad_classes}) == {"performance_classes[1].max_kgCO2e_per_kWh"}
    assert _fields({**INPUTS, "energy_kWh": -1, "service_life_years": "ten"}) == {"energy_kWh", "service_life_years"}


# ---------------------------------------------------------------------------------------------------------------------
# the passport's carbon-footprint section (SQLite and PostgreSQL through the shared engine fixture)

EV = {
    "battery_category": "ev",
    "gtin": "6291041500213",
    "serial_number": "CF-1",
    "battery_model_identifier": "EV-75",
    "battery_chemistry": "NMC",
    "manufacturer_name": "Maker B.V.",
}


def _issue(factory: sessionmaker[Session], settings: Settings) -> tuple[str, Viewer, Viewer]:
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        maker = svc.create_organisation("Maker", kind="manufacturer")
        other = svc.create_organisation("Other Maker", kind="manufacturer")
        viewer = Viewer(Role.ECONOMIC_OPERATOR, account="maker-op", organisation_id=maker.id)
        stranger = Viewer(Role.ECONOMIC_OPERATOR, account="other-op", organisation_id=other.id)
        return svc.create(viewer, EV).id, viewer, stranger


def test_written_into_the_passport_once(session_factory: sessionmaker[Session], settings: Settings) -> None:
    from batteryloop.sourcing.carbon_footprint import apply

    pid, viewer, stranger = _issue(session_factory, settings)
    result = carbon_footprint({**INPUTS, "performance_classes": CLASSES, "study": STUDY})
    with transaction(session_factory) as session:
        row = apply(PassportService(session, settings), viewer, pid, result)
    assert (row["action"], row["version"]) == ("updated", 2)
    with transaction(session_factory) as session:
        data = PassportService(session, settings).view(viewer, pid).data
        assert data["carbon_footprint_kgCO2e_per_kWh"] == pytest.approx(0.1)
        assert data["absolute_carbon_footprint_kgCO2e"] == 7000
        stages = {s["stage"]: s["kgCO2e_per_kWh"] for s in data["carbon_footprint_per_lifecycle_stage"]}
        assert stages["raw_material_acquisition"] == pytest.approx(4000 / 70_000)
        assert data["carbon_footprint_performance_class"] == "B"
        assert data["carbon_footprint_study"][0]["url"] == STUDY["url"]
    with transaction(session_factory) as session:
        again = apply(PassportService(session, settings), viewer, pid, result)
    assert (again["action"], again["version"]) == ("unchanged", 2)
    with transaction(session_factory) as session, pytest.raises(PermissionDeniedError):
        apply(PassportService(session, settings), stranger, pid, result)


def test_no_class_written_without_a_class_table(session_factory: sessionmaker[Session], settings: Settings) -> None:
    from batteryloop.sourcing.carbon_footprint import apply

    pid, viewer, _ = _issue(session_factory, settings)
    with transaction(session_factory) as session:
        apply(PassportService(session, settings), viewer, pid, carbon_footprint(INPUTS))
    with transaction(session_factory) as session:
        data = PassportService(session, settings).view(viewer, pid).data
    assert "carbon_footprint_performance_class" not in data
    assert data["absolute_carbon_footprint_kgCO2e"] == 7000


def test_command_prints_json_and_rejects_bad_file(tmp_path: Path) -> None:
    import batteryloop.commands.sourcing_carbon  # noqa: F401  (registers the command on its group)
    from batteryloop.cli import app

    good = tmp_path / "cf.json"
    good.write_text(json.dumps(INPUTS), encoding="utf-8")
    result = CliRunner().invoke(app, ["sourcing", "carbon", str(good), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["kgCO2e_per_kWh"] == pytest.approx(0.1)
    assert body["performance_class"] is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**INPUTS, "energy_kWh": 0}), encoding="utf-8")
    failed = CliRunner().invoke(app, ["sourcing", "carbon", str(bad), "--json"])
    assert failed.exit_code != 0
    assert isinstance(failed.exception, ValidationError)
    assert failed.exception.problems[0].field == "energy_kWh"
