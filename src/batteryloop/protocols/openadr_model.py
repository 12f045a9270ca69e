"""OpenADR 3 objects as batteryloop reads and writes them: events to signals, plans to reports, errors to problems.

Shared by the VEN (:mod:`batteryloop.protocols.openadr_ven`) and the VTN stand-in
(:mod:`batteryloop.protocols.openadr_vtn`), so both sides reject the same events for the same reasons. Events are read
with the entity models of the ``openadr3`` package (``Event.from_raw`` and its ``resolved_intervals``, which applies
the OpenADR 3 rule that an interval without its own ``intervalPeriod`` follows the previous one), then checked here:

- payload types the VEN acts on (OpenADR 3.0.1 ``eventPayloadType``): ``IMPORT_CAPACITY_LIMIT`` and
  ``EXPORT_CAPACITY_LIMIT`` (a ceiling on the site's import or export power, units ``KW`` or ``W``), ``PRICE``
  (units ``KWH`` or ``MWH``, currency ``EUR``), and ``FLEX``, the Dutch DER profile's flexibility dispatch (a ceiling of
  the resource group's baseline minus the FLEX value); any other type is rejected;
- every interval has a start and a positive duration and one finite number per payload; limits are >= 0;
- a ``FLEX`` event is checked against the rules of ``openadr_nlflex_rules.csv``: the compliance checks of the
  OpenADR DER profile specification v1.0.0 as ElaadNL's ``openadr3-client-nlflex-compliance`` implements them (that
  plugin needs ``openadr3-client``, which needs Python 3.12; batteryloop runs on 3.11, so the rules are carried here
  as data with a citation to the plugin's function).

A rejected event is an :class:`EventProblem`: an RFC 9457 problem details object (``type``, ``title``, ``status``,
``detail``, ``instance``), the error format of the OpenADR 3.0.1 API (its ``problem`` schema), naming the field.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from openadr3 import Event
from pydantic import ValidationError as PydanticValidationError

NLFLEX_RULES_CSV = Path(__file__).with_name("openadr_nlflex_rules.csv")
LIMIT_TYPES = ("IMPORT_CAPACITY_LIMIT", "EXPORT_CAPACITY_LIMIT")
KNOWN_TYPES = (*LIMIT_TYPES, "PRICE", "FLEX")
POWER_UNITS = {"KW": 1.0, "W": 0.001}  # -> kW
PRICE_UNITS = {"KWH": 1000.0, "MWH": 1.0}  # EUR per unit -> EUR/MWh
PROBLEM_TYPE = "about:blank"  # RFC 9457 section 4.2.1: the title is the HTTP status phrase's meaning
PROBLEM_MEDIA_TYPE = "application/problem+json"


@cache
def nlflex_rules() -> dict[str, dict[str, str]]:
    """The NL flex (OpenADR DER profile v1.0.0) rules the VEN checks: rule -> row (check, citation)."""
    with NLFLEX_RULES_CSV.open(newline="", encoding="utf-8") as fh:
        return {row["rule"]: row for row in csv.DictReader(fh)}


@dataclass(frozen=True)
class EventProblem:
    """Why an event (or a report) was rejected: RFC 9457 problem details plus the field and the profile rule."""

    title: str
    detail: str
    field: str
    status: int = 400
    instance: str = ""
    rule: str = ""  # a key of openadr_nlflex_rules.csv when an NL flex rule failed

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": PROBLEM_TYPE,
            "title": self.title,
            "status": self.status,
            "detail": f"{self.field}: {self.detail}",
        }
        if self.instance:
            out["instance"] = self.instance
        if self.rule:
            out["detail"] += f" (NL flex rule {self.rule}: {nlflex_rules()[self.rule]['citation']})"
        return out


class EventRejectedError(Exception):
    """An event the VEN will not act on; ``problems`` say why (at least one)."""

    def __init__(self, problems: list[EventProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.detail}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class SignalInterval:
    """One interval of an event: UTC start and end, the values per payload type (limits in kW, prices EUR/MWh)."""

    id: int
    start: datetime
    end: datetime
    values: dict[str, float]


@dataclass(frozen=True)
class Signal:
    """An accepted event: what the VEN plans with."""

    event_id: str
    program_id: str
    name: str
    modified: str
    intervals: tuple[SignalInterval, ...]
    types: frozenset[str]
    priority: int | None = None
    report_types: tuple[str, ...] = field(default_factory=tuple)

    @property
    def start(self) -> datetime:
        return min(i.start for i in self.intervals)

    @property
    def end(self) -> datetime:
        return max(i.end for i in self.intervals)


def to_utc(moment: Any) -> datetime:
    """A pendulum or stdlib aware datetime as a stdlib UTC datetime."""
    return datetime.fromtimestamp(moment.timestamp(), tz=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_duration(delta: timedelta) -> str:
    """ISO 8601 duration of whole seconds (PT15M, PT1H, PT1H30M5S)."""
    total = round(delta.total_seconds())
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s}S" if s or total == 0 else "")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def _two_decimals(value: Any) -> bool:
    """NL flex power value: a number with at most two decimals (nlflex10/_common.py ``as_power_value``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return False
    try:
        exponent = Decimal(str(value)).as_tuple().exponent
    except InvalidOperation:
        return False
    return isinstance(exponent, int) and exponent >= -2


def parse_event(raw: Any, *, baseline_kW: float | None = None) -> Signal:
    """Read an OpenADR 3 event (a JSON object) into a :class:`Signal`, or raise :class:`EventRejectedError`.

    ``baseline_kW``: the resource group's baseline, needed to turn a ``FLEX`` value into an import ceiling
    (baseline - FLEX); a FLEX event without one is rejected.
    """
    if not isinstance(raw, dict):
        raise EventRejectedError([EventProblem("Bad Request", f"{type(raw).__name__}, not an object", "event")])
    eid = str(raw.get("id", ""))
    where = f"/events/{eid}" if eid else "/events"

    def bad(detail: str, fld: str, rule: str = "") -> EventProblem:
        return EventProblem("Bad Request", detail, fld, instance=where, rule=rule)

    if raw.get("objectType", "EVENT") != "EVENT":
        raise EventRejectedError([bad(f"{raw.get('objectType')!r}", "objectType")])
    try:
        event = Event.from_raw(raw)
        resolved = event.resolved_intervals()
    except KeyError as exc:
        raise EventRejectedError([bad("missing", str(exc.args[0]))]) from None
    except (PydanticValidationError, TypeError, ValueError, AttributeError) as exc:
        raise EventRejectedError([bad(f"not an OpenADR 3 event ({str(exc).splitlines()[0]})", "event")]) from None
    problems: list[EventProblem] = []
    descriptors = {d.payload_type: d for d in event.payload_descriptors or []}
    if not resolved:
        raise EventRejectedError([bad("no intervals", "intervals")])
    types: set[str] = set()
    intervals: list[SignalInterval] = []
    for k, (interval, res) in enumerate(zip(event.intervals or [], resolved, strict=True)):
        ip = res.interval_period
        if ip is None or ip.start is None or ip.duration is None:
            problems.append(bad("no start or duration (own or the event's intervalPeriod)", f"intervals[{k}]"))
            continue
        start = to_utc(ip.start)
        end = start + timedelta(seconds=ip.duration.total_seconds())
        if end <= start:
            problems.append(bad(f"duration {ip.duration} is not positive", f"intervals[{k}].intervalPeriod.duration"))
            continue
        values: dict[str, float] = {}
        for j, payload in enumerate(interval.payloads):
            where_p = f"intervals[{k}].payloads[{j}]"
            if payload.type not in KNOWN_TYPES:
                problems.append(bad(f"payload type {payload.type!r} is not one of {', '.join(KNOWN_TYPES)}", where_p))
                continue
            if len(payload.values) != 1 or (value := _number(payload.values[0])) is None:
                problems.append(bad(f"values {payload.values!r}", f"{where_p}.values"))
                continue
            desc = descriptors.get(payload.type)
            if payload.type == "PRICE":
                unit = (desc.units if desc else None) or "KWH"
                currency = (desc.currency if desc else None) or "EUR"
                if unit.upper() not in PRICE_UNITS or currency.upper() != "EUR":
                    problems.append(bad(f"{currency}/{unit}", "payloadDescriptors[PRICE]"))
                    continue
                value *= PRICE_UNITS[unit.upper()]
            else:
                unit = (desc.units if desc else None) or "KW"
                if unit.upper() not in POWER_UNITS:
                    problems.append(bad(f"units {unit!r}", f"payloadDescriptors[{payload.type}].units"))
                    continue
                if value < 0:
                    problems.append(bad(f"{value} is negative", f"{where_p}.values[0]"))
                    continue
                value *= POWER_UNITS[unit.upper()]
            values[payload.type] = value
            types.add(payload.type)
        intervals.append(SignalInterval(interval.id, start, end, values))
    if "FLEX" in types:
        problems += nlflex_dispatch_problems(raw, event, resolved, where)
        if baseline_kW is None:
            problems.append(bad("a FLEX dispatch needs the resource group's baseline (VEN setting)", "FLEX"))
    for t in types:
        spans = sorted((i.start, i.end) for i in intervals if t in i.values)
        for (_a0, b0), (a1, _b1) in pairwise(spans):
            if a1 < b0:
                problems.append(bad(f"{t} intervals overlap at {iso(a1)}", "intervals"))
    if problems:
        raise EventRejectedError(problems)
    if not types:
        raise EventRejectedError([bad("no payload the VEN acts on", "intervals[].payloads")])
    reports = tuple(str(d.get("payloadType", "")) for d in event.report_descriptors or [] if isinstance(d, dict))
    return Signal(
        event_id=eid,
        program_id=event.program_id,
        name=event.event_name or "",
        modified=str(raw.get("modificationDateTime", "")),
        intervals=tuple(intervals),
        types=frozenset(types),
        priority=event.priority,
        report_types=reports,
    )


def nlflex_dispatch_problems(raw: dict[str, Any], event: Event, resolved: list[Any], where: str) -> list[EventProblem]:
    """The NL flex (OpenADR DER profile v1.0.0) rules of a FLEX dispatch event (``openadr_nlflex_rules.csv``)."""
    out: list[EventProblem] = []

    def fail(rule: str, fld: str, detail: str = "") -> None:
        out.append(EventProblem("Bad Request", detail or nlflex_rules()[rule]["check"], fld, instance=where, rule=rule))

    pds = event.payload_descriptors or []
    if len(pds) != 1 or pds[0].payload_type != "FLEX" or (pds[0].units or "").upper() != "KW":
        fail("flex.payload_descriptor", "payloadDescriptors")
    rds = [d.get("payloadType") for d in event.report_descriptors or [] if isinstance(d, dict)]
    if len(rds) != 2 or sorted(str(r) for r in rds) != ["ACK", "DELIVERED_FLEX"]:
        fail("flex.report_descriptors", "reportDescriptors")
    if not event.targets or len(event.targets) != 1:
        fail("flex.targets", "targets")
    ip = event.interval_period
    window: tuple[datetime, datetime] | None = None
    if ip is None or ip.start is None or ip.duration is None or ip.duration.total_seconds() != 86400:
        fail("flex.event_period", "intervalPeriod")
    else:
        a = to_utc(ip.start)
        window = (a, a + timedelta(days=1))
    previous = -1
    spans: list[tuple[datetime, datetime]] = []
    for k, (interval, res) in enumerate(zip(event.intervals or [], resolved, strict=True)):
        if interval.id <= previous or (k == 0 and interval.id != 0):
            fail("flex.interval_ids", f"intervals[{k}].id")
        previous = interval.id
        rip = res.interval_period
        if rip is None or rip.start is None or rip.duration is None:
            continue
        hours = rip.duration.total_seconds() / 3600.0
        if hours not in (1.0, 2.0, 4.0, 6.0):
            fail("flex.interval_duration", f"intervals[{k}].intervalPeriod.duration", f"{hours} h")
        a = to_utc(rip.start)
        b = a + timedelta(hours=hours)
        spans.append((a, b))
        if window is not None and (a < window[0] or b > window[1]):
            fail("flex.interval_window", f"intervals[{k}].intervalPeriod")
        raw_intervals = raw.get("intervals") or []
        raw_payloads = raw_intervals[k].get("payloads", []) if k < len(raw_intervals) else []
        one = raw_payloads[0] if len(raw_payloads) == 1 else {}
        if one.get("type") != "FLEX" or len(one.get("values", [])) != 1:
            fail("flex.payload", f"intervals[{k}].payloads")
            continue
        value = raw_payloads[0]["values"][0]
        if not _two_decimals(value) or float(value) < 0:
            fail("flex.power_value", f"intervals[{k}].payloads[0].values[0]", f"{value!r}")
        elif hours == 1.0 and float(value) != 0.0:
            fail("flex.adjacent_hour", f"intervals[{k}].payloads[0].values[0]", f"{value!r}")
    spans.sort()
    for (_a0, b0), (a1, _b1) in pairwise(spans):
        if a1 < b0:
            fail("flex.overlap", "intervals", f"intervals overlap at {iso(a1)}")
    return out


def report_object(
    signal: Signal,
    ven_name: str,
    resources: dict[str, list[tuple[datetime, datetime, float]]],
    *,
    reading_type: str = "FORECAST",
) -> dict[str, Any]:
    """An OpenADR 3.0.1 report on ``signal``: per resource (asset) the mean power [kW] over each of the event's
    intervals (payload type ``DEMAND``; ``readingType`` ``FORECAST`` for the plan)."""
    return {
        "objectType": "REPORT",
        "programID": signal.program_id,
        "eventID": signal.event_id,
        "clientName": ven_name,
        "reportName": f"batteryloop plan for {signal.name or signal.event_id}",
        "payloadDescriptors": [
            {
                "objectType": "REPORT_PAYLOAD_DESCRIPTOR",
                "payloadType": "DEMAND",
                "readingType": reading_type,
                "units": "KW",
            }
        ],
        "resources": [
            {
                "resourceName": name,
                "intervals": [
                    {
                        "id": k,
                        "intervalPeriod": {"start": iso(a), "duration": iso_duration(b - a)},
                        "payloads": [{"type": "DEMAND", "values": [round(kW, 3)]}],
                    }
                    for k, (a, b, kW) in enumerate(rows)
                ],
            }
            for name, rows in resources.items()
        ],
    }


def report_problems(raw: Any, known_events: set[str]) -> list[EventProblem]:
    """What is wrong with a report a VEN sends (the VTN's check): the fields the VTN needs, the event it names."""
    out: list[EventProblem] = []
    if not isinstance(raw, dict):
        return [EventProblem("Bad Request", "not an object", "report")]
    for name in ("programID", "eventID", "clientName", "resources"):
        if name not in raw:
            out.append(EventProblem("Bad Request", "missing", name))
    if raw.get("eventID") is not None and str(raw.get("eventID")) not in known_events:
        out.append(EventProblem("Not Found", f"no event {raw.get('eventID')!r}", "eventID", status=404))
    for r, res in enumerate(raw.get("resources") or []):
        for k, interval in enumerate(res.get("intervals") or [] if isinstance(res, dict) else []):
            for j, payload in enumerate(interval.get("payloads") or [] if isinstance(interval, dict) else []):
                vals = payload.get("values") if isinstance(payload, dict) else None
                if not isinstance(vals, list) or any(_number(v) is None for v in vals):
                    out.append(
                        EventProblem("Bad Request", f"{vals!r}", f"resources[{r}].intervals[{k}].payloads[{j}].values")
                    )
    return out
