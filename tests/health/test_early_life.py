"""Population-informed early-life prediction (``batteryloop.health.early_life``).

Synthetic populations check the mechanics (exact leave-one-out residuals against refits, the interval rule, JSON
round trip, errors, CLI). On PINN4SOH's measured data (``../shared/data/battery-aging/pinn4soh``; SOURCE.md there)
the model is trained on a split and scored on held-out cells, next to BatteryML's published RMSE from the first 100
cycles (Zhang et al., BatteryML, ICLR 2024, arXiv:2310.14714: MATR1 90, MATR2 149, HUST 322 cycles):

- MIT: Severson et al. (2019)'s split, rebuilt from the file names (``severson_split``): batch 2017-05-12 without
  the five cells Severson left out (channels 8, 10, 12, 13, 22, 0-based: files battery-9, -11, -13, -14, -23), then
  batch 2017-06-30 (PINN4SOH already merged its channels 7, 8, 9, 15, 16 into the first five cells of 2017-05-12,
  as Severson did); in that order, the odd positions 1..81 are the training set, the even positions and position 83
  the primary test set (MATR1); batch 2018-04-12 without Severson's channels 2, 23, 32, 37, 42, 43 is the secondary
  test set (MATR2). Of each set, only the cells with a ground truth (the loaders of ``test_lifetime_pinn4soh``) and
  a life of more than 100 cycles are scored.
- HUST: no published split; a fixed random 75/25 split of the 73 cells with a ground truth (``hust_split``: numpy
  ``default_rng(0)`` permutation of the names sorted, the first 55 train).

Run ``.venv/bin/python -m tests.health.test_early_life`` for the table of docs/validation/lifetime.md.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from batteryloop.errors import ValidationError
from batteryloop.health.early_life import (
    CAPACITY_FEATURES,
    FeatureSet,
    PopulationModel,
    _ridge_loo,
    charge_columns,
    early_features,
    feature_definitions,
    fit_population,
    predict_population,
)
from batteryloop.health.lifetime import CapacityHistory, Status

K = 100
BATTERYML_RMSE = {"MATR1": 90, "MATR2": 149, "HUST": 322}
# Per-cell fade-model extrapolation from the first 100 cycles (docs/validation/lifetime.md, earliest_adequate).
PER_CELL_RMSE = {"MATR1": 1031, "MATR2": 622, "HUST": 1143}

# ------------------------------------------------------------------------------------------------ synthetic


def synthetic_cell(life: float, rng: np.random.Generator, *, noise: float = 5e-4) -> tuple[np.ndarray, np.ndarray]:
    """Cycles 1..life+30 and capacities: linear fade whose rate sets the life, then a knee to 80 % at ``life``."""
    q0 = 1.1 + rng.normal(0, 0.005)
    slope = 0.05 * q0 / life  # 5 % fade over the life before the knee: rate inversely proportional to life
    knee = 0.7 * life
    c = np.arange(1, int(life) + 31, dtype=float)
    q = q0 - slope * c
    q_knee = q0 - slope * knee
    after = c > knee
    q[after] = q_knee - (q_knee - 0.8 * q0) * (c[after] - knee) / (life - knee)
    return c, q + rng.normal(0, noise, len(c))


def synthetic_population(n: int, seed: int) -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    rng = np.random.default_rng(seed)
    lives = np.exp(rng.uniform(math.log(500), math.log(2000), n)).round()
    return [(f"cell-{i}", *synthetic_cell(float(life), rng), float(life)) for i, life in enumerate(lives)]


def test_leave_one_out_residuals_equal_refits_without_the_cell() -> None:
    """The closed form e_i / (1 - h_ii) against n refits (intercept free, penalty on the slopes only)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(25, 6))
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    y = z @ rng.normal(size=6) + rng.normal(0, 0.3, 25)
    penalty = 0.3
    _, _, loo = _ridge_loo(z, y, penalty)
    n = len(y)
    for i in range(n):
        keep = np.arange(n) != i
        design = np.column_stack([np.ones(n - 1), z[keep]])
        reg = np.diag([0.0] + [penalty * n] * 6)  # the same penalty as the full fit (lambda * n on the slopes)
        coef = np.linalg.solve(design.T @ design + reg, design.T @ y[keep])
        assert y[i] - (coef[0] + z[i] @ coef[1:]) == pytest.approx(loo[i], rel=1e-9, abs=1e-12)


def test_population_model_learns_life_from_the_early_fade_rate() -> None:
    train = synthetic_population(40, seed=2)
    test = synthetic_population(20, seed=3)
    feats = [early_features(c, q, first_cycles=K) for _, c, q, _ in train]
    model = fit_population(feats, [life for *_, life in train], [n for n, *_ in train], first_cycles=K)
    errors, covered = [], 0
    lives = np.array([life for *_, life in test])
    for name, c, q, life in test:
        history = CapacityHistory(capacity_Ah=q[:150], cycle=c[:150], timestamp=None)
        p = predict_population(history, model, source=name)
        assert p.lifetime.status is Status.PREDICTED
        errors.append(p.lifetime.threshold_x - life)  # type: ignore[operator]
        low, high = p.lifetime.threshold_x_low, p.lifetime.threshold_x_high
        covered += low is not None and high is not None and low <= life <= high
    rmse = float(np.sqrt(np.mean(np.square(errors))))
    baseline = float(np.sqrt(np.mean((lives - np.mean([life for *_, life in train])) ** 2)))
    # the life is a smooth function of the fade rate: the model explains most of the spread (measured 14 % of it)
    assert rmse < 0.3 * baseline
    assert covered >= 16  # nominal 90 % of 20 cells; measured 20


def test_interval_is_the_jackknife_rank_of_the_residuals() -> None:
    train = synthetic_population(19, seed=4)
    feats = [early_features(c, q, first_cycles=K) for _, c, q, _ in train]
    model = fit_population(feats, [life for *_, life in train], [n for n, *_ in train], first_cycles=K)
    r = np.sort(model.loo_residuals)
    # n = 19, 90 %: floor(0.05 * 20) = 1st and ceil(0.95 * 20) = 19th smallest residual
    low, high = model.interval(math.log(1000.0), 0.9)
    assert low == pytest.approx(1000.0 * math.exp(r[0]))
    assert high == pytest.approx(1000.0 * math.exp(r[18]))
    # 98 %: ceil(0.99 * 20) = 20 > 19 residuals: the upper bound is open
    assert model.interval(math.log(1000.0), 0.98)[1] is None


def test_model_round_trips_through_json() -> None:
    train = synthetic_population(12, seed=5)
    feats = [early_features(c, q, first_cycles=K) for _, c, q, _ in train]
    model = fit_population(feats, [life for *_, life in train], [n for n, *_ in train], first_cycles=K)
    again = PopulationModel.from_dict(json.loads(json.dumps(model.to_dict())))
    _, c, q, _ = synthetic_population(1, seed=6)[0]
    history = CapacityHistory(capacity_Ah=q, cycle=c, timestamp=None)
    a = predict_population(history, model).as_dict()
    b = predict_population(history, again).as_dict()
    assert a == b
    assert again.cv_rmse_cycles == pytest.approx(model.cv_rmse_cycles)
    broken = model.to_dict()
    broken["coefficients"] = broken["coefficients"][:-1]
    with pytest.raises(ValidationError, match="coefficients"):
        PopulationModel.from_dict(broken, source="m.json")
    del broken["scaler"]
    with pytest.raises(ValidationError, match="scaler"):
        PopulationModel.from_dict(broken, source="m.json")


def test_short_history_missing_columns_and_extrapolation_are_reported() -> None:
    train = synthetic_population(12, seed=7)
    feats = [early_features(c, q, first_cycles=K) for _, c, q, _ in train]
    model = fit_population(feats, [life for *_, life in train], [n for n, *_ in train], first_cycles=K)
    _, c, q, _ = train[0]
    with pytest.raises(ValidationError) as info:
        predict_population(CapacityHistory(q[:60], c[:60], None), model, source="short.csv")
    assert info.value.problems[0].code == "too_short"
    assert "100 cycles" in str(info.value) and "short.csv" in str(info.value)
    with pytest.raises(ValidationError, match="per-cycle data"):
        predict_population(CapacityHistory(q[:120:5], c[:120:5], None), model, source="sparse.csv")
    # a cell fading twice as fast as any training cell: predicted, and flagged
    fast = q.copy()
    fast[:K] = q[0] - 3 * (q[0] - q[:K])
    p = predict_population(CapacityHistory(fast[:K], c[:K], None), model)
    assert p.extrapolated and "fade_slope_2_K" in p.out_of_range
    assert p.lifetime.threshold_x is not None and p.warnings[0].startswith("extrapolation")
    # a model trained with a charge column needs it
    charged = [
        early_features(c, q, first_cycles=K, charge={"CC Q": 0.3 * q}) for _, c, q, _ in synthetic_population(10, 8)
    ]
    with_charge = fit_population(charged, [900.0 + 50 * i for i in range(10)], [str(i) for i in range(10)])
    assert with_charge.charge_columns == ("CC Q",)
    with pytest.raises(ValidationError, match="CC Q"):
        predict_population(CapacityHistory(q, c, None), with_charge, source="no-charge.csv")


def test_feature_catalogue_names_every_computed_feature() -> None:
    defs = feature_definitions()
    assert set(CAPACITY_FEATURES) <= set(defs)
    assert all(defs[n].rationale for n in defs)
    assert "CC Q" in charge_columns() and len(charge_columns()) == 16


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batteryloop.cli", "health", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_cli_fits_a_model_and_predicts_with_it(tmp_path: Path) -> None:
    cells = tmp_path / "cells"
    cells.mkdir()
    for name, c, q, _ in synthetic_population(20, seed=9):
        pl.DataFrame({"cycle": c, "capacity_Ah": q}).write_csv(cells / f"{name}.csv")
    c, q = synthetic_cell(1500.0, np.random.default_rng(10))
    pl.DataFrame({"cycle": c[:400], "capacity_Ah": q[:400]}).write_csv(cells / "still-running.csv")
    proc = _cli("lifetime-model", "fit", str(cells), "--out", "model.json", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["training_cells"] == 20
    assert [Path(e["file"]).name for e in summary["excluded_cells"]] == ["still-running.csv"]
    assert "never reaches 80 %" in summary["excluded_cells"][0]["reason"]
    model = json.loads((tmp_path / "model.json").read_text())
    assert model["first_cycles"] == 100 and model["threshold_pct"] == 80.0 and len(model["training_cells"]) == 20

    pl.DataFrame({"cycle": c[:120], "capacity_Ah": q[:120]}).write_csv(tmp_path / "new.csv")
    proc = _cli("lifetime", "new.csv", "--population", "model.json", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["model"].startswith("population_ridge")
    assert result["threshold_cycle_low"] < result["threshold_cycle"] < result["threshold_cycle_high"]
    assert result["remaining_cycles"] == pytest.approx(result["threshold_cycle"] - 120, abs=0.2)
    assert abs(result["threshold_cycle"] - 1500) < 400

    proc = _cli("lifetime", "new.csv", "--population", "model.json", "--threshold-pct", "70", cwd=tmp_path)
    assert proc.returncode == 2 and "predicts 80 %, not 70 %" in proc.stderr
    proc = _cli("lifetime", "new.csv", "--population", "model.json", "--selection", "aicc", cwd=tmp_path)
    assert proc.returncode == 2 and "not to a population model" in proc.stderr

    pl.DataFrame({"cycle": c[:50], "capacity_Ah": q[:50]}).write_csv(tmp_path / "short.csv")
    proc = _cli("lifetime", "short.csv", "--population", "model.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert "short.csv" in proc.stderr and "shorter than the model's 100 cycles" in proc.stderr
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------------ PINN4SOH

SEVERSON_LEFT_OUT = {"2017-05-12": {9, 11, 13, 14, 23}, "2018-04-12": {3, 24, 33, 38, 43, 44}}  # 1-based files


@dataclass(frozen=True)
class Sample:
    name: str
    split: str
    features: dict[str, float]
    life: float


def _number(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[-1])


def severson_split(root: Path) -> dict[str, str]:
    """``batch/file stem`` -> train, MATR1 (primary test) or MATR2 (secondary test)."""
    ordered = [
        f"{batch}/{f.stem}"
        for batch in ("2017-05-12", "2017-06-30")
        for f in sorted((root / "MIT data" / batch).glob("*.csv"), key=_number)
        if _number(f) not in SEVERSON_LEFT_OUT.get(batch, set())
    ]
    assert len(ordered) == 84
    split = {name: "train" if i % 2 == 1 and i < 83 else "MATR1" for i, name in enumerate(ordered)}
    for f in sorted((root / "MIT data" / "2018-04-12").glob("*.csv"), key=_number):
        if _number(f) not in SEVERSON_LEFT_OUT["2018-04-12"]:
            split[f"2018-04-12/{f.stem}"] = "MATR2"
    return split


def hust_split(names: list[str], seed: int = 0) -> dict[str, str]:
    ordered = sorted(names)
    perm = np.random.default_rng(seed).permutation(len(ordered))
    n_train = round(0.75 * len(ordered))
    return {ordered[i]: "train" if rank < n_train else "HUST" for rank, i in enumerate(perm)}


def _features(path: Path) -> dict[str, float]:
    frame = pl.read_csv(path)
    y = frame["capacity"].to_numpy().astype(float)
    charge = {c: frame[c].to_numpy().astype(float) for c in charge_columns() if c in frame.columns}
    return early_features(np.arange(1, len(y) + 1, dtype=float), y, first_cycles=K, charge=charge, source=path.name)


def load_samples(root: Path) -> dict[str, list[Sample]]:
    """MIT and HUST samples with ground truth and a life > K, by data set ("MIT", "HUST")."""
    from tests.health.test_lifetime_pinn4soh import hust_cells, mit_cells

    mit, _, _ = mit_cells(root)
    split = severson_split(root)
    out: dict[str, list[Sample]] = {"MIT": [], "HUST": []}
    for cell in mit:
        if cell.name in split and cell.life > K:
            batch, stem = cell.name.split("/")
            feats = _features(root / "MIT data" / batch / f"{stem}.csv")
            out["MIT"].append(Sample(cell.name, split[cell.name], feats, cell.life))
    hust, _ = hust_cells(root)
    hsplit = hust_split([c.name for c in hust])
    for cell in hust:
        out["HUST"].append(
            Sample(cell.name, hsplit[cell.name], _features(root / "HUST data" / f"{cell.name}.csv"), cell.life)
        )
    return out


@dataclass(frozen=True)
class Result:
    group: str
    n_train: int
    n: int
    rmse: float
    mape: float
    coverage: float
    n_extrapolated: int
    rmse_in_range: float  # over the cells with every feature inside the training range
    rmse_outside: float  # over the flagged cells
    baseline_rmse: float  # predicting the training cells' mean life for every test cell
    cv_rmse: float
    penalty: float
    n_features: int


def evaluate(samples: list[Sample], feature_set: FeatureSet = FeatureSet.CHANGES) -> list[Result]:
    train = [s for s in samples if s.split == "train"]
    model = fit_population(
        [s.features for s in train], [s.life for s in train], [s.name for s in train], feature_set=feature_set
    )
    results = []
    for group in sorted({s.split for s in samples} - {"train"}):
        test = [s for s in samples if s.split == group]
        lives = np.array([s.life for s in test])
        predicted, covered, flagged = [], 0, []
        for s in test:
            x = model.vector(s.features)
            log_life = model.predict_log(x)
            low, high = model.interval(log_life, 0.9)
            predicted.append(math.exp(log_life))
            covered += (low is None or low <= s.life) and (high is None or s.life <= high)
            flagged.append(bool(model.out_of_range(x)))
        p = np.array(predicted)
        inside = ~np.array(flagged)
        results.append(
            Result(
                group=group,
                n_train=len(train),
                n=len(test),
                rmse=float(np.sqrt(np.mean((p - lives) ** 2))),
                mape=float(100 * np.mean(np.abs(p - lives) / lives)),
                coverage=covered / len(test),
                n_extrapolated=int(sum(flagged)),
                rmse_in_range=float(np.sqrt(np.mean((p - lives)[inside] ** 2))) if inside.any() else math.nan,
                rmse_outside=float(np.sqrt(np.mean((p - lives)[~inside] ** 2))) if (~inside).any() else math.nan,
                baseline_rmse=float(np.sqrt(np.mean((np.mean([s.life for s in train]) - lives) ** 2))),
                cv_rmse=model.cv_rmse_cycles,
                penalty=model.penalty,
                n_features=len(model.features),
            )
        )
    return results


@pytest.fixture(scope="module")
def samples() -> dict[str, list[Sample]]:
    from tests.conftest import shared_path

    return load_samples(shared_path("battery-aging", "pinn4soh"))


@pytest.mark.shared_data
def test_severson_split_sizes(samples: dict[str, list[Sample]]) -> None:
    counts = {g: sum(s.split == g for s in samples["MIT"]) for g in ("train", "MATR1", "MATR2")}
    assert counts == {"train": 39, "MATR1": 40, "MATR2": 28}
    assert sum(s.split == "train" for s in samples["HUST"]) == 55 and len(samples["HUST"]) == 73


@pytest.mark.shared_data
def test_mit_population_model_beats_per_cell_extrapolation(samples: dict[str, list[Sample]]) -> None:
    """Measured RMSE MATR1 222, MATR2 304 cycles (per-cell extrapolation: 1031, 622; BatteryML: 90, 149); the
    bounds leave about 15 % margin."""
    results = {r.group: r for r in evaluate(samples["MIT"])}
    assert results["MATR1"].rmse < 260 and results["MATR2"].rmse < 350
    for group, r in results.items():
        assert r.rmse < 0.5 * PER_CELL_RMSE[group], group
    assert results["MATR1"].coverage >= 0.8  # measured 0.90 at a nominal 0.90
    assert results["MATR2"].coverage >= 0.6  # measured 0.68: batch 2018-04-12 differs from the training batches


def hust_resplit_rmse(samples: list[Sample], seeds: range = range(20)) -> list[float]:
    """Test RMSE of the fixed split's rule repeated with other seeds (one 18-cell test set is a noisy estimate)."""
    out = []
    for seed in seeds:
        split = hust_split([s.name for s in samples], seed=seed)
        (r,) = evaluate([Sample(s.name, split[s.name], s.features, s.life) for s in samples])
        out.append(r.rmse)
    return out


@pytest.mark.shared_data
def test_hust_population_model_beats_per_cell_extrapolation(samples: dict[str, list[Sample]]) -> None:
    """Split of seed 0: RMSE 159 cycles on 18 held-out cells, coverage 1.0; over 20 seeds the median RMSE is 233
    (159-371). Per-cell extrapolation: 1143; BatteryML: 322 on its own split."""
    (r,) = evaluate(samples["HUST"])
    assert r.n == 18
    assert r.rmse < 190  # about 20 % margin
    assert r.coverage >= 0.8
    rmses = hust_resplit_rmse(samples["HUST"])
    assert float(np.median(rmses)) < 270  # 15 % margin
    assert max(rmses) < 0.5 * PER_CELL_RMSE["HUST"]


def report() -> None:
    from tests.conftest import shared_data_dir

    t0 = time.perf_counter()
    samples = load_samples(shared_data_dir() / "battery-aging" / "pinn4soh")
    print(f"features of {sum(len(v) for v in samples.values())} cells in {time.perf_counter() - t0:.1f} s")
    print(
        "| test set | features | train cells | test cells | RMSE [cycles] | MAPE [%] | 90 % interval coverage | "
        "extrapolated | RMSE of the others | RMSE of the flagged | mean-life baseline | train LOO RMSE | penalty | per-cell RMSE (first 100) | BatteryML RMSE |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for feature_set in (FeatureSet.CHANGES, FeatureSet.CAPACITY, FeatureSet.ALL):
        for data in ("MIT", "HUST"):
            for r in evaluate(samples[data], feature_set):
                print(
                    f"| {r.group} | {feature_set.value} ({r.n_features}) | {r.n_train} | {r.n} | {r.rmse:.0f} | "
                    f"{r.mape:.1f} | {r.coverage:.2f} | {r.n_extrapolated} | {r.rmse_in_range:.0f} | {r.rmse_outside:.0f} | {r.baseline_rmse:.0f} | {r.cv_rmse:.0f} | {r.penalty:.2g} | "
                    f"{PER_CELL_RMSE[r.group]} | {BATTERYML_RMSE[r.group]} |"
                )
    rmses = hust_resplit_rmse(samples["HUST"])
    q = np.percentile(rmses, [0, 25, 50, 75, 100])
    print(
        f"HUST, 20 random 75/25 splits (seeds 0-19): RMSE min {q[0]:.0f}, quartiles {q[1]:.0f} / {q[2]:.0f} / {q[3]:.0f}, max {q[4]:.0f}"
    )
    for data in ("MIT", "HUST"):
        for group in sorted({s.split for s in samples[data]}):
            names = sorted((s.name for s in samples[data] if s.split == group), key=_sort_key)
            batches: dict[str, list[str]] = {}
            for n in names:
                batch, _, cell = n.rpartition("/")
                batches.setdefault(batch, []).append(cell.rsplit("battery-", 1)[-1])
            text = "; ".join(f"{b or 'cells'}: {', '.join(cells)}" for b, cells in batches.items())
            print(f"{data} {group} ({len(names)}): {text}")
    split = severson_split(shared_data_dir() / "battery-aging" / "pinn4soh")
    scored = {s.name for s in samples["MIT"]}
    print("MIT cells of the split without a ground truth or with a life <= K:")
    for name, group in sorted(split.items(), key=lambda item: _sort_key(item[0])):
        if name not in scored:
            print(f"  {group}: {name}")


def _sort_key(name: str) -> tuple[str, int]:
    head, _, number = name.rpartition("-")
    return head, int(number) if number.isdigit() else 0


if __name__ == "__main__":
    report()
