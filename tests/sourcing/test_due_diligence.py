"""Supply-chain due diligence: graph validation and OECD step-2 risk screening (``batteryloop sourcing screen``)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from batteryloop.errors import ValidationError
from batteryloop.sourcing import due_diligence as dd

AS_OF = date(2026, 11, 28)
GOOD_AUDIT = {"scheme": "RMAP", "date": "2026-03-01", "result": "conformant"}


def clean_doc() -> dict[str, Any]:
    """A cobalt chain entirely in countries without listed CAHRA regions, every node audited recently."""
    nodes = [
        {"id": "mine-fi", "role": "mine", "country": "FI", "region": "Kainuu", "audit": GOOD_AUDIT},
        {"id": "rec-de", "role": "recycler", "country": "DE", "audit": GOOD_AUDIT, "recycled_input_share_pct": 100},
        {"id": "ref-fi", "role": "smelter_refiner", "country": "FI", "region": "Kokkola", "audit": GOOD_AUDIT},
        {"id": "cam-be", "role": "cathode_producer", "country": "BE", "audit": GOOD_AUDIT},
        {"id": "cell-se", "role": "cell_maker", "country": "SE", "audit": GOOD_AUDIT, "recycled_input_share_pct": 12.5},
    ]
    edges = [
        {"from": "mine-fi", "to": "ref-fi"},
        {"from": "rec-de", "to": "ref-fi"},
        {"from": "ref-fi", "to": "cam-be"},
        {"from": "cam-be", "to": "cell-se"},
    ]
    return {"models": [{"model": "BL-100", "materials": {"cobalt": {"nodes": nodes, "edges": edges}}}]}


def cobalt(doc: dict[str, Any]) -> dict[str, Any]:
    graph: dict[str, Any] = doc["models"][0]["materials"]["cobalt"]
    return graph


def node(doc: dict[str, Any], node_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in cobalt(doc)["nodes"] if n["id"] == node_id)
    return found


def run(doc: dict[str, Any], **kw: Any) -> list[dd.Finding]:
    return dd.screen(dd.parse_graph(doc), as_of=AS_OF, **kw)


def problems_of(doc: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        dd.parse_graph(doc)
    return [(p.field, p.message) for p in info.value.problems]


# --- screening -------------------------------------------------------------------------------------------------------


def test_clean_graph_gives_no_findings() -> None:
    assert run(clean_doc()) == []


def test_unaudited_smelter_in_listed_region_is_found() -> None:
    doc = clean_doc()
    ref = node(doc, "ref-fi")
    ref.update(country="UA", region="Mykolayiv")  # a region named in the 30 Sep 2024 CAHRA update
    del ref["audit"]
    findings = run(doc)
    got = {(f.node, f.rule, f.severity) for f in findings}
    assert got == {("ref-fi", "cahra_region", "high"), ("ref-fi", "unaudited_smelter", "high")}
    cahra = next(f for f in findings if f.rule == "cahra_region")
    assert cahra.model == "BL-100" and cahra.material == "cobalt"
    assert "2017/821" in cahra.citation and "2024-09-30" in cahra.message


def test_region_match_ignores_case_hyphen_and_apostrophe() -> None:
    doc = clean_doc()
    node(doc, "mine-fi").update(country="LB", region="mount-lebanon")
    node(doc, "cam-be").update(country="UA", region="Sevastopol'")
    assert {(f.node, f.rule) for f in run(doc)} == {("mine-fi", "cahra_region"), ("cam-be", "cahra_region")}


def test_country_with_listed_regions_but_other_region_is_medium() -> None:
    doc = clean_doc()
    node(doc, "cam-be").update(country="UA", region="Lviv")
    findings = run(doc)
    assert [(f.node, f.rule, f.severity) for f in findings] == [("cam-be", "cahra_country", "medium")]


def test_user_cahra_file_replaces_the_shipped_list(tmp_path: Path) -> None:
    path = tmp_path / "cahra.csv"
    path.write_text("country,region,status,list_date,source_url\nFI,,high-risk,2026-10-01,https://example.org/l\n")
    entries = dd.load_cahra(path)
    findings = run(clean_doc(), cahra=entries)
    # whole-country entry: both Finnish nodes, nothing else; the shipped Ukrainian entries are gone
    assert {(f.node, f.rule) for f in findings} == {("mine-fi", "cahra_region"), ("ref-fi", "cahra_region")}
    doc = clean_doc()
    node(doc, "cam-be").update(country="UA", region="Mykolayiv")
    assert {f.node for f in run(doc, cahra=entries)} == {"mine-fi", "ref-fi"}


def test_user_cahra_file_unknown_country_named(tmp_path: Path) -> None:
    path = tmp_path / "cahra.csv"
    path.write_text("country,region,status,list_date,source_url\nQQ,North,conflict,2026-10-01,x\n")
    with pytest.raises(ValidationError) as info:
        dd.load_cahra(path)
    assert [p.field for p in info.value.problems] == [f"{path}:2.country"]


def test_stale_and_failed_audits() -> None:
    doc = clean_doc()
    node(doc, "cam-be")["audit"] = {"scheme": "IRMA", "date": "2023-01-01", "result": "conformant"}
    node(doc, "mine-fi")["audit"] = {"scheme": "RMAP", "date": "2026-06-30", "result": "non_conformant"}
    findings = run(doc)
    assert {(f.node, f.rule) for f in findings} == {("cam-be", "stale_audit"), ("mine-fi", "failed_audit")}
    stale = next(f for f in findings if f.rule == "stale_audit")
    assert "46 months" in stale.message  # 2023-01-01 -> 2026-11-28: 3 years 10 months
    # the limit is a parameter: at 48 months the same audit is not stale
    assert {f.rule for f in run(doc, audit_max_age_months=48)} == {"failed_audit"}


def test_audit_age_boundary() -> None:
    doc = clean_doc()
    node(doc, "cam-be")["audit"] = {"scheme": "IRMA", "date": "2024-11-28", "result": "conformant"}
    assert run(doc) == []  # exactly 24 months
    node(doc, "cam-be")["audit"]["date"] = "2024-11-27"
    assert [f.rule for f in dd.screen(dd.parse_graph(doc), as_of=date(2026, 12, 28))] == ["stale_audit"]


def test_missing_links_and_annex_x_risks() -> None:
    doc = clean_doc()
    cobalt(doc)["nodes"].append({"id": "anode-x", "role": "anode_producer", "country": "PL", "audit": GOOD_AUDIT})
    cobalt(doc)["edges"].append({"from": "anode-x", "to": "cell-se"})
    node(doc, "mine-fi")["risks"] = ["water", "child_labour"]
    findings = run(doc)
    got = [(f.severity, f.node, f.rule) for f in findings]
    assert got == [
        ("high", "anode-x", "missing_link"),
        ("high", "mine-fi", "annex_x_risk"),
        ("medium", "mine-fi", "annex_x_risk"),
    ]
    assert "Annex X point 2(b)(ii)" in findings[1].citation


# --- validation ------------------------------------------------------------------------------------------------------

BASE = "models[0].materials.cobalt"


def test_unknown_country_code_named() -> None:
    doc = clean_doc()
    node(doc, "cam-be")["country"] = "XX"
    assert problems_of(doc) == [(f"{BASE}.nodes[3].country", "unknown country code 'XX'")]


def test_unknown_role_named() -> None:
    doc = clean_doc()
    node(doc, "cam-be")["role"] = "trader"
    assert problems_of(doc) == [(f"{BASE}.nodes[3].role", "unknown role 'trader'")]


def test_edge_to_unknown_node_named() -> None:
    doc = clean_doc()
    cobalt(doc)["edges"].append({"from": "ref-fi", "to": "ghost"})
    assert problems_of(doc) == [(f"{BASE}.edges[4].to", "unknown node 'ghost'")]


def test_cycle_named() -> None:
    doc = clean_doc()
    cobalt(doc)["edges"].append({"from": "cam-be", "to": "ref-fi"})
    assert problems_of(doc) == [(f"{BASE}.edges", "cycle ref-fi -> cam-be -> ref-fi")]


@pytest.mark.parametrize("share", [-1, 100.5, "50"])
def test_share_out_of_range_named(share: Any) -> None:
    doc = clean_doc()
    node(doc, "cell-se")["recycled_input_share_pct"] = share
    assert [f for f, _ in problems_of(doc)] == [f"{BASE}.nodes[4].recycled_input_share_pct"]


def test_missing_path_to_cell_maker_named() -> None:
    doc = clean_doc()
    cobalt(doc)["edges"] = [e for e in cobalt(doc)["edges"] if e["to"] != "cell-se"]
    (field, message) = problems_of(doc)[0]
    assert field == BASE and "missing link" in message


def test_unknown_material_audit_result_and_risk_named() -> None:
    doc = clean_doc()
    doc["models"][0]["materials"]["manganese"] = copy.deepcopy(cobalt(doc))
    node(doc, "ref-fi")["audit"] = {"scheme": "RMAP", "date": "2026-01-01", "result": "ok"}
    node(doc, "mine-fi")["risks"] = ["noise"]
    fields = {f for f, _ in problems_of(doc)}
    assert fields == {"models[0].materials.manganese", f"{BASE}.nodes[2].audit.result", f"{BASE}.nodes[0].risks"}


def test_several_problems_reported_at_once() -> None:
    doc = clean_doc()
    node(doc, "mine-fi")["country"] = "ZZ"
    node(doc, "cell-se")["recycled_input_share_pct"] = 120
    assert len(problems_of(doc)) == 2


# --- scope and data --------------------------------------------------------------------------------------------------


def test_scope_dates_and_threshold() -> None:
    before = dd.in_scope(50e6, date(2027, 8, 17))
    on = dd.in_scope(50e6, date(2027, 8, 18))
    assert before["date_applies"] is False and on["date_applies"] is True
    assert "2025/1561" in on["obligation_start_source"]
    assert on["turnover_applies"] is True
    assert dd.in_scope(50e6, date(2028, 1, 1), turnover_threshold_eur=150e6)["turnover_applies"] is False


def test_country_list_is_iso_3166() -> None:
    countries = dd.load_countries()
    assert len(countries) >= 249  # ISO 3166-1 has 249 officially assigned alpha-2 codes
    assert {"CD", "CN", "ID", "AU", "CL", "FI"} <= set(countries)
    assert all(len(c) == 2 and c.isupper() for c in countries)


def test_every_shipped_cahra_row_has_source_date_and_confidence() -> None:
    for e in dd.load_cahra():
        assert e.source_url.startswith("https://") and e.confidence
        date.fromisoformat(e.list_date)


# --- command ---------------------------------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from batteryloop.cli import main; main()", "sourcing", "screen", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_json_and_errors(tmp_path: Path) -> None:
    doc = clean_doc()
    ref = node(doc, "ref-fi")
    ref.update(country="UA", region="Mykolayiv")
    del ref["audit"]
    path = tmp_path / "chain.json"
    path.write_text(json.dumps(doc))
    res = cli(str(path), "--json", "--as-of", "2026-11-28")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["summary"] == {"high": 2, "medium": 0, "low": 0}
    assert {f["rule"] for f in result["findings"]} == {"cahra_region", "unaudited_smelter"}
    assert result["scope"]["date_applies"] is False
    text = cli(str(path), "--as-of", "2026-11-28")
    assert text.returncode == 0 and "unaudited_smelter" in text.stdout and "2 high" in text.stdout

    node(doc, "cam-be")["country"] = "XX"
    path.write_text(json.dumps(doc))
    bad = cli(str(path), "--json")
    assert bad.returncode == 2 and f"{BASE}.nodes[3].country" in bad.stderr and "Traceback" not in bad.stderr
