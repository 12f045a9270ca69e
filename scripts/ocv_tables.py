"""Derive the default OCV-SoC tables of ``batteryloop.health`` from PyBaMM's published parameter sets.

The cell open-circuit voltage at a state of charge ``s`` (0..1) is the difference of the electrode open-circuit
potentials at the stoichiometries that the electrode state-of-health solver of PyBaMM finds for the parameter set's
voltage window (Mohtat et al. 2019, doi:10.1149/2.1181910jes):

    x(s) = x_0 + s (x_100 - x_0)        negative electrode
    y(s) = y_0 + s (y_100 - y_0)        positive electrode
    OCV(s) = U_p(y(s), T_ref) - U_n(x(s), T_ref)

so ``s = 0`` is the parameter set's lower voltage cut-off and ``s = 1`` its upper cut-off. The tables are written to
``src/batteryloop/health/ocv_tables/<CHEMISTRY>.csv`` (``soc_pct,ocv_V``) with one row per chemistry in
``index.csv`` naming the parameter set, its papers and the PyBaMM version.

PyBaMM is needed only to run this script, not by batteryloop::

    python -m venv /tmp/pybamm && /tmp/pybamm/bin/pip install pybamm
    /tmp/pybamm/bin/python scripts/ocv_tables.py

LMO has no parameter set in PyBaMM, so it has no default table: give one with ``--ocv-table``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pybamm  # type: ignore[import-not-found]

OUT = Path(__file__).resolve().parents[1] / "src" / "batteryloop" / "health" / "ocv_tables"
STEP_PCT = 0.5

# chemistry -> (PyBaMM parameter set, cell it describes, the papers its electrode potentials come from)
SETS: dict[str, tuple[str, str, str]] = {
    "NMC": (
        "Chen2020",
        "LG M50 21700, NMC811 / graphite-SiOx",
        "Chen et al., J. Electrochem. Soc. 167 (2020) 080534, doi:10.1149/1945-7111/ab9050 (both electrode potentials)",
    ),
    "LFP": (
        "Prada2013",
        "A123 ANR26650, LiFePO4 / graphite",
        "Prada et al., J. Electrochem. Soc. 160 (2013) A616, doi:10.1149/2.053304jes (cell); LFP potential of "
        "Afshar et al. 2017, arXiv:1709.03970; graphite potential of Chen et al. 2020, doi:10.1149/1945-7111/ab9050",
    ),
    "NCA": (
        "NCA_Kim2011",
        "NCA / graphite (NREL multi-domain model cell)",
        "Kim et al., J. Electrochem. Soc. 158 (2011) A955, doi:10.1149/1.3597614 (both electrode potentials)",
    ),
    "LCO": (
        "Ramadass2004",
        "Sony 18650, LiCoO2 / graphite",
        "Ramadass et al., J. Electrochem. Soc. 151 (2004) A196, doi:10.1149/1.1634273 (both electrode potentials)",
    ),
}


def table(parameter_set: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    values = pybamm.ParameterValues(parameter_set)
    param = pybamm.LithiumIonParameters()
    x_0, x_100, y_100, y_0 = pybamm.lithium_ion.get_min_max_stoichiometries(values)
    soc = np.round(np.arange(0.0, 100.0 + STEP_PCT / 2, STEP_PCT), 6)
    s = soc / 100.0
    x = x_0 + s * (x_100 - x_0)
    y = y_0 + s * (y_100 - y_0)
    t_ref = float(values["Reference temperature [K]"])
    u_p = np.ravel(values.evaluate(param.p.prim.U(pybamm.Vector(y), t_ref)))
    u_n = np.ravel(values.evaluate(param.n.prim.U(pybamm.Vector(x), t_ref)))
    ocv = u_p - u_n
    if not np.all(np.diff(ocv) > 0):
        raise SystemExit(f"{parameter_set}: the OCV is not strictly increasing with the state of charge")
    return soc, ocv, t_ref, float(values["Nominal cell capacity [A.h]"])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    index = []
    for chem, (name, cell, papers) in SETS.items():
        soc, ocv, t_ref, _ = table(name)
        with (OUT / f"{chem}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["soc_pct", "ocv_V"])
            for a, b in zip(soc, ocv, strict=True):
                writer.writerow([f"{a:g}", f"{b:.5f}"])
        index.append(
            {
                "chemistry": chem,
                "file": f"{chem}.csv",
                "parameter_set": f"PyBaMM {name}",
                "cell": cell,
                "source": papers,
                "temperature_K": f"{t_ref:g}",
                "soc_definition": f"0 % at {ocv[0]:.3f} V and 100 % at {ocv[-1]:.3f} V (the parameter set's "
                "voltage window), electrode stoichiometries from PyBaMM's electrode SOH solver",
                "pybamm_version": pybamm.__version__,
                "script": "scripts/ocv_tables.py",
            }
        )
        print(f"{chem}: {name}, {ocv[0]:.3f}..{ocv[-1]:.3f} V, {len(soc)} points")
    with (OUT / "index.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(index[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(index)


if __name__ == "__main__":
    main()
