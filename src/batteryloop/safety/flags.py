"""Hazard flags from battery data: abnormal self-discharge, a sudden resistance increase, a capacity drop,
over-temperature events and deep discharges, each with its evidence.

The evidence of one battery (:class:`Evidence`) comes from the health estimate of its telemetry
(:func:`batteryloop.health.pipeline.estimate`: self-discharge rate, ohmic resistance and its value at the start of the
record, remaining capacity and its value at the start of the record, deep-discharge events), from the quality-checked
store rows (over-temperature events: stretches with ``temperature_C`` or ``temperature_max_C`` above the chemistry's
maximum operating temperature of ``rules/chemistry.csv``), and from the values the battery's passport held before
(its previous estimate of ``ohmic_resistance_mOhm`` and ``remaining_capacity_Ah``).

The rules (:func:`flag_rules`, ``flag_rules.csv`` next to this module) give per rule and chemistry the threshold, its
unit, the severity (``damaged`` or ``defective``, the two conditions of ADR special provision 376), the source and the
rationale; ``*`` is the row for a chemistry without its own. A flag (:class:`Flag`) carries the value, the threshold,
the time, the rule, the source and the evidence behind it.

**Marking a passport** (:func:`mark_passport`, :func:`record_flags`): a person (the operator running ``safety flags
--mark``, or calling the API's mark route) confirms the flags of a battery onto its passport: its ``safety_status``
(:mod:`batteryloop.safety.status`) becomes the most severe of the flags' severities and the status it had (a milder
status from data never replaces a more severe one, e.g. a person's ``critically_defective``), and each flag becomes a
``negative_events`` entry (Annex XIII 4(d)) whose text starts ``safety status <severity>`` and carries the rule,
value, threshold, source and evidence. Entries already on the passport are kept; where every flag's entry is there
already nothing is written, so a second run on the same data creates no version (and a status a person has cleared
to ``intact`` since is not raised again by the same flags). Written as the passport's responsible economic operator
(or the given account, refused where it is not responsible), one version per passport.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from batteryloop.errors import BatteryloopError, Problem, ValidationError
from batteryloop.health.fleet import BatteryTask, PushSettings, check_and_estimate

RULES_PATH = Path(__file__).with_name("flag_rules.csv")
RULES = ("self_discharge", "resistance_jump", "capacity_drop", "over_temperature", "deep_discharge")
SEVERITIES = ("damaged", "defective")
PREVIOUS_KEYS = ("ohmic_resistance_mOhm", "remaining_capacity_Ah")
MAX_GAP_S = 120.0  # a longer interval between two hot samples splits an event (health method_defaults max_gap_s)
NEGATIVE_EVENT_CATEGORIES = ("ev", "lmt", "industrial")


# ---------------------------------------------------------------------------------------------------------------------
# rules


@dataclass(frozen=True)
class FlagRule:
    """One row of ``flag_rules.csv``."""

    rule: str
    chemistry: str
    threshold: float
    unit: str
    severity: str
    source: str
    rationale: str


def read_flag_rules(path: Path) -> dict[tuple[str, str], FlagRule]:
    """The rules of ``path`` by (rule, chemistry); every problem names the row and column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: cannot read ({exc})", field=str(path), expected="a UTF-8 CSV file") from None
    reader = csv.DictReader(text.splitlines())
    columns = ("rule", "chemistry", "threshold", "unit", "severity", "source", "rationale")
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(
            f"{path}: missing column(s) {', '.join(missing)}", field=f"{path.name} row 1", expected=", ".join(columns)
        )
    out: dict[tuple[str, str], FlagRule] = {}
    problems: list[Problem] = []
    for line, row in enumerate(reader, start=2):
        where = f"{path.name} row {line}"
        rule, chem = (row["rule"] or "").strip(), (row["chemistry"] or "").strip()
        if rule not in RULES:
            problems.append(Problem(f"{where} column rule", f"{rule!r} is not a rule", ", ".join(RULES)))
            continue
        try:
            threshold = float(row["threshold"])
        except (TypeError, ValueError):
            threshold = math.nan
        if not math.isfinite(threshold) or threshold < 0:
            problems.append(Problem(f"{where} column threshold", f"{row['threshold']!r}", "a number >= 0"))
            continue
        severity = (row["severity"] or "").strip()
        if severity not in SEVERITIES:
            problems.append(Problem(f"{where} column severity", f"{severity!r}", " or ".join(SEVERITIES)))
            continue
        if not (row["source"] or "").strip() and not (row["rationale"] or "").strip():
            problems.append(Problem(f"{where} column source", "neither source nor rationale", "a citation or reason"))
            continue
        if (rule, chem) in out:
            problems.append(Problem(f"{where} column chemistry", f"{rule}/{chem} twice", "each rule once a chemistry"))
            continue
        out[(rule, chem)] = FlagRule(
            rule, chem, threshold, row["unit"].strip(), severity, row["source"].strip(), row["rationale"].strip()
        )
    if problems:
        raise ValidationError(f"{path}: {len(problems)} invalid row(s)", problems=problems)
    return out


@cache
def flag_rules() -> dict[tuple[str, str], FlagRule]:
    """The shipped rules."""
    return read_flag_rules(RULES_PATH)


def rule_for(rules: Mapping[tuple[str, str], FlagRule], rule: str, chemistry: str | None) -> FlagRule | None:
    """The rule for ``chemistry``, else its ``*`` row (None: no rule applies)."""
    if chemistry is not None and (rule, chemistry) in rules:
        return rules[(rule, chemistry)]
    return rules.get((rule, "*"))


# ---------------------------------------------------------------------------------------------------------------------
# evidence


@dataclass(frozen=True)
class OverTemperatureEvent:
    """A stretch of samples above the limit: its start and end, duration and peak."""

    start: str
    end: str
    duration_s: float
    peak_C: float


def over_temperature_events(frame: pl.DataFrame, limit_C: float, max_gap_s: float = MAX_GAP_S) -> list[dict[str, Any]]:
    """Stretches of consecutive samples whose temperature (the larger of ``temperature_C`` and ``temperature_max_C``)
    is above ``limit_C``; a sample at or below the limit, or a gap over ``max_gap_s``, ends a stretch. The duration
    runs from the first to the last hot sample (a single hot sample lasts 0 s)."""
    cols = [c for c in ("temperature_C", "temperature_max_C") if c in frame.columns]
    if not cols or frame.height == 0:
        return []
    work = frame.sort("timestamp").select(
        pl.col("timestamp"),
        pl.max_horizontal([pl.col(c).cast(pl.Float64) for c in cols]).alias("t"),
    )
    temp = work["t"].to_numpy().astype(float)
    hot = np.nan_to_num(temp, nan=-math.inf) > limit_C
    if not hot.any():
        return []
    stamps = work["timestamp"].dt.epoch("us").to_numpy().astype(np.int64)
    times = work["timestamp"]
    idx = np.flatnonzero(hot)
    # a new event where the previous hot sample is not the row before, or lies more than max_gap_s before
    new = np.ones(idx.size, dtype=bool)
    new[1:] = (np.diff(idx) != 1) | (np.diff(stamps[idx]) > max_gap_s * 1e6)
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], idx.size) - 1
    return [_event(times, temp, int(idx[a]), int(idx[b])) for a, b in zip(starts, ends, strict=True)]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _event(times: pl.Series, temp: np.ndarray, a: int, b: int) -> dict[str, Any]:
    return asdict(
        OverTemperatureEvent(
            _iso(times[a]),
            _iso(times[b]),
            round((times[b] - times[a]).total_seconds(), 3),
            float(np.nanmax(temp[a : b + 1])),
        )
    )


@dataclass
class Evidence:
    """What the flags are judged on, for one battery (None: not known)."""

    battery_id: str
    chemistry: str | None
    measured_at: str
    nominal_capacity_Ah: float
    self_discharge_pct_per_month: float | None = None
    self_discharge_uncertainty: float | None = None
    resistance_mOhm: float | None = None
    resistance_start_mOhm: float | None = None
    capacity_Ah: float | None = None
    capacity_start_Ah: float | None = None
    deep_discharge_events: list[dict[str, Any]] = field(default_factory=list)
    deep_discharge_count: int | None = None
    cut_off_V: float | None = None
    temperature_limit_C: float | None = None
    over_temperature: list[dict[str, Any]] = field(default_factory=list)
    previous: dict[str, Any] = field(default_factory=dict)  # the passport's values before: key -> value


def _value(est: Any, key: str) -> float | None:
    param = est.parameters.get(key)
    value = param.value if param is not None else None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def evidence_from(
    est: Any, frame: pl.DataFrame, *, battery_id: str, chemistry: str | None, nominal_capacity_Ah: float
) -> Evidence:
    """The evidence from a health estimate and the checked rows it was made from."""
    from batteryloop.rules import chemistry as chemistry_limits

    limits = chemistry_limits(chemistry) if chemistry is not None else None
    param = est.parameters.get("current_self_discharge_rate_pct_per_month")
    ev = Evidence(
        battery_id=battery_id,
        chemistry=chemistry,
        measured_at=est.measured_at,
        nominal_capacity_Ah=nominal_capacity_Ah,
        self_discharge_pct_per_month=_value(est, "current_self_discharge_rate_pct_per_month"),
        self_discharge_uncertainty=param.uncertainty if param is not None else None,
        resistance_mOhm=_value(est, "ohmic_resistance_mOhm"),
        resistance_start_mOhm=est.details.get("resistance", {}).get("resistance_at_record_start_mOhm"),
        capacity_Ah=_value(est, "remaining_capacity_Ah"),
        capacity_start_Ah=est.details.get("capacity", {}).get("capacity_at_record_start_Ah"),
        deep_discharge_events=list(est.details.get("deep_discharge_events", [])),
    )
    count = _value(est, "deep_discharge_events")
    ev.deep_discharge_count = int(count) if count is not None else None
    if limits is not None:
        ev.cut_off_V = limits.cell_voltage_min_V
        ev.temperature_limit_C = limits.operating_temperature_max_C
        ev.over_temperature = over_temperature_events(frame, limits.operating_temperature_max_C)
    return ev


# ---------------------------------------------------------------------------------------------------------------------
# flags


@dataclass(frozen=True)
class Flag:
    """One hazard found: the rule, its severity, the value against the threshold, when, and the evidence."""

    battery_id: str
    rule: str
    severity: str
    value: float
    threshold: float
    unit: str
    time: str
    source: str
    rationale: str
    evidence: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def event_text(self) -> str:
        """The passport's ``negative_events`` text of this flag (the same for the same data)."""
        detail = json.dumps(self.evidence, sort_keys=True, ensure_ascii=False, default=str)
        return (
            f"safety status {self.severity}: {self.rule} {self.value:.4g} {self.unit} against the threshold "
            f"{self.threshold:g} {self.unit} (batteryloop safety/flag_rules.csv: {self.source}); evidence {detail}"
        )[:4000]


def _flag(ev: Evidence, rule: FlagRule, value: float, when: str, evidence: dict[str, Any]) -> Flag:
    return Flag(
        ev.battery_id, rule.rule, rule.severity, round(value, 6), rule.threshold, rule.unit, when, rule.source,
        rule.rationale, evidence,
    )  # fmt: skip


def evaluate(ev: Evidence, rules: Mapping[tuple[str, str], FlagRule] | None = None) -> list[Flag]:
    """The flags of one battery's evidence (none where no rule is exceeded or nothing is known)."""
    rules = flag_rules() if rules is None else rules
    flags: list[Flag] = []
    r = rule_for(rules, "self_discharge", ev.chemistry)
    if r is not None and ev.self_discharge_pct_per_month is not None and ev.self_discharge_pct_per_month > r.threshold:
        flags.append(
            _flag(
                ev, r, ev.self_discharge_pct_per_month, ev.measured_at,
                {"self_discharge_pct_per_month": ev.self_discharge_pct_per_month,
                 "uncertainty": ev.self_discharge_uncertainty},
            )
        )  # fmt: skip
    r = rule_for(rules, "resistance_jump", ev.chemistry)
    if r is not None and ev.resistance_mOhm is not None:
        before = [
            ("previous estimate", ev.previous.get("ohmic_resistance_mOhm")),
            ("start of the record", ev.resistance_start_mOhm),
        ]
        for basis, old in before:
            if isinstance(old, int | float) and old > 0 and 100.0 * (ev.resistance_mOhm / old - 1.0) > r.threshold:
                rise = 100.0 * (ev.resistance_mOhm / old - 1.0)
                flags.append(
                    _flag(
                        ev, r, rise, ev.measured_at,
                        {"basis": basis, "resistance_mOhm": ev.resistance_mOhm, "before_mOhm": float(old),
                         "before_measured_at": ev.previous.get("ohmic_resistance_mOhm_measured_at")
                         if basis == "previous estimate" else None},
                    )
                )  # fmt: skip
                break
    r = rule_for(rules, "capacity_drop", ev.chemistry)
    if r is not None and ev.capacity_Ah is not None:
        before = [
            ("previous estimate", ev.previous.get("remaining_capacity_Ah")),
            ("start of the record", ev.capacity_start_Ah),
        ]
        for basis, old in before:
            if not (isinstance(old, int | float) and old > 0):
                continue
            drop = 100.0 * (float(old) - ev.capacity_Ah) / ev.nominal_capacity_Ah
            if drop > r.threshold:
                flags.append(
                    _flag(
                        ev, r, drop, ev.measured_at,
                        {"basis": basis, "capacity_Ah": ev.capacity_Ah, "before_Ah": float(old),
                         "rated_capacity_Ah": ev.nominal_capacity_Ah,
                         "before_measured_at": ev.previous.get("remaining_capacity_Ah_measured_at")
                         if basis == "previous estimate" else None},
                    )
                )  # fmt: skip
                break
    r = rule_for(rules, "over_temperature", ev.chemistry)
    if r is not None and ev.temperature_limit_C is not None:
        long = [e for e in ev.over_temperature if e["duration_s"] >= r.threshold]
        if long:
            total = sum(e["duration_s"] for e in long)
            flags.append(
                _flag(
                    ev, r, max(e["duration_s"] for e in long), long[0]["start"],
                    {"limit_C": ev.temperature_limit_C, "events": len(long), "total_s": round(total, 3),
                     "peak_C": max(e["peak_C"] for e in long), "first": long[0], "last": long[-1]},
                )
            )  # fmt: skip
    r = rule_for(rules, "deep_discharge", ev.chemistry)
    if r is not None and ev.deep_discharge_count is not None and ev.deep_discharge_count >= r.threshold > 0:
        first = ev.deep_discharge_events[0] if ev.deep_discharge_events else None
        flags.append(
            _flag(
                ev, r, float(ev.deep_discharge_count), first["start"] if first else ev.measured_at,
                {"cut_off_V": ev.cut_off_V, "events": ev.deep_discharge_count,
                 "lowest_cell_voltage_V": min((e["lowest_cell_voltage_V"] for e in ev.deep_discharge_events),
                                              default=None),
                 "first": first},
            )
        )  # fmt: skip
    return flags


def status_of(flags: Sequence[Flag]) -> str | None:
    """The battery's safety status from its flags: ``defective`` where any flag is, else ``damaged`` (None: none)."""
    if not flags:
        return None
    return "defective" if any(f.severity == "defective" for f in flags) else "damaged"


# ---------------------------------------------------------------------------------------------------------------------
# one battery


def assess_battery(task: BatteryTask, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One battery of the store: scan, check, estimate, judge. A row with ``flags`` (list of dicts), ``status`` and
    ``error`` (set where the battery could not be judged)."""

    started = time.perf_counter()
    p = task.parameters
    row: dict[str, Any] = {
        "battery_id": task.battery_id,
        "passport_id": task.passport_id,
        "chemistry": p.chemistry,
        "measured_at": None,
        "flags": [],
        "status": None,
        "error": None,
        "mark": None,
    }
    try:
        checked, est = check_and_estimate(task)
        ev = evidence_from(
            est,
            checked.frame,
            battery_id=task.battery_id,
            chemistry=p.chemistry,
            nominal_capacity_Ah=float(est.inputs["nominal_capacity_Ah"]),
        )
        ev.previous = dict(previous or {})
        flags = evaluate(ev)
        row["measured_at"] = est.measured_at
        row["flags"] = [f.as_dict() for f in flags]
        row["status"] = status_of(flags)
        row["_flags"] = flags
    except BatteryloopError as exc:
        row["error"] = str(exc).replace("\n", "; ")
    row["seconds"] = round(time.perf_counter() - started, 3)
    return row


# ---------------------------------------------------------------------------------------------------------------------
# passports


def previous_values(session: Any, passport_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each passport's stored ``ohmic_resistance_mOhm`` and ``remaining_capacity_Ah`` with their measurement times."""
    from batteryloop.passport.models import Passport

    out: dict[str, dict[str, Any]] = {}
    for pid in passport_ids:
        passport = session.get(Passport, pid)
        if passport is None:
            continue
        data, obs = passport.data or {}, passport.observations or {}
        item: dict[str, Any] = {}
        for key in PREVIOUS_KEYS:
            if isinstance(data.get(key), int | float):
                item[key] = float(data[key])
                item[f"{key}_measured_at"] = (obs.get(key) or {}).get("measured_at")
        out[pid] = item
    return out


def record_flags(service: Any, viewer: Any, passport_id: str, flags: Sequence[Flag], measured_at: str) -> str:
    """Record the flags on the passport in the caller's session (one version): its ``negative_events`` and its
    ``safety_status``; ``"marked"`` or ``"unchanged"`` (every flag recorded already). Refusals raise."""
    from batteryloop.passport.models import Passport
    from batteryloop.safety.status import KEY, more_severe

    passport = service.session.get(Passport, passport_id)
    if passport is None:
        raise ValidationError(f"no passport {passport_id!r}", field="passport_id", expected="a passport identifier")
    if passport.category not in NEGATIVE_EVENT_CATEGORIES:
        raise ValidationError(
            f"a {passport.category} passport has no negative_events",
            field="passport_id",
            expected="an ev, lmt or industrial battery",
        )
    current = list((passport.data or {}).get("negative_events") or [])
    known = {str(e.get("event")) for e in current if isinstance(e, Mapping)}
    new = [{"event": f.event_text(), "time": f.time} for f in flags if f.event_text() not in known]
    if not new:
        return "unchanged"
    found = status_of(flags)
    assert found is not None
    status = more_severe((passport.data or {}).get(KEY), found)
    service.update_dynamic(
        viewer,
        passport_id,
        {
            "negative_events": current + new,
            KEY: status,
        },
        measured_at=_parse_iso(measured_at),
        method="batteryloop safety flags: hazard rules of safety/flag_rules.csv on the health estimate and the "
        "telemetry rows, confirmed by " + str(viewer.account),
        note=f"batteryloop safety flags: safety status {status} (flags: {found})",
    )
    return "marked"


def _parse_iso(text: str) -> datetime:
    when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def mark_passport(
    push: PushSettings, viewer: Any, passport_id: str, flags: Sequence[Flag], measured_at: str
) -> tuple[str, str | None]:
    """Record the flags on the passport (:func:`record_flags`) in its own transaction: ``("marked" | "unchanged" |
    "refused", reason)``."""
    from batteryloop.db import transaction
    from batteryloop.passport.access import Role, Viewer
    from batteryloop.passport.models import Organisation, Passport
    from batteryloop.passport.service import PassportService

    try:
        with transaction(push.session_factory) as session:
            who = viewer
            if who is None:
                passport = session.get(Passport, passport_id)
                if passport is None:
                    return "refused", f"no passport {passport_id!r}"
                org = session.get(Organisation, passport.operator_id)
                if org is None:
                    return "refused", f"passport {passport_id} has no responsible operator on record"
                who = Viewer(Role.ECONOMIC_OPERATOR, account=f"cli:{org.name}", organisation_id=org.id)
            result = record_flags(PassportService(session, push.settings), who, passport_id, flags, measured_at)
    except BatteryloopError as exc:
        return "refused", (exc.message if exc.field == "passport_id" else str(exc)).replace("\n", "; ")
    return result, None


# ---------------------------------------------------------------------------------------------------------------------
# the fleet


@dataclass
class FlagReport:
    """What a flags run found and marked."""

    batteries: int = 0
    judged: int = 0
    failed: int = 0
    flagged: int = 0
    flags: int = 0
    marked: int = 0
    unchanged: int = 0
    refused: int = 0
    no_passport: int = 0
    mark: bool = False
    batteries_flagged: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    refusals: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_flags(
    tasks: Sequence[BatteryTask],
    *,
    previous: Mapping[str, Mapping[str, Any]] | None = None,
    mark: PushSettings | None = None,
) -> tuple[list[dict[str, Any]], FlagReport]:
    """Judge every battery (one at a time), mark the flagged ones' passports when ``mark`` is given."""
    from batteryloop.health.fleet import resolve_viewer

    report = FlagReport(batteries=len(tasks), mark=mark is not None)
    viewer = None
    if mark is not None:
        from batteryloop.db import transaction
        from batteryloop.passport.service import PassportService

        with transaction(mark.session_factory) as session:
            viewer = resolve_viewer(PassportService(session, mark.settings), mark)
    rows = []
    for task in tasks:
        prev = (previous or {}).get(task.passport_id or "") if task.passport_id else None
        row = assess_battery(task, prev)
        flags: list[Flag] = row.pop("_flags", [])
        if row["error"]:
            report.failed += 1
            report.failures.append({"battery_id": task.battery_id, "error": row["error"]})
        else:
            report.judged += 1
        if flags:
            report.flagged += 1
            report.flags += len(flags)
            report.batteries_flagged.append(
                {"battery_id": task.battery_id, "status": row["status"], "rules": [f.rule for f in flags]}
            )
            if mark is not None:
                if task.passport_id is None:
                    report.no_passport += 1
                    row["mark"] = "no passport"
                else:
                    status, reason = mark_passport(mark, viewer, task.passport_id, flags, row["measured_at"])
                    setattr(report, status, getattr(report, status) + 1)
                    if reason:
                        report.refusals.append(
                            {"battery_id": task.battery_id, "passport_id": task.passport_id, "reason": reason}
                        )
                    row["mark"] = status if reason is None else f"{status}: {reason}"
        rows.append(row)
    rows.sort(key=lambda r: str(r["battery_id"]))
    return rows, report


# ---------------------------------------------------------------------------------------------------------------------
# for one caller (the API)


FLAG_ROUTE_LIMIT = 200
"""At most this many batteries are judged in one request (each is a health estimate over its telemetry)."""


@dataclass
class VisibleFlags:
    """The flags a caller may see: one row per battery whose individual data it may read, and what was withheld."""

    batteries: int
    total_visible: int
    rows: list[dict[str, Any]]
    withheld: int
    report: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _visible(service: Any, viewer: Any, matches: Mapping[str, Any]) -> dict[str, str]:
    """Battery id -> passport id of the batteries whose individual data (Annex XIII 4) the caller may read: the
    passport's responsible operator and accounts it granted access (access_rules.csv), as for negative_events."""
    from batteryloop.passport.attributes import AccessGroup, attribute
    from batteryloop.passport.models import Passport

    group = attribute("negative_events").access_group
    assert group is AccessGroup.LEGITIMATE_INTEREST_INDIVIDUAL
    out: dict[str, str] = {}
    for battery_id, match in matches.items():
        if match.passport_id is None:
            continue
        passport = service.session.get(Passport, match.passport_id)
        if passport is None:
            continue
        groups, _, _ = service.groups_for(viewer, passport)
        if group in groups:
            out[battery_id] = match.passport_id
    return out


def flags_for(
    service: Any,
    viewer: Any,
    store: Path,
    *,
    battery_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
    route: str | None = None,
) -> VisibleFlags:
    """The hazard flags of the store's batteries that the caller may see (one battery, or a page of them).

    A battery's flags are individual battery data, like its passport's ``negative_events`` (Annex XIII 4(d)): the
    caller sees those of batteries whose passport it may read that data of. A battery without a passport has no one
    the registry knows to be entitled: it is withheld from everyone. Naming a battery the caller may not see is
    refused (403); every battery shown is written to the passport's access log.
    """
    from batteryloop.errors import NotFoundError, PermissionDeniedError
    from batteryloop.health import fleet
    from batteryloop.telemetry.store import TelemetryStore

    if not (store / "_store.json").exists():
        raise NotFoundError("the server has no telemetry store", field="store")
    if not 1 <= limit <= FLAG_ROUTE_LIMIT:
        raise ValidationError(f"limit {limit} out of range", field="limit", expected=f"1 to {FLAG_ROUTE_LIMIT}")
    ids = TelemetryStore(store).batteries()
    if battery_id is not None:
        if battery_id not in ids:
            raise NotFoundError(f"no battery {battery_id!r} in the telemetry store", field="battery_id")
        ids = [battery_id]
    matches = fleet.find_passports(service.session, ids)
    visible = _visible(service, viewer, matches)
    if battery_id is not None and battery_id not in visible:
        reason = matches[battery_id].reason if matches[battery_id].passport_id is None else None
        raise PermissionDeniedError(
            f"battery {battery_id}: its flags are individual battery data; "
            + (f"it has no passport ({reason})" if reason else "this account may not read that data of its passport"),
        )
    page = sorted(visible)[offset : offset + limit]
    chosen = {b: matches[b] for b in page}
    previous = previous_values(service.session, [visible[b] for b in page])
    tasks = fleet.plan(store, passports=chosen, battery_ids=page)
    rows, report = run_flags(tasks, previous=previous)
    for row in rows:
        service.log_access(viewer, visible[row["battery_id"]], ["safety_flags"], action="read", route=route)
    return VisibleFlags(len(ids), len(visible), rows, len(ids) - len(visible), report.as_dict())


def mark_from_store(
    service: Any, viewer: Any, store: Path, battery_id: str, *, route: str | None = None
) -> dict[str, Any]:
    """Judge one battery of the store and record its flags on its passport as the caller (:func:`record_flags`):
    the battery's row with ``mark`` set to ``marked``, ``unchanged`` or ``no flag``."""
    result = flags_for(service, viewer, store, battery_id=battery_id, route=route)
    (row,) = result.rows
    if row["error"]:
        raise ValidationError(
            f"battery {battery_id} could not be judged: {row['error']}", field="battery_id", expected="usable data"
        )
    if not row["flags"]:
        row["mark"] = "no flag"
        return row
    flags = [Flag(**f) for f in row["flags"]]
    row["mark"] = record_flags(service, viewer, row["passport_id"], flags, row["measured_at"])
    return row
