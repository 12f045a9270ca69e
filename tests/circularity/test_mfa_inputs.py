"""The material-flow inputs (``mfa_*.csv``): every row says where it comes from, and every figure quoted from the
shared data is recomputed from it (the LMT three-year rate, the EV second-use shares, the portable growth rates, the
SLI tonnage, the range of the Dutch portable rates)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from tests.conftest import shared_path

HERE = Path(__file__).resolve().parents[2] / "src" / "batteryloop" / "circularity"
DATA_WORDS = ("nl_battery_flows", "eurostat", "batpac", "stibat", "arn")


def rows(name: str) -> list[dict[str, str]]:
    with (HERE / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name", sorted(p.name for p in HERE.glob("mfa_*.csv")))
def test_every_row_is_data_or_a_stated_assumption(name: str) -> None:
    for i, row in enumerate(rows(name), start=2):
        source = row["source"].strip()
        assert source, f"{name}:{i} has no source"
        lower = source.lower()
        assert source == "same" or "assumption" in lower or any(w in lower for w in DATA_WORDS), (
            f"{name}:{i}: the source neither cites data nor says 'Assumption': {source!r}"
        )


def flows() -> dict[tuple[int, str, str], float]:
    path = shared_path("circularity", "nl_battery_flows", "nl_battery_flows_by_year.csv")
    with path.open(encoding="utf-8") as handle:
        return {(int(r["year"]), r["stream"], r["metric"]): float(r["value"]) for r in csv.DictReader(handle)}


def value(name: str, **match: str) -> dict[str, str]:
    (row,) = [r for r in rows(name) if all(r[k] == v for k, v in match.items())]
    return row


@pytest.mark.shared_data
def test_quoted_figures_match_the_shared_data() -> None:
    f = flows()
    # LMT: 305 / mean(1,630, 1,900, 2,200) = 15.97 % -> "16.0 %"; the 2017 reported 26.7 %
    lmt_2022 = (
        100 * f[(2022, "epac_ebike", "collected")] / (sum(f[(y, "epac_ebike", "pom")] for y in (2020, 2021, 2022)) / 3)
    )
    lmt = value("mfa_defaults.csv", key="collection_pct", category="LMT")
    assert f"{lmt_2022:.1f} %" in lmt["source"] and "26.7 %" in lmt["source"]
    assert lmt_2022 < float(lmt["value"]) < f[(2017, "epac_ebike", "collection_rate_reported")]
    # EV second use: 2022 24.1 %, 2021 53.4 %
    ev = value("mfa_defaults.csv", key="second_life_share")["source"]
    for year in (2021, 2022):
        share = 100 * f[(year, "ev_traction", "to_second_use")] / f[(year, "ev_traction", "collected")]
        assert f"{share:.1f} % {year}" in ev
    # portable: the reported rates 2015-2022 span 41.4-50.6 %
    reported = [v for (y, s, m), v in f.items() if s == "portable" and m == "collection_rate_reported" and y >= 2015]
    portable = value("mfa_defaults.csv", key="collection_pct", category="portable")
    assert (min(reported), max(reported)) == (41.4, 50.6)
    assert "41.4-50.6 %" in portable["source"] and min(reported) <= float(portable["value"]) <= max(reported)
    # SLI tonnage: 13,442.792 t collected and recycled in 2019
    sli = value("mfa_inflow_nl.csv", key="sli_pom_t")
    assert float(sli["value"]) == round(f[(2019, "sli_lead_acid", "collected_recycled")])


@pytest.mark.shared_data
def test_portable_growth_figures_match_eurostat() -> None:
    path = shared_path("circularity", "eurostat_portable_pom", "portable_batteries_pom_tonnes.csv")
    with path.open(encoding="utf-8") as handle:
        nl = {int(r["year"]): float(r["pom_tonnes"]) for r in csv.DictReader(handle) if r["geo"] == "NLD"}

    def cagr(a: int, b: int) -> float:
        return 100.0 * (math.pow(nl[b] / nl[a], 1.0 / (b - a)) - 1.0)

    source = value("mfa_inflow_nl.csv", key="growth_pct", category="portable")["source"]
    assert f"{cagr(2013, 2021):+.1f} %/yr" in source
    assert f"{cagr(2009, 2021):+.1f} %/yr" in source
    assert f"{cagr(2021, 2023):+.1f} %/yr" in source
    assert f"{nl[2013]:,.0f} t (2013)" in source and f"{nl[2023]:,.0f} t (2023)" in source
