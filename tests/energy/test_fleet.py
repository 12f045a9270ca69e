"""EV fleet smart charging and V2G: cases solvable by hand, the dumb baseline, clipping, the site limit, the
flexibility envelope, the sessions CSV and the CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from batteryloop.energy.fleet import FleetParameters, FleetSessions, optimise_fleet, read_sessions_csv
from batteryloop.errors import ValidationError
from tests.conftest import shared_path

START = np.datetime64("2024-06-11T22:00:00", "s")
Q = np.timedelta64(15, "m")
ETA = 0.9  # fleet_defaults.csv charge and discharge efficiency


def sessions(
    arrive_steps: list[float],
    leave_steps: list[float],
    energy: list[float],
    *,
    charge_kW: float = 4.0,
    discharge_kW: float = 0.0,
    battery_kWh: float = 40.0,
    soc_pct: float = 50.0,
) -> FleetSessions:
    n = len(energy)

    def sec(steps: list[float]) -> np.ndarray:
        return START + (np.asarray(steps) * 900).astype(np.int64).astype("timedelta64[s]")

    return FleetSessions(
        arrival=sec(arrive_steps),
        departure=sec(leave_steps),
        energy_kWh=np.asarray(energy, dtype=float),
        max_charge_kW=np.full(n, charge_kW),
        max_discharge_kW=np.full(n, discharge_kW),
        battery_kWh=np.full(n, battery_kWh),
        soc_arrival_pct=np.full(n, soc_pct),
    )


TWO_PRICE = np.array([100.0] * 4 + [50.0] * 4)  # EUR/MWh, 8 quarters


def test_one_ev_charges_exactly_its_energy_in_the_cheap_hour() -> None:
    r = optimise_fleet(sessions([0], [8], [2.0]), TWO_PRICE, START)
    assert r.status == "optimal"
    assert r.charge_kW[:4] == pytest.approx(np.zeros(4), abs=1e-9)
    assert r.charged_kWh[0] == pytest.approx(2.0, rel=1e-9)
    assert r.energy_cost_eur == pytest.approx(2.0 * 50.0 / 1000.0, rel=1e-9)  # 0.10 EUR
    # dumb: 4 kW from arrival, 1 kWh per quarter, done after two quarters at 100 EUR/MWh
    assert r.dumb_charge_kW == pytest.approx(np.array([4, 4, 0, 0, 0, 0, 0, 0.0]))
    assert r.dumb_energy_cost_eur == pytest.approx(0.20, rel=1e-9)
    assert r.saving_eur == pytest.approx(0.10, rel=1e-9)
    assert r.clipped == []


def test_dumb_charging_with_a_partial_first_quarter() -> None:
    # arrives 7.5 min into the first quarter: 2 kW average there, then 4 kW, until 2 kWh are in
    r = optimise_fleet(sessions([0.5], [8], [2.0]), TWO_PRICE, START)
    assert r.dumb_charge_kW[:4] == pytest.approx(np.array([2.0, 4.0, 2.0, 0.0]))
    assert r.dumb_energy_cost_eur == pytest.approx(2.0 * 100.0 / 1000.0)


def test_unreachable_energy_is_clipped_and_reported_with_the_reason() -> None:
    # 20 kWh asked in 2 h at 4 kW: at most 8 kWh; a 10 kWh battery at 50 % cannot take 10 kWh (0.9 x 10 = 9 > 5)
    s = sessions([0, 0], [8, 8], [20.0, 10.0], battery_kWh=40.0)
    s = FleetSessions(**{**s.__dict__, "battery_kWh": np.array([40.0, 10.0])})
    r = optimise_fleet(s, TWO_PRICE, START)
    assert r.status == "optimal"
    assert [(c.ev, c.reason) for c in r.clipped] == [(0, "stay"), (1, "battery")]
    assert r.clipped[0].guaranteed_kWh == pytest.approx(8.0)
    assert r.clipped[1].guaranteed_kWh == pytest.approx((10.0 - 5.0) / ETA)
    assert r.charged_kWh == pytest.approx([8.0, 5.0 / ETA])
    assert r.as_dict()["clipped"][0]["why"]


@pytest.mark.parametrize(
    ("high", "wear", "discharges"), [(150.0, 0.0, True), (120.0, 0.0, False), (150.0, 40.0, False)]
)
def test_v2g_discharges_only_when_the_spread_beats_the_round_trip_loss(
    high: float, wear: float, discharges: bool
) -> None:
    # round trip 0.9 x 0.9 = 0.81: buying at 100 and selling at p pays when 0.81 p > 100 (p > 123.5), less the wear
    prices = np.array([100.0] * 4 + [high] * 4)
    s = sessions([0], [8], [0.0], discharge_kW=4.0)
    r = optimise_fleet(s, prices, START, v2g=True, wear_cost_eur_per_MWh=wear)
    assert r.status == "optimal"
    if discharges:
        # charge 4 x 1 kWh (3.6 kWh into the battery), give the 3.6 kWh back: 3.24 kWh at the grid
        assert r.charged_kWh[0] == pytest.approx(4.0, rel=1e-7)
        assert r.v2g_discharged_kWh == pytest.approx(3.6 * ETA, rel=1e-7)
        assert r.energy_cost_eur == pytest.approx(0.4 - 3.24 * high / 1000.0, rel=1e-7)
        assert r.saving_eur > 0
    else:
        assert r.v2g_discharged_kWh == pytest.approx(0.0, abs=1e-7)
        assert r.energy_cost_eur == pytest.approx(0.0, abs=1e-9)
    assert r.simultaneous_steps == 0


def test_site_limit_binds() -> None:
    prices = np.array([100.0] * 7 + [50.0])
    s = sessions([0, 0], [8, 8], [1.0, 1.0])
    free = optimise_fleet(s, prices, START)
    assert free.charge_kW[7] == pytest.approx(8.0)
    r = optimise_fleet(s, prices, START, site_limit_kW=5.0)
    assert r.status == "optimal"
    assert r.charge_kW.max() == pytest.approx(5.0, rel=1e-7)
    assert r.charge_kW[7] == pytest.approx(5.0, rel=1e-7)
    assert r.energy_cost_eur == pytest.approx(1.25 * 0.05 + 0.75 * 0.1, rel=1e-7)
    v = optimise_fleet(
        sessions([0, 0], [8, 8], [1.0, 1.0], discharge_kW=4.0), prices, START, v2g=True, site_limit_kW=5.0
    )
    assert v.status == "optimal"
    assert np.all(np.abs(v.net_kW) <= 5.0 + 1e-6)
    infeasible = optimise_fleet(s, prices, START, site_limit_kW=0.5)  # 2 kWh but 0.5 kW x 2 h = 1 kWh
    assert infeasible.status == "infeasible"
    assert "site limit" in infeasible.message


def test_envelope_by_hand_one_ev() -> None:
    # 7.5 kWh in 8 quarters at 4 kW (8 kWh possible): every quarter must take at least (7.5 - 7) / 0.25 = 2 kW
    r = optimise_fleet(sessions([0], [8], [7.5]), np.full(8, 80.0), START)
    assert r.envelope.upper_kW == pytest.approx(np.full(8, 4.0))
    assert r.envelope.lower_kW == pytest.approx(np.full(8, 2.0))
    k = np.arange(1, 9)
    assert r.envelope.band_high_kWh == pytest.approx(ETA * 1.0 * k)
    assert r.envelope.band_low_kWh == pytest.approx(ETA * np.maximum(0.0, 7.5 - (8 - k) * 1.0))


def _fleet(n: int, v2g: bool) -> FleetSessions:
    rng = np.random.default_rng(7)
    arrive = rng.uniform(0, 60, n)
    stay = rng.uniform(2, 40, n)
    energy = rng.uniform(0, 1, n) * 4.0 * stay * 0.25 * 1.05  # a few beyond reach
    s = sessions(list(arrive), list(arrive + stay), list(energy), discharge_kW=4.0 if v2g else 0.0)
    return FleetSessions(**{**s.__dict__, "soc_arrival_pct": rng.uniform(10, 60, n)})


@pytest.mark.parametrize("v2g", [False, True])
def test_envelope_contains_the_lp_and_dumb_schedules_and_is_tight(v2g: bool) -> None:
    rng = np.random.default_rng(3)
    prices = 60 + 50 * np.sin(np.arange(96) / 96 * 4 * np.pi) + rng.normal(0, 5, 96)
    s = _fleet(150, v2g)
    r = optimise_fleet(s, prices, START, v2g=v2g)
    assert r.status == "optimal"
    env, tol = r.envelope, 1e-5
    for profile in (r.net_kW, r.dumb_charge_kW):
        assert np.all(profile <= env.upper_kW + tol)
        assert np.all(profile >= env.lower_kW - tol)
    # cumulative battery energy of the LP schedule within the band
    added = np.cumsum(r.charge_kW * 0.25 * ETA - r.discharge_kW * 0.25 / ETA)
    assert np.all(added <= env.band_high_kWh + 1e-4)
    assert np.all(added >= env.band_low_kWh - 1e-4)
    # the LP reaches a bound of the envelope somewhere (cheap quarters: everyone connected charges flat out)
    gap = np.minimum(env.upper_kW - r.net_kW, r.net_kW - env.lower_kW)
    assert gap.min() == pytest.approx(0.0, abs=1e-6)
    if v2g:
        assert env.lower_kW.min() < 0 and r.v2g_discharged_kWh > 0


def test_invalid_sessions_name_the_row_and_field() -> None:
    s = sessions([0, 0], [8, 8], [1.0, -1.0])
    with pytest.raises(ValidationError) as exc:
        optimise_fleet(s, TWO_PRICE, START)
    assert [p.field for p in exc.value.problems] == ["sessions[1].energy_kWh"]
    with pytest.raises(ValidationError) as exc:
        optimise_fleet(sessions([0], [8], [1.0]), np.array([1.0, np.nan]), START)
    assert exc.value.problems[0].field == "prices[1]"
    with pytest.raises(ValidationError):
        FleetParameters.from_defaults(charge_efficiency=1.5)


def test_sessions_csv_reads_and_reports_bad_cells(tmp_path: Path) -> None:
    good = tmp_path / "s.csv"
    good.write_text(
        "arrival,departure,energy_kWh,max_charge_kW,max_discharge_kW,battery_kWh,soc_arrival_pct\n"
        "2024-06-12T00:00+02:00,2024-06-12T02:00+02:00,2,4,0,40,50\n"
        "2024-06-11T22:00:00Z,2024-06-12T00:00:00,7.5,4,4,40,\n",
        encoding="utf-8",
    )
    s = read_sessions_csv(good)
    assert s.arrival.tolist() == [START.astype(object), START.astype(object)]
    assert np.isnan(s.soc_arrival_pct[1]) and s.soc_arrival_pct[0] == 50.0
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "arrival,departure,energy_kWh,max_charge_kW,max_discharge_kW,battery_kWh\n"
        "2024-06-12T00:00,2024-06-12T02:00,2,4,0,40\n"
        "yesterday,2024-06-12T02:00,x,0,0,40\n"
        "2024-06-12T03:00,2024-06-12T02:00,2,4,0,40\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as exc:
        read_sessions_csv(bad)
    fields = [p.field for p in exc.value.problems]
    assert fields == ["bad.csv:line 3:arrival", "bad.csv:line 3:energy_kWh", "bad.csv:line 3:max_charge_kW",
                      "bad.csv:line 4:departure"]  # fmt: skip
    missing = tmp_path / "m.csv"
    missing.write_text("arrival,departure\n", encoding="utf-8")
    with pytest.raises(ValidationError) as exc:
        read_sessions_csv(missing)
    assert "energy_kWh" in str(exc.value)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from batteryloop.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_cli_with_sessions_csv_end_to_end(tmp_path: Path) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "datetime_utc,price_eur_per_mwh\n2024-06-11 22:00:00+00:00,100\n2024-06-11 23:00:00+00:00,50\n",
        encoding="utf-8",
    )
    sess = tmp_path / "s.csv"
    sess.write_text(
        "arrival,departure,energy_kWh,max_charge_kW,max_discharge_kW,battery_kWh\n"
        "2024-06-11T22:00Z,2024-06-12T00:00Z,2,4,0,40\n",
        encoding="utf-8",
    )
    out = tmp_path / "schedule.csv"
    done = _cli("energy", "fleet", "--prices", str(prices), "--date", "2024-06-12", "--sessions", str(sess),
                "--out", str(out), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    assert d["status"] == "optimal" and d["steps"] == 8
    assert d["energy_cost_eur"] == pytest.approx(0.10) and d["saving_eur"] == pytest.approx(0.10)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 8
    assert sum(float(r["charge_kW"]) * 0.25 for r in rows[4:]) == pytest.approx(2.0)
    bad = _cli(
        "energy", "fleet", "--prices", str(prices), "--date", "2024-06-12", "--sessions", str(sess), "--evs", "3"
    )
    assert bad.returncode == 2 and "--evs" in bad.stderr and "Traceback" not in bad.stderr
    short = _cli("energy", "fleet", "--prices", str(prices), "--date", "2024-06-13", "--sessions", str(sess))
    assert short.returncode == 2 and "Traceback" not in short.stderr


def test_cli_draws_elaadnl_sessions_with_real_prices(tmp_path: Path) -> None:
    stats = shared_path("grid", "elaadnl_ev_charging_stats")
    prices = shared_path("grid", "nl_dayahead_hourly", "nl_da_hourly_2015_2026_merged.csv")
    out = tmp_path / "schedule.csv"
    done = _cli("energy", "fleet", "--prices", str(prices), "--date", "2024-06-12", "--evs", "300", "--v2g",
                "--elaadnl", str(stats), "--seed", "5", "--out", str(out), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    assert d["status"] == "optimal" and d["evs"] == 300 and d["v2g"]
    assert d["saving_eur"] > 0 and d["v2g_discharged_kWh"] > 0
    assert d["price_resampled_from_minutes"] == 60
    assert date.fromisoformat(d["start_utc"][:10]) == date(2024, 6, 11)


def test_cli_on_a_fresh_clone_uses_the_synthetic_prices_and_sessions_and_says_so(tmp_path: Path) -> None:
    """Without ../shared (an empty BATTERYLOOP_SHARED_DATA), `energy fleet --evs` draws from the package's own
    session model and prices with its synthetic series; the output names both as synthetic."""
    import os

    empty = tmp_path / "empty"
    empty.mkdir()
    code = "from batteryloop.cli import main; main()"
    args = ["energy", "fleet", "--date", "2024-06-12", "--evs", "50", "--v2g", "--seed", "1"]
    env = os.environ | {"BATTERYLOOP_SHARED_DATA": str(empty)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args, "--json"], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    assert d["sessions_synthetic"] and "synthetic EV sessions made by batteryloop" in d["drawn_from"]
    assert d["prices_synthetic"] and "synthetic Dutch-like day-ahead prices" in d["prices"]
    assert d["status"] == "optimal" and d["evs"] == 50 and d["saving_eur"] > 0
    text = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env)
    assert text.returncode == 0, text.stderr
    assert "prices: synthetic Dutch-like" in text.stdout and "sessions drawn from: synthetic EV sessions" in text.stdout
