"""``batteryloop sourcing carbon``: carbon footprint per functional unit (Art. 7), optionally into a passport."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from batteryloop.commands.groups import sourcing_app
from batteryloop.errors import ValidationError
from batteryloop.passport.access import Role, Viewer

out = Console(soft_wrap=True, highlight=False)


def _read(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{file}: cannot read JSON ({exc})", field="FILE", expected="a JSON file") from None


@sourcing_app.command("carbon")
def carbon_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON: stages_kgCO2e, energy_kWh, vehicle_type (or cycles_per_year and service_life_years), "
            "optional performance_classes and study."
        ),
    ],
    passport: Annotated[str | None, typer.Option(help="Passport to write the carbon-footprint section into.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Write into --passport (a new version where it changes).")] = (
        False
    ),
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Carbon footprint in kgCO2e per kWh of total energy delivered over the service life, per life-cycle stage,
    with a performance class where a class table is given."""
    from batteryloop.sourcing.carbon_footprint import apply as apply_result
    from batteryloop.sourcing.carbon_footprint import carbon_footprint

    if apply and passport is None:
        raise ValidationError("--apply needs a passport", field="--passport", expected="a passport identifier")
    try:
        result = carbon_footprint(_read(file))
    except ValidationError as exc:
        exc.message = f"{file}: {exc.message}"
        raise
    written: dict[str, Any] | None = None
    if passport is not None and apply:
        from batteryloop.cli import registry
        from batteryloop.passport.models import Passport

        with registry() as (service, session):
            found = session.get(Passport, passport)
            if found is None:
                raise ValidationError(f"no passport {passport!r}", field="--passport", expected="a passport identifier")
            viewer = Viewer(Role.ECONOMIC_OPERATOR, account="cli", organisation_id=found.operator_id)
            written = apply_result(service, viewer, passport, result)
    if json_out:
        print(json.dumps({**result.as_dict(), "passport": written}, ensure_ascii=False))
        return
    out.print(
        f"carbon footprint: {result.kgCO2e_per_kWh:.4f} kgCO2e/kWh "
        f"({result.total_kgCO2e:,.1f} kgCO2e over {result.total_energy_kWh:,.0f} kWh = "
        f"{result.energy_kWh:g} kWh x {result.cycles_per_year:g} cycles/year x {result.service_life_years:g} years; "
        f"cycles from {result.cycles_source})"
    )
    for s in result.stages:
        out.print(f"  {s.stage}: {s.kgCO2e:,.1f} kgCO2e, {s.kgCO2e_per_kWh:.4f} kgCO2e/kWh, {s.share_pct:.1f} %")
    out.print(f"performance class: {result.performance_class or '-'} ({result.class_note})")
    if written is not None:
        out.print(f"passport {written['passport_id']}: {written['action']} (version {written['version']})")
