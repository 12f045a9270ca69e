"""Every Annex VII parameter of one battery from its canonical time series, each with its method and uncertainty.

:func:`estimate` takes the canonical frame of one battery (after :func:`batteryloop.telemetry.quality.check`) and the
battery's rating, and returns a :class:`HealthEstimate`: the parameters under the keys of the passport's
``attributes.csv`` (``remaining_capacity_Ah``, ``soh_capacity_pct``, ``ohmic_resistance_mOhm``, ...), each as
``{"value", "method", "uncertainty", "measured_at"}`` (the form :meth:`PassportService.update_dynamic` records), and
the details behind them. :meth:`HealthEstimate.passport_values` gives the ones a passport can take.

What each parameter needs:

=====================================  ==========================================================================
parameter                              needs
=====================================  ==========================================================================
remaining capacity, SoH, fade          complete discharges (with a chemistry), or rests with an OCV table, or
                                       BMS ``soc_pct`` readings: at least ``min_windows`` windows
remaining energy, SOCE                 the capacity; a mean voltage (nominal energy, OCV table or chemistry);
                                       SOCE also the nominal (certified) energy
ohmic resistance                       current steps of at least ``resistance_step_C_rate`` read within 1-10 s
resistance increase, power fade        the resistance and its begin-of-life value (stated, or the start of a record
                                       spanning ``min_trend_days``)
power capability                       the resistance, an OCV table and the chemistry's lower cut-off
round-trip efficiency (and fade)       SoC anchors and the capacity (to close the energy balance), or a record
                                       long enough that the stored energy hardly matters
self-discharge (and its evolution)     rests of ``self_discharge_min_rest_s`` and an OCV table
deep discharges, extreme temperatures  the chemistry's limits (``rules/chemistry.csv``)
=====================================  ==========================================================================

A parameter that cannot be determined is reported with ``value: null`` and a ``note`` saying what is missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from batteryloop.errors import Problem, ValidationError
from batteryloop.health import annex_vii, capacity, resistance
from batteryloop.health.ocv import OcvTable, default_chemistries, default_table
from batteryloop.health.series import TimeSeries, from_frame
from batteryloop.health.settings import MethodSettings, defaults
from batteryloop.rules import ChemistryLimits
from batteryloop.rules import chemistry as chemistry_limits


@dataclass(frozen=True)
class Reference:
    """Begin-of-life values stated by the manufacturer (the passport's static data), for fades and increases.

    Without them a fade is taken from the start of the record when the record spans ``min_trend_days``.
    """

    initial_resistance_mOhm: float | None = None
    initial_round_trip_efficiency_pct: float | None = None
    initial_self_discharge_rate_pct_per_month: float | None = None


@dataclass(frozen=True)
class Parameter:
    """One estimated parameter: its value (in the unit its key names), how it was found, its standard uncertainty
    (same unit; None where it does not apply) and, where there is no value, why."""

    value: Any
    method: str
    uncertainty: float | None = None
    note: str | None = None

    def as_dict(self, measured_at: str) -> dict[str, Any]:
        out: dict[str, Any] = {"value": _clean(self.value), "method": self.method}
        if self.uncertainty is not None and math.isfinite(self.uncertainty):
            out["uncertainty"] = _round(self.uncertainty)
        if self.value is not None:
            out["measured_at"] = measured_at
        if self.note:
            out["note"] = self.note
        return out


def _round(x: float) -> float:
    """Six significant digits: more than any of these quantities is known to."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.6g}")


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return _round(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _missing(method: str, note: str) -> Parameter:
    return Parameter(None, method, None, note)


@dataclass
class HealthEstimate:
    """The Annex VII parameters of one battery, with the record they come from and the details behind them."""

    battery_id: str | None
    record_start: datetime
    record_end: datetime
    parameters: dict[str, Parameter]
    details: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    quality: Mapping[str, Any] | None = None

    @property
    def measured_at(self) -> str:
        return self.record_end.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def value(self, key: str) -> Any:
        return self.parameters[key].value

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``batteryloop health estimate --json``."""
        out: dict[str, Any] = {
            "battery_id": self.battery_id,
            "measured_at": self.measured_at,
            "record": {
                "start": self.record_start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "end": self.measured_at,
                **_clean(self.details.get("record", {})),
            },
        }
        for key, param in self.parameters.items():
            out[key] = param.as_dict(self.measured_at)
        out["details"] = _clean({k: v for k, v in self.details.items() if k != "record"})
        out["inputs"] = _clean(self.inputs)
        if self.quality is not None:
            out["quality"] = dict(self.quality)
        return out

    def passport_values(self, category: str | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """The parameters a passport takes, in the form of ``PassportService.update_dynamic``, and the ones left out
        with the reason (no value, not an attribute for ``category``, or outside the attribute's range)."""
        from batteryloop.passport.attributes import attributes, validate_value

        table = attributes()
        values: dict[str, dict[str, Any]] = {}
        skipped: dict[str, str] = {}
        for key, param in self.parameters.items():
            attr = table.get(key)
            if attr is None or not attr.is_dynamic:
                skipped[key] = "not a dynamic attribute of the passport"
                continue
            if param.value is None:
                skipped[key] = param.note or "no value"
                continue
            if category is not None and not attr.applies_to(category):
                skipped[key] = f"does not apply to {category} batteries"
                continue
            item = param.as_dict(self.measured_at)
            try:
                validate_value(attr, item["value"])
            except ValidationError as exc:
                skipped[key] = str(exc.problems[0]) if exc.problems else exc.message
                continue
            values[key] = {k: item[k] for k in ("value", "method", "uncertainty", "measured_at") if k in item}
        return values, skipped


def _positive(value: float | None, name: str, problems: list[Problem], *, required: bool = False) -> None:
    if value is None:
        if required:
            problems.append(Problem(name, "missing", "a positive number"))
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        problems.append(Problem(name, f"{value!r} is not a positive number", "a positive number"))


def estimate(
    frame: pl.DataFrame,
    *,
    nominal_capacity_Ah: float,
    nominal_energy_kWh: float | None = None,
    chemistry: str | None = None,
    cells_in_series: int = 1,
    ocv_table: OcvTable | None = None,
    reference: Reference | None = None,
    settings: MethodSettings | None = None,
    quality_report: Mapping[str, Any] | None = None,
) -> HealthEstimate:
    """Estimate every Annex VII parameter of the battery in ``frame``.

    Parameters
    ----------
    frame : polars.DataFrame
        Canonical telemetry of one battery (:mod:`batteryloop.telemetry.schema`), sorted, without duplicate
        timestamps (the ``frame`` of :func:`batteryloop.telemetry.quality.check`).
    nominal_capacity_Ah : float
        Rated capacity of the battery (of the pack: cells in parallel included). [Ah]
    nominal_energy_kWh : float, optional
        Certified (rated) energy; needed for the state of certified energy. [kWh]
    chemistry : str, optional
        NMC, NCA, LFP, LCO or LMO: the voltage window, temperature ranges (``rules/chemistry.csv``) and the default
        OCV table.
    cells_in_series : int
        Cells in series behind ``voltage_V``; the voltage is divided by it for the OCV table and the limits.
    ocv_table : OcvTable, optional
        The cell's OCV table; replaces the chemistry's default one.
    reference : Reference, optional
        Stated begin-of-life values for the fades and increases.
    settings : MethodSettings, optional
        Method parameters; defaults to ``method_defaults.csv``.
    quality_report : mapping, optional
        The quality report of the checked frame, included in the result.

    Returns
    -------
    HealthEstimate
    """
    cfg = settings or defaults()
    ref = reference or Reference()
    problems: list[Problem] = []
    _positive(nominal_capacity_Ah, "nominal_capacity_Ah", problems, required=True)
    _positive(nominal_energy_kWh, "nominal_energy_kWh", problems)
    if isinstance(cells_in_series, bool) or not isinstance(cells_in_series, int) or cells_in_series < 1:
        problems.append(Problem("cells_in_series", f"{cells_in_series!r}", "a whole number of at least 1"))
    for name in ("initial_resistance_mOhm", "initial_round_trip_efficiency_pct"):
        _positive(getattr(ref, name), name, problems)
    if problems:
        raise ValidationError("invalid estimate inputs", problems=problems)
    limits = chemistry_limits(chemistry) if chemistry else None
    table = ocv_table
    if table is None and limits is not None and limits.chemistry in default_chemistries():
        table = default_table(limits.chemistry)
    battery_id = _battery_id(frame)

    c_nom = float(nominal_capacity_Ah)
    series = from_frame(
        frame,
        rest_current_A=cfg.rest_current_C_rate * c_nom,
        max_gap_s=cfg.max_gap_s,
        cells_in_series=cells_in_series,
    )
    _check_voltage_scale(series, limits, table, cells_in_series)
    est = _Estimator(series, cfg, ref, c_nom, nominal_energy_kWh, limits, table)
    params = est.run()
    inputs: dict[str, Any] = {
        "nominal_capacity_Ah": c_nom,
        "nominal_energy_kWh": nominal_energy_kWh,
        "chemistry": limits.chemistry if limits else None,
        "cells_in_series": cells_in_series,
        "ocv_table": table.describe() if table is not None else None,
        "chemistry_limits": _limits_dict(limits) if limits else None,
        "reference": {k: v for k, v in ref.__dict__.items() if v is not None},
        "method_settings": cfg.as_dict(),
    }
    return HealthEstimate(
        battery_id=battery_id,
        record_start=series.start,
        record_end=series.timestamp(float(series.time_s[-1])),
        parameters=params,
        details=est.details,
        inputs=inputs,
        quality=quality_report,
    )


def _battery_id(frame: pl.DataFrame) -> str | None:
    if "battery_id" not in frame.columns:
        return None
    col = frame.get_column("battery_id")
    first = col[0]
    if first is not None and col.null_count() == 0 and bool((col == first).all()):
        return str(first)
    ids = col.drop_nulls().unique()
    if ids.len() > 1:
        shown = ", ".join(sorted(str(x) for x in ids.to_list())[:5])
        raise ValidationError(
            f"the frame holds {ids.len()} batteries ({shown}{', ...' if ids.len() > 5 else ''})",
            field="battery_id",
            expected="the samples of one battery (estimate each battery on its own)",
        )
    return str(ids[0]) if ids.len() else None


def _check_voltage_scale(
    series: TimeSeries, limits: ChemistryLimits | None, table: OcvTable | None, cells_in_series: int
) -> None:
    """A pack voltage read as a cell voltage (or the reverse) makes every voltage-based result wrong: refuse it."""
    high = limits.cell_voltage_max_V if limits is not None else (table.ocv_max_V if table is not None else None)
    low = limits.cell_voltage_min_V if limits is not None else (table.ocv_min_V if table is not None else None)
    if high is None or low is None:
        return
    median = float(np.nanmedian(series.cell_voltage_at(np.arange(0, series.n, max(1, series.n // 100_000)))))
    if median > 1.5 * high or median < 0.5 * low:
        nominal = limits.cell_voltage_nominal_V if limits is not None else (low + high) / 2
        what = limits.chemistry if limits is not None else "the OCV table"
        raise ValidationError(
            f"the median cell voltage is {median:.3g} V ({cells_in_series} cell(s) in series), outside what "
            f"{what} allows ({low:g}-{high:g} V)",
            field="cells_in_series" if median > 1.5 * high else "voltage_V",
            expected=f"--cells-in-series about {round(median / nominal)} for a pack voltage"
            if median > 1.5 * high
            else "the voltage in volts of the cell or of the pack",
        )


def _limits_dict(limits: ChemistryLimits) -> dict[str, Any]:
    return {
        "cell_voltage_min_V": limits.cell_voltage_min_V,
        "cell_voltage_max_V": limits.cell_voltage_max_V,
        "charge_temperature_C": [limits.charge_temperature_min_C, limits.charge_temperature_max_C],
        "operating_temperature_C": [limits.operating_temperature_min_C, limits.operating_temperature_max_C],
        "source": limits.source,
    }


def _pct(x: float) -> float:
    return 100.0 * x


class _Estimator:
    """Runs the estimates in dependency order and collects parameters and details."""

    def __init__(
        self,
        series: TimeSeries,
        cfg: MethodSettings,
        ref: Reference,
        c_nom: float,
        e_nom_kWh: float | None,
        limits: ChemistryLimits | None,
        table: OcvTable | None,
    ) -> None:
        self.s = series
        self.cfg = cfg
        self.ref = ref
        self.c_nom = c_nom
        self.e_nom = e_nom_kWh
        self.limits = limits
        self.table = table
        self.n_cells = series.cells_in_series
        self.details: dict[str, Any] = {}
        self.p: dict[str, Parameter] = {}
        self.min_trend_s = cfg.min_trend_days * 86400.0
        self.cap: float | None = None
        self.cap_unc = 0.0
        self.r_now: float | None = None
        self.r_unc = 0.0
        self.r_start: float | None = None
        self.r_start_unc: float | None = None

    def run(self) -> dict[str, Parameter]:
        s = self.s
        self.details["record"] = {
            "samples": s.n,
            "duration_h": float(s.time_s[-1]) / 3600.0,
            "observed_h": s.observed_s / 3600.0,
            "uncovered_h": s.uncovered_s / 3600.0,
        }
        rests = capacity.rest_periods(s, self.cfg.min_rest_s)
        self.rests = rests
        self._capacity()
        self._resistance()
        self._energy()
        self._power()
        self._efficiency()
        self._self_discharge()
        self._part_b()
        self._state()
        return self.p

    # --- capacity ------------------------------------------------------------------------------------------------

    def _capacity(self) -> None:
        cfg, s = self.cfg, self.s
        info: dict[str, Any] = {"rest_periods": len(self.rests)}
        self.full: capacity.FullDischarges | None = None
        bounds = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        if self.limits is not None:
            bounds = capacity.discharge_bounds(
                s,
                cell_voltage_min_V=self.limits.cell_voltage_min_V,
                cell_voltage_max_V=self.limits.cell_voltage_max_V,
                margin_V=cfg.full_discharge_voltage_margin_V,
            )

        def fit(anchors: capacity.Anchors) -> capacity.CapacityFit | None:
            return capacity.fit_capacity(
                s,
                anchors,
                max_window_h=cfg.max_window_h,
                min_window_span_Ah=cfg.min_window_span_pct / 100.0 * self.c_nom,
                min_windows=cfg.min_windows,
                min_trend_days=cfg.min_trend_days,
                outlier_sigma=cfg.outlier_sigma,
            )

        self.ocv_anchors: capacity.Anchors | None = None
        fits: dict[str, capacity.CapacityFit] = {}
        if self.table is not None:
            self.ocv_anchors = capacity.ocv_anchors(s, self.rests, self.table, tail_s=cfg.rest_tail_s)
        self.bms_anchors = capacity.bms_anchors(s, cfg.bms_soc_min_interval_s)
        # every integral below is read at these samples: one pass per quantity over the whole series
        s.prepare(
            *bounds,
            self.ocv_anchors.index if self.ocv_anchors is not None else np.zeros(0, dtype=np.int64),
            self.bms_anchors.index,
        )
        if self.ocv_anchors is not None:
            info["ocv_anchors"] = len(self.ocv_anchors)
            if self.ocv_anchors.rejected:
                info["ocv_anchors_outside_table"] = self.ocv_anchors.rejected
            ocv_fit = fit(self.ocv_anchors)
            if ocv_fit is not None:
                fits["ocv"] = ocv_fit
        if self.limits is not None:
            self.full = capacity.measure_discharges(s, *bounds)
            info["complete_discharges"] = len(self.full)
        if len(self.bms_anchors):
            info["bms_soc_anchors"] = len(self.bms_anchors)
            bms_fit = fit(self.bms_anchors)
            if bms_fit is not None:
                fits["bms_soc"] = bms_fit
        for name, one in fits.items():
            info[f"{name}_fit"] = {
                "capacity_Ah": one.capacity_Ah,
                "uncertainty_Ah": one.uncertainty_Ah,
                "anchors": one.anchors,
                "windows": one.windows,
                "window_groups": one.segments,
                "outliers": one.outliers,
                "chi2_reduced": one.chi2_reduced,
                "drift_in_time": one.trend,
                "start_capacity_Ah": one.start_capacity_Ah,
            }
        self.capacity_fit: capacity.CapacityFit | None = None
        chosen: tuple[float, float, str, float | None, float | None] | None = None
        full = self.full
        last_full_recent = (
            full is not None
            and len(full) > 0
            and float(s.time_s[-1] - s.time_s[full.end[-1]]) <= max(self.min_trend_s, 0.1 * float(s.time_s[-1]))
        )
        if full is not None and len(full) > 0 and (last_full_recent or not fits):
            k = min(3, len(full))
            caps = full.capacity_Ah[-k:]
            value = float(caps.mean())
            if k >= 2:
                unc = float(caps.std(ddof=1) / math.sqrt(k))
            else:
                # the cut-off lies somewhere in the last sample interval of the discharge
                end = int(full.end[-1])
                dt = float(s.time_s[end] - s.time_s[max(end - 1, 0)])
                unc = float(full.mean_current_A[-1]) * dt / 3600.0 / math.sqrt(12.0)
            rate = float(full.mean_current_A[-k:].mean()) / self.c_nom
            method = (
                f"coulomb count of complete discharges from a full charge to the lower cut-off "
                f"({self.limits.cell_voltage_min_V if self.limits else '?'} V per cell) at {rate:.2g} C, mean of the "
                f"last {k} (IEC 62660-1 capacity test)"
            )
            start_cap = float(full.capacity_Ah[0]) if len(full) > k else None
            start_unc = unc if start_cap is not None else None
            chosen = (value, unc, method, start_cap, start_unc)
            info["complete_discharge_capacities_Ah"] = [float(x) for x in full.capacity_Ah[-10:]]
        elif fits:
            name = min(fits, key=lambda n: fits[n].uncertainty_Ah / fits[n].capacity_Ah)
            best = fits[name]
            self.capacity_fit = best
            anchors_text = (
                f"rest periods of at least {cfg.min_rest_s / 60:g} min read through the OCV table "
                f"({self.table.name if self.table else ''})"
                if name == "ocv"
                else "BMS soc_pct readings"
            )
            drift = (
                "the capacity drifting linearly in time, value at the end of the record"
                if best.trend
                else "one capacity for the record"
            )
            method = (
                f"coulomb counting between SoC anchors from {anchors_text}; weighted least-squares fit of SoC against "
                f"counted charge over {best.windows} windows in {best.segments} window group(s) ({drift}); "
                f"{best.outliers} outlying anchors left out"
            )
            chosen = (best.capacity_Ah, best.uncertainty_Ah, method, best.start_capacity_Ah, best.start_uncertainty_Ah)
        self.details["capacity"] = info
        m = "remaining capacity"
        if chosen is None:
            why = (
                "no complete discharge and too few windows between SoC anchors "
                f"(needs at least {cfg.min_windows} windows: rests of {cfg.min_rest_s / 60:g} min with an OCV table "
                "(--chemistry or --ocv-table), or BMS soc_pct readings)"
            )
            self.cap = None
            for key in ("remaining_capacity_Ah", "soh_capacity_pct", "capacity_fade_pct"):
                self.p[key] = _missing(m, why)
            return
        value, unc, method, start_cap, _ = chosen
        self.cap, self.cap_unc = value, unc
        self.p["remaining_capacity_Ah"] = Parameter(value, method, unc)
        self.p["soh_capacity_pct"] = Parameter(
            _pct(value / self.c_nom),
            f"remaining capacity over the rated capacity ({self.c_nom:g} Ah)",
            _pct(unc / self.c_nom),
        )
        self.p["capacity_fade_pct"] = Parameter(
            _pct(1.0 - value / self.c_nom),
            f"(1 - remaining / rated capacity ({self.c_nom:g} Ah)) x 100 (DIN DKE SPEC 99100 6.7.2.4)",
            _pct(unc / self.c_nom),
        )
        if start_cap is not None:
            self.details["capacity"]["capacity_at_record_start_Ah"] = start_cap

    # --- resistance ----------------------------------------------------------------------------------------------

    def _resistance(self) -> None:
        cfg, s = self.cfg, self.s
        steps = resistance.current_steps(
            s,
            min_step_A=cfg.resistance_step_C_rate * self.c_nom,
            min_dt_s=cfg.resistance_min_dt_s,
            max_dt_s=cfg.resistance_max_dt_s,
            steady_fraction=cfg.resistance_steady_fraction,
        )
        info: dict[str, Any] = {"steps": len(steps)}
        band = (steps.temperature_C >= cfg.resistance_temperature_min_C) & (
            steps.temperature_C <= cfg.resistance_temperature_max_C
        )
        in_band = int(band.sum())
        use_band = in_band >= cfg.min_windows
        chosen = steps.select(band) if use_band else steps
        info["steps_in_temperature_band"] = in_band
        fit = annex_vii.trend(
            s.time_s[chosen.reading],
            chosen.resistance_Ohm,
            chosen.delta_I_A**2,
            sigma_known=False,
            min_span_s=self.min_trend_s,
            min_count=cfg.min_windows,
            outlier_sigma=cfg.outlier_sigma,
        )
        self.r_fit = fit
        self.details["resistance"] = info
        m = "ohmic resistance"
        if fit is None or not math.isfinite(fit.uncertainty) or fit.value <= 0:
            why = (
                f"fewer than {cfg.min_windows} clean current steps of at least {cfg.resistance_step_C_rate:g} C read "
                f"within {cfg.resistance_min_dt_s:g}-{cfg.resistance_max_dt_s:g} s (the sampling may be too slow)"
            )
            self.r_now = None
            self.p["ohmic_resistance_mOhm"] = _missing(m, why)
            self.p["internal_resistance_increase_pct"] = _missing("resistance increase", why)
            self.r_start = None
            return
        band_text = (
            f"steps at {cfg.resistance_temperature_min_C:g}-{cfg.resistance_temperature_max_C:g} °C"
            if use_band
            else "steps at all temperatures (too few near room temperature)"
        )
        scope = "pack" if self.n_cells > 1 else "battery terminals"
        drift = "drifting linearly in time, value at the end of the record" if fit.trend else "one value for the record"
        method = (
            f"dV/dI at {fit.count} current steps of at least {cfg.resistance_step_C_rate:g} C read "
            f"{cfg.resistance_min_dt_s:g}-{cfg.resistance_max_dt_s:g} s after the step ({scope}; {band_text}); "
            f"weighted by dI^2, {drift}; {fit.outliers} outliers left out"
        )
        self.r_now, self.r_unc = fit.value, fit.uncertainty
        info.update({"used": fit.count, "outliers": fit.outliers, "drift_in_time": fit.trend})
        self.p["ohmic_resistance_mOhm"] = Parameter(fit.value * 1e3, method, fit.uncertainty * 1e3)
        self.r_start = None
        self.r_start_unc = None
        source = ""
        if self.ref.initial_resistance_mOhm is not None:
            self.r_start, self.r_start_unc = self.ref.initial_resistance_mOhm / 1e3, 0.0
            source = f"the stated initial resistance ({self.ref.initial_resistance_mOhm:g} mOhm)"
        elif fit.trend and fit.start_value is not None and fit.start_value > 0:
            self.r_start, self.r_start_unc = fit.start_value, fit.start_uncertainty or 0.0
            source = "the fitted resistance at the start of the record"
            info["resistance_at_record_start_mOhm"] = fit.start_value * 1e3
        if self.r_start is None:
            self.p["internal_resistance_increase_pct"] = _missing(
                "resistance increase",
                f"no begin-of-life resistance: state it (--initial-resistance-mOhm) or give a record of at least "
                f"{cfg.min_trend_days:g} days",
            )
            return
        ratio = self.r_now / self.r_start
        unc = ratio * math.hypot(self.r_unc / self.r_now, (self.r_start_unc or 0.0) / self.r_start)
        self.p["internal_resistance_increase_pct"] = Parameter(
            _pct(ratio - 1.0),
            f"(R - R_BOL) / R_BOL x 100 with R_BOL {source} (DIN DKE SPEC 99100 6.7.5)",
            _pct(unc),
        )

    # --- energy --------------------------------------------------------------------------------------------------

    def _energy(self) -> None:
        cfg = self.cfg
        m = "remaining energy"
        self.energy_Wh: float | None = None
        if self.cap is None:
            why = "no remaining capacity (see remaining_capacity_Ah)"
            self.p["remaining_energy_kWh"] = _missing(m, why)
            self.p["state_of_certified_energy_pct"] = _missing("SOCE", why)
            return
        full = self.full
        if full is not None and len(full) > 0 and self.capacity_fit is None:
            k = min(3, len(full))
            energies = full.energy_Wh[-k:]
            value = float(energies.mean())
            unc = float(energies.std(ddof=1) / math.sqrt(k)) if k >= 2 else value * self.cap_unc / self.cap
            method = f"energy delivered by the last {k} complete discharge(s), at the rate in the data"
        else:
            i_ref = cfg.energy_reference_C_rate * self.c_nom
            r_now = self.r_now or 0.0
            r_unc = self.r_unc if self.r_now is not None else 0.0
            if self.e_nom is not None:
                u_rated = self.e_nom * 1e3 / self.c_nom
                dr = (r_now - self.r_start) if (self.r_now is not None and self.r_start is not None) else 0.0
                u = u_rated - dr * i_ref
                u_unc = r_unc * i_ref
                how = f"the rated mean voltage (nominal energy / nominal capacity = {u_rated:.4g} V)" + (
                    f" less the resistance gained times the 1/3 C current ({dr * i_ref:.3g} V)" if dr else ""
                )
            elif self.table is not None:
                ocv_mean = float(self.table.mean_ocv(0.0, 100.0)) * self.n_cells
                u = ocv_mean - r_now * i_ref
                u_unc = math.hypot(r_unc * i_ref, self.table.uncertainty_V * self.n_cells)
                how = f"the mean OCV of the table ({ocv_mean:.4g} V) less the resistance times the 1/3 C current"
            elif self.limits is not None:
                u = self.limits.cell_voltage_nominal_V * self.n_cells
                u_unc = 0.05 * u
                how = f"the chemistry's nominal voltage ({u:.4g} V), uncertainty 5 %"
            else:
                why = "no mean voltage: give --nominal-energy-kWh, --chemistry or --ocv-table"
                self.p["remaining_energy_kWh"] = _missing(m, why)
                self.p["state_of_certified_energy_pct"] = _missing("SOCE", why)
                return
            value = annex_vii.remaining_energy_Wh(self.cap, u)
            unc = value * math.hypot(self.cap_unc / self.cap, u_unc / u)
            method = f"remaining capacity x {how} (IEC 62660-1 energy at 1/3 C)"
        self.energy_Wh = value
        self.p["remaining_energy_kWh"] = Parameter(value / 1e3, method, unc / 1e3)
        if self.e_nom is None:
            self.p["state_of_certified_energy_pct"] = _missing("SOCE", "no certified energy: give --nominal-energy-kWh")
            return
        self.p["state_of_certified_energy_pct"] = Parameter(
            _pct(value / (self.e_nom * 1e3)),
            f"remaining energy over the certified energy ({self.e_nom:g} kWh) (Annex VII Part A, SOCE)",
            _pct(unc / (self.e_nom * 1e3)),
        )

    # --- power ---------------------------------------------------------------------------------------------------

    def _power(self) -> None:
        cfg = self.cfg
        m = "remaining power capability"
        if self.r_now is None or self.table is None or self.limits is None:
            missing = [
                what
                for what, have in (
                    ("a resistance", self.r_now is not None),
                    ("an OCV table", self.table is not None),
                    ("the chemistry's cut-off (--chemistry)", self.limits is not None),
                )
                if not have
            ]
            why = "needs " + ", ".join(missing)
            self.p["remaining_power_capability"] = _missing(m, why)
            self.p["power_fade_pct"] = _missing("power fade", why)
            return
        socs = np.asarray(cfg.power_soc_pct, dtype=np.float64)
        args = {
            "table": self.table,
            "cell_voltage_min_V": self.limits.cell_voltage_min_V,
            "cells_in_series": self.n_cells,
        }
        power = annex_vii.power_capability(self.r_now, socs, **args)  # type: ignore[arg-type]
        v_min = self.limits.cell_voltage_min_V * self.n_cells
        unc = np.sqrt(
            (power * self.r_unc / self.r_now) ** 2 + (v_min * self.table.uncertainty_V * self.n_cells / self.r_now) ** 2
        )
        self.details["power_capability"] = [
            {"soc_pct": float(a), "power_W": float(b), "uncertainty_W": float(c)}
            for a, b, c in zip(socs, power, unc, strict=True)
        ]
        self.p["remaining_power_capability"] = Parameter(
            [{"soc_pct": float(a), "power_W": float(b)} for a, b in zip(socs, power, strict=True)],
            f"V_min (OCV(SoC) - V_min) / R with the ohmic resistance, the OCV table and the lower cut-off "
            f"{self.limits.cell_voltage_min_V:g} V per cell (USABC HPPC available power; the battery's own current "
            "limit is not applied); uncertainties per SoC in details.power_capability",
            None,
        )
        if self.r_start is None:
            self.p["power_fade_pct"] = _missing(
                "power fade", "no begin-of-life resistance (see internal_resistance_increase_pct)"
            )
            return
        ratio = self.r_start / self.r_now
        ratio_unc = ratio * math.hypot(self.r_unc / self.r_now, (self.r_start_unc or 0.0) / self.r_start)
        self.p["power_fade_pct"] = Parameter(
            _pct(1.0 - ratio),
            "(1 - P / P_BOL) x 100 (DIN DKE SPEC 99100 6.7.3.4), P from the resistance now and at begin of life "
            "with the same OCV and cut-off, so 1 - R_BOL / R",
            _pct(ratio_unc),
        )

    # --- round-trip efficiency -----------------------------------------------------------------------------------

    def _efficiency(self) -> None:
        cfg, s = self.cfg, self.s
        m = "round-trip energy efficiency"
        anchors: capacity.Anchors | None = None
        if self.capacity_fit is not None:
            anchors = self.ocv_anchors if self.capacity_fit.source == "ocv" else self.bms_anchors
        elif self.ocv_anchors is not None and len(self.ocv_anchors) >= 2:
            anchors = self.ocv_anchors
        elif len(self.bms_anchors) >= 2:
            anchors = self.bms_anchors
        fit = None
        if anchors is not None and self.cap is not None:
            mean_v = (
                self.limits.cell_voltage_nominal_V
                if self.limits is not None
                else float(np.nanmedian(s.cell_voltage_at(np.arange(0, s.n, max(1, s.n // 100_000)))))
            )
            groups = annex_vii.round_trip_efficiency_groups(
                s,
                anchors,
                capacity_Ah=self.cap,
                group_throughput_Ah=2.0 * cfg.efficiency_group_cycles * self.c_nom,
                table=self.table if anchors.source == "ocv" or self.table is not None else None,
                mean_cell_voltage_V=mean_v,
            )
            known = bool(np.isfinite(groups.sigma).all()) and groups.sigma.size > 0
            weights = 1.0 / np.maximum(groups.sigma, 1e-6) ** 2 if known else groups.energy_in_Wh**2
            fit = annex_vii.trend(
                groups.time_s,
                groups.efficiency,
                weights,
                sigma_known=known,
                min_span_s=self.min_trend_s,
                min_count=1,
                outlier_sigma=cfg.outlier_sigma,
            )
            if fit is not None and not math.isfinite(fit.uncertainty):
                # a single group with unknown anchor uncertainty: no scatter to tell
                fit = replace(fit, uncertainty=float("nan"))
            self.details["round_trip_efficiency"] = {"groups": int(groups.time_s.size)}
        self.rte_start: float | None = None
        if fit is not None:
            drift = "drifting linearly in time, value at the end" if fit.trend else "combined"
            method = (
                f"energy discharged over energy charged between SoC anchors ({anchors.source if anchors else ''}), "
                f"corrected for the change of stored energy, over {fit.count} group(s) of at least "
                f"{cfg.efficiency_group_cycles:g} full cycle(s) of throughput ({drift})"
            )
            value, unc = fit.value, fit.uncertainty
            if fit.trend:
                self.rte_start = fit.start_value
        else:
            tp = annex_vii.throughput(s)
            span = self.c_nom * (self.limits.cell_voltage_nominal_V if self.limits else 3.6) * self.n_cells
            gap_in, gap_out = annex_vii.uncovered_energy_Wh(s, span)
            e_in, e_out = tp.energy_in_Wh + gap_in, tp.energy_out_Wh + gap_out
            if e_in >= 10.0 * span and e_out > 0:
                value = e_out / e_in
                # the stored energy may differ between the record's ends by up to one full battery (uniform), and
                # each gap may have carried anything from none to twice its straight-line estimate (uniform)
                unc = math.hypot(span / e_in, value * (gap_in / e_in + gap_out / e_out)) / math.sqrt(3.0)
                method = (
                    "energy discharged over energy charged over the whole record; the stored energy may differ "
                    "between its ends by up to one full battery, counted in the uncertainty"
                )
                if gap_in or gap_out:
                    method += (
                        f"; {gap_in / e_in * 100:.1f} % of the energy charged and {gap_out / e_out * 100:.1f} % of "
                        f"the energy discharged fall in intervals longer than {cfg.max_gap_s:g} s, taken as straight "
                        "lines between their ends (at most one full battery each) and counted in the uncertainty"
                    )
            else:
                why = (
                    "no SoC anchors with a capacity to close the energy balance, and fewer than 10 full cycles of "
                    "throughput"
                )
                self.p["remaining_round_trip_efficiency_pct"] = _missing(m, why)
                self.p["round_trip_efficiency_fade_pct"] = _missing("round-trip efficiency fade", why)
                return
        self.rte = value
        self.p["remaining_round_trip_efficiency_pct"] = Parameter(
            _pct(value), method + " (Annex IV Part A(4))", _pct(unc) if math.isfinite(unc) else None
        )
        start = None
        source = ""
        if self.ref.initial_round_trip_efficiency_pct is not None:
            start = self.ref.initial_round_trip_efficiency_pct / 100.0
            source = f"the stated initial efficiency ({self.ref.initial_round_trip_efficiency_pct:g} %)"
        elif self.rte_start is not None:
            start = self.rte_start
            source = "the fitted efficiency at the start of the record"
        if start is None:
            self.p["round_trip_efficiency_fade_pct"] = _missing(
                "round-trip efficiency fade",
                "no begin-of-life efficiency: state it (--initial-round-trip-efficiency-pct) or give a record of at "
                f"least {cfg.min_trend_days:g} days",
            )
            return
        self.p["round_trip_efficiency_fade_pct"] = Parameter(
            _pct(1.0 - value / start),
            f"(1 - RTE / RTE_BOL) x 100 with RTE_BOL {source} (DIN DKE SPEC 99100 6.7.4.5)",
            _pct(unc / start) if math.isfinite(unc) else None,
        )

    # --- self-discharge ------------------------------------------------------------------------------------------

    def _self_discharge(self) -> None:
        cfg, s = self.cfg, self.s
        m = "self-discharge"
        if self.table is None:
            why = "needs an OCV table (--chemistry or --ocv-table) to read the drift of the rest voltage"
            self.p["current_self_discharge_rate_pct_per_month"] = _missing(m, why)
            self.p["evolution_of_self_discharge_pct"] = _missing("evolution of self-discharge", why)
            return
        long_rests = self.rests
        keep = long_rests.duration_s >= cfg.self_discharge_min_rest_s
        long_rests = capacity.RestPeriods(long_rests.start[keep], long_rests.end[keep], long_rests.duration_s[keep])
        rates = annex_vii.self_discharge_rates(
            s, long_rests, self.table, skip_s=cfg.self_discharge_skip_s, tail_s=cfg.rest_tail_s
        )
        self.details["self_discharge"] = {"rests": len(long_rests), "used": int(rates.time_s.size)}
        fit = annex_vii.trend(
            rates.time_s,
            rates.rate_pct_per_month,
            1.0 / np.maximum(rates.sigma_pct_per_month, 1e-9) ** 2,
            sigma_known=True,
            min_span_s=self.min_trend_s,
            min_count=1,
            outlier_sigma=cfg.outlier_sigma,
        )
        if fit is None:
            why = (
                f"no rest of at least {cfg.self_discharge_min_rest_s / 3600:g} h within the OCV table "
                "(self-discharge is read from the drift of the rest voltage)"
            )
            self.p["current_self_discharge_rate_pct_per_month"] = _missing(m, why)
            self.p["evolution_of_self_discharge_pct"] = _missing("evolution of self-discharge", why)
            return
        method = (
            f"drift of the open-circuit voltage over {fit.count} rest(s) of at least "
            f"{cfg.self_discharge_min_rest_s / 3600:g} h (after {cfg.self_discharge_skip_s / 60:g} min of relaxation), "
            "through the OCV table, as SoC lost per month"
            + ("; drifting linearly in time, value at the end" if fit.trend else "")
        )
        self.p["current_self_discharge_rate_pct_per_month"] = Parameter(fit.value, method, fit.uncertainty)
        start, start_unc, source = None, 0.0, ""
        if self.ref.initial_self_discharge_rate_pct_per_month is not None:
            start = self.ref.initial_self_discharge_rate_pct_per_month
            source = f"the stated initial rate ({start:g} %/month)"
        elif fit.trend and fit.start_value is not None:
            start, start_unc = fit.start_value, fit.start_uncertainty or 0.0
            source = "the fitted rate at the start of the record"
        if start is None:
            self.p["evolution_of_self_discharge_pct"] = _missing(
                "evolution of self-discharge",
                "no initial rate: state it (--initial-self-discharge-pct-per-month) or give a record of at least "
                f"{cfg.min_trend_days:g} days",
            )
            return
        if abs(start) <= 2.0 * start_unc or start == 0:
            self.p["evolution_of_self_discharge_pct"] = _missing(
                "evolution of self-discharge",
                f"the initial rate ({source}: {start:.3g} +- {start_unc:.2g} %/month) is not distinguishable from "
                "zero, so a relative change is not defined",
            )
            return
        ratio = fit.value / start
        unc = abs(ratio) * math.hypot(fit.uncertainty / fit.value if fit.value else 0.0, start_unc / start)
        if fit.value == 0:
            unc = fit.uncertainty / abs(start)
        self.p["evolution_of_self_discharge_pct"] = Parameter(
            _pct(ratio - 1.0), f"(rate now - initial rate) / initial rate x 100, initial rate {source}", _pct(unc)
        )

    # --- Part B --------------------------------------------------------------------------------------------------

    def _part_b(self) -> None:
        s, cfg = self.s, self.cfg
        tp = annex_vii.throughput(s)
        gap_note = (
            f"; {tp.uncovered_s / 3600:.3g} h of gaps with current could not be counted (uncertainty: what they "
            "would carry at the mean rate)"
            if tp.uncovered_s > 0
            else ""
        )
        self.details["throughput"] = {
            "charge_in_Ah": tp.charge_in_Ah,
            "charge_out_Ah": tp.charge_out_Ah,
            "energy_in_kWh": tp.energy_in_Wh / 1e3,
            "energy_out_kWh": tp.energy_out_Wh / 1e3,
            "uncovered_h": tp.uncovered_s / 3600.0,
        }
        self.p["energy_throughput_kWh"] = Parameter(
            tp.energy_out_Wh / 1e3,
            "energy discharged, trapezoidal integral of voltage x current (energy charged in details.throughput)"
            + gap_note,
            tp.missing_energy_out_Wh / 1e3,
        )
        self.p["capacity_throughput_Ah"] = Parameter(
            tp.charge_out_Ah,
            "charge discharged, trapezoidal integral of the current (charge taken in, in details.throughput)"
            + gap_note,
            tp.missing_charge_out_Ah,
        )
        self.p["full_equivalent_cycles"] = Parameter(
            annex_vii.full_equivalent_cycles(tp.charge_out_Ah, self.c_nom),
            f"charge discharged over the rated capacity ({self.c_nom:g} Ah)",
            tp.missing_charge_out_Ah / self.c_nom,
        )
        when = annex_vii.putting_into_service(s)
        self.p["putting_into_service_date"] = (
            Parameter(
                when.date().isoformat(),
                "date of the first sample with current above the rest current; the battery may have been in service "
                "before the record began",
            )
            if when is not None
            else _missing("putting into service", "no sample with current in the record")
        )
        limits = self.limits
        if limits is None:
            why = "needs the chemistry's limits (--chemistry)"
            self.p["deep_discharge_events"] = _missing("deep-discharge events", why)
            for key in (
                "time_extreme_high_temperature_h",
                "time_extreme_low_temperature_h",
                "time_charging_extreme_high_temperature_h",
                "time_charging_extreme_low_temperature_h",
            ):
                self.p[key] = _missing("time in extreme temperature", why)
            return
        events = annex_vii.deep_discharge_events(
            s, limits.cell_voltage_min_V, cfg.deep_discharge_hysteresis_V, margin_V=cfg.deep_discharge_margin_V
        )
        which = "lowest cell voltage (cell_voltage_min_V)" if s.cell_voltage_min_V is not None else "mean cell voltage"
        self.p["deep_discharge_events"] = Parameter(
            events.count,
            f"events of the {which} more than {cfg.deep_discharge_margin_V:g} V below the lower cut-off "
            f"{limits.cell_voltage_min_V:g} V of {limits.chemistry} (rules/chemistry.csv), each ending when the "
            f"voltage is back {cfg.deep_discharge_hysteresis_V:g} V above it; events, not samples",
        )
        if events.count:
            self.details["deep_discharge_events"] = [
                {
                    "start": s.timestamp(float(t)).isoformat().replace("+00:00", "Z"),
                    "lowest_cell_voltage_V": float(v),
                    "duration_s": float(d),
                }
                for t, v, d in zip(events.start_s[:100], events.lowest_V[:100], events.duration_s[:100], strict=True)
            ]
        exposure = annex_vii.temperature_exposure(
            s,
            operating_min_C=limits.operating_temperature_min_C,
            operating_max_C=limits.operating_temperature_max_C,
            charge_min_C=limits.charge_temperature_min_C,
            charge_max_C=limits.charge_temperature_max_C,
        )
        if exposure is None:
            for key in (
                "time_extreme_high_temperature_h",
                "time_extreme_low_temperature_h",
                "time_charging_extreme_high_temperature_h",
                "time_charging_extreme_low_temperature_h",
            ):
                self.p[key] = _missing("time in extreme temperature", "no temperature in the record")
            return
        src = f"{limits.chemistry} in rules/chemistry.csv"
        hot = "temperature_max_C" if s.temperature_max_C is not None else "temperature_C"
        unmeasured = (
            f"; {exposure.unmeasured_s / 3600:.3g} h without a temperature are not counted"
            if exposure.unmeasured_s > 0
            else ""
        )
        rows = (
            ("time_extreme_high_temperature_h", exposure.high_s, exposure.high_uncertainty_s,
             f"time with {hot} above the operating maximum {limits.operating_temperature_max_C:g} °C ({src})"),
            ("time_extreme_low_temperature_h", exposure.low_s, exposure.low_uncertainty_s,
             f"time with temperature_C below the operating minimum {limits.operating_temperature_min_C:g} °C ({src})"),
            ("time_charging_extreme_high_temperature_h", exposure.charging_high_s, exposure.charging_high_uncertainty_s,
             f"time charging with {hot} above the charging maximum {limits.charge_temperature_max_C:g} °C ({src})"),
            ("time_charging_extreme_low_temperature_h", exposure.charging_low_s, exposure.charging_low_uncertainty_s,
             f"time charging with temperature_C below the charging minimum {limits.charge_temperature_min_C:g} °C "
             f"({src})"),
        )  # fmt: skip
        for key, seconds, unc, text in rows:
            self.p[key] = Parameter(
                seconds / 3600.0,
                text + "; intervals split half-half between their two samples, gaps over "
                f"{cfg.max_gap_s:g} s not counted" + unmeasured,
                unc / 3600.0,
            )

    def _state(self) -> None:
        s = self.s
        if s.soc_pct is not None and np.isfinite(s.soc_pct).any():
            last = int(np.flatnonzero(np.isfinite(s.soc_pct))[-1])
            value = float(s.soc_pct[last])
            if last < s.n - 1 and self.cap is not None:
                q = capacity.counted_charge(s, np.array([last, s.n - 1], dtype=np.int64))
                value += 100.0 * float(q[-1]) / self.cap
            self.p["state_of_charge_pct"] = Parameter(
                value, "last BMS soc_pct reading, coulomb counted to the end of the record with the remaining capacity"
            )
        elif self.ocv_anchors is not None and len(self.ocv_anchors) and self.cap is not None:
            last = int(self.ocv_anchors.index[-1])
            counted = (
                float(capacity.counted_charge(s, np.array([last, s.n - 1], dtype=np.int64))[-1])
                if last < s.n - 1
                else 0.0
            )
            value = float(self.ocv_anchors.soc_pct[-1]) + 100.0 * counted / self.cap
            self.p["state_of_charge_pct"] = Parameter(
                value,
                "SoC of the last rest from the OCV table, coulomb counted to the end of the record",
                float(self.ocv_anchors.sigma_soc_pct[-1]),
            )
        else:
            self.p["state_of_charge_pct"] = _missing("state of charge", "no soc_pct and no rest with an OCV table")
        temp = s.temperature_C
        if temp is not None and np.isfinite(temp).any():
            last = int(np.flatnonzero(np.isfinite(temp))[-1])
            self.p["operating_temperature_C"] = Parameter(float(temp[last]), "last measured temperature_C")
        else:
            self.p["operating_temperature_C"] = _missing("operating temperature", "no temperature in the record")
