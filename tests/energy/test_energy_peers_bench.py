"""The dispatch benchmark against EMHASS and PyPSA: its schedule checks and the peer scripts on a case solvable by hand.

The hand case: 1 MW / 2 MWh, 95 % each way, 50 % (1 MWh) at the start and at least 50 % at the end; four hours at
10, 10, 100, 100 EUR/MWh. The best schedule fills the cells (1 MWh in the cells costs 1/0.95 MWh from the grid at
10 EUR/MWh) and empties them back to 1 MWh (0.95 MWh to the grid at 100 EUR/MWh):
revenue = 0.95 * 100 - 10 / 0.95 = 84.473684... EUR.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from batteryloop.energy.asset import Asset
from batteryloop.energy.dispatch import dispatch

ROOT = Path(__file__).resolve().parents[2]
PEERS_DIR = Path(os.environ.get("BATTERYLOOP_DISPATCH_PEERS", "/tmp/dispatch-peers"))
HAND_REVENUE = 0.95 * 100 - 10 / 0.95
PRICES = [10.0, 10.0, 100.0, 100.0]


def _load(name: str, path: Path) -> ModuleType:
    """Import a benchmark script as ``python bench/x.py`` would run it: its own folder first on the path."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load("energy_peers_bench", ROOT / "bench" / "energy_peers.py")


@pytest.fixture(scope="module")
def case_io() -> ModuleType:
    return _load("case_io", ROOT / "bench" / "peers" / "case_io.py")


def test_hand_schedule_is_feasible_and_earns_the_hand_revenue(bench: ModuleType) -> None:
    price = np.array(PRICES)
    charge = np.array([1 / 0.95 - 1.0, 1.0, 0.0, 0.0])
    discharge = np.array([0.0, 0.0, 0.0, 0.95])
    assert bench.check_schedule(charge, discharge, price, 1.0) == ""
    assert bench.revenue_of(charge, discharge, price, 1.0) == pytest.approx(HAND_REVENUE, rel=1e-12)


def test_schedule_check_names_each_violation(bench: ModuleType) -> None:
    price = np.array([10.0, np.nan, 100.0, 100.0])
    # ends empty: below the 1 MWh end state of charge
    emptied = bench.check_schedule(np.zeros(4), np.array([0.0, 0.0, 0.95, 0.0]), price, 1.0)
    assert "end state of charge" in emptied
    # 1.2 MW exceeds the 1 MW power and the second step has no price
    over = bench.check_schedule(np.array([0.0, 1.2, 0.0, 0.0]), np.zeros(4), price, 1.0)
    assert "power 1.200000 MW" in over
    assert "without a price" in over
    # charging 3 h at 1 MW puts 1 + 3 * 0.95 = 3.85 MWh in 2 MWh cells
    full = bench.check_schedule(np.array([1.0, 0.0, 1.0, 1.0]), np.zeros(4), np.array(PRICES), 1.0)
    assert "outside 0..2" in full


def test_case_revenue_skips_steps_without_price(case_io: ModuleType) -> None:
    assert case_io.revenue([10.0, None, 100.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0], 0.5) == pytest.approx(45.0)
    assert case_io.simultaneous([0.5, 0.0, 1e-9], [0.5, 1.0, 1.0]) == 1


def test_ours_on_the_hand_case() -> None:
    grid = np.arange(np.datetime64("2024-06-01T00:00"), np.datetime64("2024-06-01T04:00"), np.timedelta64(1, "h"))
    res = dispatch(grid, np.array(PRICES), Asset(power_kW=1000, energy_kWh=2000), step_minutes=60)
    assert res.revenue_eur["arbitrage"] == pytest.approx(HAND_REVENUE, rel=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("peer", ["pypsa", "emhass"])
def test_peer_script_on_the_hand_case(peer: str, tmp_path: Path) -> None:
    python = PEERS_DIR / peer / "bin" / "python"
    if not python.is_file():
        pytest.skip(f"peer environment not found: {python} (bench/peers/setup.sh creates it)")
    case = {
        "step_minutes": 60,
        "timestamps": [f"2024-06-01T0{h}:00:00Z" for h in range(4)],
        "price_eur_per_MWh": PRICES,
        "asset": {
            "power_MW": 1.0,
            "energy_MWh": 2.0,
            "charge_efficiency": 0.95,
            "discharge_efficiency": 0.95,
            "soc_min": 0.0,
            "soc_max": 1.0,
            "soc_start": 0.5,
            "soc_end": 0.5,
        },
        "windows": [[0, 2], [2, 4]],
        "schedule": True,
    }
    case_path, out_path = tmp_path / "case.json", tmp_path / "out.json"
    case_path.write_text(json.dumps(case))
    script = ROOT / "bench" / "peers" / f"{peer}_case.py"
    subprocess.run([str(python), str(script), str(case_path), str(out_path)], check=True, capture_output=True)
    out = json.loads(out_path.read_text())
    # two windows with the state of charge carried: the first (10, 10) ends at >= 1 MWh, the second (100, 100)
    # starts from it; charging in the first window is then worthless, so the carried optimum earns nothing
    # beyond selling back down to 1 MWh -> 0 EUR; one window over all four hours earns the hand revenue
    assert len(out["windows"]) == 2
    assert out["revenue_eur"] == pytest.approx(0.0, abs=1e-6)
    case["windows"] = [[0, 4]]
    case_path.write_text(json.dumps(case))
    subprocess.run([str(python), str(script), str(case_path), str(out_path)], check=True, capture_output=True)
    out = json.loads(out_path.read_text())
    assert out["revenue_eur"] == pytest.approx(HAND_REVENUE, rel=1e-6)
    assert out["soc_end_MWh"] == pytest.approx(1.0, abs=1e-6)
    assert len(out["charge_MW"]) == 4
