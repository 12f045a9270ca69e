"""The Art. 52(3) due-diligence report: its four sections, findings matched to measures, bad policies named by field,
and the ``batteryloop sourcing report`` command writing one self-contained HTML file."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from batteryloop.errors import ValidationError
from batteryloop.sourcing import dd_report
from tests.sourcing.test_due_diligence import clean_doc, node

AS_OF = date(2026, 11, 28)
POLICY: dict[str, Any] = {
    "operator": "Maker <B.V.> & Co",
    "management_system": {
        "policy": "We source cobalt only from audited refiners (policy of 2026-01-15).",
        "responsible": "Chief Procurement Officer",
        "traceability": "Chain-of-custody records per shipment, kept five years.",
    },
    "measures": [
        {
            "node": "mine-fi",
            "rule": "cahra_region",
            "measure": "Suspend purchases from the Manipur mine",
            "due": "2027-03-31",
        },
        {"measure": "Train buyers on the OECD guidance", "status": "done"},
    ],
    "verification": {
        "body": "Notified Body 9999",
        "date": "2026-10-01",
        "scope": "due-diligence policy and management system",
        "result": "conformant with observations",
        "report_url": "https://nb.example/reports/9999.pdf",
    },
}


def listed_doc() -> dict[str, Any]:
    """The clean cobalt chain with its mine moved to Manipur, India (on the CAHRA list of 30 Sep 2024)."""
    doc = clean_doc()
    node(doc, "mine-fi").update(country="IN", region="Manipur")
    return doc


def sections(page: str) -> list[str]:
    return re.findall(r'<section id="([a-z-]+)">', page)


def section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start : page.index("</section>", start)]


def test_report_has_the_four_sections_and_the_findings() -> None:
    page, screening = dd_report.build(listed_doc(), POLICY, "BL-100", as_of=AS_OF)
    assert sections(page) == ["management-system", "risks", "measures", "verification"]
    # the screening of the same document finds exactly one thing: the mine in a listed region
    assert screening["summary"] == {"high": 1, "medium": 0, "low": 0}
    assert [(f["node"], f["rule"]) for f in screening["findings"]] == [("mine-fi", "cahra_region")]
    assert "Chief Procurement Officer" in section(page, "management-system")
    assert "not stated" in section(page, "management-system")  # no grievance mechanism given
    risks = section(page, "risks")
    assert "mine-fi" in risks
    assert "Manipur" in risks
    measures = section(page, "measures")
    assert "Suspend purchases from the Manipur mine (planned, due 2027-03-31)" in measures
    assert "1 of 1 finding(s) have a measure recorded" in measures
    assert "Train buyers on the OECD guidance (done)" in measures
    verification = section(page, "verification")
    assert "Notified Body 9999 on 2026-10-01" in verification
    assert 'href="https://nb.example/reports/9999.pdf"' in verification


def test_report_is_self_contained_and_escaped() -> None:
    page, _ = dd_report.build(listed_doc(), POLICY, "BL-100", as_of=AS_OF)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert "<link" not in page
    assert " src=" not in page
    assert "Maker &lt;B.V.&gt; &amp; Co" in page
    assert "<B.V.>" not in page


def test_gaps_are_stated() -> None:
    doc = listed_doc()
    del node(doc, "ref-fi")["audit"]  # an unaudited refiner: a second high finding, with no measure
    policy = copy.deepcopy(POLICY)
    del policy["verification"]
    page, screening = dd_report.build(doc, policy, "BL-100", as_of=AS_OF)
    assert {(f["node"], f["rule"]) for f in screening["findings"]} == {
        ("mine-fi", "cahra_region"),
        ("ref-fi", "unaudited_smelter"),
    }
    measures = section(page, "measures")
    assert "1 of 2 finding(s) have a measure recorded" in measures
    assert measures.count(dd_report.NO_MEASURE) == 1
    assert "No third-party verification is recorded" in section(page, "verification")


def test_clean_chain_says_so() -> None:
    page, screening = dd_report.build(clean_doc(), POLICY, "BL-100", as_of=AS_OF)
    assert screening["findings"] == []
    assert "no risk" in section(page, "risks")
    assert "0 of 0 finding(s)" in section(page, "measures")


def problem_fields(policy: Any, doc: dict[str, Any] | None = None, model: str = "BL-100") -> set[str]:
    with pytest.raises(ValidationError) as info:
        dd_report.build(doc or listed_doc(), policy, model, as_of=AS_OF)
    return {p.field for p in info.value.problems}


def test_bad_policy_names_every_field() -> None:
    bad = copy.deepcopy(POLICY)
    del bad["management_system"]["policy"]
    bad["measures"][0]["status"] = "someday"
    bad["measures"][1]["due"] = "next spring"
    bad["verification"]["date"] = "2026-13-01"
    bad["verification"]["report_url"] = "ftp://nb.example"
    bad["colour"] = "red"
    assert problem_fields(bad) == {
        "management_system.policy",
        "measures[0].status",
        "measures[1].due",
        "verification.date",
        "verification.report_url",
        "colour",
    }
    unknown_node = copy.deepcopy(POLICY)
    unknown_node["measures"][0]["node"] = "mine-xx"
    assert problem_fields(unknown_node) == {"measures[0].node"}
    assert problem_fields(POLICY, model="BL-999") == {"MODEL_ID"}
    assert problem_fields([]) == {"policy"}


def test_command_writes_the_report(tmp_path: Path) -> None:
    import batteryloop.commands.sourcing_report  # noqa: F401  (registers the command on its group)
    from batteryloop.cli import app

    chain = tmp_path / "chain.json"
    chain.write_text(json.dumps(listed_doc()), encoding="utf-8")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY), encoding="utf-8")
    out = tmp_path / "out"
    args = ["sourcing", "report", "BL-100", "--input", str(chain), "--policy", str(policy), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--as-of", "2026-11-28"])
    assert result.exit_code == 0, result.output
    written = out / "due-diligence-BL-100.html"
    assert sections(written.read_text(encoding="utf-8")) == ["management-system", "risks", "measures", "verification"]
    assert "1 high" in result.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"operator": "Maker"}), encoding="utf-8")
    failed = CliRunner().invoke(app, [*args[:6], str(bad), "--out", str(out)])
    assert failed.exit_code != 0
    assert isinstance(failed.exception, ValidationError)
    assert failed.exception.problems[0].field == "management_system"
    assert str(bad) in failed.exception.message
