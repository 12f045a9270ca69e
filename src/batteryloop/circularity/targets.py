"""Targets of producer responsibility as cited data (``targets.csv``), and the compliance of achieved figures with them.

Each row of ``targets.csv`` is one target: ``id``, the ``provision`` that sets it, the battery ``category`` (a
comma-separated list, or ``all``), the ``parameter`` (``collection_rate``, ``recycling_efficiency``,
``material_recovery``, ``recycled_content``), its ``subject`` (the chemistry for recycling efficiency, the element
for material recovery and recycled content), the ``value`` in percent, the ``unit``, the ``from_date`` and the
``source``. The rows are copied from the project's cited parameter table of Regulation (EU) 2023/1542 and Directive
2006/66/EC.

When a target applies: the Regulation words its targets "by 31 December Y" (collection, recycling efficiency,
material recovery: Art. 59(3), 60(3), Annex XII Parts B and C), so a target dated 31 December Y binds the figures of
calendar year Y and every later year; a target that applies from a date inside a year (recycled content from 18 August
2031, Art. 8(2)) binds that year too. A target is superseded only by a higher one for the same parameter, subject and
category; the lower one keeps applying (a rate that meets 73 % also meets 45 %), so every applicable target is listed
and the highest is the binding one.

Missing volume: what must still be collected, recycled or recovered to meet a target,
:math:`\\max(0, t/100 \\cdot D - N)` with :math:`t` the target [%], :math:`D` the denominator of the achieved figure
(average placed on the market, input mass, element mass in the input or in the batteries) and :math:`N` its
numerator [t].
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from batteryloop.circularity.collection import CollectionRate
from batteryloop.errors import Problem, collect

TARGETS_FILE = Path(__file__).with_name("targets.csv")
PARAMETERS = ("collection_rate", "recycling_efficiency", "material_recovery", "recycled_content")
DIRECTIVE = "Directive 2006/66/EC"
REGULATION = "Regulation (EU) 2023/1542"
MET_TOLERANCE_PP = 1e-9
"""A figure this close below a target meets it (floating-point rounding of an exact hit)."""


@dataclass(frozen=True)
class Target:
    """One target of ``targets.csv``."""

    id: str
    provision: str
    categories: tuple[str, ...]
    parameter: str
    subject: str
    value_pct: float
    unit: str
    from_date: date
    source: str

    @property
    def instrument(self) -> str:
        return DIRECTIVE if self.provision.startswith(DIRECTIVE) else REGULATION

    def covers(self, category: str) -> bool:
        return "all" in self.categories or category in self.categories

    def applies_in(self, year: int) -> bool:
        """Whether the target binds the figures of calendar ``year``."""
        return self.from_date.year <= year

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provision": self.provision,
            "category": ", ".join(self.categories),
            "parameter": self.parameter,
            "subject": self.subject,
            "value_pct": self.value_pct,
            "unit": self.unit,
            "from_date": self.from_date.isoformat(),
            "source": self.source,
        }


def parse_targets(rows: Iterable[dict[str, str]], source: str) -> tuple[Target, ...]:
    """Targets from CSV rows; every bad row is named by line and field."""
    problems: list[Problem] = []
    out: list[Target] = []
    for line, row in enumerate(rows, start=2):
        where = f"{source}:{line}"
        try:
            value = float(row["value"])
        except (KeyError, TypeError, ValueError):
            problems.append(Problem(f"{where}:value", f"{row.get('value')!r} is not a number", "a percentage"))
            continue
        try:
            from_date = date.fromisoformat(row["from_date"])
        except (KeyError, TypeError, ValueError):
            problems.append(Problem(f"{where}:from_date", f"{row.get('from_date')!r} is not a date", "YYYY-MM-DD"))
            continue
        if row.get("parameter") not in PARAMETERS:
            problems.append(Problem(f"{where}:parameter", f"unknown {row.get('parameter')!r}", ", ".join(PARAMETERS)))
            continue
        out.append(
            Target(
                id=row["id"],
                provision=row["provision"],
                categories=tuple(c.strip() for c in row["category"].split(",")),
                parameter=row["parameter"],
                subject=row.get("subject") or "",
                value_pct=value,
                unit=row["unit"],
                from_date=from_date,
                source=row["source"],
            )
        )
    collect(problems, f"{source}: bad target rows")
    return tuple(out)


@cache
def load_targets() -> tuple[Target, ...]:
    """The shipped targets of ``targets.csv``."""
    with TARGETS_FILE.open(encoding="utf-8", newline="") as handle:
        return parse_targets(csv.DictReader(handle), TARGETS_FILE.name)


def applicable(
    parameter: str,
    category: str,
    year: int,
    subject: str = "",
    *,
    instrument: str = REGULATION,
    targets: Sequence[Target] | None = None,
) -> list[Target]:
    """The targets binding ``parameter`` (of ``subject``) for ``category`` in ``year``, lowest first."""
    rows = load_targets() if targets is None else targets
    found = [
        t
        for t in rows
        if t.parameter == parameter
        and t.subject == subject
        and t.covers(category)
        and t.applies_in(year)
        and t.instrument == instrument
    ]
    return sorted(found, key=lambda t: (t.value_pct, t.from_date))


@dataclass(frozen=True)
class Achieved:
    """One achieved figure: ``numerator_t / denominator_t`` as a percentage."""

    parameter: str
    category: str
    subject: str
    numerator_t: float
    denominator_t: float
    basis: str = ""

    @property
    def pct(self) -> float:
        return 100.0 * self.numerator_t / self.denominator_t if self.denominator_t > 0 else 0.0

    @classmethod
    def collection(cls, rate: CollectionRate) -> Achieved:
        """A collection rate as an achieved figure: collected over the average placed on the market."""
        years = sorted(rate.placed_on_market_t)
        return cls(
            "collection_rate",
            rate.category,
            "",
            rate.collected_t,
            rate.average_placed_on_market_t,
            f"collected {rate.year} / mean placed on market {years[0]}-{years[-1]} ({rate.citation})",
        )


@dataclass(frozen=True)
class TargetResult:
    """An achieved figure against one target."""

    target: Target
    achieved: Achieved
    met: bool
    margin_pp: float
    missing_t: float
    binding: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_id": self.target.id,
            "provision": self.target.provision,
            "parameter": self.target.parameter,
            "category": self.achieved.category,
            "subject": self.target.subject,
            "from_date": self.target.from_date.isoformat(),
            "target_pct": self.target.value_pct,
            "achieved_pct": self.achieved.pct,
            "met": self.met,
            "margin_pp": self.margin_pp,
            "missing_t": self.missing_t,
            "numerator_t": self.achieved.numerator_t,
            "denominator_t": self.achieved.denominator_t,
            "basis": self.achieved.basis,
            "binding": self.binding,
            "source": self.target.source,
        }


def evaluate(
    achieved: Iterable[Achieved],
    year: int,
    *,
    instrument: str = REGULATION,
    targets: Sequence[Target] | None = None,
) -> list[TargetResult]:
    """Each applicable target for each achieved figure of ``year``: met or not, margin [pp], missing volume [t].

    A figure no target applies to (a category without a collection target, a year before the first target) yields
    no row. Met means achieved >= target (a figure exactly on the target meets it).
    """
    results: list[TargetResult] = []
    for fig in achieved:
        found = applicable(fig.parameter, fig.category, year, fig.subject, instrument=instrument, targets=targets)
        for i, target in enumerate(found):
            pct = fig.pct
            needed = target.value_pct / 100.0 * fig.denominator_t
            results.append(
                TargetResult(
                    target=target,
                    achieved=fig,
                    met=pct >= target.value_pct - MET_TOLERANCE_PP,
                    margin_pp=pct - target.value_pct,
                    missing_t=max(0.0, needed - fig.numerator_t),
                    binding=i == len(found) - 1,
                )
            )
    return results
