"""Expected lifetime on hand-computed histories: exact fade laws, knees, already-crossed histories, dates, refusals."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.optimize import brentq

from batteryloop.errors import ValidationError
from batteryloop.health.lifetime import (
    Axis,
    Status,
    fade_models,
    fit_fade_model,
    history_from_frame,
    observed_crossing,
    predict_lifetime,
    predict_threshold,
)


def test_every_model_has_formula_and_a_doi_from_the_csv() -> None:
    models = fade_models()
    assert list(models) == ["linear", "sqrt_linear", "power_law", "sqrt_exponential", "sqrt_linear_exponential"]
    for m in models.values():
        assert "doi:" in m.reference and m.formula.startswith("q0")


def test_linear_fade_reaches_80_pct_at_the_hand_computed_cycle() -> None:
    # 2.0 Ah falling 1 mAh per cycle: 80 % (1.6 Ah) at cycle 400
    x = np.arange(0, 301, 25.0)
    p = predict_threshold(x, 2.0 - 0.001 * x, threshold_pct=80)
    assert p.status is Status.PREDICTED and p.axis is Axis.CYCLE
    assert p.threshold_cycle == pytest.approx(400.0, abs=0.01)
    assert p.remaining_cycles == pytest.approx(100.0, abs=0.01)
    assert p.threshold_cycle_low == pytest.approx(400.0, abs=0.5)
    assert p.threshold_cycle_high == pytest.approx(400.0, abs=0.5)
    # 70 % (1.4 Ah) at 600
    assert predict_threshold(x, 2.0 - 0.001 * x, threshold_pct=70).threshold_cycle == pytest.approx(600.0, abs=0.01)


def test_reference_capacity_sets_the_threshold() -> None:
    # rated 2.2 Ah: 80 % = 1.76 Ah, reached at (2.0 - 1.76) / 0.001 = 240 cycles
    x = np.arange(0, 201, 20.0)
    p = predict_threshold(x, 2.0 - 0.001 * x, threshold_pct=80, reference_capacity_Ah=2.2)
    assert p.reference == "given" and p.threshold_capacity_Ah == pytest.approx(1.76)
    assert p.threshold_cycle == pytest.approx(240.0, abs=0.01)


def test_square_root_fade_is_fitted_and_extrapolated_exactly() -> None:
    # q = 1 - 0.02 sqrt(x): 80 % at sqrt(x) = 10, x = 100; the linear model misfits and is not adequate
    x = np.linspace(0, 25, 12)
    p = predict_threshold(x, 1.0 - 0.02 * np.sqrt(x), threshold_pct=80)
    assert p.threshold_cycle == pytest.approx(100.0, rel=1e-3)
    linear = next(c for c in p.candidates if c.model == "linear")
    assert not linear.adequate
    assert p.model in {"sqrt_linear", "power_law", "sqrt_exponential", "sqrt_linear_exponential"}


def test_power_law_parameters_are_recovered() -> None:
    x = np.linspace(1, 500, 30)
    fit = fit_fade_model("power_law", x, 3.0 * (1 - 0.004 * x**0.6), y_scale=3.0)
    # in normalised units a = 0.004 * 500^0.6
    assert fit.theta[2] == pytest.approx(0.6, rel=1e-3)
    assert fit.theta[1] == pytest.approx(0.004 * 500**0.6, rel=1e-3)
    assert fit.capacity_Ah(800.0)[0] == pytest.approx(3.0 * (1 - 0.004 * 800**0.6), rel=1e-6)


def test_a_knee_is_seen_and_the_interval_holds_the_true_crossing() -> None:
    rng = np.random.default_rng(3)

    def capacity(x: np.ndarray | float) -> np.ndarray | float:
        return 1.1 - 0.00005 * np.asarray(x) - 0.004 * np.expm1(np.asarray(x) / 180.0)

    truth = brentq(lambda c: float(capacity(c)) - 0.88, 1, 2000)  # 80 % of 1.1 Ah
    x = np.arange(1, 451, 1.0)  # the knee has begun: fade is accelerating at the end of the data
    y = capacity(x) + rng.normal(0, 0.002, x.size)
    p = predict_threshold(x, y, threshold_pct=80, reference_capacity_Ah=1.1)
    assert p.model in {"sqrt_exponential", "sqrt_linear_exponential", "power_law"}
    assert p.threshold_cycle == pytest.approx(truth, rel=0.05)
    assert p.threshold_cycle_low is not None and p.threshold_cycle_high is not None
    assert p.threshold_cycle_low <= truth <= p.threshold_cycle_high
    # a linear extrapolation of the same data is late: the knee-aware choice matters
    linear = next(c for c in p.candidates if c.model == "linear")
    assert linear.threshold_cycle is None or linear.threshold_cycle > truth * 1.1


def test_a_history_already_below_the_threshold_reports_the_observed_crossing() -> None:
    x = np.array([0, 100, 200, 300, 400.0])
    y = np.array([2.0, 1.9, 1.7, 1.5, 1.4])
    p = predict_threshold(x, y, threshold_pct=80)
    # 1.6 Ah crossed between 200 (1.7) and 300 (1.5): at 250
    assert p.status is Status.REACHED and p.model == "observed"
    assert p.threshold_cycle == pytest.approx(250.0)
    assert (p.threshold_cycle_low, p.threshold_cycle_high) == (200.0, 300.0)
    assert p.remaining_cycles == 0.0
    assert observed_crossing(x, y, 1.6) == pytest.approx(250.0)
    assert observed_crossing(x, y, 1.0) is None


def test_no_fade_is_not_reached_within_the_horizon() -> None:
    rng = np.random.default_rng(0)
    x = np.arange(0, 100.0)
    p = predict_threshold(x, 1.0 + rng.normal(0, 1e-4, x.size), threshold_pct=80)
    assert p.status is Status.NOT_REACHED
    assert p.threshold_cycle is None and p.remaining_cycles is None and p.threshold_cycle_high is None
    assert p.as_dict()["threshold_cycle"] is None


def test_results_are_reproducible_and_bootstrap_is_available() -> None:
    rng = np.random.default_rng(1)
    x = np.arange(0, 200.0, 5)
    y = 2.0 - 0.002 * x + rng.normal(0, 0.004, x.size)
    a = predict_threshold(x, y).as_dict()
    b = predict_threshold(x, y).as_dict()
    assert a == b
    boot = predict_threshold(x, y, uncertainty="bootstrap", n_draws=40)
    assert boot.threshold_cycle == pytest.approx(a["threshold_cycle"], abs=0.1)
    assert boot.threshold_cycle_low is not None and boot.threshold_cycle_high is not None
    assert boot.threshold_cycle_low <= a["threshold_cycle"] <= boot.threshold_cycle_high


def test_per_cycle_histories_are_reduced_to_bin_means() -> None:
    x = np.arange(1, 5001, dtype=float)
    p = predict_threshold(x, 1.1 - 0.00002 * x, threshold_pct=80, reference_capacity_Ah=1.1)
    assert p.n_points == 5000 and p.n_points_fitted == 200
    assert p.threshold_cycle == pytest.approx(0.22 / 0.00002, rel=1e-6)


def test_a_timestamp_history_is_dated() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    days = np.arange(0, 361, 30.0)
    frame = pl.DataFrame(
        {
            "timestamp": [(t0 + timedelta(days=float(d))).isoformat() for d in days],
            "capacity_Ah": (50.0 - 0.01 * days).tolist(),  # 10 mAh a day: 80 % (40 Ah) on day 1000
        }
    )
    p = predict_lifetime(history_from_frame(frame), threshold_pct=80)
    assert p.axis is Axis.TIME and p.threshold_cycle is None
    assert p.threshold_x == pytest.approx(1000.0, abs=0.01)
    assert p.threshold_date is not None
    assert abs((p.threshold_date - (t0 + timedelta(days=1000))).total_seconds()) < 60
    assert p.remaining_days == pytest.approx(640.0, abs=0.01)


def test_a_cycle_history_with_timestamps_is_dated_at_the_recent_usage_rate() -> None:
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    cycles = np.arange(0, 201, 20.0)
    frame = pl.DataFrame(
        {
            "cycle": cycles,
            "timestamp": [t0 + timedelta(days=float(c) / 2) for c in cycles],  # two cycles a day
            "capacity_Ah": 5.0 - 0.002 * cycles,  # 80 % (4 Ah) at cycle 500, day 250
        }
    )
    p = predict_lifetime(history_from_frame(frame), threshold_pct=80)
    assert p.threshold_cycle == pytest.approx(500.0, abs=0.01)
    assert p.threshold_date is not None
    assert abs((p.threshold_date - (t0 + timedelta(days=250))).total_seconds()) < 60
    assert p.as_dict()["threshold_date"][:10] in {"2024-11-05", "2024-11-06"}  # day 250 after 1 March, 00:00 UTC


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"cycle": ["0", "1", "2", "3"]}, "history: capacity_Ah"),
        ({"capacity_Ah": ["1", "1", "1", "1"]}, "history: cycle"),
        ({"cycle": ["0", "2", "1", "3"], "capacity_Ah": ["1", "1", "1", "1"]}, "history: row 3, cycle"),
        ({"cycle": ["0", "1", "2", "3"], "capacity_Ah": ["1", "1", "-0.5", "1"]}, "history: row 3, capacity_Ah"),
        ({"cycle": ["0", "1", "2", "3"], "capacity_Ah": ["1", "x", "1", "1"]}, "history: row 2, capacity_Ah"),
        ({"cycle": ["0", "1", "2"], "capacity_Ah": ["1", "1", "1"]}, "history: capacity_Ah"),
        ({"timestamp": ["2024-01-01T00:00:00", "b", "c", "d"], "capacity_Ah": ["1"] * 4}, "history: row 1, timestamp"),
    ],
)
def test_bad_histories_are_refused_naming_column_and_row(data: dict[str, list[str]], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        history_from_frame(pl.DataFrame(data))
    assert field in [p.field for p in err.value.problems]


def test_bad_arguments_are_refused() -> None:
    x = np.arange(5.0)
    with pytest.raises(ValidationError) as err:
        predict_threshold(x, np.ones(5), threshold_pct=120)
    assert err.value.problems[0].field == "threshold_pct"
    with pytest.raises(ValidationError):
        predict_threshold(x, np.ones(5), models=["cubic"])
    with pytest.raises(ValidationError):
        predict_threshold(x, np.ones(5), reference_capacity_Ah=-1)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batteryloop.cli", "health", "lifetime", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_cli_prints_the_prediction_as_json(tmp_path: Path) -> None:
    x = np.arange(0, 301, 25)
    history = tmp_path / "history.csv"
    pl.DataFrame({"cycle": x, "capacity_Ah": 2.0 - 0.001 * x}).write_csv(history)
    proc = _cli(str(history), "--threshold-pct", "80", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["threshold_cycle"] == pytest.approx(400.0, abs=0.1)
    assert out["remaining_cycles"] == pytest.approx(100.0, abs=0.1)
    assert out["threshold_cycle_low"] <= 400.0 + 0.5 and out["threshold_cycle_high"] >= 400.0 - 0.5
    assert out["model"] in {m for m in fade_models()} and out["selection"].startswith("earliest")
    proc = _cli(str(history), "--threshold-pct", "80", "--reference-capacity-Ah", "2.2", "--json", cwd=tmp_path)
    assert json.loads(proc.stdout)["threshold_cycle"] == pytest.approx(240.0, abs=0.1)


def test_cli_reads_other_column_names(tmp_path: Path) -> None:
    history = tmp_path / "cycles.csv"
    x = np.arange(1, 101)
    pl.DataFrame({"cycle_index": x, "discharge_capacity_Ah": 1.0 - 0.001 * x}).write_csv(history)
    proc = _cli(
        str(history),
        "--cycle-column",
        "cycle_index",
        "--capacity-column",
        "discharge_capacity_Ah",
        "--threshold-pct",
        "70",
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    # 70 % of the first capacity (0.999 Ah) is 0.6993 Ah: cycle (1 - 0.6993) / 0.001 = 300.7
    assert json.loads(proc.stdout)["threshold_cycle"] == pytest.approx(300.7, abs=0.1)


def test_cli_refuses_bad_input_naming_column_and_row(tmp_path: Path) -> None:
    history = tmp_path / "history.csv"
    history.write_text("cycle,capacity_Ah\n0,2.0\n10,1.99\n5,1.98\n20,1.9\n30,1.8\n")
    proc = _cli(str(history), "--threshold-pct", "80", "--json", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "row 3, cycle" in proc.stderr and "not increasing" in proc.stderr
    history.write_text("cycle,capacity\n0,2.0\n")
    proc = _cli(str(history), "--json", cwd=tmp_path)
    assert proc.returncode == 2 and "capacity_Ah" in proc.stderr and "column missing" in proc.stderr
    proc = _cli(str(tmp_path / "absent.csv"), cwd=tmp_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_capacity_fade_is_relative_to_the_reference() -> None:
    x = np.arange(0, 5.0)
    p = predict_threshold(x, np.array([2.0, 1.98, 1.96, 1.94, 1.92]))
    assert p.capacity_fade_pct == pytest.approx(4.0)
    assert math.isclose(p.as_dict()["capacity_fade_pct"], 4.0)


def test_cli_takes_threshold_and_rated_capacity_from_the_passport(tmp_path: Path) -> None:
    from tests.passport.test_lifecycle import ev
    from tests.test_cli import CLI

    cli = CLI(tmp_path)
    cli.last_line("keys", "create", "--role", "economic_operator", "--name", "maker")
    spec = tmp_path / "pack.json"
    data = {**ev("LIFE-0001"), "rated_capacity_Ah": 200.0, "capacity_threshold_exhaustion_pct": 70.0}
    spec.write_text(json.dumps({"data": data}))
    pid = cli.last_line("passport", "create", str(spec), "--operator", "maker")
    history = tmp_path / "history.csv"
    x = np.arange(0, 501, 50)
    pl.DataFrame({"cycle": x, "capacity_Ah": 198.0 - 0.05 * x}).write_csv(history)
    out = json.loads(cli.run("health", "lifetime", str(history), "--passport", pid, "--json").stdout)
    # 70 % (the passport's exhaustion threshold) of 200 Ah (its rated capacity) = 140 Ah: (198 - 140) / 0.05 = 1160
    assert out["threshold_pct"] == 70.0 and out["reference_capacity_Ah"] == 200.0
    assert out["threshold_cycle"] == pytest.approx(1160.0, abs=0.1)
    assert out["source"]["threshold_pct"].endswith("capacity_threshold_exhaustion_pct")
    assert cli.run("health", "lifetime", str(history), "--passport", "nope", expect=2).stderr
