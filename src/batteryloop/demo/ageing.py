"""Empirical ageing of the demo's batteries: capacity fade and resistance growth from temperature and cycling.

Two semi-empirical life models, ported from NREL's BLAST-Lite 1.1.1 (``blast.models``; BSD-3-Clause, Copyright (c)
2023, Alliance for Energy Innovation, LLC). BLAST-Lite itself is not a dependency: it pins ``numpy < 2`` (batteryloop
runs on numpy 2), so its state equations are re-implemented here, vectorised over many batteries, with the parameters
in ``ageing_parameters.csv`` (each row citing its paper):

- ``nmc`` (NMC, NCA and LMO packs). Capacity: the DENSO 50 Ah NMC622/graphite automotive cell model of Smith K. et
  al., J. Electrochem. Soc. 168 (2021) 100530, doi:10.1149/1945-7111/ac2ebd (calendar fade as the square root of time
  with an Arrhenius and state-of-charge dependence; cycling fade as the square root of full equivalent cycles, driven
  by depth of discharge and charging rate). That model has no resistance; the resistance growth is that of the Kokam
  75 Ah NMC/graphite model of Smith K. et al., ACC 2017, doi:10.23919/ACC.2017.7963578 (SEI growth with time and
  cycles, and the electrode-damage term), run alongside with its own capacity states.
- ``lfp``: LFP/graphite. Capacity from the large-format 250 Ah prismatic cell model (calendar and cycling power laws;
  data doi:10.1016/j.est.2023.109042); resistance growth from Naumann et al.'s LFP model (calendar
  doi:10.1016/j.est.2018.01.019, cycling doi:10.1016/j.jpowsour.2019.227666), because the 250 Ah model has none.

Each model advances day by day (:func:`simulate`; or a week at a time): the step's stressors (cell temperature,
mean state of charge, depth of discharge, charging rate, full equivalent cycles) set the rates, and the states grow by
the BLAST-Lite state equations (``_update_power_state``, ``_update_sigmoid_state``), so that a warm summer ages a
battery faster than a cold winter. The rates that BLAST-Lite averages over a day's state-of-charge profile (those of
the graphite potential, Safari and Delacourt, J. Electrochem. Soc. 158 (2011) A562, doi:10.1149/1.3567007, and the LFP
calendar resistance) are averaged here over 11 states of charge spread evenly over mean +- depth/2 (a triangle
profile). Against BLAST-Lite itself (``tests/test_demo.py``: two years of one 10-90 % cycle a day at 10 and 25 °C) the
capacities agree to 0.05 percentage points, the LFP resistance to 0.05 %, the NMC resistance to 2 %.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
from numpy.typing import NDArray

from batteryloop.errors import ValidationError

FloatArray = NDArray[np.float64]
MODELS = ("nmc", "lfp")
PARAMETER_SETS = ("nmc_kokam75", "nmc622_denso", "lfp_250ah")
GAS_CONSTANT = 8.3144  # J/(mol K)


@cache
def parameters(model: str) -> dict[str, float]:
    """The parameters of ``model`` from ``ageing_parameters.csv``."""
    if model not in PARAMETER_SETS:
        raise ValidationError(
            f"unknown ageing parameter set {model!r}", field="model", expected=" or ".join(PARAMETER_SETS)
        )
    text = resources.files("batteryloop.demo").joinpath("ageing_parameters.csv").read_text(encoding="utf-8")
    out: dict[str, float] = {}
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        if row["model"] != model:
            continue
        try:
            out[row["name"]] = float(row["value"])
        except ValueError:
            raise ValidationError(
                f"ageing_parameters.csv line {line}: {row['value']!r} is not a number",
                field=f"ageing_parameters.csv:{line}:value",
                expected="a number",
            ) from None
    return out


def model_for(chemistry: str) -> str:
    """The life model of a passport chemistry: LFP ages as LFP, every layered-oxide chemistry as NMC."""
    return "lfp" if chemistry.upper() == "LFP" else "nmc"


def anode_potential_V(soc: FloatArray) -> FloatArray:
    """Graphite potential against Li/Li+ [V] at a state of charge [0-1] (Safari and Delacourt 2011)."""
    xa = 8.5e-3 + soc * (0.78 - 8.5e-3)
    return np.asarray(
        0.6379
        + 0.5416 * np.exp(-305.5309 * xa)
        + 0.044 * np.tanh(-(xa - 0.1958) / 0.1088)
        - 0.1978 * np.tanh((xa - 1.0571) / 0.0854)
        - 0.6875 * np.tanh((xa + 0.0117) / 0.0529)
        - 0.0175 * np.tanh((xa - 0.5692) / 0.0875),
        dtype=np.float64,
    )


def _power_state(y0: FloatArray, dx: FloatArray, k: FloatArray, p: float) -> FloatArray:
    """Increment of a state following ``y = k x^p`` over ``dx`` from ``y0`` (BLAST-Lite ``_update_power_state``)."""
    k = np.maximum(k, 1e-300)
    safe_dx = np.where(dx > 0, dx, 1.0)
    first = k * safe_dx**p
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        later = k * p * (np.where(y0 > 0, y0, 1.0) / k) ** ((p - 1.0) / p) * dx
    dy = np.where(y0 > 0, later, first)
    return np.where(dx > 0, np.nan_to_num(dy, nan=0.0, posinf=0.0), 0.0)


def _sigmoid_state(y0: FloatArray, dx: FloatArray, y_inf: float, k: FloatArray, p: float) -> FloatArray:
    """Increment of ``y = 2 y_inf (1/2 - 1/(1 + exp((k x)^p)))`` over ``dx`` (BLAST-Lite ``_update_sigmoid_state``)."""
    y = np.clip(y0, 1e-12, y_inf * (1 - 1e-9))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x_inv = (1.0 / k) * np.log(-(2 * y_inf / (y - y_inf)) - 1.0) ** (1.0 / p)
        z = (k * x_inv) ** p
        dydx = (2 * y_inf * p * np.exp(z) * z) / (x_inv * (np.exp(z) + 1.0) ** 2)
    return np.where(dx > 0, np.nan_to_num(dydx * dx, nan=0.0, posinf=0.0), 0.0)


def _arrhenius(temperature_K: FloatArray, activation_J_per_mol: float) -> FloatArray:
    """exp(-Ea/R (1/T - 1/298.15)), the Arrhenius factor against 25 °C of the DENSO model."""
    return np.asarray(
        np.exp(-(activation_J_per_mol / GAS_CONSTANT) * (1.0 / temperature_K - 1.0 / 298.15)), dtype=np.float64
    )


@dataclass(frozen=True)
class Duty:
    """How a group of batteries is used, per day (arrays of one value per battery)."""

    efc_per_day: FloatArray
    """Full equivalent cycles a day. [1/d]"""
    dod: FloatArray
    """Depth of discharge of a typical cycle. [0-1]"""
    mean_soc: FloatArray
    """Mean state of charge. [0-1]"""
    charge_c_rate: FloatArray
    """Mean C-rate while charging (BLAST-Lite's ``Cchg`` stressor of the DENSO model). [1/h]"""

    @property
    def c_rate(self) -> FloatArray:
        """Time-averaged absolute C-rate, as BLAST-Lite's ``Crate`` stressor: 2 x cycles a day / 24 h. [1/h]"""
        return np.asarray(2.0 * self.efc_per_day / 24.0, dtype=np.float64)


@dataclass(frozen=True)
class Ageing:
    """Relative capacity and resistance (1 at the start of life) and cycles at the sampled days, per battery."""

    capacity: FloatArray  # (batteries, samples)
    resistance: FloatArray  # (batteries, samples)
    efc: FloatArray  # (batteries, samples): full equivalent cycles since the start of life


def simulate(
    model: str,
    start_day: NDArray[np.int64],
    temperature_C: FloatArray,
    duty: Duty,
    sample_day: NDArray[np.int64],
    scalar: FloatArray | None = None,
    step_days: int = 1,
) -> Ageing:
    """Age ``n`` batteries day by day and read their state at the sampled days.

    Parameters
    ----------
    model : str
        ``nmc`` or ``lfp``.
    start_day : ndarray of int, shape (n,)
        Index of each battery's first day of life in the day grid.
    temperature_C : ndarray, shape (n, days) or (days,)
        Daily mean cell temperature. [°C]
    duty : Duty
        The daily use of each battery (arrays of shape (n,)).
    sample_day : ndarray of int, shape (n, k)
        Day indices at which each battery's state is read (at the end of that day); before its start, the state is
        that of a new battery.
    scalar : ndarray, shape (n,), optional
        BLAST-Lite's ``degradation_scalar`` per battery: multiplies every state change (cell-to-cell spread;
        BLAST-Lite's ``simulate_battery_life_distribution`` draws it from a normal distribution with standard
        deviation 0.15).
    step_days : int
        Days per step (1 as BLAST-Lite's daily breakpoints; 7 ages a week at a time on the week's mean temperature,
        seven times faster, and reads a sampled day's state at the end of its week).

    Returns
    -------
    Ageing
    """
    if model not in MODELS:
        raise ValidationError(f"unknown ageing model {model!r}", field="model", expected=" or ".join(MODELS))
    p = parameters("nmc_kokam75" if model == "nmc" else "lfp_250ah")
    pd = parameters("nmc622_denso")
    n = len(start_day)
    temps = np.asarray(temperature_C, dtype=np.float64)
    days = temps.shape[-1]
    if temps.ndim == 1:
        temps = np.broadcast_to(temps, (n, days))
    k = sample_day.shape[1]
    cap_out = np.ones((n, k))
    res_out = np.ones((n, k))
    efc_out = np.zeros((n, k))
    soc = duty.mean_soc
    dod = duty.dod
    # the day's states of charge: spread evenly over mean +- dod/2 (a triangle profile), for the rates that BLAST-Lite
    # averages over the day's profile (those of the anode potential and the LFP calendar resistance)
    soc_grid = np.clip(soc[:, None] + dod[:, None] * np.linspace(-0.5, 0.5, 11)[None, :], 0.0, 1.0)
    ua = anode_potential_V(soc_grid)
    # states
    s1 = np.zeros(n)  # calendar capacity loss
    s2 = np.zeros(n)  # cycling capacity loss
    s3 = np.full(n, 1e-8)  # LAM (NMC resistance model only)
    c1 = np.zeros(n)  # DENSO calendar capacity loss (NMC)
    c2 = np.zeros(n)  # DENSO cycling capacity loss (NMC)
    q_k = np.ones(n)  # capacity of the Kokam model, for its own throughput (NMC)
    r1 = np.zeros(n)  # calendar resistance gain
    r2 = np.zeros(n)  # cycling resistance gain
    q = np.ones(n)
    r = np.ones(n)
    efc_total = np.zeros(n)
    f = np.ones(n) if scalar is None else np.asarray(scalar, dtype=np.float64)
    last = int(sample_day.max()) if sample_day.size else -1
    end = min(days, last + 1)
    for d in range(0, end, step_days):
        d_end = min(d + step_days, end)  # this step covers the days d .. d_end - 1
        dt = np.clip(d_end - np.maximum(start_day, d), 0, None).astype(np.float64)  # days alive in the step
        alive = dt > 0
        if alive.any():
            tk = temps[:, d:d_end].mean(axis=1) + 273.15
            defc = duty.efc_per_day * q * dt
            if model == "nmc":
                # capacity: DENSO NMC622 (Smith et al. 2021)
                soc_d = soc
                b1t = _arrhenius(tk, pd["b1t_Ea"]) * (
                    pd["b1t_0"]
                    + pd["b1t_1"] * soc_d
                    + pd["b1t_2"] * soc_d**2
                    + pd["b1t_3"] * soc_d**3
                    + pd["b1t_4"] * soc_d * tk
                    + pd["b1t_5"] * np.maximum(0.0, tk - 328.15)
                )
                stress = np.sqrt(dod * duty.charge_c_rate * q)
                b1n = (
                    np.maximum(
                        0.0,
                        pd["b1N_0"] * _arrhenius(tk, pd["b1N_Ea_1"]) * stress * (1 + pd["b1N_1"] * soc_d) + pd["b1N_2"],
                    )
                    + pd["b1N_3"] * _arrhenius(tk, pd["b1N_Ea_2"]) * dod**6
                )
                c1 = c1 + f * _power_state(c1, dt, b1t, 0.5)
                dc2 = _power_state(c2, defc, b1t * b1n * pd["b1N_4"], 0.5)
                # BLAST-Lite caps a daily step's cycling loss above 1 %; the cap scales with the days in a step here
                dc2 = np.where(dc2 > 1e-2 * np.maximum(dt, 1.0), 5e-4 * defc, dc2)
                c2 = c2 + f * dc2
                # resistance: Kokam NMC111 (Smith et al. 2017), with its own capacity states
                defc_k = duty.efc_per_day * q_k * dt
                tn = tk / (273.15 + 35.0)
                q1 = p["q1_0"] * np.exp(p["q1_1"] / tn) * (np.exp(p["q1_2"] * (ua / 0.123) / tn[:, None])).mean(axis=1)
                q3 = p["q3_0"] * np.exp(p["q3_1"] / tn) * np.exp(p["q3_2"] * np.exp(dod**2))
                q5 = p["q5_0"] + p["q5_1"] * (tk - 273.15 - 55.0) * dod * (soc / 0.6)
                s1 = s1 + f * _power_state(s1, dt, q1, p["q2"])
                s2 = s2 + f * _power_state(s2, defc_k, q3, p["q4"])
                s3 = s3 + f * _sigmoid_state(s3, defc_k, 1.0, 1.0 / np.maximum(q5, 1.0), p["p_LAM"])
                r1 = r1 + f * _power_state(r1, dt, p["r1"] * q1, p["r2"])
                r2 = r2 + f * _power_state(r2, defc_k, p["r3"] * q3, p["r4"])
                q_lam = 1.01 - s3
                q_k = np.minimum(1.0 - s1 - s2, q_lam)
                q = 1.0 - c1 - c2
                r = np.maximum(1.0 + r1 + r2, p["r5"] + p["r6"] / q_lam)
            else:
                kcal = abs(p["p1"]) * np.exp(p["p2"] / tk) * np.exp(p["p3"] * ua / tk[:, None]).mean(axis=1)
                kcyc = (p["p4"] + p["p5"] * dod + p["p6"] * duty.c_rate) * (
                    np.exp(p["p7"] / tk) + np.exp(-p["p8"] / tk)
                )
                s1 = s1 + f * _power_state(s1, dt, kcal, p["pcal"])
                s2 = s2 + f * _power_state(s2, defc, kcyc, p["pcyc"])
                k_cal = (
                    p["k_ref_r_cal"]
                    * np.exp(-p["Ea_r_cal"] / GAS_CONSTANT * (1.0 / tk - 1.0 / 298.15))
                    * (p["C_r_cal"] * (soc_grid - 0.5) ** 3 + p["D_r_cal"]).mean(axis=1)
                )
                k_cyc = (p["A_r_cyc"] * duty.c_rate + p["B_r_cyc"]) * (p["C_r_cyc"] * (dod - 0.5) ** 3 + p["D_r_cyc"])
                r1 = r1 + f * k_cal * dt * 86400.0
                r2 = r2 + f * k_cyc * defc / 100.0
                q = 1.0 - s1 - s2
                r = 1.0 + r1 + r2
            efc_total = efc_total + defc
        hit = (sample_day >= d) & (sample_day < d_end)
        if hit.any():
            rows = np.nonzero(hit)[0]
            cap_out[hit] = q[rows]
            res_out[hit] = r[rows]
            efc_out[hit] = efc_total[rows]
    return Ageing(capacity=cap_out, resistance=res_out, efc=efc_out)


@dataclass(frozen=True)
class Climate:
    annual_mean_C: float
    seasonal_amplitude_C: float
    warmest_day_of_year: float

    def ambient_C(self, day_of_year: FloatArray) -> FloatArray:
        """Daily mean air temperature in the Netherlands (a sine through the KNMI normals). [°C]"""
        phase = 2 * math.pi * (day_of_year - self.warmest_day_of_year) / 365.25
        return np.asarray(self.annual_mean_C + self.seasonal_amplitude_C * np.cos(phase), dtype=np.float64)


@cache
def climate() -> Climate:
    """The Dutch climate of ``climate.csv`` (KNMI normals 1991-2020, De Bilt)."""
    text = resources.files("batteryloop.demo").joinpath("climate.csv").read_text(encoding="utf-8")
    values = {row["name"]: float(row["value"]) for row in csv.DictReader(text.splitlines())}
    return Climate(values["annual_mean_C"], values["seasonal_amplitude_C"], values["warmest_day_of_year"])


@dataclass(frozen=True)
class DutyProfile:
    name: str
    efc_per_day: float
    dod: float
    mean_soc: float
    temperature_offset_C: float | None
    indoor_temperature_C: float | None
    charge_c_rate: float
    source: str


@cache
def duty_profiles() -> dict[str, DutyProfile]:
    """The demo's use profiles (``duty_profiles.csv``, each with its source or stated assumption)."""
    text = resources.files("batteryloop.demo").joinpath("duty_profiles.csv").read_text(encoding="utf-8")
    out: dict[str, DutyProfile] = {}
    for row in csv.DictReader(text.splitlines()):
        out[row["duty"]] = DutyProfile(
            name=row["duty"],
            efc_per_day=float(row["efc_per_day"]),
            dod=float(row["dod"]),
            mean_soc=float(row["mean_soc"]),
            temperature_offset_C=float(row["temperature_offset_C"]) if row["temperature_offset_C"] else None,
            indoor_temperature_C=float(row["indoor_temperature_C"]) if row["indoor_temperature_C"] else None,
            charge_c_rate=float(row["charge_c_rate"]),
            source=row["source"],
        )
    return out
