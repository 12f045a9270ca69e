"""The material-flow stock model against flodym's InflowDrivenDSM on the same inputs: agreement and speed.

flodym (https://pypi.org/project/flodym/) ships no licence file, so it is never a dependency of batteryloop: it lives
in a separate virtual environment and runs in a subprocess. Set it up once:

    python3 -m venv /tmp/mfa-peers && /tmp/mfa-peers/bin/pip install flodym

Cases: (1) the Dutch default inflow of the regulation-targets scenario (every category and chemistry, 2009-2040), first
life and the EV second life chained on the first-life outflow; (2) a synthetic 120 years x 300 groups with random
inflow and Weibull parameters. Both use Weibull lifetimes with the inflow in the middle of the year (flodym's
``inflow_at="middle"``). Prints the largest absolute and relative difference of stock and outflow and the median time
of each (the peer timed inside its own process, start-up excluded); ratio = flodym time / batteryloop time.

Run: flock /tmp/bench.lock .venv/bin/python bench/mfa_flodym.py [--rounds 5] [--peer-python /tmp/mfa-peers/bin/python]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from batteryloop.circularity.material_flow import group_inflow, inflow_driven, load_model_data, read_scenario
from machine import describe  # bench/machine.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BATTERYLOOP_SHARED_DATA", ROOT.parent / "shared" / "data"))
SCENARIO = ROOT / "src/batteryloop/circularity/scenarios/regulation_targets.toml"

PEER = r"""
import sys, time, statistics
import numpy as np
import flodym as fd

src, dst, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = np.load(src)
inflow, shape, scale = data["inflow"], data["shape"], data["scale"]
second_share, shape2, scale2 = data["second_share"], data["shape2"], data["scale2"]
T, G = inflow.shape
dims = fd.DimensionSet(dim_list=[
    fd.Dimension(name="time", letter="t", items=list(range(T)), dtype=int),
    fd.Dimension(name="group", letter="g", items=[f"g{i}" for i in range(G)]),
])

def dsm(flow, k, lam):
    lt = fd.WeibullLifetime(dims=dims, weibull_shape=k, weibull_scale=lam, inflow_at="middle")
    model = fd.InflowDrivenDSM(dims=dims, lifetime_model=lt, inflow=fd.StockArray(dims=dims, values=flow))
    model.compute()
    return model.stock.values.copy(), model.outflow.values.copy()

def full():
    s1, o1 = dsm(inflow, shape, scale)
    repurposed = o1 * second_share[None, :]
    s2, o2 = dsm(repurposed, shape2, scale2)
    return s1, o1, s2, o2

times = []
for _ in range(rounds):
    t0 = time.perf_counter()
    s1, o1, s2, o2 = full()
    times.append(time.perf_counter() - t0)
np.savez(dst, s1=s1, o1=o1, s2=s2, o2=o2, seconds=np.array(statistics.median(times)))
"""


def machine() -> str:
    return describe()


def ours(case: dict[str, np.ndarray], rounds: int) -> tuple[dict[str, np.ndarray], float]:
    def full() -> dict[str, np.ndarray]:
        first = inflow_driven(case["inflow"], case["shape"], case["scale"], 0.5)
        repurposed = first.outflow * case["second_share"][None, :]
        second = inflow_driven(repurposed, case["shape2"], case["scale2"], 0.5)
        return {"s1": first.stock, "o1": first.outflow, "s2": second.stock, "o2": second.outflow}

    times = []
    result: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = full()
        times.append(time.perf_counter() - t0)
    return result, statistics.median(times)


def peer(case: dict[str, np.ndarray], rounds: int, python: str) -> tuple[dict[str, np.ndarray], float]:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst, script = Path(tmp, "in.npz"), Path(tmp, "out.npz"), Path(tmp, "peer.py")
        np.savez(src, **case)  # type: ignore[arg-type]
        script.write_text(PEER)
        subprocess.run([python, str(script), str(src), str(dst), str(rounds)], check=True)
        got = np.load(dst)
        return {k: got[k] for k in ("s1", "o1", "s2", "o2")}, float(got["seconds"])


def nl_case() -> dict[str, np.ndarray]:
    data = load_model_data(SHARED)
    scenario = read_scenario(SCENARIO, data.chemistries)
    years = np.arange(scenario.first_year, 2041, dtype=np.int64)
    groups, inflow = group_inflow(scenario, data, years, data.inflow)
    cats = [c for c, _ in groups]
    second = data.lifetimes[("EV", "second")]
    return {
        "inflow": inflow,
        "shape": np.array([data.lifetimes[(c, "first")].shape for c in cats]),
        "scale": np.array([data.lifetimes[(c, "first")].scale for c in cats]),
        "second_share": np.array([data.second_life_default_pct / 100.0 if c == "EV" else 0.0 for c in cats]),
        "shape2": np.full(len(cats), second.shape),
        "scale2": np.full(len(cats), second.scale),
    }


def synthetic_case(years: int, groups: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    return {
        "inflow": rng.uniform(0.0, 1000.0, size=(years, groups)),
        "shape": rng.uniform(0.8, 4.0, size=groups),
        "scale": rng.uniform(2.0, 20.0, size=groups),
        "second_share": rng.uniform(0.0, 0.5, size=groups),
        "shape2": rng.uniform(1.0, 3.0, size=groups),
        "scale2": rng.uniform(3.0, 10.0, size=groups),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--peer-python", default="/tmp/mfa-peers/bin/python")
    args = parser.parse_args()
    if not Path(args.peer_python).exists():
        sys.exit(f"{args.peer_python} not found; set up the peer venv as the module docstring says")
    print(f"machine: {machine()}")
    version = subprocess.run(
        [args.peer_python, "-c", "import importlib.metadata as m; print(m.version('flodym'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"peer: flodym {version} InflowDrivenDSM + WeibullLifetime(inflow_at='middle'); rounds {args.rounds}")
    for label, case in (
        ("NL default 2009-2040", nl_case()),
        ("synthetic 120 y x 300 groups", synthetic_case(120, 300)),
    ):
        mine, t_mine = ours(case, args.rounds)
        theirs, t_peer = peer(case, args.rounds, args.peer_python)
        t, g = case["inflow"].shape
        print(f"\n{label}: {t} years x {g} groups (first life + second life)")
        for key, name in (("s1", "stock"), ("o1", "outflow"), ("s2", "2nd-life stock"), ("o2", "2nd-life outflow")):
            diff = np.abs(mine[key] - theirs[key])
            rel = diff.max() / max(np.abs(theirs[key]).max(), 1e-300)
            print(f"  {name:17s} max |diff| {diff.max():.3e} t  (relative to max {rel:.3e})")
        worst = max(float(np.abs(mine[k] - theirs[k]).max() / max(np.abs(theirs[k]).max(), 1e-300)) for k in mine)
        print(f"  agreement to 1e-9 (relative): {'yes' if worst <= 1e-9 else 'NO'}")
        print(f"  time: batteryloop {t_mine * 1e3:.2f} ms, flodym {t_peer * 1e3:.2f} ms, ratio {t_peer / t_mine:.1f}")


if __name__ == "__main__":
    main()
