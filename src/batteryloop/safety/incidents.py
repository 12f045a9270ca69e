"""The incident register: fires and thermal events of batteries, with access rules and counts for the monitor.

An incident has a date, a location type, the battery category and chemistry, a cause and a consequence (each from a
closed list in ``incident_terms.csv`` next to this module, with its rationale; the cause may be ``unknown``), a free
text, and optionally the passport of the battery, which must exist. A correction is a new version of the incident;
the old version is kept (``current`` false, ``replaced_at`` set).

Access
------
- the market surveillance authority, the Commission (``SUPERVISORY_ROLES``) and the fire service see every incident
  and record any;
- an organisation's accounts see the incidents linked to the passports it is responsible for, and record or correct
  incidents linked to those passports only;
- everyone else, the public included, sees counts only: incidents per month or year, battery category and location
  type, naming no passport, place or organisation; a count below the threshold of ``disclosure_rules.csv`` (3, the
  threshold rule of statistical disclosure control, with its source there) is shown as ``<3``
  (:meth:`IncidentService.published_counts`), so that a single fire cannot be identified. Those who see every incident
  see the exact counts. Limitation: only primary suppression; a suppressed month can still be derived where the year's
  count and the other months of the same category and location type are shown (no secondary suppression).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from batteryloop.circularity.collection import CATEGORIES
from batteryloop.errors import NotFoundError, PermissionDeniedError, Problem, ValidationError, collect
from batteryloop.passport.access import SUPERVISORY_ROLES, Role, Viewer
from batteryloop.passport.models import Passport, utcnow
from batteryloop.safety.incident_models import Incident

SEE_ALL_ROLES = SUPERVISORY_ROLES | {Role.FIRE_SERVICE}
FIELDS = ("occurred_on", "location_type", "category", "chemistry", "cause", "consequence", "description", "passport_id")
REQUIRED = ("occurred_on", "location_type", "category", "chemistry", "cause", "consequence")
PERIODS = ("month", "year")
FIRST_DATE = date(1990, 1, 1)
DESCRIPTION_LIMIT = 4000


@dataclass(frozen=True)
class Term:
    """One allowed value of a closed field (``incident_terms.csv``)."""

    field: str
    value: str
    description: str
    rationale: str


@cache
def terms() -> dict[str, tuple[Term, ...]]:
    """The allowed values of ``location_type``, ``cause`` and ``consequence``, in the order of the CSV."""
    text = resources.files("batteryloop.safety").joinpath("incident_terms.csv").read_text(encoding="utf-8")
    out: dict[str, list[Term]] = {}
    for row in csv.DictReader(text.splitlines()):
        out.setdefault(row["field"], []).append(Term(**row))
    return {k: tuple(v) for k, v in out.items()}


def allowed(field: str) -> tuple[str, ...]:
    return tuple(t.value for t in terms()[field])


# ---------------------------------------------------------------------------------------------------------------------
# validation (pure)


def _closed(value: Any, field: str, choices: tuple[str, ...], problems: list[Problem]) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(Problem(field, "missing", "one of " + ", ".join(choices), "missing"))
        return None
    known = {c.lower(): c for c in choices}
    if isinstance(value, str):
        key = value.strip().lower()
        name = known.get(key) or known.get(key.replace(" ", "_").replace("-", "_"))
        if name is not None:
            return name
    problems.append(Problem(field, f"unknown {field.replace('_', ' ')} {value!r}", "one of " + ", ".join(choices)))
    return None


def _date(value: Any, today: date, problems: list[Problem]) -> date | None:
    expected = f"a date YYYY-MM-DD from {FIRST_DATE} to today"
    if value is None or value == "":
        problems.append(Problem("occurred_on", "missing", expected, "missing"))
        return None
    day: date | None = None
    if isinstance(value, date):
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            day = None
    if day is None:
        problems.append(Problem("occurred_on", f"{value!r} is not a date", expected))
        return None
    if day > today:
        problems.append(Problem("occurred_on", f"{day} is in the future", expected))
        return None
    if day < FIRST_DATE:
        problems.append(Problem("occurred_on", f"{day} is before {FIRST_DATE}", expected))
        return None
    return day


def _text(value: Any, field: str, limit: int, problems: list[Problem], *, required: bool) -> str | None:
    expected = f"text of 1-{limit} characters"
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(Problem(field, "missing", expected, "missing"))
        return None
    if not isinstance(value, str):
        problems.append(Problem(field, f"{value!r} is not text", expected))
        return None
    if len(value.strip()) > limit:
        problems.append(Problem(field, f"longer than {limit} characters", expected))
        return None
    return value.strip()


def validate(data: Mapping[str, Any], today: date | None = None) -> dict[str, Any]:
    """The normalised content of an incident; every bad or unknown field named in one ValidationError."""
    problems: list[Problem] = []
    for key in data:
        if key not in FIELDS:
            problems.append(Problem(str(key), f"unknown field {key!r}", "one of " + ", ".join(FIELDS)))
    out: dict[str, Any] = {
        "occurred_on": _date(data.get("occurred_on"), today or date.today(), problems),
        "location_type": _closed(data.get("location_type"), "location_type", allowed("location_type"), problems),
        "category": _closed(data.get("category"), "category", CATEGORIES, problems),
        "chemistry": _text(data.get("chemistry"), "chemistry", 100, problems, required=True),
        "cause": _closed(data.get("cause"), "cause", allowed("cause"), problems),
        "consequence": _closed(data.get("consequence"), "consequence", allowed("consequence"), problems),
        "description": _text(data.get("description"), "description", DESCRIPTION_LIMIT, problems, required=False),
        "passport_id": _text(data.get("passport_id"), "passport_id", 128, problems, required=False),
    }
    collect(problems, "invalid incident")
    return out


def _year_range(year: int) -> tuple[date, date]:
    if isinstance(year, bool) or not isinstance(year, int) or not FIRST_DATE.year <= year <= 2100:
        raise ValidationError(f"{year!r} is not a year", field="year", expected=f"a year {FIRST_DATE.year}-2100")
    return date(year, 1, 1), date(year, 12, 31)


# ---------------------------------------------------------------------------------------------------------------------
# the service


DISCLOSURE_RULES = "disclosure_rules.csv"


@cache
def min_public_count() -> int:
    """The smallest count shown to the public as a number (``disclosure_rules.csv``, rule ``min_public_count``)."""
    text = resources.files("batteryloop.safety").joinpath(DISCLOSURE_RULES).read_text(encoding="utf-8")
    for number, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        if row.get("rule") != "min_public_count":
            continue
        if not (row.get("source") or "").strip():
            raise ValidationError(
                f"{DISCLOSURE_RULES} row {number}: no source", field=f"{DISCLOSURE_RULES} row {number} source"
            )
        try:
            value = int(row["value"])
        except (TypeError, ValueError):
            value = 0
        if value < 1:
            raise ValidationError(
                f"{DISCLOSURE_RULES} row {number}: {row.get('value')!r} is not a whole number of at least 1",
                field=f"{DISCLOSURE_RULES} row {number} value",
                expected="a whole number >= 1",
            )
        return value
    raise ValidationError(f"{DISCLOSURE_RULES}: no min_public_count rule", field=DISCLOSURE_RULES)


@dataclass(frozen=True)
class PublishedCount:
    """A count as published: the number, or None where it is below the threshold and ``shown`` is ``<N``."""

    period: str
    category: str
    location_type: str
    incidents: int | None
    shown: str
    suppressed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "category": self.category,
            "location_type": self.location_type,
            "incidents": self.incidents,
            "shown": self.shown,
            "suppressed": self.suppressed,
        }


def suppress(rows: list[CountRow], threshold: int) -> list[PublishedCount]:
    """Counts below ``threshold`` replaced by ``<threshold`` (the threshold rule); others kept."""
    return [
        PublishedCount(r.period, r.category, r.location_type, None, f"<{threshold}", True)
        if r.incidents < threshold
        else PublishedCount(r.period, r.category, r.location_type, r.incidents, str(r.incidents), False)
        for r in rows
    ]


@dataclass(frozen=True)
class CountRow:
    period: str
    category: str
    location_type: str
    incidents: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "category": self.category,
            "location_type": self.location_type,
            "incidents": self.incidents,
        }


class IncidentService:
    """The register on one session; every read and write checks the caller (:class:`Viewer`)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # access -----------------------------------------------------------------------------------------------------

    @staticmethod
    def sees_all(viewer: Viewer) -> bool:
        return viewer.role in SEE_ALL_ROLES

    def _require_reader(self, viewer: Viewer) -> None:
        if not self.sees_all(viewer) and (viewer.role is Role.ANONYMOUS or viewer.organisation_id is None):
            raise PermissionDeniedError(
                "individual incidents are not public; the counts are",
                field="authorization",
                expected="a signed-in authority, fire service or the responsible operator of a linked passport",
            )

    def _may_see(self, viewer: Viewer, incident: Incident) -> bool:
        if self.sees_all(viewer):
            return True
        if viewer.role is Role.ANONYMOUS or viewer.organisation_id is None or incident.passport_id is None:
            return False
        passport = self.session.get(Passport, incident.passport_id)
        return passport is not None and passport.operator_id == viewer.organisation_id

    def _check_link(self, viewer: Viewer, passport_id: str | None) -> None:
        """The linked passport must exist; an operator records incidents of its own passports only."""
        if passport_id is not None:
            passport = self.session.get(Passport, passport_id)
            if passport is None:
                raise ValidationError(
                    f"no passport {passport_id!r}", field="passport_id", expected="the id of an existing passport"
                )
            if self.sees_all(viewer) or passport.operator_id == viewer.organisation_id:
                return
        elif self.sees_all(viewer):
            return
        if viewer.role is Role.ANONYMOUS:
            raise PermissionDeniedError("recording an incident needs an account", field="authorization")
        raise PermissionDeniedError(
            "an operator records incidents linked to its own passports only; authorities and the fire service any",
            field="passport_id",
        )

    # writes -----------------------------------------------------------------------------------------------------

    def record(self, viewer: Viewer, data: Mapping[str, Any], *, today: date | None = None) -> Incident:
        """Record a new incident (number = the next free number, version 1)."""
        content = validate(data, today)
        self._check_link(viewer, content["passport_id"])
        number = (self.session.scalar(select(func.max(Incident.number))) or 0) + 1
        incident = Incident(number=number, version=1, current=True, recorded_by=viewer.account, **content)
        self.session.add(incident)
        self.session.flush()
        return incident

    def correct(
        self,
        viewer: Viewer,
        number: int,
        data: Mapping[str, Any],
        *,
        reason: str | None = None,
        today: date | None = None,
    ) -> Incident:
        """Replace incident ``number`` by a new version; fields not given keep their value, the old version is kept."""
        old = self.incident(viewer, number)
        merged = {k: getattr(old, k) for k in FIELDS}
        merged["occurred_on"] = old.occurred_on.isoformat()
        merged.update(data)
        content = validate(merged, today)
        self._check_link(viewer, content["passport_id"])
        old.current = False
        old.replaced_at = utcnow()
        self.session.flush()
        new = Incident(
            number=number,
            version=old.version + 1,
            current=True,
            recorded_by=viewer.account,
            reason=reason,
            **content,
        )
        self.session.add(new)
        self.session.flush()
        return new

    # reads ------------------------------------------------------------------------------------------------------

    def incident(self, viewer: Viewer, number: int) -> Incident:
        """The current version of incident ``number`` (not found when the caller may not see it)."""
        self._require_reader(viewer)
        found = self.session.scalar(select(Incident).where(Incident.number == number, Incident.current.is_(True)))
        if found is None or not self._may_see(viewer, found):
            raise NotFoundError(f"no incident {number} visible to you", field="number")
        return found

    def history(self, viewer: Viewer, number: int) -> list[Incident]:
        """Every version of incident ``number``, oldest first."""
        self.incident(viewer, number)
        return list(self.session.scalars(select(Incident).where(Incident.number == number).order_by(Incident.version)))

    def incidents(
        self,
        viewer: Viewer,
        *,
        year: int | None = None,
        category: str | None = None,
        location_type: str | None = None,
        passport_id: str | None = None,
        history: bool = False,
    ) -> list[Incident]:
        """The incidents ``viewer`` may read (current versions unless ``history``), by date."""
        self._require_reader(viewer)
        query = select(Incident).order_by(Incident.occurred_on, Incident.number, Incident.version)
        if not history:
            query = query.where(Incident.current.is_(True))
        if year is not None:
            first, last = _year_range(year)
            query = query.where(Incident.occurred_on >= first, Incident.occurred_on <= last)
        if category is not None:
            problems: list[Problem] = []
            cat = _closed(category, "category", CATEGORIES, problems)
            collect(problems, "invalid filter")
            query = query.where(Incident.category == cat)
        if location_type is not None:
            problems = []
            name = _closed(location_type, "location_type", allowed("location_type"), problems)
            collect(problems, "invalid filter")
            query = query.where(Incident.location_type == name)
        if passport_id is not None:
            query = query.where(Incident.passport_id == passport_id)
        if not self.sees_all(viewer):
            query = query.join(Passport, Passport.id == Incident.passport_id).where(
                Passport.operator_id == viewer.organisation_id
            )
        return list(self.session.scalars(query))

    def counts(self, *, per: str = "month", year: int | None = None, category: str | None = None) -> list[CountRow]:
        """Current incidents per period (``month``: YYYY-MM, ``year``: YYYY), category and location type (public)."""
        if per not in PERIODS:
            raise ValidationError(f"unknown period {per!r}", field="per", expected=" or ".join(PERIODS))
        problems: list[Problem] = []
        name = _closed(category, "category", CATEGORIES, problems) if category is not None else None
        collect(problems, "invalid filter")
        query = select(Incident.occurred_on, Incident.category, Incident.location_type).where(
            Incident.current.is_(True)
        )
        if year is not None:
            first, last = _year_range(year)
            query = query.where(Incident.occurred_on >= first, Incident.occurred_on <= last)
        if name is not None:
            query = query.where(Incident.category == name)
        tally: Counter[tuple[str, str, str]] = Counter()
        for day, cat, where in self.session.execute(query):
            period = f"{day.year:04d}-{day.month:02d}" if per == "month" else f"{day.year:04d}"
            tally[(period, cat, where)] += 1
        return [CountRow(p, c, w, n) for (p, c, w), n in sorted(tally.items())]

    def published_counts(
        self, viewer: Viewer, *, per: str = "month", year: int | None = None, category: str | None = None
    ) -> list[PublishedCount]:
        """The counts as the caller may read them: exact for those who see every incident, else with the counts
        below the threshold of ``disclosure_rules.csv`` shown as ``<N``."""
        rows = self.counts(per=per, year=year, category=category)
        if self.sees_all(viewer):
            return suppress(rows, 0)
        return suppress(rows, min_public_count())

    @staticmethod
    def as_dict(incident: Incident) -> dict[str, Any]:
        return {
            "number": incident.number,
            "version": incident.version,
            "current": incident.current,
            "occurred_on": incident.occurred_on.isoformat(),
            "location_type": incident.location_type,
            "category": incident.category,
            "chemistry": incident.chemistry,
            "cause": incident.cause,
            "consequence": incident.consequence,
            "description": incident.description,
            "passport_id": incident.passport_id,
            "recorded_by": incident.recorded_by,
            "recorded_at": incident.recorded_at.isoformat(),
            "replaced_at": incident.replaced_at.isoformat() if incident.replaced_at else None,
            "reason": incident.reason,
        }
