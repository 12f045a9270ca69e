"""The due-diligence report as PDF, and the passports' due-diligence section (Annex XIII 1(d)) filled from it: every
active passport of the model that the caller's organisation is responsible for, one signed version each, none on a
rerun; another organisation refused."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdf
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from batteryloop.api.app import create_app
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.errors import ValidationError
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.models import Passport, PassportVersion
from batteryloop.passport.service import PassportService
from batteryloop.sourcing import dd_publish, dd_report
from tests.passport.test_lifecycle import ev
from tests.sourcing.test_dd_report import AS_OF, POLICY, listed_doc

PUBLISH = "/api/v1/sourcing/report/BL-100/publish"
REPORT_URLS = ["https://maker.example/dd/BL-100.pdf", "https://maker.example/dd/BL-100.html"]
HEADINGS = ("1. Management system", "2. Risks identified", "3. Risk-management measures", "4. Third-party verification")


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def test_pdf_holds_the_sections_and_the_risky_node() -> None:
    page, _ = dd_report.build(listed_doc(), POLICY, "BL-100", as_of=AS_OF)
    pdf = dd_report.to_pdf(page)
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    for heading in HEADINGS:
        assert heading in text
    assert "mine-fi" in text and "Manipur" in text  # the node in a listed CAHRA region
    assert "Suspend purchases from the Manipur mine" in text


def test_command_writes_html_and_pdf(tmp_path: Path) -> None:
    import batteryloop.commands.sourcing_report  # noqa: F401  (registers the command on its group)
    from batteryloop.cli import app

    chain = tmp_path / "chain.json"
    chain.write_text(json.dumps(listed_doc()), encoding="utf-8")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY), encoding="utf-8")
    out = tmp_path / "out"
    args = ["sourcing", "report", "BL-100", "--input", str(chain), "--policy", str(policy), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--as-of", "2026-11-28", "--format", "both"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["due-diligence-BL-100.html", "due-diligence-BL-100.pdf"]
    assert "2. Risks identified" in pdf_text((out / "due-diligence-BL-100.pdf").read_bytes())
    only_pdf = tmp_path / "pdf"
    result = CliRunner().invoke(app, [*args[:-1], str(only_pdf), "--format", "pdf"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in only_pdf.iterdir()] == ["due-diligence-BL-100.pdf"]
    failed = CliRunner().invoke(app, [*args, "--format", "docx"])
    assert isinstance(failed.exception, ValidationError) and failed.exception.problems[0].field == "--format"


def test_passport_values_from_the_report() -> None:
    _page, screening = dd_report.build(listed_doc(), POLICY, "BL-100", as_of=AS_OF)
    policy = dd_report.parse_policy(POLICY)
    values, unset = dd_publish.passport_values("BL-100", screening, policy, REPORT_URLS)
    pdf, html = values["due_diligence_report"]
    assert (pdf["url"], pdf["mime_type"], html["mime_type"]) == (REPORT_URLS[0], "application/pdf", "text/html")
    assert "BL-100" in pdf["title"] and "1 high" in pdf["title"] and "2026-11-28" in pdf["title"]
    (assurance,) = values["third_party_assurance"]
    assert assurance["url"] == "https://nb.example/reports/9999.pdf"
    assert assurance["title"].startswith("Verification by Notified Body 9999 of 2026-10-01: conformant")
    assert set(unset) == {"supply_chain_indices"}
    no_url = json.loads(json.dumps(POLICY))
    del no_url["verification"]["report_url"]
    values, unset = dd_publish.passport_values("BL-100", screening, dd_report.parse_policy(no_url), REPORT_URLS[:1])
    assert "third_party_assurance" not in values and "report_url" in unset["third_party_assurance"]
    with pytest.raises(ValidationError) as info:
        dd_publish.passport_values("BL-100", screening, policy, ["https://a.example/x.pdf", "not a uri", ""])
    assert {p.field for p in info.value.problems} == {"report_urls[1]", "report_urls[2]"}
    with pytest.raises(ValidationError) as info:
        dd_publish.passport_values("BL-100", screening, policy, [])
    assert info.value.problems[0].field == "report_urls"


# ---------------------------------------------------------------------------------------------------------------------
# the registry (SQLite and PostgreSQL)


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def _landscape(session_factory: sessionmaker[Session], settings: Settings) -> dict[str, Any]:
    """Maker: two BL-100 passports and one of another model; Importer: one BL-100 passport; Stranger: none."""
    out: dict[str, Any] = {"ids": {}, "tokens": {}}
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        for name in ("Maker", "Importer", "Stranger"):
            org = svc.create_organisation(name, kind="manufacturer" if name == "Maker" else "importer")
            out["tokens"][name] = svc.issue_token(svc.create_account(f"{name}-op", Role.ECONOMIC_OPERATOR, name))
            viewer = Viewer(Role.ECONOMIC_OPERATOR, account=f"{name}-op", organisation_id=org.id)
            serials = {"Maker": ("M-1", "M-2", "M-X"), "Importer": ("I-1",), "Stranger": ()}[name]
            for serial in serials:
                model = "BL-200" if serial == "M-X" else "BL-100"
                out["ids"][serial] = svc.create(viewer, ev(serial, battery_model_identifier=model)).id
    return out


def _passports(session_factory: sessionmaker[Session]) -> dict[str, Passport]:
    with transaction(session_factory) as session:
        found = {p.serial_number: p for p in session.scalars(select(Passport))}
        session.expunge_all()
    return found


def _body(**extra: Any) -> dict[str, Any]:
    return {**listed_doc(), "policy": POLICY, "as_of": "2026-11-28", "report_urls": REPORT_URLS, **extra}


def test_publish_fills_the_operator_s_passports_of_the_model(
    client: TestClient, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    land = _landscape(session_factory, settings)
    auth = {"Authorization": f"Bearer {land['tokens']['Maker']}"}
    r = client.post(PUBLISH, json=_body(), headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted(body["updated"]) == sorted([land["ids"]["M-1"], land["ids"]["M-2"]])
    assert body["skipped"] == [
        {"passport_id": land["ids"]["I-1"], "reason": "another economic operator is responsible"}
    ]
    assert set(body["unset"]) == {"supply_chain_indices"}
    passports = _passports(session_factory)
    for serial in ("M-1", "M-2"):
        p = passports[serial]
        assert p.version == 2
        assert [d["url"] for d in p.data["due_diligence_report"]] == REPORT_URLS
        assert p.data["third_party_assurance"][0]["url"] == "https://nb.example/reports/9999.pdf"
        assert "supply_chain_indices" not in p.data
    for serial in ("M-X", "I-1"):  # another model; another operator's passport of the model
        assert passports[serial].version == 1 and "due_diligence_report" not in passports[serial].data
    with transaction(session_factory) as session:
        last = session.scalars(
            select(PassportVersion)
            .where(PassportVersion.passport_id == land["ids"]["M-1"])
            .order_by(PassportVersion.number.desc())
        ).first()
        assert last is not None
        assert last.content["change"]["changed"] == ["due_diligence_report", "third_party_assurance"]
        assert last.signer_id == passports["M-1"].operator_id
    # the public reads the section (Annex XIII 1(d) is public)
    shown = client.get(f"/api/v1/passports/{land['ids']['M-1']}").json()
    assert shown["data"]["due_diligence_report"][0]["document_type"] == dd_publish.REPORT_TYPE
    # a rerun with the same report writes nothing
    again = client.post(PUBLISH, json=_body(), headers=auth).json()
    assert (again["updated"], sorted(again["unchanged"])) == ([], sorted([land["ids"]["M-1"], land["ids"]["M-2"]]))
    assert _passports(session_factory)["M-1"].version == 2


def test_publish_is_refused_to_others(
    client: TestClient, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    land = _landscape(session_factory, settings)
    r = client.post(PUBLISH, json=_body(), headers={"Authorization": f"Bearer {land['tokens']['Stranger']}"})
    assert r.status_code == 403, r.text
    assert client.post(PUBLISH, json=_body()).status_code == 401
    assert {p.version for p in _passports(session_factory).values()} == {1}
    # the importer publishes for its own passport only
    r = client.post(PUBLISH, json=_body(), headers={"Authorization": f"Bearer {land['tokens']['Importer']}"})
    assert r.status_code == 200 and r.json()["updated"] == [land["ids"]["I-1"]]
    versions = {s: p.version for s, p in _passports(session_factory).items()}
    assert versions == {"M-1": 1, "M-2": 1, "M-X": 1, "I-1": 2}


def test_publish_bad_input_names_the_field(
    client: TestClient, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    land = _landscape(session_factory, settings)
    auth = {"Authorization": f"Bearer {land['tokens']['Maker']}"}
    r = client.post(PUBLISH, json=_body(report_urls=["nowhere"]), headers=auth)
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["field"] == "report_urls[0]"
    r = client.post(PUBLISH, json=_body(policy={"operator": "Maker"}), headers=auth)
    assert r.status_code == 422
    assert "policy.management_system" in {p["field"] for p in r.json()["error"]["problems"]}
    r = client.post("/api/v1/sourcing/report/BL-999/publish", json=_body(), headers=auth)
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["field"] == "MODEL_ID"
    assert {p.version for p in _passports(session_factory).values()} == {1}


def test_report_route_gives_html_and_pdf(
    client: TestClient, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    land = _landscape(session_factory, settings)
    auth = {"Authorization": f"Bearer {land['tokens']['Stranger']}"}
    body = {**listed_doc(), "policy": POLICY, "as_of": "2026-11-28"}
    r = client.post("/api/v1/sourcing/report/BL-100", json=body, headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<section id="risks">' in r.text
    r = client.post("/api/v1/sourcing/report/BL-100?format=pdf", json=body, headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert "mine-fi" in pdf_text(r.content)
    assert client.post("/api/v1/sourcing/report/BL-100", json=body).status_code == 401


def test_cli_publishes_into_the_registry(tmp_path: Path) -> None:
    env = {**os.environ, "BATTERYLOOP_DATA_DIR": str(tmp_path)}
    env.pop("BATTERYLOOP_DATABASE_URL", None)

    def cli(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "batteryloop.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            cwd=tmp_path,
        )
        assert proc.returncode == expect, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr
        return proc

    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({"data": ev("C-1", battery_model_identifier="BL-100")}))
    pid = cli("passport", "create", str(spec), "--operator", "maker").stdout.strip().splitlines()[-1]
    chain = tmp_path / "chain.json"
    chain.write_text(json.dumps(listed_doc()), encoding="utf-8")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY), encoding="utf-8")
    run = ["sourcing", "report", "BL-100", "--input", str(chain), "--policy", str(policy), "--out", str(tmp_path)]
    text = cli(*run, "--publish-url", REPORT_URLS[1]).stdout
    assert "1 updated" in text and "supply_chain_indices not set" in text
    shown = json.loads(cli("passport", "show", pid).stdout)
    assert shown["version"] == 2
    assert shown["data"]["due_diligence_report"][0]["url"] == REPORT_URLS[1]
    assert "1 unchanged" in cli(*run, "--publish-url", REPORT_URLS[1]).stdout
    proc = cli(*run, "--publish-url", "nowhere", expect=2)
    assert "--publish-url[0]" in proc.stderr
    proc = cli(*run[:2], "BL-999", *run[3:], "--publish-url", REPORT_URLS[1], expect=2)
    assert "MODEL_ID" in proc.stderr
