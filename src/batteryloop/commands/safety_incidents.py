"""``batteryloop safety incident add|correct|list|counts``: the incident register of fires and thermal events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from batteryloop.commands.groups import safety_app
from batteryloop.passport.access import Role, Viewer

if TYPE_CHECKING:
    from batteryloop.safety.incidents import IncidentService

out = Console(soft_wrap=True, highlight=False)
incident_app = typer.Typer(help="The incident register: fires and thermal events of batteries.", no_args_is_help=True)
safety_app.add_typer(incident_app, name="incident")


@contextmanager
def _register() -> Iterator[tuple[IncidentService, Viewer]]:
    """A transaction on the configured database, as the local administrator (an authority: sees and records all)."""
    from batteryloop.cli import registry
    from batteryloop.safety.incidents import IncidentService

    with registry() as (_, session):
        yield IncidentService(session), Viewer(Role.MARKET_SURVEILLANCE_AUTHORITY, account="cli")


def _fields(**given: Any) -> dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None}


@incident_app.command("add")
def add(
    on: Annotated[str, typer.Option("--date", help="Date of the incident, YYYY-MM-DD.")],
    location_type: Annotated[
        str, typer.Option(help="home | storage | transport | waste_facility | charging | vehicle | other")
    ],
    category: Annotated[str, typer.Option(help="Battery category: portable | LMT | SLI | EV | industrial.")],
    chemistry: Annotated[str, typer.Option(help="Battery chemistry, e.g. NMC, LFP, lead-acid.")],
    cause: Annotated[str, typer.Option(help="A cause of incident_terms.csv, or unknown.")] = "unknown",
    consequence: Annotated[
        str, typer.Option(help="no_damage | material_damage | injury | fatality | evacuation")
    ] = "no_damage",
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    passport: Annotated[str | None, typer.Option(help="The battery's passport id (must exist).")] = None,
) -> None:
    """Record a fire or thermal event; prints its number."""
    data = _fields(
        occurred_on=on,
        location_type=location_type,
        category=category,
        chemistry=chemistry,
        cause=cause,
        consequence=consequence,
        description=description,
        passport_id=passport,
    )
    with _register() as (register, viewer):
        incident = register.record(viewer, data)
        number = incident.number
    out.print(f"incident {number} recorded")
    print(number)


@incident_app.command("correct")
def correct(
    number: Annotated[int, typer.Argument(help="The incident's number.")],
    on: Annotated[str | None, typer.Option("--date", help="Date of the incident, YYYY-MM-DD.")] = None,
    location_type: Annotated[str | None, typer.Option(help="Location type.")] = None,
    category: Annotated[str | None, typer.Option(help="Battery category.")] = None,
    chemistry: Annotated[str | None, typer.Option(help="Battery chemistry.")] = None,
    cause: Annotated[str | None, typer.Option(help="Cause.")] = None,
    consequence: Annotated[str | None, typer.Option(help="Consequence.")] = None,
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    passport: Annotated[str | None, typer.Option(help="The battery's passport id (must exist).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why the incident is corrected.")] = None,
) -> None:
    """Correct an incident: a new version with the given fields changed, the old version kept."""
    data = _fields(
        occurred_on=on,
        location_type=location_type,
        category=category,
        chemistry=chemistry,
        cause=cause,
        consequence=consequence,
        description=description,
        passport_id=passport,
    )
    with _register() as (register, viewer):
        incident = register.correct(viewer, number, data, reason=reason)
        version = incident.version
    out.print(f"incident {number}: version {version}")


@incident_app.command("list")
def list_incidents(
    year: Annotated[int | None, typer.Option(help="Only this year.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this battery category.")] = None,
    location_type: Annotated[str | None, typer.Option(help="Only this location type.")] = None,
    passport: Annotated[str | None, typer.Option(help="Only incidents linked to this passport.")] = None,
    history: Annotated[bool, typer.Option(help="Every version, not only the current ones.")] = False,
) -> None:
    """List the incidents in the register (as JSON)."""
    from batteryloop.safety.incidents import IncidentService

    with _register() as (register, viewer):
        found = register.incidents(
            viewer, year=year, category=category, location_type=location_type, passport_id=passport, history=history
        )
        rows = [IncidentService.as_dict(i) for i in found]
    print(json.dumps(rows, ensure_ascii=False))


@incident_app.command("counts")
def counts(
    per: Annotated[str, typer.Option(help="month | year")] = "month",
    year: Annotated[int | None, typer.Option(help="Only this year.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this battery category.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    public: Annotated[
        bool,
        typer.Option(
            "--public", help="As the public reads them: counts below 3 shown as <3 (safety/disclosure_rules.csv)."
        ),
    ] = False,
) -> None:
    """Incidents per month or year, battery category and location type (the authority's monitor)."""
    with _register() as (register, viewer):
        who = Viewer.anonymous() if public else viewer
        rows = [r.as_dict() for r in register.published_counts(who, per=per, year=year, category=category)]
    if json_out:
        print(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        out.print("no incidents")
    for r in rows:
        out.print(f"{r['period']}  {r['category']:<10} {r['location_type']:<15} {r['shown']:>5}")
