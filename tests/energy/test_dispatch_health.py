"""`energy dispatch` takes the battery's usable energy and efficiency from its passport (as the caller may see it) or
from a `health estimate --json` result, and says where each figure came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batteryloop.config import Settings
from tests.energy.test_valuation import _cli, _grant, _registry

# a two-price day, 2023-06-01 (UTC): 20 EUR/MWh in the first 12 hours, 120 EUR/MWh in the last 12
LOW, HIGH = 20.0, 120.0


def _prices(tmp: Path) -> Path:
    path = tmp / "prices.csv"
    rows = ["datetime_utc,price_eur_per_mwh"]
    rows += [f"2023-06-01 {h:02d}:00:00+00:00,{LOW if h < 12 else HIGH}" for h in range(24)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _run(tmp: Path, *extra: str, expect: int = 0) -> dict:
    args = ["energy", "dispatch", "--prices", str(_prices(tmp)), "--power-kW", "1000", "--soc-start", "0"]
    args += ["--soc-end", "0", "--horizon", "full", "--json", *extra]
    proc = _cli(tmp, *args, expect=expect)
    return json.loads(proc.stdout) if expect == 0 else {"stderr": proc.stderr}


def test_energy_and_efficiency_from_the_passport_as_the_caller_may_see_it(tmp_path):
    pid = _registry(Settings(data_dir=tmp_path))  # 75 kWh rated, SoH 82 %, round trip 91 %
    refused = _run(tmp_path, "--passport", pid, "--account", "repurposer", expect=2)
    assert "soh_capacity_pct" in refused["stderr"] and "grant" in refused["stderr"]
    _grant(Settings(data_dir=tmp_path), pid)
    data = _run(tmp_path, "--passport", pid, "--account", "repurposer")
    usable = 75.0 * 0.82
    # one full cycle: charge the usable energy at the low price, deliver it times the round trip at the high price
    expected = usable * (HIGH * 0.91**0.5 - LOW / 0.91**0.5) / 1000
    assert data["revenue_total_eur"] == pytest.approx(expected, rel=1e-6)
    assert "soh_capacity_pct" in data["asset_sources"]["energy_kWh"]
    assert "repurposer" in data["asset_sources"]["energy_kWh"]
    assert "remaining_round_trip_efficiency_pct" in data["asset_sources"]["efficiency"]
    # an explicit option wins over the passport
    given = _run(tmp_path, "--passport", pid, "--account", "repurposer", "--efficiency", "1.0")
    assert given["revenue_total_eur"] == pytest.approx(usable * (HIGH - LOW) / 1000, rel=1e-6)
    assert given["asset_sources"]["efficiency"] == "--efficiency"


def test_energy_and_efficiency_from_a_health_estimate(tmp_path):
    health = tmp_path / "health.json"
    health.write_text(
        json.dumps(
            {
                "remaining_energy_kWh": {"value": 50.0, "method": "m"},
                "remaining_round_trip_efficiency_pct": {"value": 81.0, "method": "m"},
            }
        ),
        encoding="utf-8",
    )
    data = _run(tmp_path, "--health", str(health))
    assert data["revenue_total_eur"] == pytest.approx(50.0 * (HIGH * 0.9 - LOW / 0.9) / 1000, rel=1e-6)
    assert data["asset_sources"]["energy_kWh"] == "health.json: remaining_energy_kWh"
    health.write_text(json.dumps({"remaining_energy_kWh": {"value": None}}), encoding="utf-8")
    assert "remaining_energy_kWh" in _run(tmp_path, "--health", str(health), expect=2)["stderr"]
    assert "--energy-kWh" in _run(tmp_path, expect=2)["stderr"]
