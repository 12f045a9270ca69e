"""The national material-flow model: cohort arithmetic, mass balance, scenarios, CLI and bad scenario files.

The model runs on the package's own cited tables here, so these tests run in a fresh clone too; that those tables equal
the published files of ../shared/data (and so give the same results) is tests/circularity/test_published.py.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import weibull_min  # type: ignore[import-untyped]

from batteryloop.circularity.material_flow import (
    ModelData,
    Scenario,
    Weibull,
    inflow_driven,
    load_model_data,
    read_inflow_csv,
    read_scenario,
    run,
    scenario_from_dict,
    survival_matrix,
)
from batteryloop.errors import ValidationError

SCENARIOS = Path(__file__).parents[2] / "src/batteryloop/circularity/scenarios"


@pytest.fixture(scope="module")
def data() -> ModelData:
    return load_model_data(None)


# ---- the stock model ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0.0, 0.5, 1.0])
def test_a_single_cohort_with_an_exponential_lifetime_follows_the_closed_form(offset: float) -> None:
    rate, n = 0.2, 12  # mean life 5 years
    inflow = np.zeros((n, 1))
    inflow[0, 0] = 1000.0
    flows = inflow_driven(inflow, np.array([1.0]), np.array([1 / rate]), offset)
    t = np.arange(n)
    np.testing.assert_allclose(flows.stock[:, 0], 1000.0 * np.exp(-rate * (t + offset)), rtol=1e-12)
    expected_out = np.empty(n)
    expected_out[0] = 1000.0 * (1 - math.exp(-rate * offset))
    expected_out[1:] = 1000.0 * (np.exp(-rate * (t[1:] - 1 + offset)) - np.exp(-rate * (t[1:] + offset)))
    np.testing.assert_allclose(flows.outflow[:, 0], expected_out, rtol=1e-12, atol=1e-12)


def test_weibull_survival_agrees_with_scipy() -> None:
    ages = np.linspace(0, 40, 401)
    for shape, scale in [(1.0, 5.0), (2.0, 4.0), (3.0, 14.0), (0.7, 2.0)]:
        np.testing.assert_allclose(
            Weibull(shape, scale).survival(ages), weibull_min.sf(ages, c=shape, scale=scale), rtol=1e-12
        )
        assert Weibull(shape, scale).mean == pytest.approx(weibull_min.mean(c=shape, scale=scale), rel=1e-12)
    sf = survival_matrix(10, np.array([2.5, 3.0]), np.array([6.0, 14.0]), 0.5)
    for t in range(10):
        for c in range(10):
            want = weibull_min.sf([t - c + 0.5], c=[2.5, 3.0], scale=[6.0, 14.0]) if t >= c else [0.0, 0.0]
            np.testing.assert_allclose(sf[t, c], want, rtol=1e-12, atol=0)


def test_inflow_minus_outflow_is_the_stock_change() -> None:
    rng = np.random.default_rng(5)
    inflow = rng.uniform(0, 1000, size=(30, 4))
    flows = inflow_driven(inflow, np.array([1.0, 2.0, 3.5, 0.8]), np.array([3.0, 8.0, 15.0, 1.5]))
    stock = np.vstack([np.zeros((1, 4)), flows.stock])
    np.testing.assert_allclose(inflow - flows.outflow, np.diff(stock, axis=0), rtol=0, atol=1e-9)


# ---- scenarios on the Dutch data ------------------------------------------------------------------------------------


def test_the_default_inflow_carries_the_published_tonnages(data: ModelData) -> None:
    def total(year: int, category: str) -> float:
        return sum(t for (y, c, _), t in data.inflow.items() if (y, c) == (year, category))

    # Eurostat env_waspb NLD = Stibat annual reports (8.76, 10.89, 11.87 million kg)
    assert total(2019, "portable") == pytest.approx(8762)
    assert total(2020, "portable") == pytest.approx(10888)
    assert total(2021, "portable") == pytest.approx(11871)
    assert total(2020, "LMT") == pytest.approx(1630)  # EPAC e-bike batteries
    assert total(2022, "LMT") == pytest.approx(2200)


def test_mass_balance_closes_for_every_group_and_element(data: ModelData) -> None:
    for file in SCENARIOS.glob("*.toml"):
        result = run(read_scenario(file, data.chemistries), data, 2040)
        stock = np.vstack([np.zeros((1, result.stock.shape[1])), result.stock])
        change = np.diff(stock, axis=0)
        scale = result.inflow.max()
        np.testing.assert_allclose(result.inflow - result.eol_outflow, change, rtol=0, atol=1e-9 * scale)
        np.testing.assert_allclose(
            result.element(result.inflow) - result.element(result.eol_outflow),
            result.element(change),
            rtol=0,
            atol=1e-9 * scale,
        )
        assert (result.collected <= result.eol_outflow + 1e-12).all()
        np.testing.assert_allclose(result.primary + np.minimum(result.secondary, result.demand), result.demand)


def test_second_life_delays_the_end_of_life_of_ev_batteries(data: ModelData) -> None:
    base = scenario_from_dict({"name": "s0", "second_life": {"EV_pct": 0.0}}, "s0")
    half = replace(base, name="s50", second_life_pct=50.0)
    r0, r50 = run(base, data, 2040), run(half, data, 2040)
    ev = [j for j, (c, _) in enumerate(r0.groups) if c == "EV"]
    other = [j for j, (c, _) in enumerate(r0.groups) if c != "EV"]
    np.testing.assert_allclose(r50.repurposed[:, ev], 0.5 * r50.first_life_outflow[:, ev])
    np.testing.assert_allclose(r50.first_life_outflow, r0.first_life_outflow)
    assert (r50.stock[-1, ev] > r0.stock[-1, ev]).all()
    assert (np.cumsum(r50.eol_outflow[:, ev], axis=0) <= np.cumsum(r0.eol_outflow[:, ev], axis=0) + 1e-9).all()
    np.testing.assert_allclose(r50.eol_outflow[:, other], r0.eol_outflow[:, other])
    # what is not at end of life is in one of the two stocks
    np.testing.assert_allclose(
        r50.inflow[:, ev].sum(axis=0) - r50.eol_outflow[:, ev].sum(axis=0), r50.stock[-1, ev], rtol=1e-12
    )


def test_higher_collection_gives_more_secondary_supply(data: ModelData) -> None:
    low = scenario_from_dict({"name": "low", "collection": {c: 30.0 for c in ("portable", "LMT", "EV")}}, "low")
    high = scenario_from_dict({"name": "high", "collection": {c: 90.0 for c in ("portable", "LMT", "EV")}}, "high")
    r_low, r_high = run(low, data, 2040), run(high, data, 2040)
    li = r_low.elements.index("Li")
    assert (r_high.secondary[:, li] > r_low.secondary[:, li]).all()
    assert (r_high.primary[:, li] < r_low.primary[:, li]).all()
    np.testing.assert_allclose(r_high.demand, r_low.demand)


def test_shipped_scenarios_order_as_expected(data: ModelData) -> None:
    results = {f.stem: run(read_scenario(f, data.chemistries), data, 2040) for f in sorted(SCENARIOS.glob("*.toml"))}
    cur, reg, dep, lfp = (results[k] for k in ("current_policy", "regulation_targets", "deposit_refund", "lfp_heavy"))
    i2030 = 2030 - int(cur.years[0])
    for e in ("Li", "Co", "Ni", "Cu"):
        k = cur.elements.index(e)
        assert reg.secondary[i2030, k] > cur.secondary[i2030, k]
        assert dep.secondary[i2030, k] > reg.secondary[i2030, k]
    co = cur.elements.index("Co")
    assert lfp.demand[i2030, co] < reg.demand[i2030, co]  # LFP carries no cobalt
    # Regulation targets by date: portable collection 45 % (2023), 63 % (2027), 73 % (2030); Li recovery 50 % / 80 %
    port = reg.groups.index(("portable", "NMC 111"))
    rate = dict(zip(reg.years.tolist(), reg.collection_rate_pct[:, port], strict=True))
    assert (rate[2026], rate[2027], rate[2030]) == (45.0, 63.0, 73.0)
    li = reg.elements.index("Li")
    recovery = dict(zip(reg.years.tolist(), reg.recovery_pct[:, li], strict=True))
    assert (recovery[2026], recovery[2027], recovery[2031]) == (30.0, 50.0, 80.0)
    # the deposit only touches LMT, and only once batteries with a deposit reach end of life
    lmt = [j for j, (c, _) in enumerate(dep.groups) if c == "LMT"]
    rest = [j for j, (c, _) in enumerate(dep.groups) if c != "LMT"]
    np.testing.assert_allclose(dep.collected[:, rest], reg.collected[:, rest])
    before = dep.years < 2027
    np.testing.assert_allclose(dep.collected[before][:, lmt], reg.collected[before][:, lmt])


def test_an_inflow_file_replaces_the_default(tmp_path: Path, data: ModelData) -> None:
    inflow = tmp_path / "inflow.csv"
    inflow.write_text("year,category,chemistry,tonnes\n2020,EV,LFP,100\n", encoding="utf-8")
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        'name = "one"\nfirst_year = 2020\n[inflow]\nfile = "inflow.csv"\ntiming = "end"\n[second_life]\nEV_pct = 0\n'
    )
    result = run(read_scenario(scenario, data.chemistries), data, 2022)
    assert result.groups == [("EV", "LFP")]
    # after its last year the table grows at the EV growth rate of mfa_inflow_nl.csv (5 %/yr)
    assert result.inflow[:, 0].tolist() == pytest.approx([100.0, 105.0, 110.25])
    # EV lifetime Weibull(3, 14), inflow at the end of the year: nothing leaves in its first year
    sf = weibull_min.sf([0, 1, 2], c=3.0, scale=14.0)
    assert result.stock[:, 0].tolist() == pytest.approx(
        [100 * sf[0], 100 * sf[1] + 105 * sf[0], 100 * sf[2] + 105 * sf[1] + 110.25 * sf[0]], rel=1e-12
    )


# ---- bad input ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('name = "x"\n[collection]\nbogus = 40\n', "collection.bogus"),
        ('name = "x"\n[collection]\nportable = 140\n', "collection.portable"),
        ('name = "x"\n[collection]\nportable = {2030 = "high"}\n', "collection.portable.2030"),
        ('name = "x"\n[deposit]\nstart_year = 2027\ndeposit_eur = "fifty"\n', "deposit.deposit_eur"),
        ('name = "x"\n[deposit]\ncategory = "EV"\nstart_year = 2027\ndeposit_eur = 5\n', "deposit.category"),
        ('name = "x"\n[mix]\nfrom_year = 2025\nEV = {LFP = 0.5}\n', "mix.EV"),
        ('name = "x"\n[mix]\nfrom_year = 2025\nEV = {LCO = 1.0}\n', "mix.EV.LCO"),
        ('name = "x"\ncolour = "red"\n', "colour"),
        ("description = 'no name'\n", "name"),
        ('name = "x"\n[second_life]\nEV_pct = -5\n', "second_life.EV_pct"),
        ('name = "x"\n[inflow]\ntiming = "noon"\n', "inflow.timing"),
        ('name = "x\n', "s.toml"),
    ],
)
def test_a_bad_scenario_file_is_refused_naming_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        read_scenario(path, ["LFP", "NMC 811", "NMC 622"])
    fields = [p.field for p in caught.value.problems]
    assert any(f.endswith(field) and str(path) in f for f in fields), fields


def test_a_bad_inflow_file_names_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "inflow.csv"
    path.write_text(
        "year,category,chemistry,tonnes\n2020,EV,LFP,-1\n20x0,EV,LFP,5\n2021,boat,LFP,5\n2021,EV,LFP,1\n2021,EV,LFP,2\n"
    )
    with pytest.raises(ValidationError) as caught:
        read_inflow_csv(path, ["LFP"])
    fields = [p.field for p in caught.value.problems]
    assert f"{path}:2: tonnes" in fields
    assert f"{path}:3: year" in fields
    assert f"{path}:4: category" in fields
    assert f"{path}:6" in fields  # duplicate


# ---- the command ----------------------------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: the shared data where found, else the package tables (the same figures)."""
    return subprocess.run(
        [sys.executable, "-m", "batteryloop.cli", "circularity", "mfa", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_the_command_writes_csvs_and_plots(tmp_path: Path, data: ModelData) -> None:
    files = [str(SCENARIOS / f) for f in ("current_policy.toml", "deposit_refund.toml")]
    proc = _cli("--scenario", files[0], "--scenario", files[1], "--until", "2035", "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with (tmp_path / "elements.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["scenario"] for r in rows} == {"current-policy", "deposit-refund"}
    assert max(int(r["year"]) for r in rows) == 2035
    ours = run(read_scenario(Path(files[0]), data.chemistries), data, 2035)
    li = ours.elements.index("Li")
    row = next(r for r in rows if (r["scenario"], r["year"], r["element"]) == ("current-policy", "2030", "Li"))
    assert float(row["secondary_supply_t"]) == pytest.approx(ours.secondary[2030 - 2009, li], rel=1e-5)
    with (tmp_path / "deposit.csv").open() as handle:
        assert {r["scenario"] for r in csv.DictReader(handle)} == {"deposit-refund"}
    svg = (tmp_path / "secondary_share_Li.svg").read_text()
    assert svg.startswith("<svg") and "2030 goal" in svg and "deposit-refund" in svg
    goal = (tmp_path / "goal_2030.csv").read_text()
    assert "current-policy,2030,Li" in goal


def test_the_command_names_the_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[collection]\nportable = "lots"\n')
    proc = _cli("--scenario", str(bad), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "collection.portable" in proc.stderr and "Traceback" not in proc.stderr
    same = [str(SCENARIOS / "current_policy.toml")] * 2
    proc = _cli("--scenario", same[0], "--scenario", same[1], "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2 and "unique name" in proc.stderr


def test_the_scenario_dataclass_defaults_run(data: ModelData) -> None:
    result = run(Scenario(name="plain"), data, 2030)
    assert result.years[0] == 2009 and result.years[-1] == 2030
