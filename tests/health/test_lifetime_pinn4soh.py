"""Expected lifetime on PINN4SOH's per-cycle capacities (MIT/Severson LFP, HUST LFP, XJTU NCM): end of life (80 %
of the 1.1 Ah nominal capacity) predicted from partial capacity histories, next to BatteryML's published RMSE.

Data: ``../shared/data/battery-aging/pinn4soh`` (SOURCE.md there: PINN4SOH, Wang F. et al., Nat. Commun. 15, 4332
(2024); raw data MIT/Severson data.matr.io/1, HUST Mendeley nsc7hnsg4s, XJTU Zenodo 10963339, CC BY 4.0).

Protocols (a history is cut, the rest is the ground truth; nothing is trained):

- ``first N cycles``: BatteryML's early-prediction protocol (N = 100; Zhang et al., BatteryML, ICLR 2024,
  arXiv:2310.14714, whose published RMSE are MATR1 90, MATR2 149, HUST 322 cycles).
- ``first P % of life``: the history up to P % of each cell's own cycle life (a common RUL protocol; it uses the
  true life to place the cut, so it is an upper bound on what a field history of that length would give).

Ground truth:

- HUST: the series length: each series stops at 80 % of 1.1 Ah (last capacity 0.880-0.881 Ah); a series that
  ends above 0.885 Ah stopped for another reason and is left out.
- MIT: PINN4SOH stops each series at Severson's end of life (capacity 0.88 Ah in Severson's data), but its capacity
  column reads higher there (median 0.922 Ah); the truth is the series length (the published cycle life) of the
  cells whose series end in that band (last capacity <= 0.95 Ah and <= 90 % of the first), and the predicted
  threshold is the median end capacity of those cells, a data-set constant.
- XJTU: no cell reaches 80 %; the interval coverage is measured on the 90 % threshold (of the mean of the first five
  capacities): predicted from the first half of the recorded cycles, scored on the cells that cross 90 % later.

Run ``.venv/bin/python -m tests.health.test_lifetime_pinn4soh`` for the full table of docs/validation/lifetime.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from batteryloop.health.lifetime import LifetimePrediction, Selection, observed_crossing, predict_threshold
from tests.conftest import shared_path

pytestmark = pytest.mark.shared_data

NOMINAL_AH = 1.1  # MIT (A123 APR18650M1A) and HUST LFP cells, as BatteryML and Severson et al. take it
EOL_PCT = 80.0
BATTERYML_RMSE = {"MATR1": 90, "MATR2": 149, "HUST": 322}
# HUST series stop at 80 % of 1.1 Ah (last capacity 0.880-0.881 Ah): a cell whose series ends above this band
# stopped for another reason and has no ground truth.
END_BAND_AH = 0.885
MIT_GROUPS = {"MATR1": ("2017-05-12", "2017-06-30"), "MATR2": ("2018-04-12",)}


@dataclass(frozen=True)
class Cell:
    name: str
    group: str
    capacity_Ah: np.ndarray
    life: float  # ground-truth cycle of end of life
    threshold_pct: float  # of NOMINAL_AH


def _capacities(files: list[Path]) -> Iterator[tuple[Path, np.ndarray]]:
    for f in files:
        yield f, pl.read_csv(f, columns=["capacity"])["capacity"].to_numpy().astype(float)


def hust_cells(root: Path) -> tuple[list[Cell], int]:
    cells, skipped = [], 0
    for f, y in _capacities(sorted((root / "HUST data").glob("*.csv"))):
        if y[-1] > END_BAND_AH:
            skipped += 1
            continue
        cells.append(Cell(f.stem, "HUST", y, float(len(y)), EOL_PCT))
    return cells, skipped


def mit_cells(root: Path) -> tuple[list[Cell], int, float]:
    raw = []
    for group, batches in MIT_GROUPS.items():
        for batch in batches:
            for f, y in _capacities(sorted((root / "MIT data" / batch).glob("*.csv"))):
                raw.append((f"{batch}/{f.stem}", group, y))
    at_eol = [(n, g, y) for n, g, y in raw if y[-1] <= 0.95 and y[-1] <= 0.9 * y[0]]
    level_Ah = float(np.median([y[-1] for _, _, y in at_eol]))
    pct = 100.0 * level_Ah / NOMINAL_AH
    return [Cell(n, g, y, float(len(y)), pct) for n, g, y in at_eol], len(raw) - len(at_eol), level_Ah


def cut(cell: Cell, protocol: str, value: float) -> int:
    """Number of cycles of the partial history."""
    if protocol == "cycles":
        return int(value)
    return round(value * cell.life)


def predict_cell(cell: Cell, n: int, **options: object) -> LifetimePrediction:
    x = np.arange(1, n + 1, dtype=float)
    return predict_threshold(
        x,
        cell.capacity_Ah[:n],
        threshold_pct=cell.threshold_pct,
        reference_capacity_Ah=NOMINAL_AH,
        **options,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Score:
    n: int
    n_not_reached: int  # no crossing predicted within the horizon
    rmse: float  # over all cells, a "not reached" counted at the horizon
    rmse_reached: float  # over the cells with a predicted crossing
    median_abs: float
    bias: float  # median signed error (positive: predicted too late)
    coverage: float  # share of true lives inside [low, high]
    width: float  # median interval width relative to the true life (inf where the upper bound is open)
    baseline_rmse: float  # leave-one-out mean life of the other cells of the group


def score(cells: list[Cell], protocol: str, value: float, **options: object) -> Score:
    errors, reached, lives, widths = [], [], [], []
    covered = not_reached = 0
    for cell in cells:
        n = cut(cell, protocol, value)
        if n < 4 or n >= cell.life:
            continue
        p = predict_cell(cell, n, **options)
        lives.append(cell.life)
        if p.threshold_cycle is None:
            not_reached += 1
            errors.append(p.horizon_x - cell.life)
        else:
            errors.append(p.threshold_cycle - cell.life)
            reached.append(p.threshold_cycle - cell.life)
        low = p.threshold_cycle_low if p.threshold_cycle_low is not None else -math.inf
        high = p.threshold_cycle_high if p.threshold_cycle_high is not None else math.inf
        covered += low <= cell.life <= high
        widths.append((high - low) / cell.life)
    e, r, life = np.array(errors), np.array(reached), np.array(lives)
    loo = (life.sum() - life) / max(len(life) - 1, 1)
    return Score(
        n=len(e),
        n_not_reached=not_reached,
        rmse=float(np.sqrt(np.mean(e**2))),
        rmse_reached=float(np.sqrt(np.mean(r**2))) if len(r) else math.nan,
        median_abs=float(np.median(np.abs(e))),
        bias=float(np.median(e)),
        coverage=covered / len(e),
        width=float(np.median(widths)),
        baseline_rmse=float(np.sqrt(np.mean((loo - life) ** 2))),
    )


def xjtu_coverage(root: Path, threshold_pct: float = 90.0) -> tuple[int, int, float, float]:
    """(cells scored, cells covered, median |error|, seconds) on XJTU: first half of the cycles, 90 % threshold."""
    t0 = time.perf_counter()
    n_scored = n_covered = 0
    errors = []
    for _, y in _capacities(sorted((root / "XJTU data").glob("*.csv"))):
        ref = float(np.mean(y[:5]))
        x = np.arange(1, len(y) + 1, dtype=float)
        half = len(y) // 2
        truth = observed_crossing(x, y, threshold_pct / 100 * ref)
        if truth is None or truth <= half:
            continue
        p = predict_threshold(x[:half], y[:half], threshold_pct=threshold_pct, reference_capacity_Ah=ref)
        low = p.threshold_cycle_low if p.threshold_cycle_low is not None else -math.inf
        high = p.threshold_cycle_high if p.threshold_cycle_high is not None else math.inf
        n_scored += 1
        n_covered += low <= truth <= high
        errors.append((p.threshold_cycle if p.threshold_cycle is not None else p.horizon_x) - truth)
    return n_scored, n_covered, float(np.median(np.abs(errors))), time.perf_counter() - t0


@pytest.fixture(scope="module")
def root() -> Path:
    return shared_path("battery-aging", "pinn4soh")


@pytest.fixture(scope="module")
def mit(root: Path) -> list[Cell]:
    cells, skipped, level = mit_cells(root)
    assert len(cells) == 113 and skipped == 12 and level == pytest.approx(0.922, abs=0.002)
    return cells


@pytest.fixture(scope="module")
def hust(root: Path) -> list[Cell]:
    cells, skipped = hust_cells(root)
    assert len(cells) == 73 and skipped == 4
    return cells


def test_hust_end_of_life_from_half_the_life(hust: list[Cell]) -> None:
    """Measured RMSE 364 cycles (BatteryML from 100 cycles: 322); bound with 15 % margin."""
    s = score(hust, "fraction", 0.5)
    assert s.n == 73 and s.n_not_reached == 0
    assert s.rmse < 420
    assert s.rmse < s.baseline_rmse  # better than the other cells' mean life (398)
    assert s.coverage >= 0.75  # measured 0.84


def test_mit_end_of_life_from_half_the_life(mit: list[Cell]) -> None:
    """Measured RMSE 247 (MATR1) and 285 (MATR2) cycles; bounds with 15 % margin, and below the mean-life baseline."""
    for group, bound in (("MATR1", 285), ("MATR2", 330)):
        s = score([c for c in mit if c.group == group], "fraction", 0.5)
        assert s.n_not_reached == 0
        assert s.rmse < bound, group
        assert s.rmse < s.baseline_rmse, group


def test_first_100_cycles_are_too_few_for_curve_extrapolation(mit: list[Cell]) -> None:
    """BatteryML's early protocol: a capacity curve that has hardly moved does not tell the knee; stated in the docs
    (measured MATR2 RMSE 622 cycles against BatteryML's 149), and kept here so that a change shows."""
    s = score([c for c in mit if c.group == "MATR2"], "cycles", 100)
    assert s.rmse > BATTERYML_RMSE["MATR2"]
    assert s.rmse < 800


def test_xjtu_interval_coverage(root: Path) -> None:
    n, covered, _, _ = xjtu_coverage(root)
    assert n == 53
    assert covered / n >= 0.9


def report() -> None:
    root = _root()
    hust, hust_skipped = hust_cells(root)
    mit, mit_skipped, level = mit_cells(root)
    print(
        f"HUST: {len(hust)} cells ({hust_skipped} without a crossing); MIT: {len(mit)} cells at end of life "
        f"({mit_skipped} stopped above the band), MIT end-of-life capacity {level:.4f} Ah"
    )
    groups = {
        "MATR1": [c for c in mit if c.group == "MATR1"],
        "MATR2": [c for c in mit if c.group == "MATR2"],
        "HUST": hust,
    }
    protocols = [("cycles", 100.0), ("fraction", 0.3), ("fraction", 0.5), ("fraction", 0.7)]
    print(
        "| data set | history | selection | cells | not reached | RMSE [cycles] | RMSE (reached) | median abs | "
        "bias | 90 % interval coverage | median interval width / life | mean-life baseline RMSE | BatteryML RMSE (first 100 cycles) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for protocol, value in protocols:
        label = f"first {int(value)} cycles" if protocol == "cycles" else f"first {int(value * 100)} % of life"
        for selection in (Selection.EARLIEST_ADEQUATE, Selection.AICC):
            for name, cells in groups.items():
                t0 = time.perf_counter()
                s = score(cells, protocol, value, selection=selection)
                dt = time.perf_counter() - t0
                print(
                    f"| {name} | {label} | {selection.value} | {s.n} | {s.n_not_reached} | {s.rmse:.0f} | "
                    f"{s.rmse_reached:.0f} | {s.median_abs:.0f} | {s.bias:+.0f} | {s.coverage:.2f} | {s.width:.2f} | "
                    f"{s.baseline_rmse:.0f} | {BATTERYML_RMSE[name]} |  <!-- {dt:.1f} s -->"
                )
    n, covered, med, dt = xjtu_coverage(root)
    print(
        f"XJTU 90 % threshold from the first half of the cycles: {covered}/{n} covered ({covered / n:.2f}), "
        f"median |error| {med:.0f} cycles ({dt:.1f} s)"
    )


def _root() -> Path:
    from tests.conftest import shared_data_dir

    return shared_data_dir() / "battery-aging" / "pinn4soh"


if __name__ == "__main__":
    report()
