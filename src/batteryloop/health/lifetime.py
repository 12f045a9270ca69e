"""Expected lifetime: when a battery's capacity reaches a threshold, predicted from its capacity history.

A capacity history is a series of (cycle or time, capacity) points: check-ups of a cell on test, per-cycle discharge
capacities from a cycler, or the capacity estimates of :mod:`batteryloop.health` over a vehicle's life. The
prediction answers Annex XIII 1(k) and 4(a) of Regulation (EU) 2023/1542: at which cycle (and date) the capacity
falls to the exhaustion threshold (80 %, 70 % or the passport's ``capacity_threshold_exhaustion_pct``), with an
interval and the model that gave it.

Method
------
1. The threshold is a fraction of the *reference capacity*: the first capacity of the history unless a reference
   (typically the rated capacity) is given.
2. Empirical fade models, each physically motivated (``lifetime_models.csv`` lists them with their references), are
   fitted by least squares in normalised units (cycle / last cycle, capacity / reference): ``linear``;
   ``sqrt_linear`` (calendar fade in the square root of time plus cycling fade linear in throughput);
   ``power_law``; and two knee-aware models for the accelerated late fade of NMC and LFP cells,
   ``sqrt_exponential`` and ``sqrt_linear_exponential``. A model takes part only when the history has at least
   ``parameters + 2`` points, so that it has two residual degrees of freedom.
3. Selection criterion, stated: **the earliest predicted threshold crossing among the adequate models**, where a model
   is adequate when its residual standard error is at most :data:`ADEQUACY_FACTOR` times the smallest one and its
   accelerating term, if any, is at least :data:`ACCELERATION_T` standard errors from zero. Every
   candidate fits the observed range about equally well, and in-sample criteria (AICc, reported per candidate) do not
   measure extrapolation skill; knees make the models without an acceleration term fail late (Attia et al. 2022),
   so the conservative choice is taken. It beats AICc selection on the ISEA cells and on MIT from 30 % of the life
   on (``docs/validation/lifetime.md``); from 100 cycles, where neither works, AICc is less bad.
4. Uncertainty: for each adequate model, its threshold crossing under parameter uncertainty — Monte Carlo draws
   from the parameter covariance ``s² (JᵀJ)⁻¹``, inflated by ``(1 + ρ) / (1 - ρ)`` for the lag-1 autocorrelation
   ``ρ`` of the residuals (Bayley and Hammersley 1946), or, on request, a moving-block residual bootstrap (Künsch
   1989). The reported interval is the envelope of the intervals of the adequate models that cross within the
   horizon: it holds the disagreement between models, which dominates when extrapolating, not only the noise of
   the chosen one.
5. A history whose last capacity is already below the threshold is not extrapolated: the crossing is observed
   (first point below the threshold, linearly interpolated, as Severson et al. 2019 define cycle life), and its
   interval is the pair of points around it.

Histories with many points (per-cycle data) are reduced to at most ``max_points`` equal-count bin means before
fitting, which keeps a fit to milliseconds and averages out cycle-to-cycle noise.

References
----------
Attia P. M. et al. (2022). Review - "Knees" in lithium-ion battery aging trajectories. J. Electrochem. Soc. 169,
060517. doi:10.1149/1945-7111/ac6d13

Bayley G. V. and Hammersley J. M. (1946). The "effective" number of independent observations in an autocorrelated
time series. Supplement to the J. R. Stat. Soc. 8(2), 184-197.

Burnham K. P. and Anderson D. R. (2002). Model Selection and Multimodel Inference, 2nd ed. Springer.
doi:10.1007/b97636

Hurvich C. M. and Tsai C.-L. (1989). Regression and time series model selection in small samples. Biometrika 76(2),
297-307. doi:10.1093/biomet/76.2.297

Künsch H. R. (1989). The jackknife and the bootstrap for general stationary observations. Ann. Stat. 17(3),
1217-1241. doi:10.1214/aos/1176347265

Severson K. A. et al. (2019). Data-driven prediction of battery cycle life before capacity degradation. Nat. Energy
4, 383-391. doi:10.1038/s41560-019-0356-8
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar, nnls  # type: ignore[import-untyped]

from batteryloop.errors import Problem, ValidationError

FloatArray = NDArray[np.float64]

#: A model is adequate when its residual standard error is at most this factor times the smallest one. 1.5 admits
#: models that fit the observed range about as well as the best (a residual error 50 % larger is clearly visible on
#: a plot of the fit; twice as large is a misfit).
ADEQUACY_FACTOR = 1.5
#: Floor of the adequacy test, as a fraction of the reference capacity (0.01 %, below the resolution of any capacity
#: measurement): on noise-free data every exact fit is adequate.
ADEQUACY_FLOOR = 1e-4
#: An accelerating term (knee amplitude, accelerating power law) must be this many standard errors from zero for
#: its model to count as adequate (two-sided 95 % for a normal estimate).
ACCELERATION_T = 2.0
#: Default confidence level of the interval (two-sided).
DEFAULT_CONFIDENCE = 0.9
#: Extrapolation horizon, as a multiple of the last observed cycle (or day). A crossing beyond it is reported as
#: "not reached" (``None``): a model extrapolated twenty times past its data says nothing useful.
DEFAULT_HORIZON_FACTOR = 20.0
#: Monte Carlo draws per model for the covariance method.
DEFAULT_DRAWS = 400
#: Resamples per model for the bootstrap method.
DEFAULT_BOOTSTRAP = 200
#: Histories longer than this are reduced to bin means before fitting.
DEFAULT_MAX_POINTS = 200
#: Fewest points of a history (the linear model, two parameters, needs two residual degrees of freedom).
MIN_POINTS = 4

_SECONDS_PER_DAY = 86_400.0


class Axis(StrEnum):
    """What the history's abscissa counts."""

    CYCLE = "cycle"
    TIME = "time"  # days since the first timestamp


class Status(StrEnum):
    PREDICTED = "predicted"  # extrapolated by a fade model
    REACHED = "reached"  # the history has already crossed the threshold: the crossing is observed
    NOT_REACHED = "not_reached"  # no adequate model crosses the threshold within the horizon


class Selection(StrEnum):
    EARLIEST_ADEQUATE = "earliest_adequate"  # the default: conservative, see the module docstring
    AICC = "aicc"  # smallest AICc (Hurvich and Tsai 1989), for comparison


class Uncertainty(StrEnum):
    COVARIANCE = "covariance"
    BOOTSTRAP = "bootstrap"


# --------------------------------------------------------------------------------------------------------- models


BasisFunction = Callable[[FloatArray, Any], list[FloatArray]]


@dataclass(frozen=True)
class FadeModel:
    """One empirical fade model in normalised units (u = x / x_last, v = capacity / reference).

    Every model has the form ``v = q0 - Σ β_j g_j(u; η)``: an intercept, non-negative fade coefficients ``β`` and
    at most one nonlinear parameter ``η`` (the power-law exponent or the knee rate), last in ``parameters``.
    """

    name: str
    formula: str
    mechanism: str
    reference: str
    parameters: tuple[str, ...]
    basis: BasisFunction = field(repr=False)
    nonlinear: tuple[float, float] | None = None  # bounds of the nonlinear parameter, if any

    @property
    def n_params(self) -> int:
        return len(self.parameters)

    @property
    def lower(self) -> FloatArray:
        low = [-math.inf] + [0.0] * (self.n_params - 1)
        if self.nonlinear is not None:
            low[-1] = self.nonlinear[0]
        return np.array(low)

    @property
    def upper(self) -> FloatArray:
        high = [math.inf] * self.n_params
        if self.nonlinear is not None:
            high[-1] = self.nonlinear[1]
        return np.array(high)

    def bases(self, u: FloatArray, eta: float | None) -> FloatArray:
        """The design columns ``g_j(u; η)`` for 1-D ``u``, shape (len(u), number of fade coefficients)."""
        return np.column_stack(self.basis(u, eta))

    def evaluate(self, u: FloatArray, theta: FloatArray) -> FloatArray:
        """The model for parameter rows ``theta`` (m, p) at ``u`` ((n,) or (m, n)); returns shape (m, n)."""
        t = np.atleast_2d(theta)
        uu = np.atleast_2d(u)
        eta = t[:, -1:] if self.nonlinear is not None else None
        with np.errstate(over="ignore", invalid="ignore"):
            g = self.basis(uu, eta)
            out = t[:, 0:1] - sum((t[:, j + 1 : j + 2] * gj for j, gj in enumerate(g)), np.zeros_like(uu))
        return np.broadcast_to(out, (t.shape[0], uu.shape[-1]))


def _expm1(z: Any) -> Any:
    return np.expm1(np.minimum(z, 700.0))


def _b_linear(u: FloatArray, _: Any) -> list[FloatArray]:
    return [u]


def _b_sqrt_linear(u: FloatArray, _: Any) -> list[FloatArray]:
    return [np.sqrt(u), u]


def _b_power_law(u: FloatArray, b: Any) -> list[FloatArray]:
    return [np.power(u, b)]


def _b_sqrt_exponential(u: FloatArray, k: Any) -> list[FloatArray]:
    return [np.sqrt(u), _expm1(k * u)]


def _b_sqrt_linear_exponential(u: FloatArray, k: Any) -> list[FloatArray]:
    return [np.sqrt(u), u, _expm1(k * u)]


# Parameter names, basis and the bounds of the nonlinear parameter. Fade coefficients are not negative (these are
# fade models; a capacity that rises, as LFP cells do in their first cycles, fits with a zero coefficient). The
# power-law exponent spans decelerating (0.1) to strongly accelerating (5) fade; the knee rate k is per last
# observed cycle, so k = 30 lets the knee term grow e^30-fold over the observed range.
_FUNCTIONS: dict[str, tuple[tuple[str, ...], BasisFunction, tuple[float, float] | None]] = {
    "linear": (("q0", "c"), _b_linear, None),
    "sqrt_linear": (("q0", "a", "c"), _b_sqrt_linear, None),
    "power_law": (("q0", "a", "b"), _b_power_law, (0.1, 5.0)),
    "sqrt_exponential": (("q0", "a", "d", "k"), _b_sqrt_exponential, (0.1, 30.0)),
    "sqrt_linear_exponential": (("q0", "a", "c", "d", "k"), _b_sqrt_linear_exponential, (0.1, 30.0)),
}


@cache
def fade_models() -> dict[str, FadeModel]:
    """The candidate fade models, in order of complexity, with formula and reference from ``lifetime_models.csv``."""
    text = resources.files("batteryloop.health").joinpath("lifetime_models.csv").read_text(encoding="utf-8")
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(text))}
    out: dict[str, FadeModel] = {}
    for name, (params, basis, nonlinear) in _FUNCTIONS.items():
        row = rows[name]
        if int(row["parameters"]) != len(params):
            raise RuntimeError(f"lifetime_models.csv: {name} has {row['parameters']} parameters, code has {params}")
        out[name] = FadeModel(
            name=name,
            formula=row["formula"],
            mechanism=row["mechanism"],
            reference=row["reference"],
            parameters=params,
            basis=basis,
            nonlinear=nonlinear,
        )
    return out


# ------------------------------------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class FadeFit:
    """A model fitted to one history (normalised units; :meth:`capacity_Ah` gives capacity at a cycle)."""

    model: FadeModel
    theta: FloatArray
    covariance: FloatArray
    rss: float
    n_points: int
    x_scale: float
    y_scale: float
    residual_autocorrelation: float

    @property
    def dof(self) -> int:
        return self.n_points - self.model.n_params

    @property
    def residual_std(self) -> float:
        """Residual standard error, as a fraction of the reference capacity."""
        return math.sqrt(self.rss / max(self.dof, 1))

    @property
    def aicc(self) -> float:
        """Small-sample Akaike information criterion (Hurvich and Tsai 1989); ``inf`` where undefined."""
        n, k = self.n_points, self.model.n_params + 1  # + the noise variance
        if n - k - 1 <= 0:
            return math.inf
        return n * math.log(max(self.rss, 1e-300) / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)

    @property
    def acceleration_supported(self) -> bool:
        """Whether an accelerating term is distinguishable from zero (or the model has none).

        The fade that the knee term contributes at the last observed point (``d (e^k - 1)``), and an accelerating
        power law's (``a`` with ``b > 1``), must be at least :data:`ACCELERATION_T` standard errors
        (autocorrelation-inflated, delta method) from zero: an exponential fitted to the noise at the end of a flat
        history would otherwise predict a knee that the data do not show.
        """
        name = self.model.name
        inflation = (1 + self.residual_autocorrelation) / (1 - self.residual_autocorrelation)
        cov = self.covariance * inflation
        if name in ("sqrt_exponential", "sqrt_linear_exponential"):
            # the knee term's fade at the last observed point, d (e^k - 1), and its delta-method standard error
            i = self.model.n_params - 2
            d, k = float(self.theta[i]), float(self.theta[i + 1])
            size = d * math.expm1(k)
            grad = np.array([math.expm1(k), d * math.exp(k)])
            var = float(grad @ cov[i : i + 2, i : i + 2] @ grad)
        elif name == "power_law" and self.theta[2] > 1.0:
            size, var = float(self.theta[1]), float(cov[1, 1])
        else:
            return True
        se = math.sqrt(max(var, 0.0))
        return size > ACCELERATION_T * se if se > 0 else size > 0

    def capacity_Ah(self, x: ArrayLike) -> FloatArray:
        """Fitted capacity at ``x`` (cycles or days). [Ah]"""
        u = np.asarray(x, dtype=float) / self.x_scale
        return np.asarray(self.model.evaluate(u, self.theta[None, :])[0] * self.y_scale, dtype=np.float64)


def _profile(model: FadeModel, u: FloatArray, v: FloatArray, nl: float | None) -> tuple[FloatArray, float]:
    """Best linear parameters for a fixed nonlinear one (variable projection), and the residual sum of squares.

    With ``v = q0 - G β`` and ``β >= 0``, centring removes the free intercept: ``β`` is the non-negative least-squares
    solution of ``-(G - Ḡ) β ≈ v - v̄`` and ``q0 = v̄ + Ḡ β``.
    """
    g = model.bases(u, nl)
    g_mean = g.mean(axis=0)
    v_mean = float(v.mean())
    beta, _ = nnls(-(g - g_mean), v - v_mean)
    q0 = v_mean + float(g_mean @ beta)
    resid = v - (q0 - g @ beta)
    theta = np.concatenate([[q0], beta, [nl] if nl is not None else []])
    return theta, float(resid @ resid)


def _solve(model: FadeModel, u: FloatArray, v: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Least-squares parameters and the Jacobian of the model at the solution.

    Models linear in their parameters are solved exactly; a model with one nonlinear parameter (the power-law
    exponent, the knee rate) is profiled over a log-spaced grid of it and refined by a bounded scalar search
    around the best grid point, which finds the global optimum of these small problems without starting values.
    """
    if model.nonlinear is None:
        theta, _ = _profile(model, u, v, None)
        return theta, np.column_stack([np.ones_like(u), -model.bases(u, None)])
    lo, hi = model.nonlinear
    grid = np.geomspace(lo, hi, 41)
    costs = [_profile(model, u, v, float(k))[1] for k in grid]
    i = int(np.argmin(costs))
    a, b = math.log(grid[max(i - 1, 0)]), math.log(grid[min(i + 1, len(grid) - 1)])
    res = minimize_scalar(
        lambda z: _profile(model, u, v, math.exp(z))[1], bounds=(a, b), method="bounded", options={"xatol": 1e-5}
    )
    k = math.exp(float(res.x)) if float(res.fun) <= costs[i] else float(grid[i])
    theta, _ = _profile(model, u, v, k)
    h = 1e-6 * max(abs(k), 1.0)
    up, down = theta.copy(), theta.copy()
    up[-1], down[-1] = k + h, k - h
    column = (model.evaluate(u, up[None, :])[0] - model.evaluate(u, down[None, :])[0]) / (2 * h)
    jac = np.column_stack([np.ones_like(u), -model.bases(u, k), column])
    return theta, jac


def fit_fade_model(model: FadeModel | str, x: ArrayLike, capacity_Ah: ArrayLike, *, y_scale: float) -> FadeFit:
    """Fit one fade model to a history.

    Parameters
    ----------
    model : FadeModel or str
        The model, or its name in :func:`fade_models`.
    x : array_like
        Cycle (or days), increasing, not negative. [1] or [d]
    capacity_Ah : array_like
        Capacity at each ``x``. [Ah]
    y_scale : float
        Reference capacity that normalises the capacities. [Ah]

    Returns
    -------
    FadeFit
    """
    m = fade_models()[model] if isinstance(model, str) else model
    xs = np.asarray(x, dtype=float)
    x_scale = float(xs[-1]) if xs[-1] > 0 else 1.0
    u = xs / x_scale
    v = np.asarray(capacity_Ah, dtype=float) / y_scale
    theta, jac = _solve(m, u, v)
    resid = v - m.evaluate(u, theta[None, :])[0]
    rss = float(resid @ resid)
    dof = max(len(u) - m.n_params, 1)
    cov = np.asarray(np.linalg.pinv(jac.T @ jac) * (rss / dof), dtype=np.float64)
    rho = 0.0
    if len(resid) > 3 and float(np.std(resid)) > 0:
        r = float(np.corrcoef(resid[:-1], resid[1:])[0, 1])
        rho = float(np.clip(np.nan_to_num(r), 0.0, 0.9))
    return FadeFit(m, theta, cov, rss, len(u), x_scale, y_scale, rho)


# ------------------------------------------------------------------------------------------------------ crossing


def _crossing_u(
    model: FadeModel, theta: FloatArray, u_start: float, u_end: float, level: float, grid: int = 256
) -> FloatArray:
    """First u in [u_start, u_end] where the model falls below ``level``, per parameter row; ``inf`` where none.

    A coarse grid brackets the first crossing and bisection refines it to 1e-6 of the range.
    """
    g = np.linspace(u_start, u_end, grid)
    vals = model.evaluate(g, theta)
    vals = np.where(np.isnan(vals), -np.inf, vals)
    below = vals < level
    hit = below.any(axis=1)
    out = np.full(theta.shape[0], np.inf)
    if not hit.any():
        return out
    rows = np.nonzero(hit)[0]
    idx = np.argmax(below[rows], axis=1)
    at_start = idx == 0
    out[rows[at_start]] = u_start
    rows, idx = rows[~at_start], idx[~at_start]
    lo, hi = g[idx - 1], g[idx]
    th = theta[rows]
    for _ in range(math.ceil(math.log2(grid * 1e6))):
        mid = 0.5 * (lo + hi)
        vm = model.evaluate(mid[:, None], th)[:, 0]
        is_below = ~(vm >= level)
        hi = np.where(is_below, mid, hi)
        lo = np.where(is_below, lo, mid)
    out[rows] = 0.5 * (lo + hi)
    return out


def _draws(fit: FadeFit, n: int, rng: np.random.Generator) -> FloatArray:
    cov = fit.covariance * (1 + fit.residual_autocorrelation) / (1 - fit.residual_autocorrelation)
    theta = rng.multivariate_normal(fit.theta, cov, size=n, check_valid="ignore", method="svd")
    return np.clip(theta, fit.model.lower, fit.model.upper)


def _bootstrap(fit: FadeFit, u: FloatArray, v: FloatArray, n: int, rng: np.random.Generator) -> FloatArray:
    """Moving-block residual bootstrap (Künsch 1989): refit to fitted values plus resampled residual blocks."""
    fitted = fit.model.evaluate(u, fit.theta[None, :])[0]
    resid = v - fitted
    resid = resid - resid.mean()
    size = len(u)
    block = max(1, round(size ** (1 / 3)))
    starts_max = size - block + 1
    out = np.empty((n, fit.model.n_params))
    for i in range(n):
        starts = rng.integers(0, starts_max, size=math.ceil(size / block))
        sample = np.concatenate([resid[s : s + block] for s in starts])[:size]
        theta, _ = _solve(fit.model, u, fitted + sample)
        out[i] = theta
    return out


# ------------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Candidate:
    """One fitted model's verdict."""

    model: str
    formula: str
    parameters: dict[str, float]
    residual_std_pct: float  # residual standard error, % of the reference capacity
    aicc: float
    adequate: bool
    threshold_cycle: float | None
    threshold_cycle_low: float | None
    threshold_cycle_high: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "formula": self.formula,
            "parameters": self.parameters,
            "residual_std_pct": _round(self.residual_std_pct, 4),
            "aicc": None if not math.isfinite(self.aicc) else round(self.aicc, 3),
            "adequate": self.adequate,
            "threshold_cycle": _round(self.threshold_cycle, 1),
            "threshold_cycle_low": _round(self.threshold_cycle_low, 1),
            "threshold_cycle_high": _round(self.threshold_cycle_high, 1),
        }


@dataclass(frozen=True)
class LifetimePrediction:
    """When the capacity reaches the threshold: cycle (or day), interval, dates and the model used.

    On a cycle axis ``threshold_cycle`` is the absolute cycle of the crossing; on a time axis (a history with
    timestamps only) the abscissa is days since the first timestamp, the ``*_cycle`` fields are ``None`` and the
    ``*_day`` and ``*_date`` fields carry the answer. ``None`` in an upper bound means "beyond the horizon".
    """

    axis: Axis
    status: Status
    threshold_pct: float
    threshold_capacity_Ah: float
    reference_capacity_Ah: float
    reference: str  # "initial" (first capacity of the history) or "given"
    model: str
    formula: str
    model_reference: str
    selection: str
    uncertainty: str
    confidence: float
    last_x: float
    last_capacity_Ah: float
    threshold_x: float | None
    threshold_x_low: float | None
    threshold_x_high: float | None
    horizon_x: float
    n_points: int
    n_points_fitted: int
    candidates: tuple[Candidate, ...]
    threshold_date: datetime | None = None
    threshold_date_low: datetime | None = None
    threshold_date_high: datetime | None = None
    last_date: datetime | None = None

    @property
    def threshold_cycle(self) -> float | None:
        return self.threshold_x if self.axis is Axis.CYCLE else None

    @property
    def threshold_cycle_low(self) -> float | None:
        return self.threshold_x_low if self.axis is Axis.CYCLE else None

    @property
    def threshold_cycle_high(self) -> float | None:
        return self.threshold_x_high if self.axis is Axis.CYCLE else None

    @property
    def remaining_cycles(self) -> float | None:
        if self.axis is not Axis.CYCLE or self.threshold_x is None:
            return None
        return max(0.0, self.threshold_x - self.last_x)

    @property
    def remaining_days(self) -> float | None:
        if self.threshold_date is None or self.last_date is None:
            return None
        return max(0.0, (self.threshold_date - self.last_date).total_seconds() / _SECONDS_PER_DAY)

    @property
    def capacity_fade_pct(self) -> float:
        """Fade at the last point relative to the reference capacity. [%]"""
        return 100.0 * (1.0 - self.last_capacity_Ah / self.reference_capacity_Ah)

    def as_dict(self) -> dict[str, Any]:
        """The JSON of ``batteryloop health lifetime``."""
        out: dict[str, Any] = {
            "axis": self.axis.value,
            "status": self.status.value,
            "threshold_pct": self.threshold_pct,
            "threshold_capacity_Ah": round(self.threshold_capacity_Ah, 6),
            "reference_capacity_Ah": round(self.reference_capacity_Ah, 6),
            "reference": self.reference,
            "threshold_cycle": _round(self.threshold_cycle, 1),
            "remaining_cycles": _round(self.remaining_cycles, 1),
            "threshold_cycle_low": _round(self.threshold_cycle_low, 1),
            "threshold_cycle_high": _round(self.threshold_cycle_high, 1),
            "last_cycle": _round(self.last_x, 3) if self.axis is Axis.CYCLE else None,
            "last_capacity_Ah": round(self.last_capacity_Ah, 6),
            "capacity_fade_pct": round(self.capacity_fade_pct, 3),
            "model": self.model,
            "formula": self.formula,
            "model_reference": self.model_reference,
            "selection": self.selection,
            "uncertainty": self.uncertainty,
            "confidence": self.confidence,
            "horizon": _round(self.horizon_x, 1),
            "n_points": self.n_points,
            "n_points_fitted": self.n_points_fitted,
            "candidates": [c.as_dict() for c in self.candidates],
        }
        if self.axis is Axis.TIME:
            out["threshold_day"] = _round(self.threshold_x, 2)
            out["threshold_day_low"] = _round(self.threshold_x_low, 2)
            out["threshold_day_high"] = _round(self.threshold_x_high, 2)
        if self.last_date is not None:
            out["last_date"] = _iso(self.last_date)
            out["threshold_date"] = _iso(self.threshold_date)
            out["threshold_date_low"] = _iso(self.threshold_date_low)
            out["threshold_date_high"] = _iso(self.threshold_date_high)
            out["remaining_days"] = _round(self.remaining_days, 2)
        return out


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# ---------------------------------------------------------------------------------------------------- prediction

SELECTION = (
    "earliest threshold crossing among the adequate models (residual standard error <= "
    f"{ADEQUACY_FACTOR} x the smallest; each model needs parameters + 2 points)"
)


SELECTION_AICC = "smallest AICc among the models with enough points (Hurvich and Tsai 1989)"


def observed_crossing(x: ArrayLike, capacity_Ah: ArrayLike, threshold_Ah: float) -> float | None:
    """First ``x`` at which the capacity falls below ``threshold_Ah``, linearly interpolated; ``None`` if never.

    Parameters
    ----------
    x : array_like
        Cycle or time, increasing. [1] or [d]
    capacity_Ah : array_like
        Capacity at each ``x``. [Ah]
    threshold_Ah : float
        The threshold capacity. [Ah]

    Returns
    -------
    float or None
        The crossing (cycle-life definition of Severson et al. 2019), or ``None`` when the history stays above.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(capacity_Ah, dtype=float)
    below = np.nonzero(ys < threshold_Ah)[0]
    if len(below) == 0:
        return None
    i = int(below[0])
    if i == 0:
        return float(xs[0])
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return float(x0 + (y0 - threshold_Ah) / (y0 - y1) * (x1 - x0))


def _reduce(x: FloatArray, y: FloatArray, max_points: int) -> tuple[FloatArray, FloatArray]:
    """Equal-count bin means, the last bin ending at the last point, when the history is longer than max_points."""
    n = len(x)
    if n <= max_points:
        return x, y
    edges = np.linspace(0, n, max_points + 1).round().astype(int)
    xb = np.array([x[a:b].mean() for a, b in itertools.pairwise(edges)])
    yb = np.array([y[a:b].mean() for a, b in itertools.pairwise(edges)])
    return xb, yb


def predict_threshold(
    x: ArrayLike,
    capacity_Ah: ArrayLike,
    *,
    threshold_pct: float = 80.0,
    reference_capacity_Ah: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    uncertainty: Uncertainty | str = Uncertainty.COVARIANCE,
    selection: Selection | str = Selection.EARLIEST_ADEQUATE,
    models: Sequence[str] | None = None,
    horizon_factor: float = DEFAULT_HORIZON_FACTOR,
    n_draws: int | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    seed: int = 0,
    axis: Axis = Axis.CYCLE,
) -> LifetimePrediction:
    """Predict when the capacity reaches ``threshold_pct`` of the reference capacity.

    Parameters
    ----------
    x : array_like
        Cycle number (equivalent full cycles, or the cycler's count) or days, strictly increasing, not negative.
        [1] or [d]
    capacity_Ah : array_like
        Measured capacity at each ``x``, positive. [Ah]
    threshold_pct : float, default 80
        The threshold, a percentage of the reference capacity. [%]
    reference_capacity_Ah : float, optional
        The capacity the threshold refers to (the rated capacity, say). Default: the history's first capacity. [Ah]
    confidence : float, default 0.9
        Two-sided level of the interval. [1]
    uncertainty : {"covariance", "bootstrap"}
        Parameter uncertainty from the (autocorrelation-inflated) covariance, or from a moving-block residual
        bootstrap (slower: it refits each model ``n_draws`` times).
    selection : {"earliest_adequate", "aicc"}
        The stated criterion (default, see the module docstring), or the smallest AICc among the models where it is
        defined (for comparison; the interval is the same envelope).
    models : sequence of str, optional
        Candidate model names (default: all of :func:`fade_models`).
    horizon_factor : float, default 20
        Crossings later than ``horizon_factor`` times the last ``x`` count as not reached. [1]
    n_draws : int, optional
        Monte Carlo draws (covariance) or resamples (bootstrap) per model.
    max_points : int, default 200
        Longer histories are reduced to this many equal-count bin means before fitting.
    seed : int, default 0
        Seed of the random draws: the result is reproducible.
    axis : Axis
        What ``x`` counts (for the result's labels).

    Returns
    -------
    LifetimePrediction

    Raises
    ------
    ValidationError
        Too few points, non-increasing ``x``, negative ``x`` or non-positive capacities, a threshold outside
        (0, 100), or an unknown model.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(capacity_Ah, dtype=float)
    _check_arrays(xs, ys, threshold_pct, confidence, reference_capacity_Ah)
    method = Uncertainty(uncertainty)
    criterion = Selection(selection)
    catalogue = fade_models()
    names = list(catalogue) if models is None else list(models)
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        raise ValidationError(
            f"unknown fade model {unknown[0]!r}", field="models", expected="one of " + ", ".join(catalogue)
        )
    reference = "given" if reference_capacity_Ah is not None else "initial"
    ref = float(reference_capacity_Ah) if reference_capacity_Ah is not None else float(ys[0])
    level = threshold_pct / 100.0
    threshold_Ah = level * ref
    last_x = float(xs[-1])
    horizon = horizon_factor * last_x if last_x > 0 else horizon_factor
    alpha = 1.0 - confidence
    common: dict[str, Any] = {
        "axis": axis,
        "threshold_pct": float(threshold_pct),
        "threshold_capacity_Ah": threshold_Ah,
        "reference_capacity_Ah": ref,
        "reference": reference,
        "selection": SELECTION if criterion is Selection.EARLIEST_ADEQUATE else SELECTION_AICC,
        "confidence": confidence,
        "last_x": last_x,
        "last_capacity_Ah": float(ys[-1]),
        "horizon_x": horizon,
        "n_points": len(xs),
    }

    if ys[-1] < threshold_Ah:
        crossing = observed_crossing(xs, ys, threshold_Ah)
        i = int(np.nonzero(ys < threshold_Ah)[0][0])
        return LifetimePrediction(
            status=Status.REACHED,
            model="observed",
            formula="first point below the threshold, linearly interpolated",
            model_reference="Severson K. A. et al., Nat. Energy 4 (2019) 383-391, doi:10.1038/s41560-019-0356-8",
            uncertainty="the points on either side of the crossing",
            threshold_x=crossing,
            threshold_x_low=float(xs[max(i - 1, 0)]),
            threshold_x_high=float(xs[i]),
            n_points_fitted=0,
            candidates=(),
            **common,
        )

    xf, yf = _reduce(xs, ys, max_points)
    x_scale = float(xf[-1]) if xf[-1] > 0 else 1.0
    u, v = xf / x_scale, yf / ref
    u_last, u_end = last_x / x_scale, horizon / x_scale
    rng = np.random.default_rng(seed)

    fits: list[FadeFit] = []
    for name in names:
        model = catalogue[name]
        if len(u) < model.n_params + 2:
            continue
        fits.append(fit_fade_model(model, xf, yf, y_scale=ref))
    if not fits:
        raise ValidationError(
            f"a capacity history needs at least {MIN_POINTS} points for the models {', '.join(names)}",
            field="capacity_Ah",
            expected=f"at least {min(catalogue[n].n_params for n in names) + 2} points",
        )
    best_std = min(f.residual_std for f in fits if f.acceleration_supported)  # the linear model always is
    candidates: list[Candidate] = []
    for f in fits:
        adequate = f.residual_std <= max(ADEQUACY_FACTOR * best_std, ADEQUACY_FLOOR) and f.acceleration_supported
        point = float(_crossing_u(f.model, f.theta[None, :], u_last, u_end, level)[0])
        low = high = math.inf
        if adequate:
            draws = n_draws or (DEFAULT_DRAWS if method is Uncertainty.COVARIANCE else DEFAULT_BOOTSTRAP)
            theta = _draws(f, draws, rng) if method is Uncertainty.COVARIANCE else _bootstrap(f, u, v, draws, rng)
            cross = _crossing_u(f.model, theta, u_last, u_end, level)
            # a draw that never crosses counts as later than any that does; quantiles past the horizon are inf
            finite = np.where(np.isfinite(cross), cross, 2.0 * u_end)
            low, high = (float(q) if q <= u_end else math.inf for q in np.quantile(finite, [alpha / 2, 1 - alpha / 2]))
        candidates.append(
            Candidate(
                model=f.model.name,
                formula=f.model.formula,
                parameters={p: float(t) for p, t in zip(f.model.parameters, f.theta, strict=True)},
                residual_std_pct=100.0 * f.residual_std,
                aicc=f.aicc,
                adequate=adequate,
                threshold_cycle=_finite(point * x_scale),
                threshold_cycle_low=_finite(low * x_scale) if adequate else None,
                threshold_cycle_high=_finite(high * x_scale) if adequate else None,
            )
        )
    adequate_ones = [c for c in candidates if c.adequate]
    # the envelope spans the adequate models that cross within the horizon (a model that never does, such as a
    # linear fit to a rising LFP capacity, would only open the upper bound); with none, the upper bound is open
    crossing_ones = [c for c in adequate_ones if c.threshold_cycle is not None] or adequate_ones
    chosen = min(
        adequate_ones,
        key=lambda c: (c.threshold_cycle if c.threshold_cycle is not None else math.inf, len(c.parameters)),
    )
    if criterion is Selection.AICC and any(math.isfinite(c.aicc) for c in candidates):
        chosen = min(candidates, key=lambda c: c.aicc)
    lows = [c.threshold_cycle_low for c in crossing_ones]
    highs = [c.threshold_cycle_high for c in crossing_ones]
    low_env = min((lo for lo in lows if lo is not None), default=None)
    high_env = None if any(h is None for h in highs) else max(h for h in highs if h is not None)
    if low_env is not None and chosen.threshold_cycle is not None:
        low_env = min(low_env, chosen.threshold_cycle)
    status = Status.PREDICTED if chosen.threshold_cycle is not None else Status.NOT_REACHED
    model = catalogue[chosen.model]
    how = (
        "autocorrelation-inflated parameter covariance"
        if method is Uncertainty.COVARIANCE
        else "moving-block residual bootstrap"
    )
    unc = f"{method.value}: {confidence:.0%} interval of each adequate model ({how}), envelope over the adequate models"
    return LifetimePrediction(
        status=status,
        model=model.name,
        formula=model.formula,
        model_reference=model.reference,
        uncertainty=unc,
        threshold_x=chosen.threshold_cycle,
        threshold_x_low=low_env,
        threshold_x_high=high_env,
        n_points_fitted=len(u),
        candidates=tuple(candidates),
        **common,
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _check_arrays(
    x: FloatArray, y: FloatArray, threshold_pct: float, confidence: float, reference: float | None
) -> None:
    problems: list[Problem] = []
    if x.ndim != 1 or y.ndim != 1 or len(x) != len(y):
        raise ValidationError("x and capacity_Ah must be 1-D and of equal length", field="capacity_Ah")
    if len(x) < MIN_POINTS:
        problems.append(
            Problem("capacity_Ah", f"the history has {len(x)} points", f"at least {MIN_POINTS} points", "too_few")
        )
    for name, arr in (("x", x), ("capacity_Ah", y)):
        bad = np.nonzero(~np.isfinite(arr))[0]
        if len(bad):
            problems.append(Problem(f"{name}[{bad[0]}]", "not a number", "a finite number"))
    if len(problems) == 0:
        neg = np.nonzero(x < 0)[0]
        if len(neg):
            problems.append(Problem(f"x[{neg[0]}]", f"{x[neg[0]]:g} is negative", "0 or more"))
        step = np.nonzero(np.diff(x) <= 0)[0]
        if len(step):
            i = int(step[0]) + 1
            problems.append(
                Problem(f"x[{i}]", f"{x[i]:g} does not increase on {x[i - 1]:g}", "strictly increasing values")
            )
        nonpos = np.nonzero(y <= 0)[0]
        if len(nonpos):
            problems.append(Problem(f"capacity_Ah[{nonpos[0]}]", f"{y[nonpos[0]]:g} Ah", "a positive capacity [Ah]"))
    if not 0 < threshold_pct < 100:
        problems.append(Problem("threshold_pct", f"{threshold_pct:g} %", "a percentage between 0 and 100"))
    if not 0 < confidence < 1:
        problems.append(Problem("confidence", f"{confidence:g}", "a level between 0 and 1"))
    if reference is not None and not (math.isfinite(reference) and reference > 0):
        problems.append(Problem("reference_capacity_Ah", f"{reference:g} Ah", "a positive capacity [Ah]"))
    if problems:
        raise ValidationError("invalid capacity history", problems=problems)


# -------------------------------------------------------------------------------------------------- histories


@dataclass(frozen=True)
class CapacityHistory:
    """A validated capacity history: capacity against cycle and/or timestamp (UTC)."""

    capacity_Ah: FloatArray
    cycle: FloatArray | None
    timestamp: list[datetime] | None

    @property
    def axis(self) -> Axis:
        return Axis.CYCLE if self.cycle is not None else Axis.TIME

    def x(self) -> FloatArray:
        """The abscissa: cycles, or days since the first timestamp."""
        if self.cycle is not None:
            return self.cycle
        assert self.timestamp is not None
        t0 = self.timestamp[0]
        return np.array([(t - t0).total_seconds() / _SECONDS_PER_DAY for t in self.timestamp])


def history_from_frame(frame: pl.DataFrame, *, source: str = "history") -> CapacityHistory:
    """Validate a capacity-history frame (columns ``cycle`` and/or ``timestamp``, and ``capacity_Ah``).

    Parameters
    ----------
    frame : polars.DataFrame
        ``capacity_Ah`` [Ah] and ``cycle`` (numbers, strictly increasing, not negative) or ``timestamp``
        (Datetime, or ISO 8601 text with an offset; strictly increasing). Both may be given: the fit is then on
        cycles and the timestamps date the crossing.
    source : str
        The file name, for messages.

    Returns
    -------
    CapacityHistory

    Raises
    ------
    ValidationError
        Naming the column and the row (1-based data row, the header not counted) of the first bad value of each kind.
    """
    problems: list[Problem] = []
    columns = set(frame.columns)
    if "capacity_Ah" not in columns:
        problems.append(Problem(f"{source}: capacity_Ah", "column missing", "a column capacity_Ah [Ah]", "missing"))
    if "cycle" not in columns and "timestamp" not in columns:
        problems.append(
            Problem(f"{source}: cycle", "neither cycle nor timestamp column", "a column cycle or timestamp", "missing")
        )
    if problems:
        raise ValidationError(f"{source}: not a capacity history", problems=problems)

    capacity = _numeric(frame, "capacity_Ah", source, problems)
    cycle = _numeric(frame, "cycle", source, problems) if "cycle" in columns else None
    stamps = _timestamps(frame, source, problems) if "timestamp" in columns else None
    if problems:
        raise ValidationError(f"{source}: invalid capacity history", problems=problems)
    assert capacity is not None
    n = len(capacity)
    if n < MIN_POINTS:
        problems.append(
            Problem(
                f"{source}: capacity_Ah", f"{n} rows", f"at least {MIN_POINTS} rows (points of the history)", "too_few"
            )
        )
    bad = np.nonzero(capacity < 0)[0]
    if len(bad):
        problems.append(
            Problem(f"{source}: row {bad[0] + 1}, capacity_Ah", f"{capacity[bad[0]]:g} is negative", "a capacity > 0")
        )
    zero = np.nonzero(capacity == 0)[0]
    if len(zero):
        problems.append(Problem(f"{source}: row {zero[0] + 1}, capacity_Ah", "0 Ah", "a capacity > 0 [Ah]"))
    if cycle is not None:
        neg = np.nonzero(cycle < 0)[0]
        if len(neg):
            problems.append(Problem(f"{source}: row {neg[0] + 1}, cycle", f"{cycle[neg[0]]:g} is negative", ">= 0"))
        step = np.nonzero(np.diff(cycle) <= 0)[0]
        if len(step):
            i = int(step[0]) + 1
            problems.append(
                Problem(
                    f"{source}: row {i + 1}, cycle",
                    f"{cycle[i]:g} after {cycle[i - 1]:g}: cycles are not increasing",
                    "strictly increasing cycles (one row per cycle or check-up, in order)",
                    "not_monotonic",
                )
            )
    if stamps is not None:
        for i in range(1, len(stamps)):
            if stamps[i] <= stamps[i - 1]:
                problems.append(
                    Problem(
                        f"{source}: row {i + 1}, timestamp",
                        f"{stamps[i].isoformat()} is not after {stamps[i - 1].isoformat()}",
                        "strictly increasing timestamps",
                        "not_monotonic",
                    )
                )
                break
    if problems:
        raise ValidationError(f"{source}: invalid capacity history", problems=problems)
    return CapacityHistory(capacity_Ah=capacity, cycle=cycle, timestamp=stamps)


def _numeric(frame: pl.DataFrame, column: str, source: str, problems: list[Problem]) -> FloatArray | None:
    series = frame.get_column(column)
    if series.dtype == pl.String:
        converted = series.str.strip_chars().cast(pl.Float64, strict=False)
        bad = (converted.is_null() & series.is_not_null()) | series.is_null()
    else:
        try:
            converted = series.cast(pl.Float64)
        except pl.exceptions.PolarsError:
            problems.append(Problem(f"{source}: {column}", f"type {series.dtype}", "numbers"))
            return None
        bad = converted.is_null()
    bad = bad | converted.is_nan().fill_null(False)
    if bad.any():
        i = int(bad.arg_true()[0])
        raw = series[i]
        problems.append(
            Problem(f"{source}: row {i + 1}, {column}", f"{raw!r} is not a number", f"a number in {column}")
        )
        return None
    return converted.to_numpy().astype(float)


def _timestamps(frame: pl.DataFrame, source: str, problems: list[Problem]) -> list[datetime] | None:
    series = frame.get_column("timestamp")
    out: list[datetime] = []
    for i, raw in enumerate(series.to_list()):
        value = _parse_time(raw)
        if value is None:
            problems.append(
                Problem(
                    f"{source}: row {i + 1}, timestamp",
                    f"{raw!r} is not a time with a UTC offset",
                    "ISO 8601 with an offset (2024-05-01T12:00:00+02:00) or epoch seconds",
                )
            )
            return None
        out.append(value)
    return out


def _parse_time(raw: Any) -> datetime | None:
    if isinstance(raw, datetime):
        return raw if raw.tzinfo is not None else None
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return datetime.fromtimestamp(float(raw), tz=UTC)
    if isinstance(raw, str):
        text = raw.strip()
        try:
            return datetime.fromtimestamp(float(text), tz=UTC)
        except ValueError:
            pass
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return value.astimezone(UTC) if value.tzinfo is not None else None
    return None


def predict_lifetime(
    history: CapacityHistory,
    *,
    threshold_pct: float = 80.0,
    reference_capacity_Ah: float | None = None,
    **options: Any,
) -> LifetimePrediction:
    """Predict the threshold crossing of a validated history, with dates where it has timestamps.

    On a cycle history with timestamps the cycle of the crossing is dated with the recent usage rate: a straight
    line of time against cycle through the last half of the history (at least its last two points).

    Parameters
    ----------
    history : CapacityHistory
        From :func:`history_from_frame`.
    threshold_pct : float
        Threshold, percent of the reference capacity. [%]
    reference_capacity_Ah : float, optional
        Reference capacity; default the first capacity of the history. [Ah]
    **options
        Passed to :func:`predict_threshold`.

    Returns
    -------
    LifetimePrediction
    """
    x = history.x()
    prediction = predict_threshold(
        x,
        history.capacity_Ah,
        threshold_pct=threshold_pct,
        reference_capacity_Ah=reference_capacity_Ah,
        axis=history.axis,
        **options,
    )
    if history.timestamp is None:
        return prediction
    to_date = _dater(x, history.timestamp)
    return replace(
        prediction,
        last_date=history.timestamp[-1],
        threshold_date=to_date(prediction.threshold_x),
        threshold_date_low=to_date(prediction.threshold_x_low),
        threshold_date_high=to_date(prediction.threshold_x_high),
    )


def _dater(x: FloatArray, stamps: list[datetime]) -> Callable[[float | None], datetime | None]:
    seconds = np.array([(t - stamps[0]).total_seconds() for t in stamps])
    half = max(2, len(x) // 2)
    slope = float(np.polyfit(x[-half:], seconds[-half:], 1)[0])

    def to_date(value: float | None) -> datetime | None:
        if value is None:
            return None
        inside = value <= x[-1]
        s = float(np.interp(value, x, seconds)) if inside else float(seconds[-1] + slope * (value - x[-1]))
        return stamps[0] + timedelta(seconds=s)

    return to_date
