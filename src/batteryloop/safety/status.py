"""The passport's safety status (``safety_status``): intact, damaged, defective or critically defective in the sense of
ADR special provision 376, and what it means for transport.

The statuses are data (``safety_status.csv`` next to this module): their rank (a more severe status is not replaced
by a milder one from data), the ADR condition they mean for :mod:`batteryloop.safety.transport` (``defective`` is
carried like ``damaged``: SP 376 puts both under P908/LP904; ``critically_defective`` is P911/LP906), whether a hazard
flag may set them (the rules of ``flag_rules.csv`` set ``damaged`` or ``defective``; ``intact`` and
``critically_defective`` are a person's finding), what they mean and the source.

:func:`set_status` is the person's mark (an operator after an inspection, or confirming flags): it writes the status
and, for any status but ``intact``, a ``negative_events`` entry with the evidence, in one signed version.
:func:`transport_condition` reads the ADR condition from a passport's data.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from batteryloop.errors import Problem, ValidationError

STATUS_PATH = Path(__file__).with_name("safety_status.csv")
KEY = "safety_status"
ADR_CONDITIONS = ("intact", "damaged", "critical")
MAX_EVIDENCE = 2000


@dataclass(frozen=True)
class SafetyStatus:
    """One row of ``safety_status.csv``."""

    status: str
    rank: int
    adr_condition: str
    set_by_flags: bool
    meaning: str
    source: str


def read_statuses(path: Path) -> dict[str, SafetyStatus]:
    """The statuses of ``path``; every problem names the row and column. They must be the values the passport
    attribute ``safety_status`` takes (attributes.csv)."""
    from batteryloop.passport.attributes import attribute

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: cannot read ({exc})", field=str(path), expected="a UTF-8 CSV file") from None
    reader = csv.DictReader(text.splitlines())
    columns = ("status", "rank", "adr_condition", "set_by_flags", "meaning", "source")
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(
            f"{path}: missing column(s) {', '.join(missing)}", field=f"{path.name} row 1", expected=", ".join(columns)
        )
    allowed = attribute(KEY).type.removeprefix("enum:").split("|")
    out: dict[str, SafetyStatus] = {}
    problems: list[Problem] = []
    for number, row in enumerate(reader, start=2):
        where = f"{path.name} row {number}"
        status = (row["status"] or "").strip()
        if status not in allowed:
            problems.append(Problem(f"{where} status", f"unknown status {status!r}", " | ".join(allowed)))
        elif status in out:
            problems.append(Problem(f"{where} status", f"{status!r} appears twice", "one row per status"))
        try:
            rank = int(row["rank"])
        except (TypeError, ValueError):
            problems.append(Problem(f"{where} rank", f"{row['rank']!r} is not a whole number", "0, 1, 2, ..."))
            rank = -1
        condition = (row["adr_condition"] or "").strip()
        if condition not in ADR_CONDITIONS:
            problems.append(
                Problem(f"{where} adr_condition", f"unknown condition {condition!r}", " | ".join(ADR_CONDITIONS))
            )
        flags = (row["set_by_flags"] or "").strip()
        if flags not in ("yes", "no"):
            problems.append(Problem(f"{where} set_by_flags", f"{flags!r}", "yes | no"))
        for name in ("meaning", "source"):
            if not (row[name] or "").strip():
                problems.append(Problem(f"{where} {name}", "empty", "a text"))
        out[status] = SafetyStatus(status, rank, condition, flags == "yes", row["meaning"], row["source"])
    if not problems:
        absent = [s for s in allowed if s not in out]
        if absent:
            problems.append(Problem(path.name, f"no row for {', '.join(absent)}", "a row per safety status"))
        ranks = [s.rank for s in out.values()]
        if len(set(ranks)) != len(ranks):
            problems.append(Problem(f"{path.name} rank", "two statuses share a rank", "distinct ranks"))
    if problems:
        raise ValidationError(f"{path}: {len(problems)} problem(s)", problems=problems)
    return out


@cache
def statuses() -> dict[str, SafetyStatus]:
    """The shipped statuses (``safety_status.csv``)."""
    return read_statuses(STATUS_PATH)


def more_severe(current: str | None, new: str) -> str:
    """The more severe of two statuses (``new`` where there is none yet or it ranks higher)."""
    table = statuses()
    if current is None or current not in table:
        return new
    return new if table[new].rank > table[current].rank else current


def transport_condition(data: Mapping[str, Any]) -> tuple[str, str]:
    """The ADR condition (intact, damaged, critical, waste) from a passport's data, and a note saying where it came
    from. A battery whose passport marks it as waste (``battery_status``) and not as damaged is carried as waste."""
    status = data.get(KEY)
    waste = data.get("battery_status") == "waste"
    if status is None:
        if waste:
            return "waste", (
                "condition waste: the passport records no safety status and its battery_status is waste (ADR SP 377)"
            )
        return "intact", (
            "condition intact: the passport records no safety status (no hazard flag or inspection has marked the "
            "battery damaged or defective)"
        )
    row = statuses().get(str(status))
    if row is None:
        raise ValidationError(
            f"the passport's safety_status {status!r} is unknown", field=KEY, expected=" | ".join(statuses())
        )
    condition = "waste" if row.adr_condition == "intact" and waste else row.adr_condition
    return condition, f"condition {condition} taken from the passport's safety_status {status!r}: {row.source}"


def check_status(status: str, *, field: str = "status") -> SafetyStatus:
    row = statuses().get(status)
    if row is None:
        raise ValidationError(f"unknown safety status {status!r}", field=field, expected=" | ".join(statuses()))
    return row


def set_status(
    service: Any,
    viewer: Any,
    passport_id: str,
    status: str,
    *,
    evidence: str,
    measured_at: datetime,
    method: str,
) -> str:
    """A person's mark of the battery's safety status, with the evidence: ``"marked"`` or ``"unchanged"`` (the status
    and the same evidence are there already). Written through the registry as the caller, who must be the passport's
    responsible operator; one signed version."""
    from batteryloop.passport.models import Passport

    check_status(status)
    text = evidence.strip() if isinstance(evidence, str) else ""
    if not text:
        raise ValidationError("a safety status needs its evidence", field="evidence", expected="what was found")
    if len(text) > MAX_EVIDENCE:
        raise ValidationError("the evidence is too long", field="evidence", expected=f"at most {MAX_EVIDENCE} chars")
    passport = service.session.get(Passport, passport_id)
    current = (passport.data or {}) if passport is not None else {}
    events = list(current.get("negative_events") or [])
    entry = f"safety status {status} marked by {viewer.account}: {text}"
    known = {str(e.get("event")) for e in events if isinstance(e, Mapping)}
    if current.get(KEY) == status and (status == "intact" or entry in known):
        return "unchanged"
    values: dict[str, Any] = {KEY: status}
    if status != "intact":
        values["negative_events"] = [*events, {"event": entry, "time": measured_at.isoformat()}]
    service.update_dynamic(
        viewer,
        passport_id,
        values,
        measured_at=measured_at,
        method=method,
        note=f"safety status {status}: {text}"[:500],
    )
    return "marked"
