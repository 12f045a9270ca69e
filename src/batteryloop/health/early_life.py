"""Early-life lifetime prediction from a population of cells of the same model with known lives.

:mod:`batteryloop.health.lifetime` extrapolates one cell's own capacity trajectory; from the first 100 cycles of an
LFP cell, whose capacity has hardly moved, that cannot see the knee. A fleet owner often has a population of the same
cell model whose lives are known (cells tested to end of life, or retired packs). This module learns from them the
relation between the first ``K`` cycles and the cycle life, as Severson et al. (2019) did, and applies it to a new
cell after its first ``K`` cycles.

Method
------
1. Features of the first ``K`` cycles (``early_life_features.csv`` lists each with its definition and source): the
   capacity trajectory (capacity at cycle 2 and at cycle K, the early capacity rise, the change between cycles 10
   and K, slope and intercept of a line over cycles 2..K, the slope over the last ten cycles, the log variance of
   cycle-to-cycle capacity differences), and, when every training history carries them, PINN4SOH's per-cycle
   charge-curve statistics (voltage/current moments of the CC/CV charge, CC and CV charge, charge times), each as
   its mean over cycles 2..K and its change between cycles 10 and K. Severson's strongest feature, the variance of
   ``Delta Q_100-10(V)``, needs the discharge curve Q(V) of cycles 10 and 100 and is not available from a capacity
   history.
2. Target: the natural log of the cycle life (the cycle at which the capacity first falls below the threshold),
   as in Severson et al. (2019) (log10 there): lives spread over a factor of ten, and errors scale with the life.
3. Ridge regression on standardised features (closed form, numpy). The penalty is chosen from a log-spaced grid by
   leave-one-out cross-validation on the training cells only (the exact leave-one-out residuals of a linear
   smoother, ``e_i / (1 - h_ii)``; Hastie et al. 2009, section 7.10).
4. Interval: conformal-style (jackknife; Barber et al. 2021) from the leave-one-out residuals of the chosen penalty:
   the ``floor(alpha/2 (n+1))``-th and ``ceil((1-alpha/2)(n+1))``-th smallest signed log residuals added to the
   prediction. With too few training cells for the level asked, the bound is open (``None``).
5. Extrapolation: a cell whose feature lies outside the training range (min..max over the training cells) is still
   predicted, and the features concerned are named: the interval was calibrated on cells inside that range.

References
----------
Barber R. F., Candès E. J., Ramdas A. and Tibshirani R. J. (2021). Predictive inference with the jackknife+.
Ann. Stat. 49(1), 486-507. doi:10.1214/20-AOS1965

Hastie T., Tibshirani R. and Friedman J. (2009). The Elements of Statistical Learning, 2nd ed. Springer.
doi:10.1007/978-0-387-84858-7

Severson K. A. et al. (2019). Data-driven prediction of battery cycle life before capacity degradation. Nat. Energy
4, 383-391. doi:10.1038/s41560-019-0356-8

Wang F. et al. (2024). Physics-informed neural network for lithium-ion battery degradation stable modeling and
prognosis. Nat. Commun. 15, 4332. doi:10.1038/s41467-024-48779-z
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from batteryloop.errors import ValidationError
from batteryloop.health.lifetime import (
    Axis,
    CapacityHistory,
    LifetimePrediction,
    Status,
    observed_crossing,
)

FloatArray = NDArray[np.float64]

#: Default number of early cycles (Severson et al. 2019 and BatteryML's early-prediction protocol).
DEFAULT_FIRST_CYCLES = 100
#: Default two-sided level of the interval.
DEFAULT_CONFIDENCE = 0.9
#: Half-width of the window whose median gives "the capacity at cycle c": 5 cycles, enough to reject a single
#: outlying cycle (a rest, a check-up) and short against the early window.
HALF_WINDOW = 2
#: Cycle whose window is the start of the change features (Severson's Delta Q_100-10 starts at cycle 10).
CHANGE_START_CYCLE = 10
#: Number of last cycles of the window over which the late slope is fitted (Severson's cycles 91-100).
LATE_CYCLES = 10
#: A history must hold at least this share of the cycles 1..K: the features are per-cycle statistics.
MIN_CYCLE_SHARE = 0.5
#: Penalty grid of the ridge (on standardised features, per training cell): 1e-6 (nearly least squares) to 1e4
#: (nearly the mean log life), 41 values, four per decade.
PENALTY_GRID = tuple(float(v) for v in np.geomspace(1e-6, 1e4, 41))
#: Fewest training cells: a penalty chosen by leave-one-out and a 90 % interval need a few tens; 8 is the floor
#: below which the interval is always open.
MIN_TRAINING_CELLS = 8
#: Format tag of the serialised model.
FORMAT = "batteryloop.early_life/1"
MODEL_NAME = "population_ridge"
MODEL_REFERENCE = (
    "Severson K. A. et al., Nat. Energy 4 (2019) 383-391, doi:10.1038/s41560-019-0356-8 (early-cycle features, "
    "regularised linear model of log cycle life); interval: jackknife (Barber et al., Ann. Stat. 49 (2021) 486-507)"
)


@dataclass(frozen=True)
class FeatureDefinition:
    name: str
    kind: str  # "capacity" or "charge"
    definition: str
    rationale: str


@cache
def feature_definitions() -> dict[str, FeatureDefinition]:
    """The capacity features and the charge columns of ``early_life_features.csv``, by name."""
    text = resources.files("batteryloop.health").joinpath("early_life_features.csv").read_text(encoding="utf-8")
    out = {
        row["name"]: FeatureDefinition(row["name"], row["kind"], row["definition"], row["rationale"])
        for row in csv.DictReader(io.StringIO(text))
    }
    missing = [n for n in CAPACITY_FEATURES if n not in out or out[n].kind != "capacity"]
    if missing:
        raise RuntimeError(f"early_life_features.csv lacks the capacity features {missing}")
    return out


CAPACITY_FEATURES = (
    "capacity_cycle_2",
    "capacity_max_minus_cycle_2",
    "capacity_cycle_K",
    "capacity_change_10_K",
    "fade_slope_2_K",
    "fade_intercept_2_K",
    "fade_slope_late",
    "log_capacity_noise",
)


def charge_columns() -> tuple[str, ...]:
    """The per-cycle charge-curve columns that give features when a history carries them."""
    return tuple(d.name for d in feature_definitions().values() if d.kind == "charge")


def charge_feature_names(column: str) -> tuple[str, str]:
    return f"{column} | mean 2..K", f"{column} | change 10..K"


class FeatureSet(StrEnum):
    """Which features a model uses (of those every training history has)."""

    #: capacity features and the change of each charge column between cycles 10 and K (the default)
    CHANGES = "changes"
    #: the capacity features only
    CAPACITY = "capacity"
    #: capacity features, and the early level and the change of each charge column
    ALL = "all"


def select_features(available: Sequence[str], feature_set: FeatureSet | str) -> tuple[str, ...]:
    """The names of ``available`` that ``feature_set`` uses, in their order.

    The default leaves out the early *levels* of the charge columns: a charge time or a voltage mean during the CC
    charge is set by the charging protocol and the cycler as much as by the cell, so it shifts from one test batch to
    the next (the levels make the MIT predictions of a later batch diverge; ``docs/validation/lifetime.md``), while
    the change over the early cycles follows the cell's own ageing.
    """
    fs = FeatureSet(feature_set)
    if fs is FeatureSet.ALL:
        return tuple(available)
    if fs is FeatureSet.CAPACITY:
        return tuple(n for n in available if n in CAPACITY_FEATURES)
    return tuple(n for n in available if n in CAPACITY_FEATURES or n.endswith(" | change 10..K"))


# ---------------------------------------------------------------------------------------------------- features


def _window_median(cycle: FloatArray, values: FloatArray, at: float) -> float:
    inside = np.abs(cycle - at) <= HALF_WINDOW
    if inside.any():
        return float(np.median(values[inside]))
    return float(values[int(np.argmin(np.abs(cycle - at)))])


def _line(cycle: FloatArray, values: FloatArray) -> tuple[float, float]:
    if len(cycle) < 2 or float(np.ptp(cycle)) == 0:
        return 0.0, float(values.mean())
    slope, intercept = np.polyfit(cycle, values, 1)
    return float(slope), float(intercept)


def early_features(
    cycle: ArrayLike,
    capacity_Ah: ArrayLike,
    *,
    first_cycles: int = DEFAULT_FIRST_CYCLES,
    charge: Mapping[str, ArrayLike] | None = None,
    source: str = "history",
) -> dict[str, float]:
    """The early-life features of one history (its points up to cycle ``first_cycles``).

    Parameters
    ----------
    cycle : array_like
        Cycle numbers, strictly increasing (one point per cycle, gaps allowed). [1]
    capacity_Ah : array_like
        Capacity of each cycle. [Ah]
    first_cycles : int
        K, the end of the early window. [1]
    charge : mapping of str to array_like, optional
        Per-cycle charge-curve columns (names of :func:`charge_columns`), aligned with ``cycle``.
    source : str
        The file name, for messages.

    Returns
    -------
    dict
        Feature name to value, in the order of ``early_life_features.csv``.

    Raises
    ------
    ValidationError
        The history does not reach cycle K, has too few points in it, or a charge column holds a missing value there.
    """
    c = np.asarray(cycle, dtype=float)
    q = np.asarray(capacity_Ah, dtype=float)
    k = int(first_cycles)
    if k < 2 * CHANGE_START_CYCLE:
        raise ValidationError(
            f"first_cycles {k} is too short", field="first_cycles", expected=f"at least {2 * CHANGE_START_CYCLE}"
        )
    if len(c) == 0 or c[-1] < k:
        last = "no cycles" if len(c) == 0 else f"its last cycle is {c[-1]:g}"
        raise ValidationError(
            f"{source}: the history is shorter than the model's {k} cycles ({last})",
            field=f"{source}: cycle",
            expected=f"a history up to cycle {k} at least (the model uses the first {k} cycles)",
            code="too_short",
        )
    window = c <= k
    needed = math.ceil(MIN_CYCLE_SHARE * k)
    if int(window.sum()) < needed:
        raise ValidationError(
            f"{source}: {int(window.sum())} points in cycles up to {k}",
            field=f"{source}: cycle",
            expected=f"per-cycle data: at least {needed} of the cycles 1..{k}",
            code="too_few",
        )
    cw, qw = c[window], q[window]
    main = cw >= 2
    if int(main.sum()) < 3:
        main = np.ones_like(cw, dtype=bool)
    q2 = _window_median(cw, qw, 2.0)
    qk = _window_median(cw, qw, float(k))
    q10 = _window_median(cw, qw, float(CHANGE_START_CYCLE))
    running = np.array([_window_median(cw, qw, float(x)) for x in cw[main]])
    slope, intercept = _line(cw[main], qw[main])
    late = cw > k - LATE_CYCLES
    late_slope, _ = _line(cw[late], qw[late])
    diffs = np.diff(qw[main])
    noise = float(np.var(diffs)) if len(diffs) > 1 else 0.0
    out: dict[str, float] = {
        "capacity_cycle_2": q2,
        "capacity_max_minus_cycle_2": float(running.max()) - q2,
        "capacity_cycle_K": qk,
        "capacity_change_10_K": qk - q10,
        "fade_slope_2_K": slope,
        "fade_intercept_2_K": intercept,
        "fade_slope_late": late_slope,
        "log_capacity_noise": math.log10(max(noise, 1e-12)),
    }
    for column, raw in (charge or {}).items():
        values = np.asarray(raw, dtype=float)
        if values.shape != c.shape:
            raise ValidationError(
                f"{source}: column {column!r} has {len(values)} values for {len(c)} cycles",
                field=f"{source}: {column}",
                expected="one value per cycle",
            )
        vw = values[window]
        bad = np.nonzero(~np.isfinite(vw))[0]
        if len(bad):
            raise ValidationError(
                f"{source}: row {int(bad[0]) + 1}, {column}: not a number",
                field=f"{source}: row {int(bad[0]) + 1}, {column}",
                expected=f"a number in every row of the first {k} cycles",
            )
        mean_name, change_name = charge_feature_names(column)
        out[mean_name] = float(vw[main].mean())
        out[change_name] = _window_median(cw, vw, float(k)) - _window_median(cw, vw, float(CHANGE_START_CYCLE))
    return out


# ----------------------------------------------------------------------------------------------------- ridge


@dataclass(frozen=True)
class RidgeFit:
    intercept: float
    coefficients: FloatArray  # on standardised features
    penalty: float
    loo_residuals: FloatArray  # log(life) - leave-one-out prediction
    cv_curve: tuple[tuple[float, float], ...]  # (penalty, leave-one-out RMSE of log life)


def _ridge_loo(z: FloatArray, y: FloatArray, penalty: float) -> tuple[float, FloatArray, FloatArray]:
    """Ridge on centred ``y`` and standardised ``z``: intercept, coefficients and exact leave-one-out residuals."""
    n, p = z.shape
    y_mean = float(y.mean())
    gram = z.T @ z + penalty * n * np.eye(p)
    inverse = np.linalg.pinv(gram)
    beta = inverse @ z.T @ (y - y_mean)
    fitted = y_mean + z @ beta
    leverage = np.einsum("ij,jk,ik->i", z, inverse, z) + 1.0 / n
    loo = (y - fitted) / np.maximum(1.0 - leverage, 1e-9)
    return y_mean, np.asarray(beta, dtype=np.float64), np.asarray(loo, dtype=np.float64)


def fit_ridge(z: FloatArray, y: FloatArray, grid: Sequence[float] = PENALTY_GRID) -> RidgeFit:
    """The penalty of ``grid`` with the smallest leave-one-out error of ``y``, and the fit with it."""
    curve: list[tuple[float, float]] = []
    best: tuple[float, float, FloatArray, FloatArray] | None = None
    best_rmse = math.inf
    for penalty in grid:
        intercept, beta, loo = _ridge_loo(z, y, penalty)
        rmse = float(np.sqrt(np.mean(loo**2)))
        curve.append((penalty, rmse))
        if rmse < best_rmse - 1e-12:
            best_rmse, best = rmse, (penalty, intercept, beta, loo)
    assert best is not None
    penalty, intercept, beta, loo = best
    return RidgeFit(intercept, beta, penalty, loo, tuple(curve))


def _conformal_offsets(residuals: FloatArray, confidence: float) -> tuple[float | None, float | None]:
    """Lower and upper offsets (log units) of the jackknife interval; ``None`` where too few residuals."""
    r = np.sort(residuals)
    n = len(r)
    alpha = 1.0 - confidence
    lo_rank = math.floor(alpha / 2 * (n + 1) + 1e-9)  # the tolerance keeps 0.95 * 20 at 19, not 19.000000000000004
    hi_rank = math.ceil((1 - alpha / 2) * (n + 1) - 1e-9)
    low = float(r[lo_rank - 1]) if lo_rank >= 1 else None
    high = float(r[hi_rank - 1]) if hi_rank <= n else None
    return low, high


# ----------------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class TrainingCell:
    name: str
    life: float


@dataclass(frozen=True)
class PopulationModel:
    """A fitted population model; :meth:`to_dict` / :meth:`from_dict` give its JSON form."""

    first_cycles: int
    threshold_pct: float
    reference_capacity_Ah: float | None  # None: each history's first capacity is the reference
    features: tuple[str, ...]
    charge_columns: tuple[str, ...]
    mean: FloatArray
    scale: FloatArray
    intercept: float
    coefficients: FloatArray
    penalty: float
    loo_residuals: FloatArray
    feature_min: FloatArray
    feature_max: FloatArray
    cells: tuple[TrainingCell, ...]
    excluded: tuple[dict[str, str], ...] = ()

    @property
    def cv_rmse_cycles(self) -> float:
        """Leave-one-out RMSE of the training cells, in cycles."""
        return float(np.sqrt(np.mean(self._loo_errors() ** 2)))

    @property
    def cv_mape_pct(self) -> float:
        lives = np.array([c.life for c in self.cells])
        return float(100.0 * np.mean(np.abs(self._loo_errors()) / lives))

    def _loo_errors(self) -> FloatArray:
        lives = np.array([c.life for c in self.cells])
        predicted = lives * np.exp(-self.loo_residuals)
        return np.asarray(predicted - lives, dtype=np.float64)

    def vector(self, features: Mapping[str, float], *, source: str = "history") -> FloatArray:
        missing = [n for n in self.features if n not in features]
        if missing:
            columns = sorted({n.split(" | ")[0] for n in missing})
            raise ValidationError(
                f"{source}: the model needs the per-cycle columns {', '.join(columns)}",
                field=f"{source}: {columns[0]}",
                expected="the charge-curve columns the model was trained with: " + ", ".join(self.charge_columns),
                code="missing",
            )
        return np.array([features[n] for n in self.features], dtype=float)

    def predict_log(self, x: FloatArray) -> float:
        z = (x - self.mean) / self.scale
        return float(self.intercept + z @ self.coefficients)

    def interval(self, log_life: float, confidence: float) -> tuple[float | None, float | None]:
        low, high = _conformal_offsets(self.loo_residuals, confidence)
        return (
            None if low is None else math.exp(log_life + low),
            None if high is None else math.exp(log_life + high),
        )

    def out_of_range(self, x: FloatArray) -> list[str]:
        """Names of the features outside the training range."""
        outside = (x < self.feature_min) | (x > self.feature_max)
        return [self.features[i] for i in np.nonzero(outside)[0]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": MODEL_NAME,
            "target": "natural log of the cycle at which the capacity first falls below the threshold",
            "first_cycles": self.first_cycles,
            "threshold_pct": self.threshold_pct,
            "reference_capacity_Ah": self.reference_capacity_Ah,
            "features": list(self.features),
            "charge_columns": list(self.charge_columns),
            "scaler": {"mean": self.mean.tolist(), "scale": self.scale.tolist()},
            "intercept": self.intercept,
            "coefficients": self.coefficients.tolist(),
            "penalty": self.penalty,
            "training_range": {"min": self.feature_min.tolist(), "max": self.feature_max.tolist()},
            "training_cells": [{"name": c.name, "life": c.life} for c in self.cells],
            "loo_residuals": self.loo_residuals.tolist(),
            "cv": {
                "method": "leave-one-out",
                "rmse_cycles": round(self.cv_rmse_cycles, 2),
                "mape_pct": round(self.cv_mape_pct, 3),
                "rmse_log": round(float(np.sqrt(np.mean(self.loo_residuals**2))), 6),
                "n": len(self.cells),
            },
            "excluded_cells": list(self.excluded),
            "reference": MODEL_REFERENCE,
        }

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "model") -> PopulationModel:
        """Rebuild a model from :meth:`to_dict`; a :class:`ValidationError` names the first bad key."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValidationError(
                f"{source}: not a population lifetime model",
                field=f"{source}: format",
                expected=f'a JSON object with "format": "{FORMAT}" (from batteryloop health lifetime-model fit)',
            )
        try:
            features = tuple(str(n) for n in data["features"])
            p = len(features)
            arrays = {
                "mean": np.asarray(data["scaler"]["mean"], dtype=float),
                "scale": np.asarray(data["scaler"]["scale"], dtype=float),
                "coefficients": np.asarray(data["coefficients"], dtype=float),
                "min": np.asarray(data["training_range"]["min"], dtype=float),
                "max": np.asarray(data["training_range"]["max"], dtype=float),
            }
            bad = [k for k, v in arrays.items() if v.shape != (p,) or not np.isfinite(v).all()]
            if bad:
                raise ValidationError(
                    f"{source}: {bad[0]} does not match the {p} features",
                    field=f"{source}: {bad[0]}",
                    expected=f"{p} finite numbers",
                )
            cells = tuple(TrainingCell(str(c["name"]), float(c["life"])) for c in data["training_cells"])
            residuals = np.asarray(data["loo_residuals"], dtype=float)
            if residuals.shape != (len(cells),):
                raise ValidationError(
                    f"{source}: loo_residuals does not match the training cells",
                    field=f"{source}: loo_residuals",
                    expected=f"{len(cells)} numbers",
                )
            reference = data["reference_capacity_Ah"]
            return cls(
                first_cycles=int(data["first_cycles"]),
                threshold_pct=float(data["threshold_pct"]),
                reference_capacity_Ah=None if reference is None else float(reference),
                features=features,
                charge_columns=tuple(str(c) for c in data["charge_columns"]),
                mean=arrays["mean"],
                scale=arrays["scale"],
                intercept=float(data["intercept"]),
                coefficients=arrays["coefficients"],
                penalty=float(data["penalty"]),
                loo_residuals=residuals,
                feature_min=arrays["min"],
                feature_max=arrays["max"],
                cells=cells,
                excluded=tuple(dict(e) for e in data.get("excluded_cells", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(
                f"{source}: incomplete population model ({type(exc).__name__}: {exc})",
                field=f"{source}: {exc.args[0] if isinstance(exc, KeyError) else 'value'}",
                expected="the keys written by batteryloop health lifetime-model fit",
            ) from exc


def fit_population(
    features: Sequence[Mapping[str, float]],
    lives: Sequence[float],
    names: Sequence[str],
    *,
    first_cycles: int = DEFAULT_FIRST_CYCLES,
    threshold_pct: float = 80.0,
    reference_capacity_Ah: float | None = None,
    feature_set: FeatureSet | str = FeatureSet.CHANGES,
    feature_names: Sequence[str] | None = None,
    excluded: Sequence[Mapping[str, str]] = (),
) -> PopulationModel:
    """Fit the population model to training cells.

    Parameters
    ----------
    features : sequence of mapping
        :func:`early_features` of each training cell.
    lives : sequence of float
        Each cell's cycle life (cycle of the threshold crossing), greater than ``first_cycles``. [1]
    names : sequence of str
        Cell names (kept in the model, for the record).
    first_cycles, threshold_pct, reference_capacity_Ah
        What the features and lives were computed with (stored in the model).
    feature_set : {"changes", "capacity", "all"}
        Which of the features that every cell has are used (:func:`select_features`); default the capacity features
        and the changes of the charge columns.
    feature_names : sequence of str, optional
        The features to use, overriding ``feature_set``.
    excluded : sequence of mapping
        Cells left out and why (stored in the model, for the record).

    Returns
    -------
    PopulationModel

    Raises
    ------
    ValidationError
        Too few cells, a life not after the early window, or a feature missing for some cell.
    """
    n = len(features)
    if n != len(lives) or n != len(names):
        raise ValidationError("features, lives and names differ in length", field="lives")
    if n < MIN_TRAINING_CELLS:
        raise ValidationError(
            f"{n} training cells with a known end of life",
            field="cells",
            expected=f"at least {MIN_TRAINING_CELLS} cells that reach {threshold_pct:g} % (a few tens are better)",
            code="too_few",
        )
    life = np.asarray(lives, dtype=float)
    early = np.nonzero(~(life > first_cycles))[0]
    if len(early):
        i = int(early[0])
        raise ValidationError(
            f"{names[i]}: life {life[i]:g} cycles is not after the first {first_cycles} cycles",
            field=f"{names[i]}: life",
            expected=f"a life of more than {first_cycles} cycles",
        )
    if feature_names is None:
        common = [name for name in features[0] if all(name in f for f in features)]
        feature_names = select_features(common, feature_set)
    chosen = tuple(feature_names)
    lacking = [(i, n) for i, f in enumerate(features) for n in chosen if n not in f]
    if lacking:
        i, name = lacking[0]
        raise ValidationError(
            f"{names[i]}: feature {name!r} missing", field=f"{names[i]}: {name}", expected="every feature in every cell"
        )
    x = np.array([[f[name] for name in chosen] for f in features], dtype=float)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)  # a constant feature gets coefficient 0 (its standardised column is 0)
    z = (x - mean) / scale
    ridge = fit_ridge(z, np.log(life))
    columns = tuple(c for c in charge_columns() if any(n in chosen for n in charge_feature_names(c)))
    return PopulationModel(
        first_cycles=int(first_cycles),
        threshold_pct=float(threshold_pct),
        reference_capacity_Ah=reference_capacity_Ah,
        features=chosen,
        charge_columns=columns,
        mean=mean,
        scale=scale,
        intercept=ridge.intercept,
        coefficients=ridge.coefficients,
        penalty=ridge.penalty,
        loo_residuals=ridge.loo_residuals,
        feature_min=x.min(axis=0),
        feature_max=x.max(axis=0),
        cells=tuple(TrainingCell(str(nm), float(lf)) for nm, lf in zip(names, life, strict=True)),
        excluded=tuple(dict(e) for e in excluded),
    )


# ------------------------------------------------------------------------------------------------ prediction


@dataclass(frozen=True)
class PopulationPrediction:
    """A lifetime prediction by a population model: the fields of ``health lifetime`` and the extrapolation flags."""

    lifetime: LifetimePrediction
    predicted_life: float  # the model's answer, before it is held to the observed history
    out_of_range: tuple[str, ...]
    warnings: tuple[str, ...]
    training_cells: int
    cv_rmse_cycles: float

    @property
    def extrapolated(self) -> bool:
        return bool(self.out_of_range)

    def as_dict(self) -> dict[str, Any]:
        out = self.lifetime.as_dict()
        out["population"] = {
            "predicted_life": round(self.predicted_life, 1),
            "training_cells": self.training_cells,
            "cv_rmse_cycles": round(self.cv_rmse_cycles, 1),
            "extrapolated": self.extrapolated,
            "features_out_of_training_range": list(self.out_of_range),
        }
        out["warnings"] = list(self.warnings)
        return out


def predict_population(
    history: CapacityHistory,
    model: PopulationModel,
    *,
    charge: Mapping[str, ArrayLike] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    source: str = "history",
) -> PopulationPrediction:
    """Predict the threshold crossing of a cell from its first ``K`` cycles with a population model.

    A history that has already crossed the threshold is answered with the observed crossing, as
    :func:`batteryloop.health.lifetime.predict_threshold` does. A prediction earlier than the last observed cycle
    of a history that has not crossed is held at that cycle (the cell has outlived it), with a warning.

    Parameters
    ----------
    history : CapacityHistory
        With a cycle column, reaching cycle K.
    model : PopulationModel
    charge : mapping, optional
        The charge-curve columns the model uses (:attr:`PopulationModel.charge_columns`), aligned with the cycles.
    confidence : float
        Two-sided level of the interval.
    source : str
        The file name, for messages.

    Returns
    -------
    PopulationPrediction

    Raises
    ------
    ValidationError
        No cycle column, a history shorter than K cycles, a missing charge column, or a bad confidence.
    """
    if history.cycle is None:
        raise ValidationError(
            f"{source}: a population model needs cycle numbers",
            field=f"{source}: cycle",
            expected="a cycle column (the model uses the first cycles of the history)",
            code="missing",
        )
    if not 0 < confidence < 1:
        raise ValidationError("confidence out of range", field="confidence", expected="a level between 0 and 1")
    cycle, capacity = history.cycle, history.capacity_Ah
    wanted = {c: charge[c] for c in model.charge_columns if charge is not None and c in charge}
    missing = [c for c in model.charge_columns if c not in wanted]
    if missing:
        raise ValidationError(
            f"{source}: the model was trained with the per-cycle columns {', '.join(model.charge_columns)}",
            field=f"{source}: {missing[0]}",
            expected="those columns in the history, one value per cycle",
            code="missing",
        )
    feats = early_features(cycle, capacity, first_cycles=model.first_cycles, charge=wanted, source=source)
    x = model.vector(feats, source=source)
    log_life = model.predict_log(x)
    life = math.exp(log_life)
    low, high = model.interval(log_life, confidence)
    outside = model.out_of_range(x)
    warnings: list[str] = []
    if outside:
        warnings.append(
            f"extrapolation: {len(outside)} feature(s) outside the range of the {len(model.cells)} training cells "
            f"({', '.join(outside)}); the interval was calibrated on cells inside it"
        )
    ref = model.reference_capacity_Ah if model.reference_capacity_Ah is not None else float(capacity[0])
    threshold_Ah = model.threshold_pct / 100.0 * ref
    last_x = float(cycle[-1])
    status = Status.PREDICTED
    point, lo, hi = life, low, high
    formula = f"log(life) = ridge on {len(model.features)} features of cycles 1..{model.first_cycles}"
    uncertainty = (
        f"{confidence:.0%} jackknife interval from the leave-one-out residuals of {len(model.cells)} training cells"
    )
    crossing = observed_crossing(cycle, capacity, threshold_Ah)
    if crossing is not None:
        status, point = Status.REACHED, crossing
        i = int(np.nonzero(capacity < threshold_Ah)[0][0])
        lo, hi = float(cycle[max(i - 1, 0)]), float(cycle[i])
        uncertainty = "the points on either side of the observed crossing"
        warnings.append(f"the history has already crossed the threshold: observed crossing, model predicted {life:.0f}")
    elif life < last_x:
        point = last_x
        lo = last_x if lo is None else max(lo, last_x)
        hi = None if hi is None else max(hi, last_x)
        warnings.append(
            f"the model predicted {life:.0f} cycles but the cell is at cycle {last_x:g} above the threshold: held at "
            "the last cycle"
        )
    else:
        lo = None if lo is None else max(lo, last_x)
    prediction = LifetimePrediction(
        axis=Axis.CYCLE,
        status=status,
        threshold_pct=model.threshold_pct,
        threshold_capacity_Ah=threshold_Ah,
        reference_capacity_Ah=ref,
        reference="given" if model.reference_capacity_Ah is not None else "initial",
        model=f"{MODEL_NAME} ({len(model.cells)} cells, first {model.first_cycles} cycles)",
        formula=formula,
        model_reference=MODEL_REFERENCE,
        selection=f"ridge penalty {model.penalty:.3g} chosen by leave-one-out cross-validation on the training cells",
        uncertainty=uncertainty,
        confidence=confidence,
        last_x=last_x,
        last_capacity_Ah=float(capacity[-1]),
        threshold_x=point,
        threshold_x_low=lo,
        threshold_x_high=hi,
        horizon_x=math.inf,
        n_points=len(cycle),
        n_points_fitted=int(np.sum(cycle <= model.first_cycles)),
        candidates=(),
    )
    return PopulationPrediction(
        lifetime=prediction,
        predicted_life=life,
        out_of_range=tuple(outside),
        warnings=tuple(warnings),
        training_cells=len(model.cells),
        cv_rmse_cycles=model.cv_rmse_cycles,
    )


__all__ = [
    "CAPACITY_FEATURES",
    "DEFAULT_FIRST_CYCLES",
    "FeatureSet",
    "PopulationModel",
    "PopulationPrediction",
    "early_features",
    "feature_definitions",
    "fit_population",
    "fit_ridge",
    "predict_population",
    "select_features",
]
