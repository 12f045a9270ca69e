"""Recycled content of a battery model (Regulation (EU) 2023/1542, Art. 8) and its place in the battery passport.

A producer declares, per element (cobalt, lithium, nickel, lead), the mass of the element in the active materials of
the model (``total_kg``; for lead the whole battery), the mass of it recovered from battery manufacturing waste
(``pre_consumer_kg``) and from post-consumer waste (``post_consumer_kg``). Then, per element,

.. math::

    r_{pre} = 100 \\cdot \\frac{m_{pre}}{m_{total}}, \\quad r_{post} = 100 \\cdot \\frac{m_{post}}{m_{total}}, \\quad
    r = r_{pre} + r_{post}

[%]. Art. 8(2) and 8(3) count both origins ("recovered from battery manufacturing waste or post-consumer waste"), so
the minimum shares are checked against :math:`r`. The Commission's delegated act on the calculation and verification
method (Art. 8(1)) has not been adopted; this is the plain mass share the Article describes.

Minimums (``targets.csv`` rows ``RC_*``): from 18 August 2031 16 % Co, 85 % Pb, 6 % Li, 6 % Ni for EV, SLI and
industrial batteries; from 18 August 2036 26 % Co, 85 % Pb, 12 % Li, 15 % Ni, LMT batteries included. A minimum
applies on and after its date; of several applicable minimums for one element the highest binds. Art. 8(2) covers
industrial batteries with a capacity above 2 kWh other than those with exclusively external storage; that scope is
the caller's to judge (the category alone is checked here).

The declared inputs are a JSON object::

    {"category": "EV", "elements": {"Co": {"total_kg": 8.0, "pre_consumer_kg": 0.6, "post_consumer_kg": 0.9}, ...}}

An element whose ``total_kg`` is 0 (an LFP battery has no cobalt or nickel) has no share and is left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from batteryloop.circularity.collection import CATEGORIES
from batteryloop.circularity.targets import MET_TOLERANCE_PP, Target, load_targets
from batteryloop.errors import NotFoundError, PermissionDeniedError, Problem, ValidationError, collect
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.attributes import validate_values
from batteryloop.passport.models import Passport
from batteryloop.passport.service import PassportService

ELEMENTS = ("Co", "Li", "Ni", "Pb")
"""The elements of Art. 8(2)-(3)."""
MATERIAL = {"Co": "cobalt", "Li": "lithium", "Ni": "nickel", "Pb": "lead"}
"""Element symbol -> the ``material`` of the passport's ``recycled_content`` (Annex XIII 1(e))."""
PASSPORT_CATEGORY = {"ev": "EV", "lmt": "LMT", "industrial": "industrial", "sli": "SLI", "portable": "portable"}
ATTRIBUTE = "recycled_content"
PASSPORT_DECIMALS = 6
"""Shares written into the passport are rounded to 1e-6 percentage points."""
MASS_FIELDS = ("total_kg", "pre_consumer_kg", "post_consumer_kg")


@dataclass(frozen=True)
class ElementShare:
    """Recycled share of one element of a battery model."""

    element: str
    total_kg: float
    pre_consumer_kg: float
    post_consumer_kg: float

    @property
    def pre_consumer_pct(self) -> float:
        return 100.0 * self.pre_consumer_kg / self.total_kg

    @property
    def post_consumer_pct(self) -> float:
        return 100.0 * self.post_consumer_kg / self.total_kg

    @property
    def recycled_pct(self) -> float:
        return 100.0 * (self.pre_consumer_kg + self.post_consumer_kg) / self.total_kg

    def as_dict(self) -> dict[str, Any]:
        return {
            "element": self.element,
            "material": MATERIAL[self.element],
            "total_kg": self.total_kg,
            "pre_consumer_kg": self.pre_consumer_kg,
            "post_consumer_kg": self.post_consumer_kg,
            "pre_consumer_pct": self.pre_consumer_pct,
            "post_consumer_pct": self.post_consumer_pct,
            "recycled_pct": self.recycled_pct,
        }

    def passport_entry(self) -> dict[str, Any]:
        """The entry of the passport's ``recycled_content`` list (structure ``RecycledContent``)."""
        pre = round(self.pre_consumer_pct, PASSPORT_DECIMALS)
        post = round(self.post_consumer_pct, PASSPORT_DECIMALS)
        return {
            "material": MATERIAL[self.element],
            "pre_consumer_pct": pre,
            "post_consumer_pct": post,
            "total_pct": round(pre + post, PASSPORT_DECIMALS),
        }


@dataclass(frozen=True)
class MinimumCheck:
    """One element's recycled share against one Art. 8 minimum."""

    target: Target
    share: ElementShare
    met: bool
    margin_pp: float
    missing_kg: float
    binding: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "element": self.share.element,
            "target_id": self.target.id,
            "provision": self.target.provision,
            "from_date": self.target.from_date.isoformat(),
            "minimum_pct": self.target.value_pct,
            "recycled_pct": self.share.recycled_pct,
            "met": self.met,
            "margin_pp": self.margin_pp,
            "missing_kg": self.missing_kg,
            "binding": self.binding,
            "source": self.target.source,
        }


@dataclass
class RecycledContent:
    """Shares per element and the minimums applicable on ``on`` for ``category``."""

    category: str
    on: date
    shares: list[ElementShare]
    checks: list[MinimumCheck] = field(default_factory=list)

    @property
    def all_met(self) -> bool:
        return all(c.met for c in self.checks)

    def passport_value(self) -> list[dict[str, Any]]:
        return [s.passport_entry() for s in self.shares]

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "date": self.on.isoformat(),
            "shares": [s.as_dict() for s in self.shares],
            "minimums": [c.as_dict() for c in self.checks],
            "all_met": self.all_met,
            "recycled_content": self.passport_value(),
        }


def _mass(value: Any, where: str, problems: list[Problem]) -> float | None:
    if value is None:
        problems.append(Problem(where, "missing mass", "kg >= 0", "missing"))
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(Problem(where, f"{value!r} is not a mass", "kg >= 0"))
        return None
    if value < 0:
        problems.append(Problem(where, f"negative mass {value:g}", "kg >= 0"))
        return None
    return float(value)


def category_of(value: Any, where: str = "category") -> str:
    """A battery category of ``CATEGORIES`` (any case, or the passport's lower-case form)."""
    known = {c.lower(): c for c in CATEGORIES}
    name = known.get(value.strip().lower()) if isinstance(value, str) else None
    if name is None:
        raise ValidationError(f"unknown category {value!r}", field=where, expected="one of " + ", ".join(CATEGORIES))
    return name


def validate_inputs(data: Mapping[str, Any]) -> list[ElementShare]:
    """The declared masses as shares; every bad field named (``elements.Co.post_consumer_kg``)."""
    problems: list[Problem] = []
    elements = data.get("elements")
    if not isinstance(elements, Mapping) or not elements:
        collect([Problem("elements", "missing or empty", 'an object such as {"Co": {"total_kg": ...}}', "missing")], "")
    assert isinstance(elements, Mapping)
    shares: list[ElementShare] = []
    for element, row in elements.items():
        at = f"elements.{element}"
        if element not in ELEMENTS:
            problems.append(Problem(at, f"unknown element {element!r}", "one of " + ", ".join(ELEMENTS)))
            continue
        if not isinstance(row, Mapping):
            problems.append(Problem(at, "not an object", "{total_kg, pre_consumer_kg, post_consumer_kg}"))
            continue
        for key in row:
            if key not in MASS_FIELDS:
                problems.append(Problem(f"{at}.{key}", "unknown field", ", ".join(MASS_FIELDS)))
        total, pre, post = (_mass(row.get(k), f"{at}.{k}", problems) for k in MASS_FIELDS)
        if total is None or pre is None or post is None:
            continue
        if pre + post > total * (1 + 1e-12):
            problems.append(
                Problem(
                    f"{at}.post_consumer_kg" if post > 0 else f"{at}.pre_consumer_kg",
                    f"recycled {pre + post:g} kg (pre {pre:g} + post {post:g}) is more than the total {total:g} kg",
                    "pre_consumer_kg + post_consumer_kg <= total_kg",
                )
            )
            continue
        if total > 0:
            shares.append(ElementShare(element, total, pre, post))
    collect(problems, "invalid recycled-content inputs")
    return sorted(shares, key=lambda s: ELEMENTS.index(s.element))


def minimums(category: str, on: date, element: str, targets: Sequence[Target] | None = None) -> list[Target]:
    """The Art. 8 minimums for ``element`` that apply to ``category`` on ``on``, lowest first."""
    rows = load_targets() if targets is None else targets
    found = [
        t
        for t in rows
        if t.parameter == "recycled_content" and t.subject == element and t.covers(category) and t.from_date <= on
    ]
    return sorted(found, key=lambda t: (t.value_pct, t.from_date))


def recycled_content(
    data: Mapping[str, Any], on: date, category: str | None = None, targets: Sequence[Target] | None = None
) -> RecycledContent:
    """Shares per element of the declared inputs, checked against the minimums applicable on ``on``."""
    cat = category_of(category if category is not None else data.get("category"))
    shares = validate_inputs(data)
    result = RecycledContent(cat, on, shares)
    for share in shares:
        found = minimums(cat, on, share.element, targets)
        for i, target in enumerate(found):
            pct = share.recycled_pct
            needed = target.value_pct / 100.0 * share.total_kg
            result.checks.append(
                MinimumCheck(
                    target=target,
                    share=share,
                    met=pct >= target.value_pct - MET_TOLERANCE_PP,
                    margin_pp=pct - target.value_pct,
                    missing_kg=max(0.0, needed - share.pre_consumer_kg - share.post_consumer_kg),
                    binding=i == len(found) - 1,
                )
            )
    return result


# ---------------------------------------------------------------------------------------------------------------------
# into the passport


def model_passports(session: Session, viewer: Viewer, model: str) -> list[Passport]:
    """The passports of ``model`` that ``viewer``'s organisation is responsible for (the operator of the model)."""
    found = list(session.scalars(select(Passport).where(Passport.model == model).order_by(Passport.id)))
    if not found:
        raise NotFoundError(f"no passport of battery model {model!r}", field="model")
    own = [p for p in found if viewer.organisation_id is not None and p.operator_id == viewer.organisation_id]
    if viewer.role is not Role.ECONOMIC_OPERATOR or not own:
        raise PermissionDeniedError(
            f"only the economic operator responsible for battery model {model!r} declares its recycled content",
            field="model",
        )
    return own


def apply(
    service: PassportService, viewer: Viewer, model: str, result: RecycledContent, *, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Write ``result`` into ``recycled_content`` of every passport of ``model``: a new version where it changes.

    Returns one row per passport: ``passport_id``, ``action`` (``updated``, ``unchanged``, ``would update``,
    ``skipped``) and the new ``version`` (or why it was skipped: a closed or superseded passport keeps its record).
    """
    rows: list[dict[str, Any]] = []
    for passport in model_passports(service.session, viewer, model):
        row: dict[str, Any] = {"passport_id": passport.id, "version": passport.version}
        if passport.state in ("closed", "superseded"):
            rows.append({**row, "action": "skipped", "reason": f"passport is {passport.state}"})
            continue
        passport_cat = PASSPORT_CATEGORY.get(passport.category, passport.category)
        if passport_cat != result.category:
            raise ValidationError(
                f"passport {passport.id} is a {passport_cat} battery; the inputs are for {result.category}",
                field="category",
                expected=passport_cat,
            )
        new = validate_values({ATTRIBUTE: result.passport_value()}, passport.category, only_static=True)[ATTRIBUTE]
        if passport.data.get(ATTRIBUTE) == new:
            rows.append({**row, "action": "unchanged"})
            continue
        if dry_run:
            rows.append({**row, "action": "would update"})
            continue
        updated = service.update_static(
            viewer, passport.id, {ATTRIBUTE: new}, note=f"recycled content of model {model} (Art. 8)"
        )
        rows.append({**row, "action": "updated", "version": updated.version})
    return rows
