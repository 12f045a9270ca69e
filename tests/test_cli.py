"""The ``batteryloop`` command as scripts use it: real processes, last-line outputs and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.passport.test_lifecycle import ev


class CLI:
    def __init__(self, tmp: Path, database_url: str | None = None) -> None:
        self.env = {
            **os.environ,
            "BATTERYLOOP_DATA_DIR": str(tmp),
            "BATTERYLOOP_PUBLIC_BASE_URL": "https://id.example.nl",
        }
        if database_url:
            self.env["BATTERYLOOP_DATABASE_URL"] = database_url
        self.env.pop("BATTERYLOOP_DATABASE_URL", None) if database_url is None else None
        self.tmp = tmp

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "batteryloop.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.tmp,
        )
        assert proc.returncode == expect, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc

    def last_line(self, *args: str) -> str:
        return self.run(*args).stdout.strip().splitlines()[-1]


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    return CLI(tmp_path)


def test_keys_passport_export_verify_qr_grant(cli: CLI, tmp_path: Path) -> None:
    token = cli.last_line("keys", "create", "--role", "economic_operator", "--name", "maker")
    assert token.startswith("bl_") and len(token) > 40
    cli.last_line("keys", "create", "--role", "repurposer", "--name", "second-life")
    spec = tmp_path / "pack.json"
    spec.write_text(json.dumps({"data": {**ev("CLI-0001"), "remaining_capacity_Ah": 190.0}}))
    pid = cli.last_line("passport", "create", str(spec), "--operator", "maker")
    assert pid == "0106291041500213" + "21CLI-0001"

    public = json.loads(cli.run("passport", "show", pid, "--role", "anonymous").stdout)
    assert "remaining_capacity_Ah" not in public["data"] and public["data"]["rated_capacity_Ah"] == 211.0
    full = json.loads(cli.run("passport", "show", pid).stdout)
    assert full["data"]["remaining_capacity_Ah"] == 190.0

    cli.run("passport", "grant", pid, "--name", "second-life", "--days", "2")
    seen = json.loads(cli.run("passport", "show", pid, "--account", "second-life").stdout)
    assert seen["data"]["remaining_capacity_Ah"] == 190.0
    cli.run("passport", "revoke", pid, "--name", "second-life")
    seen = json.loads(cli.run("passport", "show", pid, "--account", "second-life").stdout)
    assert "remaining_capacity_Ah" not in seen["data"]

    bundle = tmp_path / "export" / "pack.bundle.json"
    cli.run("passport", "export", pid, "--format", "batteryloop", "--out", str(bundle))
    ok = cli.run("passport", "verify", str(bundle))
    assert "every check holds" in ok.stdout
    doc = json.loads(bundle.read_text())
    doc["versions"][0]["content"]["data"]["rated_capacity_Ah"] = 250.0
    bundle.write_text(json.dumps(doc))
    bad = cli.run("passport", "verify", str(bundle), expect=1)
    assert "FAIL version 1 hash" in bad.stdout

    label = tmp_path / "label.png"
    cli.run("passport", "qr", pid, "--out", str(label))
    import zxingcpp
    from PIL import Image

    decoded = zxingcpp.read_barcodes(Image.open(label))
    assert [d.text for d in decoded] == ["https://id.example.nl/01/06291041500213/21/CLI-0001"]
    svg = tmp_path / "label.svg"
    cli.run("passport", "qr", pid, "--out", str(svg))
    assert svg.read_text().startswith("<?xml") and "<svg" in svg.read_text()


def test_bad_input_exits_2_naming_the_field(cli: CLI, tmp_path: Path) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"data": {**ev("CLI-0002"), "gtin": "6291041500214", "colour": "blue"}}))
    proc = cli.run("passport", "create", str(spec), "--operator", "maker", expect=2)
    assert "data.gtin" in proc.stderr and "check digit 3" in proc.stderr
    assert "data.colour" in proc.stderr
    assert "Traceback" not in proc.stderr
    spec.write_text("{not json")
    proc = cli.run("passport", "create", str(spec), "--operator", "maker", expect=2)
    assert str(spec) in proc.stderr
    proc = cli.run("passport", "show", "nope", expect=2)
    assert "no passport 'nope'" in proc.stderr
    proc = cli.run("keys", "create", "--role", "wizard", "--name", "x", expect=2)
    assert "unknown role 'wizard'" in proc.stderr
    proc = cli.run("passport", "export", "nope", "--format", "pdf", "--out", "x", expect=2)
    assert "unknown format 'pdf'" in proc.stderr
    proc = cli.run("passport", "verify", str(tmp_path / "missing.json"), expect=2)
    assert "missing.json" in proc.stderr


def test_a_signed_export_imports_into_another_registry(cli: CLI, tmp_path: Path) -> None:
    cli.last_line("keys", "create", "--role", "economic_operator", "--name", "maker")
    spec = tmp_path / "pack.json"
    spec.write_text(json.dumps({"data": ev("CLI-0003")}))
    pid = cli.last_line("passport", "create", str(spec), "--operator", "maker")
    bundle = tmp_path / "b.json"
    cli.run("passport", "export", pid, "--format", "batteryloop", "--out", str(bundle))
    other = CLI(tmp_path / "other")
    (tmp_path / "other").mkdir()
    new_id = other.last_line("passport", "import", str(bundle), "--format", "batteryloop")
    assert new_id == pid
    shown = json.loads(other.run("passport", "show", pid).stdout)
    assert shown["data"]["serial_number"] == "CLI-0003"
    other.run("passport", "import", str(bundle), "--format", "batteryloop", expect=2)  # exists already


def test_db_upgrade_reports_the_revision(cli: CLI) -> None:
    assert "database at revision 0006" in cli.run("db", "upgrade").stdout
    assert cli.last_line("db", "current") == "0006"


def test_importing_the_official_catenax_example(cli: CLI, tmp_path: Path) -> None:
    from tests.conftest import shared_path

    example = shared_path("passport-models", "tractusx_6.1.0", "6.1.0_BatteryPass.json")
    refused = cli.run("passport", "import", str(example), "--format", "catenax-6.1", "--operator", "Maker", expect=2)
    assert "operation.intoServiceDate" in refused.stderr and "month 75" in refused.stderr
    assert "nothing was written" in refused.stderr
    proc = cli.run(
        "passport", "import", str(example), "--format", "catenax-6.1", "--operator", "Maker", "--skip-invalid"
    )
    pid = proc.stdout.strip().splitlines()[-1]
    assert pid == "urn:uuid:550e8400-e29b-41d4-a716-446655440000"  # the identifier it was issued with
    assert "1 refused and kept on record" in proc.stdout
    shown = json.loads(cli.run("passport", "show", pid).stdout)
    assert shown["data"]["battery_category"] == "sli"
    assert shown["data"]["rated_capacity_Ah"] == 4.0
    out = tmp_path / "again.json"
    cli.run("passport", "export", pid, "--format", "catenax-6.1", "--out", str(out))
    again = json.loads(out.read_text())
    assert again["identification"]["identification"]["serial"][0]["value"] == "SN12345678"
