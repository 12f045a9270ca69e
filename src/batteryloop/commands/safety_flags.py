"""``batteryloop safety flags``: hazard flags for every battery of a telemetry store, optionally marked on the
batteries' passports."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from batteryloop.commands.groups import safety_app
from batteryloop.errors import ValidationError

out = Console(soft_wrap=True, highlight=False)


@safety_app.command("flags")
def flags_command(
    store: Annotated[
        Path | None, typer.Option(help="The telemetry store (default: BATTERYLOOP_DATA_DIR/telemetry).")
    ] = None,
    batteries: Annotated[
        Path | None,
        typer.Option(help="CSV: battery_id and any of nominal_capacity_Ah, chemistry, cells_in_series, ..."),
    ] = None,
    nominal_capacity_Ah: Annotated[
        float | None, typer.Option("--nominal-capacity-Ah", help="Default rated capacity (Ah).")
    ] = None,
    chemistry: Annotated[str | None, typer.Option(help="Default chemistry: NMC, NCA, LFP, LCO or LMO.")] = None,
    cells_in_series: Annotated[
        int | None, typer.Option("--cells-in-series", help="Default cells in series behind voltage_V.")
    ] = None,
    passports: Annotated[
        bool | None,
        typer.Option(
            "--passports/--no-passports",
            help="Read ratings and previous estimates from the passports (default: when a registry is present).",
        ),
    ] = None,
    mark: Annotated[
        bool,
        typer.Option(
            "--mark", help="Confirm each flagged battery's flags onto its passport: safety_status and negative_events."
        ),
    ] = False,
    account: Annotated[
        str | None, typer.Option(help="Mark as this account (default: the responsible operator).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: the report and every battery's flags.")] = False,
) -> None:
    """Flag the batteries of a telemetry store for hazards found in their data; --mark records them on passports.

    Abnormal self-discharge, a sudden resistance increase, a capacity drop, over-temperature events and deep
    discharges (rules and thresholds in safety/flag_rules.csv), each with its evidence; with --mark the flags are
    recorded on the passport as its safety status (damaged / defective), one version per passport and none when
    already recorded.
    """
    from batteryloop.commands.health_fleet import rating_defaults, registry_present
    from batteryloop.config import get_settings
    from batteryloop.health import fleet
    from batteryloop.safety import flags as hazard
    from batteryloop.telemetry.store import TelemetryStore

    settings = get_settings()
    root = store if store is not None else settings.data_dir / "telemetry"
    if not (root / "_store.json").exists():
        raise ValidationError(
            f"{root}: not a telemetry store (no _store.json)",
            field="--store",
            expected="a store written by batteryloop telemetry ingest",
        )
    if account is not None and not mark:
        raise ValidationError("--account without --mark", field="--account", expected="--mark")
    defaults = rating_defaults(nominal_capacity_Ah, None, chemistry, cells_in_series, None, None, None)
    table = fleet.read_batteries_csv(batteries) if batteries is not None else None
    ids = TelemetryStore(root).batteries()
    if not ids:
        raise ValidationError(f"{root}: no battery in the store", field="--store", expected="stored telemetry")
    use_registry = mark or (passports if passports is not None else registry_present(settings))
    matches: dict[str, fleet.PassportMatch] | None = None
    previous: dict[str, dict[str, Any]] = {}
    mark_settings = None
    engine_db = None
    try:
        if use_registry:
            from batteryloop.db import make_engine, make_session_factory, transaction
            from batteryloop.migrate import upgrade

            engine_db = make_engine(settings.resolved_database_url())
            upgrade(engine_db)
            factory = make_session_factory(engine_db)
            with transaction(factory) as session:
                matches = fleet.find_passports(session, ids)
                pids = [m.passport_id for m in matches.values() if m.passport_id is not None]
                previous = hazard.previous_values(session, pids)
            if mark:
                mark_settings = fleet.PushSettings(factory, account=account, settings=settings)
        tasks = fleet.plan(root, batteries_csv=table, passports=matches, defaults=defaults, battery_ids=ids)
        rows, report = hazard.run_flags(tasks, previous=previous, mark=mark_settings)
    finally:
        if engine_db is not None:
            engine_db.dispose()
    data = report.as_dict()
    data["store"] = str(root)
    data["passports_read"] = bool(use_registry)
    data["results"] = rows
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        return
    out.print(
        f"{data['batteries']} batteries: {data['flagged']} flagged ({data['flags']} flags), {data['judged']} judged, "
        f"{data['failed']} failed"
    )
    for row in rows:
        for f in row["flags"]:
            out.print(
                f"  {row['battery_id']}: {f['severity']} - {f['rule']} {f['value']:.4g} {f['unit']} "
                f"(threshold {f['threshold']:g}) at {f['time']}"
            )
        if row["error"]:
            out.print(f"  {row['battery_id']}: not judged: {row['error']}")
        if row["mark"]:
            out.print(f"  {row['battery_id']}: passport {row['passport_id']}: {row['mark']}")
    if mark:
        out.print(
            f"passports: {data['marked']} marked, {data['unchanged']} unchanged, {data['no_passport']} flagged "
            f"without a passport, {data['refused']} refused"
        )


@safety_app.command("status")
def status_command(
    passport_id: Annotated[str, typer.Argument(help="The battery's passport.")],
    set_to: Annotated[
        str, typer.Option("--set", help="intact | damaged | defective | critically_defective (ADR SP 376 terms).")
    ],
    evidence: Annotated[str, typer.Option(help="What was found, and how (e.g. the inspection and its findings).")],
    account: Annotated[
        str | None, typer.Option(help="Mark as this account (default: the responsible operator).")
    ] = None,
) -> None:
    """Mark a battery's safety status after an inspection, with the evidence (safety/safety_status.csv).

    Writes the passport's safety_status and, except for intact, a negative_events entry with the evidence, in one
    signed version; critically_defective (P911/LP906 in transport) and intact are a person's finding only.
    """
    from datetime import UTC, datetime

    from batteryloop.cli import _responsible_viewer, registry
    from batteryloop.safety.status import check_status, set_status

    check_status(set_to, field="--set")
    with registry() as (service, _session):
        viewer = service.viewer_for(account) if account is not None else _responsible_viewer(service, passport_id)
        result = set_status(
            service,
            viewer,
            passport_id,
            set_to,
            evidence=evidence,
            measured_at=datetime.now(UTC),
            method=f"inspection recorded by {viewer.account} (batteryloop safety status)",
        )
    out.print(f"passport {passport_id}: safety status {set_to} ({result})")
