"""Collection rates of waste batteries: collected in a year over the average placed on the market (pure).

Two methods, chosen by the caller (:class:`Method`); both compute

.. math::

    CR_X = 100 \\cdot \\frac{C_X}{(S_X + S_{X-1} + S_{X-2}) / 3}

with :math:`C_X` the weight of waste batteries of the category collected in year :math:`X` [t] and :math:`S_Y` the
weight placed on the market (sold to end-users) in year :math:`Y` [t]. They differ in the categories they cover and
in the provisions that set them:

- ``directive``: Directive 2006/66/EC, Art. 10(2) and Annex I ("Monitoring of compliance with the collection targets
  of Article 10"): the collection rate in year X is the collected weight divided by the average annual sales of the
  year and the two preceding years. Portable batteries only (the Directive has no LMT category; e-bike batteries were
  industrial batteries under it). The start-up rows of Annex I (years 1 to 3, before three sales years exist) are not
  implemented: every year needs its three sales years.
- ``regulation``: Regulation (EU) 2023/1542, Art. 59(3) and Annex XI Part A for portable batteries (excluding LMT
  batteries) and Art. 60(3) and Annex XI Part B for batteries of light means of transport: the weight collected in
  year X over the average weight made available on the market for the first time in the Member State in X, X-1 and
  X-2. The Regulation sets collection-rate targets for these two categories only (SLI, EV and industrial waste
  batteries must all be taken back, Art. 61 and 62, without a rate), so other categories are refused. This
  "available on the market" (AOM) basis is the one in force; the Commission's Joint Research Centre recommends moving
  to an "available for collection" (AfC) basis (Bobba et al. 2024, below: "Results recommend transitioning from the
  current AOM-based method to an AfC-based methodology"), which is a proposal, not the Annex, and is not implemented.

What was and was not checked against the text (see docs/circularity.md): the text of Annex XI itself was not
available to this project (the stored corpora hold EUR-Lex's page of 2023/1542 only in fragments without Annex XI),
so no point or paragraph of Annex XI is cited below its Part, and the Annex's own treatment of the first years of a
new category (the Directive's Annex I had start-up rows for years 1-3) could not be checked; here every year needs
its three years of placed-on-market data and a missing one is named. The three-year window (X, X-1, X-2) is the
Directive's Annex I method that Stibat applies (its 2016 annual report: "het gemiddelde gewicht van de op de markt
gebrachte draagbare batterijen van het betreffende kalenderjaar en de twee voorgaande jaren") and that reproduces the
published Dutch rates (tests/circularity/test_collection.py); that the Regulation keeps this window is taken from the
JRC report's description of the current AOM-based method, not from the Annex text. Paragraph 60(3) for the LMT
targets follows a public deadline table read from the article text (targets.csv, source column).

References
----------
Directive 2006/66/EC of the European Parliament and of the Council of 6 September 2006 on batteries and accumulators
and waste batteries and accumulators, OJ L 266, 26.9.2006, Annex I.
Regulation (EU) 2023/1542 of the European Parliament and of the Council of 12 July 2023 concerning batteries and waste
batteries, OJ L 191, 28.7.2023, Art. 59, 60 and Annex XI.
Stichting Batterijen (Stibat), Jaarverslag 2016, "Berekening inzamelpercentage",
http://stibatjaarverslag2016.nl/inzamelresultaat.html.
S. Bobba, F. M. Manni, M. Orefice, F. Mathieux, JRC technical report JRC137863 (EUR 40103, 2024): technical
specifications for a methodology for calculating the collection rates of waste portable and LMT batteries,
doi:10.2760/8609526.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from batteryloop.errors import Problem, ValidationError, collect

CATEGORIES = ("portable", "LMT", "SLI", "EV", "industrial")
"""Battery categories of Regulation (EU) 2023/1542, Art. 3(1)(9)-(14) and Art. 2."""

FIRST_YEAR = 1990
LAST_YEAR = 2100


class Method(StrEnum):
    """How the collection rate is computed (see the module docstring)."""

    DIRECTIVE = "directive"
    REGULATION = "regulation"


@dataclass(frozen=True)
class MethodInfo:
    """What one method covers and where it is written."""

    method: Method
    citation: str
    categories: tuple[str, ...]
    formula: str
    citations: dict[str, str] = field(default_factory=dict)

    def citation_for(self, category: str) -> str:
        return self.citations.get(category, self.citation)


FORMULA = "100 * C_X / ((S_X + S_{X-1} + S_{X-2}) / 3)"

METHODS: dict[Method, MethodInfo] = {
    Method.DIRECTIVE: MethodInfo(
        Method.DIRECTIVE,
        "Directive 2006/66/EC, Art. 10(2) and Annex I",
        ("portable",),
        FORMULA,
    ),
    Method.REGULATION: MethodInfo(
        Method.REGULATION,
        "Regulation (EU) 2023/1542, Annex XI",
        ("portable", "LMT"),
        FORMULA,
        {
            "portable": "Regulation (EU) 2023/1542, Art. 59(3) and Annex XI Part A (portable batteries excluding LMT)",
            "LMT": "Regulation (EU) 2023/1542, Art. 60(3) and Annex XI Part B (batteries of light means of transport)",
        },
    ),
}


@dataclass(frozen=True)
class CollectionRate:
    """A collection rate with the figures it was computed from."""

    category: str
    year: int
    method: Method
    collection_rate_pct: float
    collected_t: float
    placed_on_market_t: dict[int, float]
    average_placed_on_market_t: float
    citation: str
    formula: str = FORMULA

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "year": self.year,
            "method": self.method.value,
            "collection_rate_pct": self.collection_rate_pct,
            "collected_t": {str(self.year): self.collected_t},
            "placed_on_market_t": {str(y): t for y, t in sorted(self.placed_on_market_t.items())},
            "average_placed_on_market_t": self.average_placed_on_market_t,
            "years_placed_on_market": sorted(self.placed_on_market_t),
            "formula": self.formula,
            "citation": self.citation,
        }


def method_of(value: str | Method) -> Method:
    try:
        return Method(value)
    except ValueError:
        raise ValidationError(
            f"unknown collection-rate method {value!r}",
            field="method",
            expected=" or ".join(m.value for m in Method),
        ) from None


def check_category(category: str, method: Method) -> str:
    """The category as spelled in :data:`CATEGORIES` (case-insensitive match), if the method covers it."""
    known = {c.lower(): c for c in CATEGORIES}
    name = known.get(category.strip().lower())
    if name is None:
        raise ValidationError(
            f"unknown battery category {category!r}", field="category", expected="one of " + ", ".join(CATEGORIES)
        )
    info = METHODS[method]
    if name not in info.categories:
        raise ValidationError(
            f"the {method.value} method ({info.citation}) sets no collection rate for {name} batteries",
            field="category",
            expected="one of " + ", ".join(info.categories),
        )
    return name


def collection_rate(
    category: str,
    year: int,
    collected_t: Mapping[int, float],
    placed_on_market_t: Mapping[int, float],
    method: str | Method = Method.DIRECTIVE,
) -> CollectionRate:
    """The collection rate of ``category`` in ``year``.

    Parameters
    ----------
    category : str
        Battery category (``portable``; ``LMT`` with the regulation method).
    year : int
        Reporting year X.
    collected_t : mapping of int to float
        Weight of waste batteries collected per year. [t]
    placed_on_market_t : mapping of int to float
        Weight placed on the market per year; X, X-1 and X-2 are needed. [t]
    method : str or Method
        ``directive`` (Directive 2006/66/EC Annex I) or ``regulation`` (Regulation (EU) 2023/1542 Annex XI).

    Returns
    -------
    CollectionRate
        The rate [%] with the years and tonnages used.

    Raises
    ------
    ValidationError
        Naming each missing or invalid year (``collected[2018]``, ``placed_on_market[2016]``), an unknown category or
        one the method does not cover.
    """
    how = method_of(method)
    name = check_category(category, how)
    problems: list[Problem] = []
    if not FIRST_YEAR <= year <= LAST_YEAR:
        problems.append(Problem("year", f"{year} is out of range", f"a year {FIRST_YEAR}-{LAST_YEAR}"))
    collected = collected_t.get(year)
    if collected is None:
        problems.append(Problem(f"collected[{year}]", f"no collected tonnage for {year}", "tonnes >= 0", "missing"))
    elif not (math.isfinite(collected) and collected >= 0):
        problems.append(Problem(f"collected[{year}]", f"{collected} is not a valid tonnage", "tonnes >= 0"))
    used: dict[int, float] = {}
    for y in (year - 2, year - 1, year):
        value = placed_on_market_t.get(y)
        if value is None:
            problems.append(
                Problem(
                    f"placed_on_market[{y}]",
                    f"no placed-on-market tonnage for {y} (the rate of {year} averages {year - 2}-{year})",
                    "tonnes > 0",
                    "missing",
                )
            )
        elif not (math.isfinite(value) and value >= 0):
            problems.append(Problem(f"placed_on_market[{y}]", f"{value} is not a valid tonnage", "tonnes >= 0"))
        else:
            used[y] = float(value)
    collect(problems, f"cannot compute the {name} collection rate of {year}")
    average = sum(used.values()) / 3.0
    if average <= 0:
        raise ValidationError(
            f"nothing was placed on the market in {year - 2}-{year}",
            field="placed_on_market",
            expected="a positive average over the three years",
        )
    assert collected is not None
    return CollectionRate(
        category=name,
        year=year,
        method=how,
        collection_rate_pct=100.0 * collected / average,
        collected_t=float(collected),
        placed_on_market_t=used,
        average_placed_on_market_t=average,
        citation=METHODS[how].citation_for(name),
    )


def tonnes_by_year(rows: Iterable[Mapping[str, str | None]], source: str) -> dict[int, float]:
    """Tonnages per year from rows with columns ``year`` and ``tonnes`` (as read by :class:`csv.DictReader`).

    Every bad row is reported, by its line number in ``source`` (the header is line 1), with the field and what was
    expected: a missing or non-integer year, a missing, non-numeric or negative tonnage, a year given twice.
    """
    problems: list[Problem] = []
    out: dict[int, float] = {}
    seen_line: dict[int, int] = {}
    count = 0
    for line, row in enumerate(rows, start=2):
        count += 1
        if None in row or any(k is None for k in row):
            problems.append(Problem(f"{source}:{line}", "row has more cells than the header", "year,tonnes"))
            continue
        missing = [c for c in ("year", "tonnes") if c not in row]
        if missing:
            problems.append(
                Problem(f"{source}:{line}", "missing column(s) " + ", ".join(missing), "columns year,tonnes")
            )
            break
        year_text = (row.get("year") or "").strip()
        tonnes_text = (row.get("tonnes") or "").strip()
        try:
            year = int(year_text)
        except ValueError:
            problems.append(Problem(f"{source}:{line}:year", f"{year_text!r} is not a year", "an integer year"))
            continue
        if not FIRST_YEAR <= year <= LAST_YEAR:
            problems.append(Problem(f"{source}:{line}:year", f"{year} is out of range", f"{FIRST_YEAR}-{LAST_YEAR}"))
            continue
        try:
            tonnes = float(tonnes_text)
        except ValueError:
            problems.append(
                Problem(f"{source}:{line}:tonnes", f"{tonnes_text!r} is not a number", "tonnes >= 0, e.g. 4310.5")
            )
            continue
        if not math.isfinite(tonnes) or tonnes < 0:
            problems.append(Problem(f"{source}:{line}:tonnes", f"{tonnes_text} is not a valid tonnage", "tonnes >= 0"))
            continue
        if year in out:
            problems.append(
                Problem(f"{source}:{line}:year", f"{year} already given on line {seen_line[year]}", "one row per year")
            )
            continue
        out[year] = tonnes
        seen_line[year] = line
    if count == 0:
        problems.append(Problem(source, "no rows", "a header year,tonnes and one row per year"))
    collect(problems, f"{source}: bad rows")
    return out
