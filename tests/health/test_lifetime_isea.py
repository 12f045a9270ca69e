"""Expected lifetime on the ISEA RWTH check-ups of 48 NMC 18650 cells (Sanyo UR18650E) cycled to deep fade.

Data: ``../shared/data/battery-aging/isea_rwth`` (SOURCE.md there: ISEA RWTH Aachen, battery-degradation-trajectory-
prediction, published with Li W. et al., J. Power Sources 506 (2021) 230024, doi:10.1016/j.jpowsour.2021.230024).
Per check-up: equivalent full cycles (EFC = cumulative Ah / (2 x 1.85 Ah)), the 1C capacity ``CapDCH1`` (ground
truth) and the 10 s pulse resistance; ``isea_eol_summary.csv`` gives each cell's EFC at 80 % of its first check-up.

Run ``.venv/bin/python -m tests.health.test_lifetime_isea`` for the figures of docs/validation/lifetime.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from batteryloop.health.lifetime import Selection, Status, observed_crossing, predict_threshold
from tests.conftest import shared_path

pytestmark = pytest.mark.shared_data

FRACTION = 0.4  # the first 40 % of each cell's check-ups


@dataclass(frozen=True)
class IseaCell:
    name: str
    efc: np.ndarray
    capacity_Ah: np.ndarray
    r10s_ohm: np.ndarray
    efc_at_80: float  # published in isea_eol_summary.csv


def load(root: Path) -> list[IseaCell]:
    checkups = pl.read_csv(root / "isea_checkup_summary.csv")
    eol = dict(pl.read_csv(root / "isea_eol_summary.csv").select("cell", "EFC_at_80pct").iter_rows())
    cells = []
    for (name,), g in checkups.sort("StartDate").group_by("cell", maintain_order=True):
        cells.append(
            IseaCell(
                str(name),
                g["EFC"].to_numpy(),
                g["CapDCH1"].to_numpy(),
                g["R10s_median_ohm"].to_numpy(),
                float(eol[name]),
            )
        )
    return cells


@pytest.fixture(scope="module")
def cells() -> list[IseaCell]:
    return load(shared_path("battery-aging", "isea_rwth"))


def test_the_crossing_definition_reproduces_the_published_end_of_life(cells: list[IseaCell]) -> None:
    assert len(cells) == 48
    for c in cells:
        crossing = observed_crossing(c.efc, c.capacity_Ah, 0.8 * c.capacity_Ah[0])
        assert crossing == pytest.approx(c.efc_at_80, abs=0.01), c.name


def test_capacity_fade_and_resistance_increase_are_consistent_with_the_checkups(cells: list[IseaCell]) -> None:
    """Fade as the lifetime module reports it, and the resistance increase at the 80 % point, per cell."""
    increases = []
    for c in cells:
        p = predict_threshold(c.efc, c.capacity_Ah, threshold_pct=80)
        assert p.status is Status.REACHED and p.threshold_cycle == pytest.approx(c.efc_at_80, abs=0.01)
        assert p.capacity_fade_pct == pytest.approx(100 * (1 - c.capacity_Ah[-1] / c.capacity_Ah[0]), abs=1e-9)
        # the resistance rises as the capacity fades, check-up by check-up (rank correlation)
        fade = 1 - c.capacity_Ah / c.capacity_Ah[0]
        increase = c.r10s_ohm / c.r10s_ohm[0] - 1
        rank = np.corrcoef(np.argsort(np.argsort(fade)), np.argsort(np.argsort(increase)))[0, 1]
        assert rank > 0.8, c.name
        increases.append(float(np.interp(c.efc_at_80, c.efc, increase)))
    # at 80 % capacity every cell's 10 s resistance has grown, by a similar amount (identical cells, one protocol)
    inc = np.array(increases)
    assert (inc > 0.05).all()
    assert np.percentile(inc, 90) - np.percentile(inc, 10) < 0.15


@dataclass(frozen=True)
class Errors:
    errors: np.ndarray  # predicted - true EFC at 80 %
    covered: int
    n_reached_in_history: int
    bracket: float  # median EFC between the two check-ups around each cell's 80 % crossing

    @property
    def median_abs(self) -> float:
        return float(np.median(np.abs(self.errors)))

    @property
    def p90_abs(self) -> float:
        return float(np.percentile(np.abs(self.errors), 90))


def early_prediction(cells: list[IseaCell], fraction: float = FRACTION, **options: object) -> Errors:
    errors, covered, reached = [], 0, 0
    for c in cells:
        k = math.ceil(fraction * len(c.efc))
        p = predict_threshold(c.efc[:k], c.capacity_Ah[:k], threshold_pct=80, **options)  # type: ignore[arg-type]
        reached += p.status is Status.REACHED
        predicted = p.threshold_cycle if p.threshold_cycle is not None else p.horizon_x
        errors.append(predicted - c.efc_at_80)
        low = p.threshold_cycle_low if p.threshold_cycle_low is not None else -math.inf
        high = p.threshold_cycle_high if p.threshold_cycle_high is not None else math.inf
        covered += low <= c.efc_at_80 <= high
    brackets = []
    for c in cells:
        i = int(np.nonzero(c.capacity_Ah < 0.8 * c.capacity_Ah[0])[0][0])
        brackets.append(c.efc[i] - c.efc[i - 1])
    return Errors(np.array(errors), covered, reached, float(np.median(brackets)))


def test_lifetime_from_the_first_40_pct_of_checkups_predicts_the_80_pct_cycle(cells: list[IseaCell]) -> None:
    """Bound: the ground truth is a linear interpolation between the two check-ups around the crossing, about 37 EFC
    apart, with the knee between them, so the truth itself is known to about half a bracket. The median absolute
    error must stay within three quarters of a bracket and the 90th percentile within two brackets (the cells' own
    end of life spreads over 254-363 EFC, three brackets)."""
    e = early_prediction(cells)
    assert 30 < e.bracket < 45
    assert e.median_abs <= 0.75 * e.bracket  # measured 20 EFC
    assert e.p90_abs <= 2.0 * e.bracket  # measured 64 EFC
    assert abs(float(np.median(e.errors))) <= 0.25 * e.bracket  # no large systematic bias (measured +4)
    assert e.covered / len(cells) >= 0.3  # measured 0.40 at the nominal 0.90: the interval is too narrow (docs)


def report() -> None:
    from tests.conftest import shared_data_dir

    cells = load(shared_data_dir() / "battery-aging" / "isea_rwth")
    print(f"ISEA RWTH, {len(cells)} cells; first {FRACTION:.0%} of each cell's check-ups")
    print("| selection | median abs error [EFC] | p90 abs error | max | median signed | 90 % interval coverage |")
    print("|---|---|---|---|---|---|")
    for selection in (Selection.EARLIEST_ADEQUATE, Selection.AICC):
        e = early_prediction(cells, selection=selection)
        print(
            f"| {selection.value} | {e.median_abs:.1f} | {e.p90_abs:.1f} | {np.abs(e.errors).max():.1f} | "
            f"{np.median(e.errors):+.1f} | {e.covered / len(cells):.2f} |"
        )
    e = early_prediction(cells)
    print(
        f"check-ups around the 80 % crossing: {e.bracket:.1f} EFC apart (median); {e.n_reached_in_history} cells had crossed 80 % "
        "within their first 40 % of check-ups (observed crossing)"
    )
    print("errors [EFC]:", np.round(np.sort(e.errors), 1).tolist())


if __name__ == "__main__":
    report()
