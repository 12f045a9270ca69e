"""OCV tables: the shipped ones (derived from PyBaMM parameter sets by scripts/ocv_tables.py) and user tables."""

from __future__ import annotations

import numpy as np
import pytest

from batteryloop.errors import ValidationError
from batteryloop.health.ocv import default_chemistries, default_table, parse_table


def test_every_chemistry_but_lmo_has_a_cited_table():
    assert default_chemistries() == ["LCO", "LFP", "NCA", "NMC"]
    for chem in default_chemistries():
        table = default_table(chem)
        assert np.all(np.diff(table.ocv_V) > 0), chem
        assert table.soc_pct[0] == 0 and table.soc_pct[-1] == 100
        assert "PyBaMM" in table.source and "doi:" in table.source


@pytest.mark.parametrize(
    ("chem", "low", "high", "mid_range"),
    [
        # the parameter sets' voltage windows, and the cell's nominal voltage near 50 % SoC from its datasheet:
        # LG M50 3.63 V (NMC), A123 ANR26650 3.3 V (LFP), Sony LCO 18650 3.7 V, NCA 3.6 V
        ("NMC", 2.5, 4.2, (3.55, 3.8)),
        ("LFP", 2.0, 3.6, (3.2, 3.35)),
        ("LCO", 2.8, 4.2, (3.7, 3.9)),
        ("NCA", 2.7, 4.2, (3.55, 3.75)),
    ],
)
def test_tables_span_their_windows_and_sit_at_the_nominal_voltage(chem, low, high, mid_range):
    table = default_table(chem)
    assert table.ocv_min_V == pytest.approx(low, abs=1e-3)
    assert table.ocv_max_V == pytest.approx(high, abs=1e-3)
    assert mid_range[0] < float(table.ocv_at(50.0)) < mid_range[1]


def test_lfp_plateau_is_flat_and_weighs_little():
    lfp = default_table("LFP")
    nmc = default_table("NMC")
    assert float(lfp.slope_at(50.0)) < 0.2 * float(nmc.slope_at(50.0))


def test_inverse_slope_and_mean():
    table = parse_table("soc_pct,ocv_V\n0,3.0\n50,3.5\n100,4.0\n", "t.csv")
    assert float(table.soc_at(3.25)) == pytest.approx(25.0)
    assert float(table.slope_at(40.0)) == pytest.approx(0.01)
    assert float(table.mean_ocv(0.0, 100.0)) == pytest.approx(3.5)
    assert float(table.mean_ocv(20.0, 20.0)) == pytest.approx(3.2)
    assert float(table.soc_at(5.0)) == 100.0  # clipped to the table


def test_lmo_has_no_default_table():
    with pytest.raises(ValidationError) as err:
        default_table("LMO")
    assert err.value.problems[0].field == "chemistry"
    assert "--ocv-table" in (err.value.problems[0].expected or "")


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("soc,ocv\n0,3\n", "bad.csv", "lacks the column"),
        ("soc_pct,ocv_V\n0,3.0\n50,abc\n100,4.0\n", "bad.csv:row 3", "not a number"),
        ("soc_pct,ocv_V\n0,3.0\n50,3.8\n100,3.7\n", "bad.csv:ocv_V", "falls"),
        ("soc_pct,ocv_V\n0,300\n50,350\n100,400\n", "bad.csv:row 2:ocv_V", "not a cell voltage"),
        ("soc_pct,ocv_V\n0,3.0\n150,3.5\n", "bad.csv:row 3:soc_pct", "outside 0..100"),
        ("soc_pct,ocv_V\n0,3.0\n100,4.0\n", "bad.csv", "2 rows"),
    ],
)
def test_bad_tables_are_named(text, field, says):
    with pytest.raises(ValidationError) as err:
        parse_table(text, "bad.csv")
    fields = [p.field for p in err.value.problems]
    assert field in fields
    assert says in str(err.value)
