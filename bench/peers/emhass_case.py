"""The dispatch case in EMHASS (``emhass.optimization.Optimization``, CVXPY on HiGHS): runs inside the peer venv.

Usage: /tmp/dispatch-peers/emhass/bin/python bench/peers/emhass_case.py CASE.json RESULT.json   (format: case_io.py)

Configuration: EMHASS's own ``config_defaults.json`` (through ``utils.build_config`` / ``build_params`` /
``get_yaml_parse``, as its command line does) with these changes: ``costfun`` profit, one battery, no PV, no
deferrable loads, discharge to the grid allowed (``set_nodischarge_to_grid`` false), state-of-charge window 0..1,
grid limits 10x the battery power, ``lp_solver_mip_rel_gap`` 0 (exact optimum; the default 0.01 would stop within
1 %), ``lp_solver_timeout`` 3600 s (the default 45 s falls back to the relaxed LP on long horizons). Prices are the
load cost and the production sell price (EUR/kWh = EUR/MWh / 1000); load and PV are zero. Each window is one call of
``perform_optimization`` with ``soc_init`` (carried) and ``soc_final``; EMHASS reuses its CVXPY problem between
windows of the same length, as it does in operation.

Equivalence with batteryloop's LP: EMHASS bounds the AC-side discharge by ``battery_discharge_power_max`` and by
``eta_d * battery_discharge_power_max``, and the AC-side charge by ``battery_charge_power_max`` and by
``battery_charge_power_max / eta_c``; with P / eta_d and P both are P at the AC side, as ours. The state-of-charge
balance is the same (the cells gain eta_c per AC kWh charged and lose 1 / eta_d per AC
kWh discharged). Differences that remain: EMHASS is a MILP (binaries forbid charging and discharging in the same step
and importing and exporting in the same step), where batteryloop's LP may do both at negative prices, earning a
little more; EMHASS's final state of charge is a target with a penalty on either side (in effect an equality), ours
a lower bound. A step without a price is made idle with grid limits of 0 W for that step.

Timings (EMHASS's own ``stage_times``): ``build_s`` = ``optim_solve.build`` (parameters, and the CVXPY problem when
it is (re)built), ``solve_s`` = ``optim_solve.solve`` (CVXPY canonicalisation and HiGHS), plus
``optim_solve.extract`` in ``total_s``.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import time
import warnings

T_IMPORT = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from emhass import utils  # noqa: E402
from emhass.optimization import Optimization  # noqa: E402

IMPORT_S = time.perf_counter() - T_IMPORT

from case_io import main_args, read_case, revenue, simultaneous, versions, write_result  # noqa: E402

warnings.simplefilter("ignore")
LOAD_COST, PROD_PRICE = "unit_load_cost", "unit_prod_price"


def configure(case: dict, logger: logging.Logger) -> tuple[dict, dict, dict, dict]:
    root = pathlib.Path(utils.__file__).resolve().parent
    emhass_conf = {
        "root_path": root,
        "data_path": pathlib.Path("/tmp"),
        "defaults_path": root / "data" / "config_defaults.json",
        "associations_path": root / "data" / "associations.csv",
    }
    a = case["asset"]
    P_W, E_Wh = a["power_MW"] * 1e6, a["energy_MWh"] * 1e6
    config = asyncio.run(utils.build_config(emhass_conf, logger, str(emhass_conf["defaults_path"])))
    config.update(
        {
            "optimization_time_step": case["step_minutes"],
            "time_zone": "UTC",
            "costfun": "profit",
            "set_use_pv": False,
            "set_use_battery": True,
            "number_of_batteries": 1,
            "number_of_deferrable_loads": 0,
            "nominal_power_of_deferrable_loads": [],
            "minimum_power_of_deferrable_loads": [],
            "operating_hours_of_each_deferrable_load": [],
            "start_timesteps_of_each_deferrable_load": [],
            "end_timesteps_of_each_deferrable_load": [],
            "treat_deferrable_load_as_semi_cont": [],
            "set_deferrable_load_single_constant": [],
            "set_deferrable_startup_penalty": [],
            "cost_forecast_per_deferrable_load": [],
            "is_electric_load": [],
            "deferrable_load_max_cost": [],
            "set_deferrable_max_startups": [],
            "set_nocharge_from_grid": False,
            "set_nodischarge_to_grid": False,
            "set_battery_dynamic": False,
            "weight_battery_discharge": 0.0,
            "weight_battery_charge": 0.0,
            "battery_discharge_power_max": P_W / a["discharge_efficiency"],
            "battery_charge_power_max": P_W,
            "battery_discharge_efficiency": a["discharge_efficiency"],
            "battery_charge_efficiency": a["charge_efficiency"],
            "battery_nominal_energy_capacity": E_Wh,
            "battery_minimum_state_of_charge": a["soc_min"],
            "battery_maximum_state_of_charge": a["soc_max"],
            "battery_target_state_of_charge": a["soc_end"],
            "maximum_power_from_grid": 10 * P_W,
            "maximum_power_to_grid": 10 * P_W,
            "lp_solver_mip_rel_gap": 0.0,
            "lp_solver_timeout": 3600,
        }
    )
    params = asyncio.run(utils.build_params(emhass_conf, {}, config, logger))
    retrieve_hass_conf, optim_conf, plant_conf = utils.get_yaml_parse(params, logger)
    return emhass_conf, retrieve_hass_conf, optim_conf, plant_conf


def main() -> None:
    case_path, out_path = main_args()
    case = read_case(case_path)
    logger = logging.getLogger("emhass-bench")
    logger.setLevel(logging.ERROR)
    logging.disable(logging.WARNING)
    emhass_conf, retrieve_hass_conf, optim_conf, plant_conf = configure(case, logger)
    dt_h = case["step_minutes"] / 60.0
    a = case["asset"]
    P_W, E_Wh = a["power_MW"] * 1e6, a["energy_MWh"] * 1e6
    stamps = pd.DatetimeIndex(pd.to_datetime(case["timestamps"], utc=True))
    price: list[float | None] = case["price_eur_per_MWh"]
    cost_kWh = np.array([p / 1000.0 if p is not None else 0.0 for p in price])
    have = np.array([p is not None for p in price])
    opt = Optimization(retrieve_hass_conf, optim_conf, plant_conf, LOAD_COST, PROD_PRICE, "profit", emhass_conf, logger)
    soc_frac = a["soc_start"]
    windows, charge, discharge, socs = [], [], [], []
    gap_limits = False
    for lo, hi in case["windows"]:
        t0 = time.perf_counter()
        n = hi - lo
        idle = not bool(have[lo:hi].all())
        if idle or gap_limits:
            # grid limits are baked into the CVXPY problem when it is built: rebuild for the window with a gap and
            # for the one after it
            limit: float | list[float] = [10 * P_W if h else 0.0 for h in have[lo:hi]] if idle else 10 * P_W
            plant_conf["maximum_power_from_grid"] = limit
            plant_conf["maximum_power_to_grid"] = limit
            opt.prob = None
            gap_limits = idle
        data = pd.DataFrame({LOAD_COST: cost_kWh[lo:hi], PROD_PRICE: cost_kWh[lo:hi]}, index=stamps[lo:hi])
        stage: dict[str, float] = {}
        res = opt.perform_optimization(
            data,
            np.zeros(n),
            np.zeros(n),
            cost_kWh[lo:hi],
            cost_kWh[lo:hi],
            soc_init=soc_frac,
            soc_final=a["soc_end"],
            stage_times=stage,
        )
        t1 = time.perf_counter()
        p_batt = res["P_batt"].to_numpy() / 1e6  # W -> MW, + discharge, - charge (AC side)
        c = np.clip(-p_batt, 0.0, None)
        d = np.clip(p_batt, 0.0, None)
        soc = res["SOC_opt"].to_numpy() * E_Wh / 1e6
        status = str(res["optim_status"].iloc[0]) if "optim_status" in res else str(opt.optim_status)
        objective = float(res["cost_profit"].sum()) if "cost_profit" in res else float("nan")
        windows.append(
            {
                "build_s": stage.get("optim_solve.build", float("nan")),
                "solve_s": stage.get("optim_solve.solve", float("nan")),
                "total_s": t1 - t0,
                "status": status,
                "objective_eur": objective,
            }
        )
        charge.extend(c.tolist())
        discharge.extend(d.tolist())
        socs.extend(soc.tolist())
        soc_frac = float(res["SOC_opt"].iloc[-1])
        if "ptimal" not in status:
            break
    covered = case["windows"][0][0], case["windows"][len(windows) - 1][1]
    result = {
        "peer": "emhass",
        "versions": versions("emhass", "cvxpy", "highspy", "pandas"),
        "import_s": IMPORT_S,
        "windows": windows,
        "steps": covered,
        "revenue_eur": revenue(price[covered[0] : covered[1]], charge, discharge, dt_h),
        "soc_end_MWh": soc_frac * E_Wh / 1e6,
        "simultaneous_steps": simultaneous(charge, discharge),
    }
    if case.get("schedule"):
        result.update(charge_MW=charge, discharge_MW=discharge, soc_MWh=socs)
    write_result(out_path, result)


if __name__ == "__main__":
    main()
