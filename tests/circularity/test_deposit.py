"""Deposit-refund for LMT batteries: the return response, cash flows by hand, and its effect in the flow model."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from batteryloop.circularity.deposit import (
    PARAMETER_KEYS,
    PARAMETERS_FILE,
    DepositParameters,
    DepositScheme,
    default_parameters,
    evaluate,
    read_parameters,
    return_rate_pct,
)
from batteryloop.circularity.material_flow import load_model_data, run, scenario_from_dict
from batteryloop.errors import ValidationError

PARAMS = DepositParameters(
    maximum_return_pct=91.0, half_saturation_eur=25.0, unit_mass_kg=2.5, residual_share_pct=50.0, fires_per_tonne=0.1
)


def test_every_parameter_has_a_source_and_a_range() -> None:
    table = read_parameters()
    assert set(PARAMETER_KEYS) <= set(table)
    for key in PARAMETER_KEYS:
        p = table[key]
        assert p.low <= p.value <= p.high, key
        assert len(p.source) > 20, key
    # e-bike battery mass derived from the Stibat/EPAC 2020 figures: 1,630 t over 553,000 batteries
    assert default_parameters().unit_mass_kg == pytest.approx(1630e3 / 553e3, abs=0.01)


def test_a_parameter_table_without_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("key,value,low,high,unit,source\nunit_mass_kg,abc,1,2,kg,x\n")
    with pytest.raises(ValidationError) as caught:
        read_parameters(path)
    fields = [p.field for p in caught.value.problems]
    assert f"{path}:2" in fields and f"{path}:fires_per_tonne" in fields


def test_the_return_response_by_hand() -> None:
    assert return_rate_pct(0.0, 20.0, PARAMS) == 20.0
    assert return_rate_pct(25.0, 20.0, PARAMS) == pytest.approx(20 + 71 * 0.5)  # half the gap at d_half
    assert return_rate_pct(75.0, 20.0, PARAMS) == pytest.approx(20 + 71 * 0.75)
    assert return_rate_pct(1e9, 20.0, PARAMS) == pytest.approx(91.0)
    assert return_rate_pct(50.0, 95.0, PARAMS) == 95.0  # a deposit never lowers the rate
    rates = [return_rate_pct(d, 20.0, PARAMS) for d in (5, 10, 20, 40, 80)]
    assert rates == sorted(rates)


def test_cash_flows_of_one_cohort_by_hand() -> None:
    # 1,000 batteries of 2.5 kg (2.5 t) sold in 2027 with EUR 25 deposit; half reach end of life in 2028, half in 2029
    years = np.array([2027, 2028, 2029])
    scheme = DepositScheme("LMT", 2027, 25.0, PARAMS)
    outcome = evaluate(
        scheme,
        years,
        inflow_with_deposit_t=np.array([2.5, 0.0, 0.0]),
        eol_with_deposit_t=np.array([0.0, 1.25, 1.25]),
        eol_total_t=np.array([0.0, 1.25, 2.5]),
        baseline_rate_pct=np.array([20.0, 20.0, 20.0]),
    )
    r = 0.555  # 20 % + (91 - 20) % * 25 / (25 + 25)
    assert outcome.units_sold.tolist() == pytest.approx([1000, 0, 0])
    assert outcome.deposits_eur.tolist() == pytest.approx([25000, 0, 0])
    assert outcome.refunds_eur.tolist() == pytest.approx([0, 500 * r * 25, 500 * r * 25])
    assert outcome.unredeemed_eur.tolist() == pytest.approx([0, 500 * (1 - r) * 25, 500 * (1 - r) * 25])
    assert outcome.fund_balance_eur.tolist() == pytest.approx([25000, 12500, 0], abs=1e-9)
    # 2029: half of the end-of-life mass carries a deposit
    assert outcome.collection_rate_pct.tolist() == pytest.approx([20.0, 55.5, 0.5 * 55.5 + 0.5 * 20.0])
    assert outcome.misplaced_t[2] == pytest.approx(2.5 * (1 - 0.3775) * 0.5)
    assert outcome.misplaced_baseline_t[2] == pytest.approx(2.5 * 0.8 * 0.5)
    assert outcome.fires[2] == pytest.approx(outcome.misplaced_t[2] * 0.1)


def test_in_the_flow_model_the_fund_holds_the_deposits_of_batteries_in_use() -> None:
    data = load_model_data(None)  # the package tables; equal to ../shared/data (tests/circularity/test_published.py)
    doc = {"name": "dep", "deposit": {"category": "LMT", "start_year": 2027, "deposit_eur": 40.0}}
    with_deposit = run(scenario_from_dict(doc, "dep"), data, 2040)
    without = run(scenario_from_dict({"name": "none"}, "none"), data, 2040)
    d = with_deposit.deposit
    assert d is not None
    assert (d.deposits_eur[with_deposit.years < 2027] == 0).all()
    # the fund balance is the deposit times the batteries with a deposit still in use (LMT has no second life)
    lmt = [j for j, (c, _) in enumerate(with_deposit.groups) if c == "LMT"]
    carrying = with_deposit.years >= 2027
    sold = np.cumsum(with_deposit.inflow[:, lmt].sum(axis=1) * carrying)
    gone = np.cumsum(d.refunds_eur + d.unredeemed_eur) / 40.0 * default_parameters().unit_mass_kg / 1000
    np.testing.assert_allclose(d.fund_balance_eur, (sold - gone) * 1000 / default_parameters().unit_mass_kg * 40.0)
    assert (d.fund_balance_eur[carrying] > 0).all()
    # collection rises and misplaced batteries (and fires) fall once deposit cohorts reach end of life
    later = with_deposit.years >= 2030
    assert (d.collection_rate_pct[later] > d.baseline_collection_rate_pct[later]).all()
    assert (d.fires[later] < d.fires_baseline[later]).all()
    j = lmt[0]
    assert (with_deposit.collected[later, j] > without.collected[later, j]).all()
    li = with_deposit.elements.index("Li")
    assert (with_deposit.secondary[later, li] > without.secondary[later, li]).all()


def test_the_shipped_parameter_file_is_readable_as_csv() -> None:
    with PARAMETERS_FILE.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["key"] for r in rows} == set(PARAMETER_KEYS)
