"""``batteryloop safety transport`` (ADR classification) and ``batteryloop safety storage`` (PGS 37-2 checks)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from batteryloop.commands.groups import safety_app
from batteryloop.errors import ValidationError

out = Console(soft_wrap=True, highlight=False)


def _emit(value: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        out.print_json(json.dumps(value, ensure_ascii=False, default=str))
    else:
        for line in lines:
            out.print(line)


def _passport_data(passport_id: str) -> dict[str, Any]:
    """The passport as its responsible economic operator sees it (as ``passport show``)."""
    from batteryloop.cli import registry
    from batteryloop.passport.access import Role, Viewer
    from batteryloop.passport.models import Organisation, Passport

    with registry() as (service, session):
        passport = session.get(Passport, passport_id)
        org = session.get(Organisation, passport.operator_id) if passport is not None else None
        viewer = (
            Viewer(Role.ECONOMIC_OPERATOR, account=f"cli:{org.name}", organisation_id=org.id)
            if org is not None
            else Viewer.anonymous()
        )
        view = service.view(viewer, passport_id, route="cli safety transport")
        return dict(view.data)


@safety_app.command("transport")
def transport_command(
    condition: Annotated[
        str | None,
        typer.Option(
            help="intact | damaged | critical | waste (with --passport: default from its safety_status, see "
            "safety/safety_status.csv)"
        ),
    ] = None,
    passport: Annotated[
        str | None, typer.Option(help="Read chemistry, mass, energy and the safety status from this passport.")
    ] = None,
    chemistry: Annotated[str | None, typer.Option(help="li-ion | li-metal | na-ion")] = None,
    mass_kg: Annotated[float | None, typer.Option("--mass-kg", help="Gross mass per cell or battery [kg].")] = None,
    energy_Wh: Annotated[float | None, typer.Option("--energy-Wh", help="Energy per cell or battery [Wh].")] = None,
    lithium_g: Annotated[
        float | None, typer.Option("--lithium-g", help="Lithium content per cell or battery [g] (lithium metal).")
    ] = None,
    in_equipment: Annotated[bool, typer.Option("--in-equipment", help="Contained in equipment.")] = False,
    with_equipment: Annotated[bool, typer.Option("--with-equipment", help="Packed with equipment.")] = False,
    vehicle: Annotated[bool, typer.Option("--vehicle", help="A battery-powered vehicle.")] = False,
    cell: Annotated[bool, typer.Option("--cell", help="The figures are per cell, not per battery.")] = False,
    purpose: Annotated[str, typer.Option(help="Waste only: disposal | recycling.")] = "recycling",
    on: Annotated[str | None, typer.Option("--date", help="Transport date (default today), YYYY-MM-DD.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Classify a battery consignment under ADR: UN number, special provisions, packing instructions, marking."""
    from batteryloop.safety.transport import Consignment, classify, consignment_from_passport

    if sum((in_equipment, with_equipment, vehicle)) > 1:
        raise ValidationError(
            "choose one packaging",
            field="--in-equipment",
            expected="at most one of --in-equipment/--with-equipment/--vehicle",
        )
    packaging = (
        "in-equipment" if in_equipment else "with-equipment" if with_equipment else "vehicle" if vehicle else "alone"
    )
    when: date | None = None
    if on is not None:
        try:
            when = date.fromisoformat(on)
        except ValueError:
            raise ValidationError(f"not a date: {on!r}", field="--date", expected="YYYY-MM-DD") from None
    extra: dict[str, Any] = {"lithium_g": lithium_g, "purpose": purpose, "on": when}
    condition_note: str | None = None
    if passport is not None:
        if chemistry is not None or mass_kg is not None or energy_Wh is not None:
            raise ValidationError(
                "--passport reads chemistry, mass and energy; do not give them as well",
                field="--passport",
                expected="either --passport or --chemistry/--mass-kg/--energy-Wh",
            )
        data = _passport_data(passport)
        if condition is None:
            from batteryloop.safety.status import transport_condition

            condition, condition_note = transport_condition(data)
        consignment = consignment_from_passport(data, condition=condition, packaging=packaging, cell=cell, **extra)
    else:
        if condition is None:
            raise ValidationError(
                "missing --condition", field="--condition", expected="intact | damaged | critical | waste"
            )
        missing = [
            n for n, v in (("--chemistry", chemistry), ("--mass-kg", mass_kg), ("--energy-Wh", energy_Wh)) if v is None
        ]
        if missing:
            raise ValidationError(
                f"missing {', '.join(missing)}", field=missing[0], expected="--passport ID or all of these options"
            )
        assert chemistry is not None
        assert mass_kg is not None
        assert energy_Wh is not None
        consignment = Consignment(chemistry, mass_kg, energy_Wh, condition, packaging, cell, **extra)
    result = classify(consignment).as_dict()
    result["input"] = {
        "chemistry": consignment.chemistry,
        "mass_kg": consignment.mass_kg,
        "energy_Wh": consignment.energy_Wh,
        "condition": consignment.condition,
        "packaging": consignment.packaging,
        "cell": consignment.cell,
        "passport": passport,
    }
    if condition_note is not None:
        result["input"]["condition_source"] = condition_note
    lines = [
        f"{result['un_number']} {result['proper_shipping_name']}, class 9",
        "special provisions: " + (", ".join(result["special_provisions"]) or "none"),
        "packing instructions: " + (", ".join(result["packing_instructions"]) or "none"),
        "marking: " + ("; ".join(result["marking"]) or "none"),
        "subject to ADR: " + ("yes" if result["subject_to_adr"] else "no (relief as above)"),
        *([f"condition: {condition_note}"] if condition_note is not None else []),
        *(f"note: {n}" for n in result["notes"]),
    ]
    _emit(result, as_json, lines)


@safety_app.command("storage")
def storage_command(
    site: Annotated[Path, typer.Argument(help="Site file: YAML (with PyYAML), JSON or TOML.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check a storage site's fire compartments against PGS 37-2 (2023): thresholds, damaged carriers, activities."""
    from batteryloop.safety.storage import check_site, read_site

    report = check_site(read_site(site))
    lines: list[str] = []
    for comp in report["compartments"]:
        lines.append(f"compartment {comp['id']}: in scope of PGS 37-2: {comp['in_scope']}")
        for c in comp["checks"]:
            lines.append(f"  {c['rule']}: {c['figure']:g} {c['unit']} vs {c['threshold']:g} -> reached={c['reached']}")
        for r in comp["damaged"]["readings"]:
            lines.append(f"  {r['rule']}: {r['figure']:g} {r['unit']} vs {r['threshold']:g} -> reached={r['reached']}")
        for f in comp["findings"]:
            lines.append(f"  FINDING {f['rule']}: {f['finding']}")
        for m in comp["measures"]:
            cond = (
                " [only under the reading that puts the compartment in scope]"
                if m["conditional_on_damaged_reading"]
                else ""
            )
            lines.append(f"  measure ({m['rule']}): {m['measure']}{cond}")
    _emit(report, as_json, lines)
