"""ADR classification: one worked case per UN number family and per special provision; bad input named."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batteryloop.errors import ValidationError
from batteryloop.safety.transport import Consignment, adr_rules, classify, consignment_from_passport

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "rules" / "adr_battery_transport.csv"
AFTER = date(2026, 1, 15)


def _c(chem: str, kg: float, wh: float, condition: str = "intact", **kw: object) -> Consignment:
    return Consignment(chem, kg, wh, condition, on=AFTER, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("chem", "packaging", "un"),
    [
        ("li-ion", "alone", "UN3480"),
        ("li-ion", "in-equipment", "UN3481"),
        ("li-ion", "with-equipment", "UN3481"),
        ("li-metal", "alone", "UN3090"),
        ("li-metal", "in-equipment", "UN3091"),
        ("na-ion", "alone", "UN3551"),
        ("na-ion", "with-equipment", "UN3552"),
        ("li-ion", "vehicle", "UN3556"),
        ("li-metal", "vehicle", "UN3557"),
        ("na-ion", "vehicle", "UN3558"),
    ],
)
def test_un_number_per_family(chem: str, packaging: str, un: str) -> None:
    # A 400 kg, 60 kWh EV pack: far above every small-battery limit, so fully regulated.
    r = classify(_c(chem, 400.0, 60_000.0, packaging=packaging, lithium_g=500.0))
    assert r.un_number == un
    assert r.citations[0]["rule"] == un


def test_lithium_vehicle_before_july_2025_may_use_un3171() -> None:
    r = classify(Consignment("li-ion", 1800.0, 75_000.0, "intact", "vehicle", on=date(2025, 6, 30)))
    assert r.un_number == "UN3171"
    assert classify(Consignment("li-ion", 1800.0, 75_000.0, "intact", "vehicle", on=date(2025, 7, 1))).un_number == (
        "UN3556"
    )


def test_intact_large_battery_p903_and_marks() -> None:
    r = classify(_c("li-ion", 400.0, 60_000.0))
    assert r.special_provisions == ["SP230"]
    assert r.packing_instructions == ["P903"]
    assert r.subject_to_adr
    assert "UN number mark UN3480" in r.marking


@pytest.mark.parametrize(
    ("wh", "cell", "relief"),
    [(100.0, False, True), (100.1, False, False), (20.0, True, True), (20.5, True, False)],
)
def test_sp188_li_ion_watt_hour_limits(wh: float, cell: bool, relief: bool) -> None:
    # SP188: Li-ion cell <= 20 Wh, battery <= 100 Wh (ADR 3.3.1 SP188; adr_rules.csv SP188_LI_ION_*).
    r = classify(_c("li-ion", 0.6, wh, cell=cell))
    assert ("SP188" in r.special_provisions) is relief
    assert r.subject_to_adr is not relief
    assert (r.packing_instructions == []) is relief


@pytest.mark.parametrize(
    ("li_g", "cell", "relief"), [(2.0, False, True), (2.1, False, False), (1.0, True, True), (1.2, True, False)]
)
def test_sp188_li_metal_lithium_content_limits(li_g: float, cell: bool, relief: bool) -> None:
    # SP188: Li-metal cell <= 1 g, battery <= 2 g lithium.
    r = classify(_c("li-metal", 0.05, 5.0, cell=cell, lithium_g=li_g))
    assert ("SP188" in r.special_provisions) is relief


def test_sp188_not_claimed_without_lithium_content_or_for_sodium() -> None:
    r = classify(_c("li-metal", 0.01, 3.0))
    assert "SP188" not in r.special_provisions
    assert any("lithium content unknown" in n for n in r.notes)
    r = classify(_c("na-ion", 0.05, 5.0))
    assert "SP188" not in r.special_provisions
    assert r.packing_instructions == ["P903"]


def test_sp376_damaged_p908_lp904() -> None:
    r = classify(_c("li-ion", 25.0, 2000.0, "damaged"))
    assert r.special_provisions == ["SP376"]
    assert r.packing_instructions == ["P908", "LP904"]
    assert "DAMAGED/DEFECTIVE LITHIUM ION BATTERIES" in r.marking
    # a small damaged battery gets no SP188 relief
    small = classify(_c("li-ion", 0.05, 10.0, "damaged"))
    assert small.subject_to_adr
    assert "SP188" not in small.special_provisions


def test_sp376_critical_p911_lp906() -> None:
    r = classify(_c("li-metal", 2.0, 200.0, "critical", lithium_g=40.0))
    assert r.un_number == "UN3090"
    assert r.special_provisions == ["SP376"]
    assert r.packing_instructions == ["P911", "LP906"]
    assert "DAMAGED/DEFECTIVE LITHIUM METAL BATTERIES" in r.marking


def test_sp377_waste_above_500_g_p909() -> None:
    r = classify(_c("li-ion", 12.0, 500.0, "waste", purpose="disposal"))
    assert r.special_provisions == ["SP377"]
    assert r.packing_instructions == ["P909"]
    assert r.subject_to_adr
    assert "LITHIUM ION BATTERIES FOR DISPOSAL" in r.marking


@pytest.mark.parametrize(("kg", "sp636"), [(0.5, True), (0.501, False)])
def test_sp636_waste_up_to_500_g(kg: float, sp636: bool) -> None:
    r = classify(_c("li-ion", kg, 40.0, "waste"))
    assert ("SP636" in r.special_provisions) is sp636
    assert r.subject_to_adr is not sp636
    assert "LITHIUM ION BATTERIES FOR RECYCLING" in r.marking


def test_sodium_ion_waste_no_sp636() -> None:
    r = classify(_c("na-ion", 0.2, 10.0, "waste"))
    assert r.special_provisions == ["SP377"]
    assert "SODIUM ION BATTERIES FOR RECYCLING" in r.marking


def test_damaged_vehicle_says_rules_do_not_cover_it() -> None:
    r = classify(_c("li-ion", 1800.0, 75_000.0, "damaged", packaging="vehicle"))
    assert r.un_number == "UN3556"
    assert r.special_provisions == []
    assert any("no provision" in n for n in r.notes)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"chemistry": "lead-acid"}, "chemistry"),
        ({"mass_kg": -1.0}, "mass_kg"),
        ({"energy_Wh": float("nan")}, "energy_Wh"),
        ({"condition": "broken"}, "condition"),
        ({"purpose": "resale"}, "purpose"),
    ],
)
def test_bad_input_names_the_field(kw: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"chemistry": "li-ion", "mass_kg": 1.0, "energy_Wh": 10.0, "condition": "intact"}
    args.update(kw)
    with pytest.raises(ValidationError) as exc:
        classify(Consignment(**args))  # type: ignore[arg-type]
    assert [p.field for p in exc.value.problems] == [field]


def test_consignment_from_passport_data() -> None:
    data = {"battery_chemistry": "LFP", "battery_mass_kg": 310.0, "rated_energy_kWh": 52.5}
    c = consignment_from_passport(data, condition="damaged")
    assert (c.chemistry, c.mass_kg, c.energy_Wh) == ("li-ion", 310.0, 52_500.0)
    c = consignment_from_passport(
        {"battery_chemistry": "Na-ion", "battery_mass_kg": 20, "rated_capacity_Ah": 50, "nominal_voltage_V": 48},
        condition="intact",
    )
    assert (c.chemistry, c.energy_Wh) == ("na-ion", 2400.0)
    with pytest.raises(ValidationError) as exc:
        consignment_from_passport({"battery_chemistry": "NMC"}, condition="intact")
    assert {p.field for p in exc.value.problems} == {"battery_mass_kg", "rated_energy_kWh"}


def test_every_rule_row_cites_a_source_and_matches_shared_data() -> None:
    rules = adr_rules()
    assert all(r.source.strip() for r in rules.values())
    if not SHARED.exists():
        pytest.skip(f"shared rule data absent: {SHARED}")
    with SHARED.open(encoding="utf-8") as fh:
        shared = {row["item"] for row in csv.DictReader(fh)}
    used = {k for k in rules if k.startswith(("UN", "SP", "P", "LP"))} - {
        "SP188_LI_ION_CELL",
        "SP188_LI_ION_BATTERY",
        "SP188_LI_METAL_CELL",
        "SP188_LI_METAL_BATTERY",
        "SP636_TRANSPORT_UNIT",
    }
    assert used <= shared


def test_cli_transport_json_and_bad_input() -> None:
    from batteryloop.cli import app
    from batteryloop.commands import load_all

    load_all()
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            *("safety", "transport", "--chemistry", "li-ion", "--mass-kg", "0.3", "--energy-Wh", "50"),
            *("--condition", "waste", "--purpose", "disposal", "--json"),
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["un_number"] == "UN3480"
    assert out["special_provisions"] == ["SP377", "SP636"]
    assert out["packing_instructions"] == ["P909"]
    res = runner.invoke(app, ["safety", "transport", "--chemistry", "li-ion", "--condition", "intact"])
    assert isinstance(res.exception, ValidationError)
    assert res.exception.problems[0].field == "--mass-kg"


def test_cli_transport_reads_the_passport(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from batteryloop.config import Settings
    from batteryloop.db import make_engine, make_session_factory, transaction
    from batteryloop.migrate import upgrade
    from batteryloop.passport.access import Role, Viewer
    from batteryloop.passport.service import PassportService

    settings = Settings(data_dir=tmp_path)
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        svc = PassportService(session, settings)
        org = svc.create_organisation("Maker B.V.", identifier="ID-MAKER", kind="manufacturer")
        viewer = Viewer(Role.ECONOMIC_OPERATOR, account="maker-op", organisation_id=org.id)
        data = {
            "battery_category": "ev",
            "serial_number": "PACK-T-1",
            "gtin": "6291041500213",
            "battery_model_identifier": "EV-75",
            "battery_chemistry": "NMC",
            "battery_mass_kg": 450.0,
            "rated_capacity_Ah": 211.0,
            "nominal_voltage_V": 355.0,
            "rated_energy_kWh": 75.0,
            "manufacturer_name": "Maker B.V.",
        }
        pid = svc.create(viewer, data).id
    engine.dispose()
    env = {**os.environ, "BATTERYLOOP_DATA_DIR": str(tmp_path)}
    env.pop("BATTERYLOOP_DATABASE_URL", None)
    args = ["safety", "transport", "--passport", pid, "--condition", "damaged", "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "batteryloop.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["input"]["chemistry"] == "li-ion"
    assert out["input"]["mass_kg"] == 450.0
    assert out["input"]["energy_Wh"] == 75_000.0
    assert out["un_number"] == "UN3480"
    assert out["packing_instructions"] == ["P908", "LP904"]
