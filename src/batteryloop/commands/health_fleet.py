"""``batteryloop health fleet``: the Annex VII parameters of every battery in a telemetry store, to Parquet and to the
batteries' passports."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from batteryloop.commands.groups import health_app
from batteryloop.errors import ValidationError

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


@health_app.command("fleet")
def fleet_command(
    store: Annotated[
        Path | None, typer.Option(help="The telemetry store (default: BATTERYLOOP_DATA_DIR/telemetry).")
    ] = None,
    engine: Annotated[str, typer.Option(help="local (this machine's processes) or dask (a Dask cluster).")] = "local",
    workers: Annotated[int, typer.Option(help="Worker processes (local: 1 runs in this process).")] = 1,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a running Dask scheduler (dask engine), e.g. tcp://host:8786.")
    ] = None,
    memory_limit: Annotated[
        str, typer.Option("--memory-limit", help="Memory limit per Dask worker of a local cluster (e.g. 4GiB).")
    ] = "4GiB",
    out_path: Annotated[
        Path, typer.Option("--out", help="Parquet file of the results, one row per battery (written atomically).")
    ] = Path("fleet-health.parquet"),
    batteries: Annotated[
        Path | None,
        typer.Option(help="CSV: battery_id and any of nominal_capacity_Ah, nominal_energy_kWh, chemistry, ..."),
    ] = None,
    nominal_capacity_Ah: Annotated[
        float | None, typer.Option("--nominal-capacity-Ah", help="Default rated capacity (Ah).")
    ] = None,
    nominal_energy_kWh: Annotated[
        float | None, typer.Option("--nominal-energy-kWh", help="Default certified energy (kWh).")
    ] = None,
    chemistry: Annotated[str | None, typer.Option(help="Default chemistry: NMC, NCA, LFP, LCO or LMO.")] = None,
    cells_in_series: Annotated[
        int | None, typer.Option("--cells-in-series", help="Default cells in series behind voltage_V.")
    ] = None,
    max_current_A: Annotated[
        float | None, typer.Option("--max-current-A", help="Default largest plausible |current| (A).")
    ] = None,
    initial_resistance_mOhm: Annotated[
        float | None, typer.Option("--initial-resistance-mOhm", help="Default begin-of-life resistance (mOhm).")
    ] = None,
    initial_round_trip_efficiency_pct: Annotated[
        float | None,
        typer.Option("--initial-round-trip-efficiency-pct", help="Default begin-of-life round-trip efficiency (%)."),
    ] = None,
    passports: Annotated[
        bool | None,
        typer.Option(
            "--passports/--no-passports",
            help="Read ratings from the passports (default: when a registry database is configured or present).",
        ),
    ] = None,
    push: Annotated[
        bool, typer.Option("--push/--no-push", help="Record the values on the passports (a new dynamic version).")
    ] = False,
    token: Annotated[str | None, typer.Option(help="Push as the account of this bearer token.")] = None,
    account: Annotated[str | None, typer.Option(help="Push as this account.")] = None,
    day: Annotated[
        str | None,
        typer.Option(help="The daily job: only the rows of this UTC day (YYYY-MM-DD); only its partitions are read."),
    ] = None,
    days: Annotated[
        int | None, typer.Option(help="With --day: the trailing window of this many UTC days ending with --day.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only rows from this date (UTC midnight) or time with a UTC offset on.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only rows before this date (UTC midnight) or time with a UTC offset.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
) -> None:
    """Estimate the Annex VII parameters of every battery in the store, write them to --out, and with --push record
    them on each battery's passport.

    Each battery is read on its own (its partitions only), quality-checked and estimated on the chosen engine; a
    battery that fails is a row with its error and does not stop the others. Ratings come from --batteries, else the
    passport (the battery_id as passport identifier, else as serial number), else the defaults given here.

    With --day (the nightly job), --day with --days N (a trailing window), or --since/--until, only the batteries with
    rows in that window are estimated, each from those rows alone, and only the partitions of those days are read.
    """
    from batteryloop.config import get_settings
    from batteryloop.health import fleet
    from batteryloop.runners import make_runner
    from batteryloop.telemetry.store import TelemetryStore

    settings = get_settings()
    root = store if store is not None else settings.data_dir / "telemetry"
    if not (root / "_store.json").exists():
        raise ValidationError(
            f"{root}: not a telemetry store (no _store.json)",
            field="--store",
            expected="a store written by batteryloop telemetry ingest",
        )
    if token is not None and account is not None:
        raise ValidationError("both --token and --account", field="--token", expected="one of them")
    if (token is not None or account is not None) and not push:
        raise ValidationError("--token/--account without --push", field="--push", expected="--push")
    window = fleet.parse_window(day, days, since, until)
    defaults = rating_defaults(
        nominal_capacity_Ah,
        nominal_energy_kWh,
        chemistry,
        cells_in_series,
        max_current_A,
        initial_resistance_mOhm,
        initial_round_trip_efficiency_pct,
    )
    table = fleet.read_batteries_csv(batteries) if batteries is not None else None
    options: dict[str, Any] = {"memory_limit": memory_limit} if engine == "dask" else {}
    runner = make_runner(engine, workers, address=scheduler, **options)
    if window is None:
        ids = TelemetryStore(root).batteries()
    else:
        ids = TelemetryStore(root).batteries(start=window.start, end=window.end)
    if not ids:
        where = "" if window is None else f" with rows {window.describe()}"
        raise ValidationError(
            f"{root}: no battery in the store{where}",
            field="--store" if window is None else ("--day" if day is not None else "--since/--until"),
            expected="stored telemetry" if window is None else "a window with stored rows",
        )

    use_registry = push or (passports if passports is not None else registry_present(settings))
    matches: dict[str, fleet.PassportMatch] | None = None
    push_settings = None
    engine_db = None
    if use_registry:
        from batteryloop.db import make_engine, make_session_factory, transaction
        from batteryloop.migrate import upgrade

        engine_db = make_engine(settings.resolved_database_url())
        upgrade(engine_db)
        factory = make_session_factory(engine_db)
        with transaction(factory) as session:
            matches = fleet.find_passports(session, ids)
        if push:
            push_settings = fleet.PushSettings(factory, token=token, account=account, settings=settings)
    try:
        tasks = fleet.plan(
            root, batteries_csv=table, passports=matches, defaults=defaults, battery_ids=ids, window=window
        )
        _, report = fleet.run_fleet(tasks, runner, out=out_path, push=push_settings, passports=matches)
    finally:
        if engine_db is not None:
            engine_db.dispose()
    data = report.as_dict()
    data["store"] = str(root)
    data["passports_read"] = use_registry
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    else:
        _print(data)


def rating_defaults(
    nominal_capacity_Ah: float | None,
    nominal_energy_kWh: float | None,
    chemistry: str | None,
    cells_in_series: int | None,
    max_current_A: float | None,
    initial_resistance_mOhm: float | None,
    initial_round_trip_efficiency_pct: float | None,
) -> Any:
    from batteryloop.errors import Problem
    from batteryloop.health.fleet import BatteryParameters
    from batteryloop.rules import chemistry as chemistry_limits

    problems = []
    numbers = {
        "--nominal-capacity-Ah": nominal_capacity_Ah,
        "--nominal-energy-kWh": nominal_energy_kWh,
        "--max-current-A": max_current_A,
        "--initial-resistance-mOhm": initial_resistance_mOhm,
        "--initial-round-trip-efficiency-pct": initial_round_trip_efficiency_pct,
    }
    for option, value in numbers.items():
        if value is not None and not (value > 0 and value != float("inf")):
            problems.append(Problem(option, f"{value!r} is not a positive number", "a positive number"))
    if cells_in_series is not None and cells_in_series < 1:
        problems.append(Problem("--cells-in-series", f"{cells_in_series}", "a whole number of at least 1"))
    if problems:
        raise ValidationError("invalid defaults", problems=problems)
    if chemistry is not None:
        try:
            chemistry = chemistry_limits(chemistry).chemistry
        except ValidationError as exc:
            raise ValidationError(
                f"unknown chemistry {chemistry!r}",
                field="--chemistry",
                expected=exc.problems[0].expected if exc.problems else None,
            ) from None
    return BatteryParameters(
        nominal_capacity_Ah=nominal_capacity_Ah,
        nominal_energy_kWh=nominal_energy_kWh,
        chemistry=chemistry,
        cells_in_series=cells_in_series,
        initial_resistance_mOhm=initial_resistance_mOhm,
        initial_round_trip_efficiency_pct=initial_round_trip_efficiency_pct,
        max_current_A=max_current_A,
    )


def registry_present(settings: Any) -> bool:
    """A registry to read ratings from: a configured database, or the embedded one already made."""
    return bool(settings.database_url) or (settings.data_dir / "batteryloop.db").exists()


def _print(data: dict[str, Any]) -> None:
    span = ""
    if data.get("window_start") or data.get("window_end"):
        span = f", rows from {data.get('window_start') or 'the first'} to {data.get('window_end') or 'the last'}"
    table = Table(title=f"Fleet health of {data['store']} ({data['engine']}, {data['workers']} worker(s){span})")
    table.add_column("batteries", justify="right")
    table.add_column("ok", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("pushed", justify="right")
    table.add_column("unchanged", justify="right")
    table.add_column("time", justify="right")
    table.add_column("rows/s", justify="right")
    pushing = data["push"]
    table.add_row(
        f"{data['batteries']:,}",
        f"{data['ok']:,}",
        f"{data['failed']:,}",
        f"{data['pushed']:,}" if pushing else "-",
        f"{data['unchanged']:,}" if pushing else "-",
        f"{data['seconds']:.1f} s",
        f"{data['rows_per_s']:,.0f}" if data["rows_per_s"] else "-",
    )
    out.print(table)
    if pushing:
        out.print(
            f"passports: {data['pushed']} pushed, {data['unchanged']} unchanged, {data['nothing_to_push']} with "
            f"nothing to record, {data['no_passport']} without a passport, {data['refused']} refused"
        )
    for f in data["failures"][:10]:
        out.print(f"  failed {f['battery_id']}: {f['error']}")
    if len(data["failures"]) > 10:
        out.print(f"  ... {len(data['failures']) - 10} more failures (see the error column of {data['out']})")
    for r in data["refusals"][:10]:
        out.print(f"  refused {r['battery_id']} ({r['passport_id']}): {r['reason']}")
    out.print(f"results: {data['out']}")
