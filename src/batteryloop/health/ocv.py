"""Open-circuit voltage (OCV) versus state of charge (SoC): the tables that turn a rested cell voltage into a SoC.

A table gives the cell OCV [V] at states of charge [%]. The package ships one per chemistry, derived from PyBaMM's
published parameter sets by ``scripts/ocv_tables.py`` (the parameter set, its papers and the PyBaMM version are in
``ocv_tables/index.csv``); a user's own table (``--ocv-table``: a CSV with the columns ``soc_pct,ocv_V``, lines
starting with ``#`` are comments) replaces it. LMO has no default table.

A generic table differs from a given cell's own OCV by some millivolts (cell design, hysteresis, temperature): that
difference is part of the uncertainty (``uncertainty_V``), and a cell's own table (from a C/20 or GITT test) is better.

References
----------
.. [1] C.-H. Chen et al., "Development of experimental techniques for parameterization of multi-scale lithium-ion
   battery models", J. Electrochem. Soc. 167 (2020) 080534, doi:10.1149/1945-7111/ab9050 (NMC table).
.. [2] E. Prada et al., "A simplified electrochemical and thermal aging model of LiFePO4-graphite Li-ion batteries",
   J. Electrochem. Soc. 160 (2013) A616, doi:10.1149/2.053304jes (LFP table, PyBaMM set ``Prada2013``).
.. [3] G.-H. Kim et al., J. Electrochem. Soc. 158 (2011) A955, doi:10.1149/1.3597614 (NCA table).
.. [4] P. Ramadass et al., J. Electrochem. Soc. 151 (2004) A196, doi:10.1149/1.1634273 (LCO table).
.. [5] P. Mohtat et al., "Towards better estimability of electrode-specific state of health", J. Electrochem. Soc. 166
   (2019) A3189, doi:10.1149/2.1181910jes (electrode stoichiometry windows used to build the tables).
.. [6] V. Sulzer et al., "Python Battery Mathematical Modelling (PyBaMM)", J. Open Res. Softw. 9 (2021) 14,
   doi:10.5334/jors.309.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np
from numpy.typing import ArrayLike, NDArray

from batteryloop.errors import Problem, ValidationError
from batteryloop.health.settings import defaults

FloatArray = NDArray[np.float64]

# half-width of the central difference that gives the OCV slope [%]
_SLOPE_HALF_WIDTH_PCT = 1.0


@dataclass(frozen=True, eq=False)
class OcvTable:
    """Cell open-circuit voltage at given states of charge.

    Parameters
    ----------
    soc_pct : ndarray
        States of charge, strictly increasing, within 0..100. [%]
    ocv_V : ndarray
        Cell open-circuit voltage at those states of charge, increasing. [V]
    name : str
        What the table is (a chemistry or a file name).
    source : str
        Where it comes from (parameter set and paper, or the user's file).
    uncertainty_V : float
        Standard uncertainty of a cell's OCV against this table. [V]
    """

    soc_pct: FloatArray
    ocv_V: FloatArray
    name: str
    source: str
    uncertainty_V: float = field(default_factory=lambda: defaults().ocv_table_uncertainty_V)

    def __post_init__(self) -> None:
        soc = np.asarray(self.soc_pct, dtype=np.float64)
        ocv = np.asarray(self.ocv_V, dtype=np.float64)
        object.__setattr__(self, "soc_pct", soc)
        object.__setattr__(self, "ocv_V", ocv)
        x = np.concatenate(([0.0], np.cumsum(0.5 * (ocv[1:] + ocv[:-1]) * np.diff(soc))))
        object.__setattr__(self, "_integral", x)

    @property
    def ocv_min_V(self) -> float:
        return float(self.ocv_V[0])

    @property
    def ocv_max_V(self) -> float:
        return float(self.ocv_V[-1])

    def ocv_at(self, soc_pct: ArrayLike) -> FloatArray:
        """Cell OCV [V] at ``soc_pct`` [%] (linear interpolation, held constant outside the table)."""
        return np.interp(np.asarray(soc_pct, dtype=np.float64), self.soc_pct, self.ocv_V)

    def soc_at(self, ocv_V: ArrayLike) -> FloatArray:
        """State of charge [%] at cell voltage ``ocv_V`` [V] (clipped to the table's range)."""
        return np.interp(np.asarray(ocv_V, dtype=np.float64), self.ocv_V, self.soc_pct)

    def slope_at(self, soc_pct: ArrayLike) -> FloatArray:
        """dOCV/dSoC [V/%] at ``soc_pct``, as a central difference over +-1 % (one-sided at the ends)."""
        s = np.asarray(soc_pct, dtype=np.float64)
        lo = np.clip(s - _SLOPE_HALF_WIDTH_PCT, self.soc_pct[0], self.soc_pct[-1])
        hi = np.clip(s + _SLOPE_HALF_WIDTH_PCT, self.soc_pct[0], self.soc_pct[-1])
        width = np.maximum(hi - lo, 1e-9)
        return (self.ocv_at(hi) - self.ocv_at(lo)) / width

    def mean_ocv(self, soc_from_pct: ArrayLike, soc_to_pct: ArrayLike) -> FloatArray:
        """Mean cell OCV [V] between two states of charge [%] (the energy per charge stored there)."""
        a = np.clip(np.asarray(soc_from_pct, dtype=np.float64), self.soc_pct[0], self.soc_pct[-1])
        b = np.clip(np.asarray(soc_to_pct, dtype=np.float64), self.soc_pct[0], self.soc_pct[-1])
        integral: FloatArray = getattr(self, "_integral")  # noqa: B009 - set in __post_init__ of a frozen class
        fa = np.interp(a, self.soc_pct, integral)
        fb = np.interp(b, self.soc_pct, integral)
        same = np.abs(b - a) < 1e-9
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (fb - fa) / np.where(same, 1.0, b - a)
        return np.where(same, self.ocv_at(a), mean)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "source": self.source,
            "points": len(self.soc_pct),
            "ocv_range_V": [self.ocv_min_V, self.ocv_max_V],
            "uncertainty_V": self.uncertainty_V,
        }


def parse_table(text: str, name: str, *, uncertainty_V: float | None = None) -> OcvTable:
    """An OCV table from CSV text with the columns ``soc_pct`` and ``ocv_V`` (``#`` lines are comments).

    Raises :class:`~batteryloop.errors.ValidationError` naming the file (``name``), the row and what was expected.
    """
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("soc_pct", "ocv_V") if c not in header]
    if missing:
        raise ValidationError(
            f"{name}: the OCV table lacks the column(s) {', '.join(missing)}",
            field=name,
            expected="a CSV with the columns soc_pct,ocv_V (state of charge in %, cell OCV in V)",
        )
    problems: list[Problem] = []
    soc: list[float] = []
    ocv: list[float] = []
    for row_number, row in enumerate(reader, start=2):
        clean = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        try:
            s = float(clean["soc_pct"])
            v = float(clean["ocv_V"])
        except ValueError:
            problems.append(
                Problem(
                    f"{name}:row {row_number}", f"not a number: {clean['soc_pct']!r}, {clean['ocv_V']!r}", "numbers"
                )
            )
            continue
        if not (math.isfinite(s) and math.isfinite(v)):
            problems.append(Problem(f"{name}:row {row_number}", "not a finite number", "finite numbers"))
            continue
        if not 0.0 <= s <= 100.0:
            problems.append(
                Problem(f"{name}:row {row_number}:soc_pct", f"{s:g} is outside 0..100", "0 <= soc_pct <= 100")
            )
        if not 0.5 <= v <= 5.5:
            problems.append(
                Problem(
                    f"{name}:row {row_number}:ocv_V",
                    f"{v:g} V is not a cell voltage",
                    "0.5..5.5 V (a cell, not a pack)",
                )
            )
        soc.append(s)
        ocv.append(v)
    if problems:
        raise ValidationError(f"{name}: invalid OCV table", problems=problems)
    if len(soc) < 3:
        raise ValidationError(f"{name}: the OCV table has {len(soc)} rows", field=name, expected="at least 3 rows")
    order = np.argsort(soc, kind="stable")
    s_arr = np.asarray(soc)[order]
    v_arr = np.asarray(ocv)[order]
    if np.any(np.diff(s_arr) <= 0):
        raise ValidationError(f"{name}: repeated soc_pct values", field=f"{name}:soc_pct", expected="each SoC once")
    falling = np.flatnonzero(np.diff(v_arr) < 0)
    if falling.size:
        at = s_arr[falling[0] + 1]
        raise ValidationError(
            f"{name}: the OCV falls where the state of charge rises (at {at:g} %)",
            field=f"{name}:ocv_V",
            expected="an OCV that does not decrease with the state of charge",
        )
    if v_arr[-1] <= v_arr[0]:
        raise ValidationError(f"{name}: the OCV is flat", field=f"{name}:ocv_V", expected="an OCV that rises with SoC")
    kwargs = {} if uncertainty_V is None else {"uncertainty_V": uncertainty_V}
    return OcvTable(s_arr, v_arr, name=name, source=f"user table {name}", **kwargs)


@cache
def _index() -> dict[str, dict[str, str]]:
    text = resources.files("batteryloop.health").joinpath("ocv_tables", "index.csv").read_text(encoding="utf-8")
    return {row["chemistry"]: row for row in csv.DictReader(io.StringIO(text))}


def default_chemistries() -> list[str]:
    """Chemistries with a default OCV table."""
    return sorted(_index())


@cache
def default_table(chemistry: str) -> OcvTable:
    """The shipped OCV table of ``chemistry`` (NMC, LFP, NCA, LCO), with its source."""
    key = chemistry.strip().upper()
    index = _index()
    if key not in index:
        raise ValidationError(
            f"no default OCV table for {chemistry!r}",
            field="chemistry",
            expected=f"one of {', '.join(sorted(index))}, or --ocv-table CSV with soc_pct,ocv_V",
        )
    row = index[key]
    text = resources.files("batteryloop.health").joinpath("ocv_tables", row["file"]).read_text(encoding="utf-8")
    table = parse_table(text, row["file"])
    source = f"{row['parameter_set']} ({row['cell']}): {row['source']}; {row['soc_definition']}"
    return OcvTable(table.soc_pct, table.ocv_V, name=key, source=source)
