"""The Annex VII parameters of every battery in a telemetry store, on a runner, to Parquet and to the passports.

:func:`run_fleet` makes one task per battery of the store (:class:`BatteryTask`: the store's path, the battery id and
its parameters, nothing else) and maps :func:`run_battery` over them on a runner (:mod:`batteryloop.runners`). A task
reads only its own battery's partitions (:meth:`TelemetryStore.scan` with the battery id: the partitions of its hash
bucket, filtered to its rows), runs the quality check and :func:`~batteryloop.health.pipeline.estimate`, and returns one
flat row; a worker holds one battery at a time. A battery that fails becomes a row with ``error`` (its reason); the
others go on.

**A time window** (the daily job): ``plan(store, start=..., end=...)`` (or ``window=``, :func:`day_window` for one UTC
day and :func:`parse_window` for the command's ``--day``/``--days``/``--since``/``--until``) takes the batteries that
have rows in ``start <= timestamp < end`` and gives each task the window, so that it reads only the partitions of
those days (:meth:`TelemetryStore.scan` with ``start`` and ``end``) and estimates from those rows alone. Without a
window every stored row of a battery is read.

**Battery parameters**, each field from the first source that has it:

1. the ``--batteries`` CSV (:func:`read_batteries_csv`): ``battery_id`` and any of :data:`PARAMETER_COLUMNS`;
2. the battery's passport: ``rated_capacity_Ah``, ``rated_energy_kWh``, ``battery_chemistry`` (when
   ``rules/chemistry.csv`` knows it), ``initial_internal_resistance_pack_mOhm``, ``initial_round_trip_efficiency_pct``,
   and the cells in series as ``nominal_voltage_V`` over the chemistry's nominal cell voltage, rounded;
3. the defaults given on the command line.

A battery without a nominal capacity is an error row.

**Matching a battery to its passport.** The telemetry ``battery_id`` is first looked up as a passport identifier; if
no passport has that identifier, as a ``serial_number``. Several passports can share a serial number (the uniqueness
is GTIN + serial): of those, the active ones count, and where more than one remains the battery is not matched (no
passport, reason "ambiguous"): a value written to the wrong battery's passport would be worse than none.

**Push** (:class:`PushSettings`): for each battery with a passport and a result, the values
:meth:`HealthEstimate.passport_values` gives for the passport's category are recorded with
:meth:`PassportService.update_dynamic`, in one transaction per battery, as the passport's responsible economic operator
(or as the account of ``--token``/``--account``, refused where that account is not responsible). Where every value
equals the passport's current one, nothing is written ("unchanged"), so running the fleet again on the same data
creates no version.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.config import Settings
from batteryloop.errors import BatteryloopError, Problem, ValidationError
from batteryloop.runners.base import Outcome, Runner, describe_error

if TYPE_CHECKING:
    from batteryloop.health.pipeline import HealthEstimate
    from batteryloop.telemetry.quality import QualityResult

PARAMETER_COLUMNS = (
    "nominal_capacity_Ah",
    "nominal_energy_kWh",
    "chemistry",
    "cells_in_series",
    "initial_resistance_mOhm",
    "initial_round_trip_efficiency_pct",
    "initial_self_discharge_pct_per_month",
    "max_current_A",
)
PASSPORT_FIELDS = {  # passport attribute -> battery parameter
    "rated_capacity_Ah": "nominal_capacity_Ah",
    "rated_energy_kWh": "nominal_energy_kWh",
    "battery_chemistry": "chemistry",
    "initial_internal_resistance_pack_mOhm": "initial_resistance_mOhm",
    "initial_round_trip_efficiency_pct": "initial_round_trip_efficiency_pct",
}
BASE_COLUMNS: dict[str, pl.DataType] = {
    "battery_id": pl.String(),
    "passport_id": pl.String(),
    "parameter_sources": pl.String(),
    "nominal_capacity_Ah": pl.Float64(),
    "chemistry": pl.String(),
    "cells_in_series": pl.Int64(),
    "rows": pl.Int64(),
    "rows_rejected": pl.Int64(),
    "record_start": pl.Datetime("us", "UTC"),
    "measured_at": pl.Datetime("us", "UTC"),
    "seconds": pl.Float64(),
    "error": pl.String(),
    "push": pl.String(),
}
PASSPORT_VALUES = "_passport_values"  # the values for the passport, carried from the worker, not written
SERIAL_CHUNK = 500
MAX_WINDOW_DAYS = 3660  # ten years: a longer window is a typo, not a fleet job


# ---------------------------------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class BatteryParameters:
    """The rating of one battery (None: not known from this source)."""

    nominal_capacity_Ah: float | None = None
    nominal_energy_kWh: float | None = None
    chemistry: str | None = None
    cells_in_series: int | None = None
    initial_resistance_mOhm: float | None = None
    initial_round_trip_efficiency_pct: float | None = None
    initial_self_discharge_pct_per_month: float | None = None
    max_current_A: float | None = None

    def known(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def merge_parameters(sources: Sequence[tuple[str, BatteryParameters | None]]) -> tuple[BatteryParameters, str]:
    """Each field from the first source that has it; and which sources gave something (``csv+passport``)."""
    values: dict[str, Any] = {}
    used: list[str] = []
    for name, params in sources:
        if params is None:
            continue
        gave = False
        for key, value in params.known().items():
            if key not in values:
                values[key] = value
                gave = True
        if gave:
            used.append(name)
    return BatteryParameters(**values), "+".join(used)


def _number(text: str, where: str, column: str, problems: list[Problem], *, whole: bool = False) -> Any:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    expected = "a whole number of at least 1" if whole else "a positive number"
    if not math.isfinite(value) or value <= 0 or (whole and (value != int(value) or value < 1)):
        problems.append(Problem(f"{where} column {column}", f"{text!r} is not {expected}", expected))
        return None
    return int(value) if whole else value


def read_batteries_csv(path: Path) -> dict[str, BatteryParameters]:
    """The ``--batteries`` CSV: a header with ``battery_id`` and any of :data:`PARAMETER_COLUMNS`, one battery a row;
    an empty cell is not known (the passport or the default is used). Every problem names the row and column."""
    from batteryloop.rules import chemistry as chemistry_limits

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"{path}: cannot read ({exc})", field="--batteries", expected="a UTF-8 CSV file"
        ) from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise ValidationError(f"{path}: empty", field=f"{path.name} row 1", expected="a header line with battery_id")
    header = [h.strip() for h in header]
    problems: list[Problem] = []
    expected_columns = "battery_id, " + ", ".join(PARAMETER_COLUMNS)
    for col in header:
        if col not in PARAMETER_COLUMNS and col != "battery_id":
            problems.append(Problem(f"{path.name} row 1 column {col or '(empty)'}", "unknown column", expected_columns))
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        problems.append(Problem(f"{path.name} row 1 column {dup[0]}", "appears twice", "each column once"))
    if "battery_id" not in header:
        problems.append(Problem(f"{path.name} row 1 column battery_id", "missing", expected_columns))
    if problems:
        raise ValidationError(f"{path}: invalid header", problems=problems)
    out: dict[str, BatteryParameters] = {}
    first_row: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        where = f"{path.name} row {line}"
        if len(cells) != len(header):
            problems.append(
                Problem(f"{where}", f"{len(cells)} cells for {len(header)} columns", f"{len(header)} cells")
            )
            continue
        row = {h: c.strip() for h, c in zip(header, cells, strict=True)}
        battery = row["battery_id"]
        if not battery:
            problems.append(Problem(f"{where} column battery_id", "empty", "the battery's id in the store"))
            continue
        if battery in first_row:
            problems.append(
                Problem(f"{where} column battery_id", f"{battery!r} also on row {first_row[battery]}", "each once")
            )
            continue
        first_row[battery] = line
        values: dict[str, Any] = {}
        for col in PARAMETER_COLUMNS:
            raw = row.get(col, "")
            if not raw:
                continue
            if col == "chemistry":
                try:
                    values[col] = chemistry_limits(raw).chemistry
                except ValidationError as exc:
                    expected = exc.problems[0].expected if exc.problems else None
                    problems.append(Problem(f"{where} column chemistry", f"{raw!r} is not known", expected))
                continue
            value = _number(raw, where, col, problems, whole=col == "cells_in_series")
            if value is not None:
                values[col] = value
        out[battery] = BatteryParameters(**values)
    if problems:
        raise ValidationError(f"{path}: {len(problems)} invalid value(s)", problems=problems)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# passports


@dataclass(frozen=True)
class PassportMatch:
    """The passport a battery was matched to (``passport_id`` None: not matched, ``reason`` says why)."""

    passport_id: str | None
    category: str | None = None
    matched_on: str | None = None  # "passport_identifier" or "serial_number"
    parameters: BatteryParameters | None = None
    reason: str | None = None


def _passport_parameters(data: Mapping[str, Any]) -> BatteryParameters:
    from batteryloop.rules import chemistry as chemistry_limits

    values: dict[str, Any] = {}
    for attr, param in PASSPORT_FIELDS.items():
        raw = data.get(attr)
        if raw is None:
            continue
        if param == "chemistry":
            try:
                values[param] = chemistry_limits(str(raw)).chemistry
            except ValidationError:
                continue  # a chemistry the rules do not know (e.g. Na-ion): estimate without its limits
        elif isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw) and raw > 0:
            values[param] = float(raw)
    nominal = data.get("nominal_voltage_V")
    if "chemistry" in values and isinstance(nominal, int | float) and not isinstance(nominal, bool) and nominal > 0:
        cell = chemistry_limits(values["chemistry"]).cell_voltage_nominal_V
        values["cells_in_series"] = max(1, round(float(nominal) / cell))
    return BatteryParameters(**values)


def find_passports(session: Any, battery_ids: Iterable[str]) -> dict[str, PassportMatch]:
    """The passport of each battery id: by identifier, else by serial number (see the module text)."""
    from sqlalchemy import select

    from batteryloop.passport.models import Passport

    ids = list(dict.fromkeys(battery_ids))
    out: dict[str, PassportMatch] = {}
    for start in range(0, len(ids), SERIAL_CHUNK):
        chunk = ids[start : start + SERIAL_CHUNK]
        for p in session.scalars(select(Passport).where(Passport.id.in_(chunk))):
            out[p.id] = PassportMatch(p.id, p.category, "passport_identifier", _passport_parameters(p.data))
        rest = [b for b in chunk if b not in out]
        if not rest:
            continue
        by_serial: dict[str, list[Any]] = {}
        for p in session.scalars(select(Passport).where(Passport.serial_number.in_(rest))):
            by_serial.setdefault(p.serial_number, []).append(p)
        for serial, found in by_serial.items():
            active = [p for p in found if p.state == "active"] or found
            if len(active) > 1:
                shown = ", ".join(sorted(p.id for p in active)[:3])
                out[serial] = PassportMatch(
                    None, reason=f"ambiguous: {len(active)} passports with serial number {serial} ({shown})"
                )
                continue
            p = active[0]
            out[serial] = PassportMatch(p.id, p.category, "serial_number", _passport_parameters(p.data))
    for b in ids:
        out.setdefault(b, PassportMatch(None, reason="no passport with this identifier or serial number"))
    return out


# ---------------------------------------------------------------------------------------------------------------------
# the time window


@dataclass(frozen=True)
class Window:
    """The rows ``start <= timestamp < end`` (aware datetimes, UTC); None on a side: unbounded there."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValidationError(
                    f"{moment.isoformat()} has no time zone", field=name, expected="an aware datetime (UTC)"
                )
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValidationError(
                f"the window ends ({self.end.isoformat()}) at or before it starts ({self.start.isoformat()})",
                field="--until",
                expected="an end after the start",
            )

    def describe(self) -> str:
        start = "the first row" if self.start is None else self.start.isoformat()
        end = "the last row" if self.end is None else self.end.isoformat()
        return f"from {start} to {end} (end excluded)"


def day_window(day: date, days: int = 1) -> Window:
    """The ``days`` UTC days ending with ``day`` (``days=1``: that day alone, midnight to midnight)."""
    end = datetime.combine(day + timedelta(days=1), clock(0), tzinfo=UTC)
    return Window(end - timedelta(days=days), end)


def _parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"{option} {text!r} is not a date", field=option, expected="a date YYYY-MM-DD (a UTC day)"
        ) from None


def _parse_moment(text: str, option: str) -> datetime:
    """A date (its UTC midnight) or an ISO 8601 date and time with a UTC offset."""
    raw = text.strip()
    if len(raw) == 10:
        return datetime.combine(_parse_day(raw, option), clock(0), tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationError(
            f"{option} {text!r} is not a date or a time with a UTC offset",
            field=option,
            expected="YYYY-MM-DD (UTC midnight) or YYYY-MM-DDTHH:MM:SS+00:00",
        )
    return moment.astimezone(UTC)


def parse_window(
    day: str | None = None, days: int | None = None, since: str | None = None, until: str | None = None
) -> Window | None:
    """The window of the command's options: ``--day D [--days N]`` (the N UTC days ending with D), or ``--since`` /
    ``--until`` (a date, its UTC midnight, or a time with an offset; ``--until`` excluded). None: no option given."""
    if day is not None and (since is not None or until is not None):
        raise ValidationError(
            "--day together with --since/--until", field="--day", expected="either --day [--days N] or --since/--until"
        )
    if days is not None and day is None:
        raise ValidationError("--days without --day", field="--days", expected="--day YYYY-MM-DD --days N")
    if days is not None and not 1 <= days <= MAX_WINDOW_DAYS:
        raise ValidationError(f"--days {days}", field="--days", expected=f"a whole number from 1 to {MAX_WINDOW_DAYS}")
    if day is not None:
        return day_window(_parse_day(day, "--day"), days or 1)
    if since is None and until is None:
        return None
    return Window(
        None if since is None else _parse_moment(since, "--since"),
        None if until is None else _parse_moment(until, "--until"),
    )


# ---------------------------------------------------------------------------------------------------------------------
# the task of one battery


@dataclass(frozen=True)
class BatteryTask:
    """Everything a worker needs for one battery (small and picklable: no data, no connection)."""

    store: str
    battery_id: str
    parameters: BatteryParameters
    sources: str = ""
    passport_id: str | None = None
    category: str | None = None
    window: Window | None = None  # None: every stored row


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, BatteryloopError):
        return str(exc).replace("\n", "; ")
    return describe_error(exc)


def check_and_estimate(task: BatteryTask) -> tuple[QualityResult, HealthEstimate]:
    """One battery's stored rows, quality-checked, and its Annex VII estimate; a ``ValidationError`` naming what is
    missing (a nominal capacity, stored rows, rows that pass the check)."""
    from batteryloop.health.pipeline import Reference, estimate
    from batteryloop.telemetry import quality
    from batteryloop.telemetry.store import TelemetryStore

    p = task.parameters
    if p.nominal_capacity_Ah is None:
        raise ValidationError(
            "no nominal capacity",
            field="nominal_capacity_Ah",
            expected="the --batteries column nominal_capacity_Ah, the passport's rated_capacity_Ah, or "
            "--nominal-capacity-Ah",
        )
    window = task.window or Window()
    frame = TelemetryStore(Path(task.store)).scan(task.battery_id, start=window.start, end=window.end).collect()
    if frame.height == 0:
        where = "" if task.window is None else f" {task.window.describe()}"
        raise ValidationError(f"no rows in the store{where}", field="battery_id", expected="stored telemetry")
    limits = quality.QualityLimits.for_chemistry(p.chemistry, p.cells_in_series or 1, p.max_current_A)
    checked = quality.check(frame, limits)
    del frame
    if checked.frame.height < 2:
        reasons = ", ".join(f"{k} {v}" for k, v in checked.report.rejected_by_reason.items())
        notes = "; ".join(checked.report.notes)
        raise ValidationError(
            f"{checked.frame.height} row(s) passed the quality check ({checked.report.rejected} rejected: "
            f"{reasons}){'; ' + notes if notes else ''}",
            field="battery_id",
            expected="at least 2 rows with valid timestamps, current and voltage",
        )
    est = estimate(
        checked.frame,
        nominal_capacity_Ah=p.nominal_capacity_Ah,
        nominal_energy_kWh=p.nominal_energy_kWh,
        chemistry=p.chemistry,
        cells_in_series=p.cells_in_series or 1,
        reference=Reference(
            initial_resistance_mOhm=p.initial_resistance_mOhm,
            initial_round_trip_efficiency_pct=p.initial_round_trip_efficiency_pct,
            initial_self_discharge_rate_pct_per_month=p.initial_self_discharge_pct_per_month,
        ),
    )
    return checked, est


def run_battery(task: BatteryTask) -> dict[str, Any]:
    """One battery: scan its rows, check them, estimate; one flat row (``error`` set where it failed)."""
    started = time.perf_counter()
    p = task.parameters
    row: dict[str, Any] = {
        "battery_id": task.battery_id,
        "passport_id": task.passport_id,
        "parameter_sources": task.sources or None,
        "nominal_capacity_Ah": p.nominal_capacity_Ah,
        "chemistry": p.chemistry,
        "cells_in_series": p.cells_in_series or 1,
        "rows": 0,
        "rows_rejected": 0,
        "record_start": None,
        "measured_at": None,
        "error": None,
    }
    try:
        checked, est = check_and_estimate(task)
        row["rows"] = checked.frame.height
        row["rows_rejected"] = checked.report.rejected
        row["record_start"] = est.record_start
        row["measured_at"] = est.record_end
        for key, param in est.parameters.items():
            item = param.as_dict(est.measured_at)
            row[key] = item["value"]
            row[f"{key}_uncertainty"] = item.get("uncertainty")
            row[f"{key}_method"] = param.method
            row[f"{key}_note"] = param.note
        if task.passport_id is not None:
            row[PASSPORT_VALUES] = est.passport_values(task.category)[0]
    except Exception as exc:  # one battery's failure is its row's error; the fleet goes on
        row["error"] = _error_text(exc)
    row["seconds"] = round(time.perf_counter() - started, 3)
    return row


# ---------------------------------------------------------------------------------------------------------------------
# push


@dataclass(frozen=True)
class PushSettings:
    """Where and as whom to push: ``session_factory`` of the registry; ``token`` or ``account`` (else each passport's
    responsible economic operator)."""

    session_factory: sessionmaker[Session]
    token: str | None = None
    account: str | None = None
    settings: Settings | None = None  # None: the environment's (get_settings)


def resolve_viewer(service: Any, push: PushSettings) -> Any:
    """The viewer of ``--token``/``--account`` (None: each passport's responsible operator)."""
    if push.token is not None:
        return service.authenticate(push.token)
    if push.account is not None:
        return service.viewer_for(push.account)
    return None


def push_values(
    push: PushSettings, viewer: Any, passport_id: str, values: Mapping[str, Mapping[str, Any]]
) -> tuple[str, str | None]:
    """Record ``values`` on the passport in one transaction: ``("pushed" | "unchanged" | "nothing" | "refused",
    reason)``."""
    from batteryloop.db import transaction
    from batteryloop.passport.access import Role, Viewer
    from batteryloop.passport.models import Organisation, Passport
    from batteryloop.passport.service import PassportService

    if not values:
        return "nothing", "no value the passport takes"
    try:
        with transaction(push.session_factory) as session:
            service = PassportService(session, push.settings)
            passport = session.get(Passport, passport_id)
            if passport is None:
                return "refused", f"no passport {passport_id!r}"
            current = passport.data or {}
            if all(current.get(key) == _normalised(key, item["value"]) for key, item in values.items()):
                return "unchanged", None
            who = viewer
            if who is None:
                org = session.get(Organisation, passport.operator_id)
                if org is None:
                    return "refused", f"passport {passport_id} has no responsible operator on record"
                who = Viewer(Role.ECONOMIC_OPERATOR, account=f"cli:{org.name}", organisation_id=org.id)
            service.update_dynamic(who, passport_id, dict(values), note="batteryloop health fleet")
    except BatteryloopError as exc:
        return "refused", str(exc).replace("\n", "; ")
    return "pushed", None


def _normalised(key: str, value: Any) -> Any:
    """The value as the passport stores it (validated), to compare with the stored one."""
    from batteryloop.passport.attributes import attributes, validate_value

    attr = attributes().get(key)
    if attr is None:
        return value
    try:
        return validate_value(attr, value)
    except ValidationError:
        return value


# ---------------------------------------------------------------------------------------------------------------------
# the fleet


@dataclass
class FleetReport:
    """What a fleet run did."""

    batteries: int = 0
    ok: int = 0
    failed: int = 0
    rows: int = 0
    seconds: float = 0.0
    engine: str = ""
    workers: int = 0
    window_start: str | None = None
    window_end: str | None = None
    out: str | None = None
    pushed: int = 0
    unchanged: int = 0
    nothing_to_push: int = 0
    no_passport: int = 0
    refused: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    refusals: list[dict[str, str]] = field(default_factory=list)
    push: bool = False

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["seconds"] = round(self.seconds, 3)
        out["rows_per_s"] = round(self.rows / self.seconds, 1) if self.seconds > 0 else None
        out["batteries_per_s"] = round(self.batteries / self.seconds, 3) if self.seconds > 0 else None
        return out


def plan(
    store: Path,
    *,
    batteries_csv: Mapping[str, BatteryParameters] | None = None,
    passports: Mapping[str, PassportMatch] | None = None,
    defaults: BatteryParameters | None = None,
    battery_ids: Sequence[str] | None = None,
    window: Window | None = None,
) -> list[BatteryTask]:
    """One task per battery of the store with rows in ``window`` (or of ``battery_ids``), with its parameters merged
    (see the module text); each task reads only the rows of ``window`` (None: all its rows)."""
    from batteryloop.telemetry.store import TelemetryStore

    if battery_ids is not None:
        ids = list(battery_ids)
    elif window is None:
        ids = TelemetryStore(store).batteries()
    else:
        ids = TelemetryStore(store).batteries(start=window.start, end=window.end)
    tasks = []
    for b in ids:
        match = (passports or {}).get(b)
        params, sources = merge_parameters(
            [
                ("csv", (batteries_csv or {}).get(b)),
                ("passport", match.parameters if match else None),
                ("defaults", defaults),
            ]
        )
        tasks.append(
            BatteryTask(
                str(store),
                b,
                params,
                sources,
                match.passport_id if match else None,
                match.category if match else None,
                window,
            )
        )
    return tasks


def run_fleet(
    tasks: Sequence[BatteryTask],
    runner: Runner,
    *,
    out: Path | None = None,
    push: PushSettings | None = None,
    passports: Mapping[str, PassportMatch] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pl.DataFrame, FleetReport]:
    """Run every task on ``runner`` (started here), push as results arrive, write ``out``; the results and a report."""
    report = FleetReport(batteries=len(tasks), engine=runner.name, push=push is not None)
    windows = {t.window for t in tasks}
    if len(windows) == 1 and (window := windows.pop()) is not None:
        report.window_start = None if window.start is None else window.start.isoformat()
        report.window_end = None if window.end is None else window.end.isoformat()
    viewer = None
    if push is not None:
        from batteryloop.db import transaction
        from batteryloop.passport.service import PassportService

        with transaction(push.session_factory) as session:
            viewer = resolve_viewer(PassportService(session, push.settings), push)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with runner:
        report.workers = runner.workers
        outcome: Outcome[BatteryTask, dict[str, Any]]
        for done, outcome in enumerate(runner.map(run_battery, tasks), start=1):
            row = outcome.result
            if row is None:  # the worker itself failed (killed, out of memory)
                row = {"battery_id": outcome.task.battery_id, "passport_id": outcome.task.passport_id}
                row["error"] = f"worker failed: {outcome.error}"
            _account(report, row, push, viewer, passports)
            rows.append(row)
            if progress is not None:
                progress(done, len(tasks))
    report.seconds = time.perf_counter() - started
    frame = results_frame(rows)
    if out is not None:
        write_atomically(frame, out)
        report.out = str(out)
    return frame, report


def _account(
    report: FleetReport,
    row: dict[str, Any],
    push: PushSettings | None,
    viewer: Any,
    passports: Mapping[str, PassportMatch] | None,
) -> None:
    values = row.pop(PASSPORT_VALUES, None)
    battery = str(row["battery_id"])
    if row.get("error"):
        report.failed += 1
        report.failures.append({"battery_id": battery, "error": str(row["error"])})
        row["push"] = "not pushed: no result" if push is not None else None
        return
    report.ok += 1
    report.rows += int(row.get("rows") or 0)
    if push is None:
        row["push"] = None
        return
    pid = row.get("passport_id")
    if pid is None:
        report.no_passport += 1
        match = (passports or {}).get(battery)
        row["push"] = f"no passport: {match.reason}" if match and match.reason else "no passport"
        return
    status, reason = push_values(push, viewer, str(pid), values or {})
    if status == "pushed":
        report.pushed += 1
    elif status == "unchanged":
        report.unchanged += 1
    elif status == "nothing":
        report.nothing_to_push += 1
    else:
        report.refused += 1
        report.refusals.append({"battery_id": battery, "passport_id": str(pid), "reason": reason or ""})
    row["push"] = status if reason is None else f"{status}: {reason}"


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def results_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """The rows as a frame, sorted by battery: :data:`BASE_COLUMNS`, then per parameter its value (Float64 where
    every value is a number, else text: JSON for lists), ``_uncertainty``, ``_method`` and ``_note``."""
    ordered = sorted(rows, key=lambda r: str(r["battery_id"]))
    keys: list[str] = []
    seen: set[str] = set(BASE_COLUMNS)
    for r in ordered:
        for k in r:
            if k not in seen and k != PASSPORT_VALUES:
                seen.add(k)
                keys.append(k)
    columns: dict[str, pl.Series] = {}
    for name, dtype in BASE_COLUMNS.items():
        columns[name] = pl.Series(name, [r.get(name) for r in ordered], dtype=dtype, strict=False)
    for name in keys:
        raw = [r.get(name) for r in ordered]
        if name.endswith("_uncertainty"):
            columns[name] = pl.Series(name, raw, dtype=pl.Float64(), strict=False)
        elif name.endswith(("_method", "_note")):
            columns[name] = pl.Series(name, raw, dtype=pl.String())
        elif all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in raw):
            columns[name] = pl.Series(name, [None if v is None else float(v) for v in raw], dtype=pl.Float64())
        else:
            columns[name] = pl.Series(name, [_json(v) for v in raw], dtype=pl.String())
    return pl.DataFrame(list(columns.values()))


def write_atomically(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` as Parquet: to a temporary file beside it, flushed, then renamed over it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            frame.write_parquet(tmp, compression="zstd", statistics=True)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise ValidationError(f"{path}: cannot write ({exc})", field="--out", expected="a writable path") from None


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    """The results without what differs between two runs of the same data (time taken, push outcome)."""
    return frame.drop([c for c in ("seconds", "push") if c in frame.columns])
