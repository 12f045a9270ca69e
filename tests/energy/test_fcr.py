"""FCR rules as cited data and FCR prices mapped onto local 4-hour blocks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from batteryloop.energy.dispatch import fcr_blocks
from batteryloop.energy.fcr import fcr_rules, market_on_grid, read_fcr_prices, rule_rows


def test_every_rule_cites_a_source():
    rows = rule_rows()
    assert {r["name"] for r in rows} >= {"block_hours", "activation_minutes", "min_bid_MW"}
    assert all(r["source"].strip() and r["confidence"] in {"high", "medium", "low"} for r in rows)
    rules = fcr_rules()
    assert rules.block_hours == 4
    assert 15 <= rules.activation_minutes <= 30  # the SO GL Art. 156 range


def test_blocks_follow_local_time_across_the_clock_change():
    # 2024-03-31: local 00:00 = 23:00 UTC the day before; the clock jumps at 02:00 local, so block 00-04 has 3 hours
    ts = np.datetime64("2024-03-30T23:00", "us") + np.arange(23) * np.timedelta64(1, "h")
    blocks = fcr_blocks(ts, 4.0)
    sizes = np.bincount(blocks)
    assert sizes.tolist() == [3, 4, 4, 4, 4, 4]


def write_fcr(tmp_path: Path, starts: list[str], prices: list[float]) -> Path:
    path = tmp_path / "fcr.csv"
    path.write_text(
        "block_start_utc,price_eur_per_mw\n" + "".join(f"{s},{p}\n" for s, p in zip(starts, prices, strict=True))
    )
    return path


def test_prices_mapped_to_blocks_and_missing_blocks_counted(tmp_path):
    starts = ["2024-01-09 23:00:00+00:00", "2024-01-10 03:00:00+00:00", "2024-01-10 11:00:00+00:00"]
    path = write_fcr(tmp_path, starts, [10.0, 20.0, 40.0])
    grid = np.datetime64("2024-01-09T23:00", "us") + np.arange(24) * np.timedelta64(1, "h")
    market, without = market_on_grid(read_fcr_prices(path), grid)
    assert without == 3  # blocks 08-12, 16-20, 20-24 local have no price
    expected = [10.0] * 4 + [20.0] * 4 + [np.nan] * 4 + [40.0] * 4 + [np.nan] * 8
    np.testing.assert_array_equal(market.price_eur_per_MW, np.array(expected))


def test_cli_fcr_stacked_with_arbitrage(tmp_path):
    from batteryloop.cli import app
    from batteryloop.commands import load_all

    load_all()
    prices = tmp_path / "prices.csv"
    rows = [
        f"{np.datetime_as_string(np.datetime64('2024-01-09T23:00') + np.timedelta64(h, 'h'))}:00+00:00,50"
        for h in range(24)
    ]
    prices.write_text("datetime_utc,price_eur_per_mwh\n" + "\n".join(r.replace("T", " ") for r in rows) + "\n")
    starts = [f"2024-01-{9 if h == 0 else 10} {(23 + 4 * h) % 24:02d}:00:00+00:00" for h in range(6)]
    fcr = write_fcr(tmp_path, starts, [100.0] * 6)
    res = CliRunner().invoke(
        app,
        [
            "energy",
            "dispatch",
            "--prices",
            str(prices),
            "--power-kW",
            "1000",
            "--energy-kWh",
            "1000",
            "--efficiency",
            "1",
            "--fcr-price",
            str(fcr),
            "--fcr-activation-minutes",
            "30",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout.strip().splitlines()[-1])
    assert payload["revenue_eur"]["fcr"] == pytest.approx(600.0)
    assert payload["revenue_eur"]["arbitrage"] == pytest.approx(0.0, abs=1e-6)
