"""The published circularity data: read from ../shared/data where present, the package's own cited tables otherwise.

The package tables (``mfa_material_content.csv``, ``mfa_pom_nl.csv``) must hold exactly the figures of the shared
files (BatPaC 5.1, Eurostat env_waspb, the Dutch battery flows), so a run with the shared data and one without give the
same result; where ../shared is absent the comparison tests skip, naming the path, and the fallback tests still run.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from batteryloop.circularity import published
from batteryloop.circularity.material_flow import (
    CONTENT_FILE,
    ELEMENT_NAMES,
    POM_FILE,
    ModelData,
    goal_rows,
    load_model_data,
    package_intensity,
    package_pom,
    read_scenario,
    run,
    shared_intensity,
    shared_pom,
)
from batteryloop.circularity.published import (
    FLOWS_COLUMNS,
    default_model_data,
    mfa_data_folder,
    published_flows,
    read_flows,
)
from batteryloop.errors import ValidationError
from batteryloop.shared_data import ENV_VAR, shared_data_dir
from tests.conftest import shared_path

SCENARIOS = Path(__file__).parents[2] / "src/batteryloop/circularity/scenarios"
BATPAC = ("circularity", "material_intensity_batpac", "mineral_intensity_kg_per_kwh.csv")
EUROSTAT = ("circularity", "eurostat_portable_pom", "portable_batteries_pom_tonnes.csv")
FLOWS = ("circularity", "nl_battery_flows", "nl_battery_flows_by_year.csv")


def shared_mfa_folder() -> Path:
    for parts in (BATPAC, EUROSTAT, FLOWS):
        shared_path(*parts)
    return shared_path()


@pytest.fixture(scope="module")
def package_data() -> ModelData:
    return load_model_data(None)


@pytest.fixture
def empty_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``BATTERYLOOP_SHARED_DATA`` pointing at an empty folder: the code sees no published data at all."""
    empty = tmp_path / "empty-shared"
    empty.mkdir()
    monkeypatch.setenv(ENV_VAR, str(empty))
    return empty


# ---- the package tables equal the shared files --------------------------------------------------------------------


@pytest.mark.shared_data
def test_the_package_content_table_equals_the_batpac_file(package_data: ModelData) -> None:
    folder = shared_mfa_folder()
    shared = load_model_data(folder)
    ours = package_intensity(package_data.chemistries)
    theirs = shared_intensity(shared.chemistries, folder)
    assert ours == theirs  # kg per kWh, copied verbatim
    batpac_chemistries = [c for c in package_data.chemistries.values() if c.batpac]
    assert len(batpac_chemistries) == 5 and len(ours) == 5 * len(ELEMENT_NAMES)
    # and the content the model computes (kg per kg of battery) for every chemistry and element
    assert shared.content.keys() == package_data.content.keys()
    assert shared.elements == package_data.elements
    for chem, by_element in shared.content.items():
        assert by_element.keys() == package_data.content[chem].keys(), chem
        for element, value in by_element.items():
            assert abs(package_data.content[chem][element] - value) <= 1e-12, (chem, element)
    # one independent spot check against the file itself: NMC 811 lithium 0.099802 kg/kWh at 0.17 kWh/kg
    with shared_path(*BATPAC).open(encoding="utf-8") as handle:
        row = next(r for r in csv.DictReader(handle) if (r["mineral"], r["chemistry"]) == ("Lithium", "NMC 811"))
    assert package_data.content["NMC 811"]["Li"] == pytest.approx(float(row["kg_per_kwh"]) * 0.17, rel=1e-12)


@pytest.mark.shared_data
def test_the_package_tonnes_equal_eurostat_and_the_dutch_flows(package_data: ModelData) -> None:
    folder = shared_mfa_folder()
    assert package_pom() == shared_pom(folder)
    with shared_path(*EUROSTAT).open(encoding="utf-8") as handle:
        nld = {int(r["year"]): float(r["pom_tonnes"]) for r in csv.DictReader(handle) if r["geo"] == "NLD"}
    assert {y: t for (y, c), t in package_pom().items() if c == "portable"} == nld
    shared = load_model_data(folder)
    assert shared.inflow.keys() == package_data.inflow.keys()
    for key, tonnes in shared.inflow.items():
        assert abs(package_data.inflow[key] - tonnes) <= 1e-12 * max(1.0, tonnes), key


@pytest.mark.shared_data
@pytest.mark.parametrize("scenario", sorted(p.name for p in SCENARIOS.glob("*.toml")))
def test_a_run_without_the_shared_data_equals_a_run_with_it(package_data: ModelData, scenario: str) -> None:
    shared = load_model_data(shared_mfa_folder())
    a = run(read_scenario(SCENARIOS / scenario, shared.chemistries), shared, 2040)
    b = run(read_scenario(SCENARIOS / scenario, package_data.chemistries), package_data, 2040)
    assert a.groups == b.groups and a.elements == b.elements
    for name in ("inflow", "stock", "eol_outflow", "collected", "demand", "secondary", "primary"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-12, atol=1e-9, err_msg=name)


def test_every_package_row_cites_its_source() -> None:
    for path in (CONTENT_FILE, POM_FILE):
        with path.open(encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                assert "../shared/data/circularity/" in row["source"], f"{path.name}:{line}"
    with CONTENT_FILE.open(encoding="utf-8") as handle:
        assert all(r["source"].startswith("BatPaC 5.1 (ANL), ") for r in csv.DictReader(handle))


# ---- without the shared data --------------------------------------------------------------------------------------


def test_mfa_runs_without_shared_data(empty_shared: Path) -> None:
    """shared_data_dir() points at an empty folder: no published data reaches the code, the package tables take over."""
    assert shared_data_dir() == empty_shared
    assert mfa_data_folder() is None
    assert published_flows() is None
    data = default_model_data()
    assert "package's own tables" in data.source and "mfa_material_content.csv" in data.source
    result = run(read_scenario(SCENARIOS / "current_policy.toml", data.chemistries), data, 2035)

    def total(year: int, category: str) -> float:
        return float(result.inflow[year - 2009, [j for j, (c, _) in enumerate(result.groups) if c == category]].sum())

    # the cited tonnes of mfa_pom_nl.csv: Eurostat NLD = Stibat (8.76 / 10.89 / 11.87 million kg), EPAC 1,630 t
    assert [total(y, "portable") for y in (2019, 2020, 2021)] == pytest.approx([8762, 10888, 11871], rel=1e-12)
    assert [total(2020, "LMT"), total(2022, "LMT")] == pytest.approx([1630, 2200], rel=1e-12)
    # BatPaC NMC 622 lithium 0.110247 kg/kWh at 0.16 kWh/kg
    k = result.elements.index("Li")
    assert result.content[result.groups.index(("EV", "NMC 622")), k] == pytest.approx(0.110247 * 0.16, rel=1e-12)
    # the mass balance closes and the 2030 goal rows are there
    stock = np.vstack([np.zeros((1, result.stock.shape[1])), result.stock])
    np.testing.assert_allclose(
        result.inflow - result.eol_outflow, np.diff(stock, axis=0), atol=1e-9 * result.inflow.max()
    )
    assert {r["element"] for r in goal_rows(result)} >= {"Li", "Co", "Ni", "Cu"}
    assert result.secondary[2030 - 2009, k] > 0


def test_with_the_shared_data_the_model_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = shared_mfa_folder()
    monkeypatch.setenv(ENV_VAR, str(folder))
    assert mfa_data_folder() == folder
    data = default_model_data()
    assert str(folder) in data.source and "BatPaC" in data.source
    # a folder holding only some of the files is not used (the package tables are), rather than half of each
    partial = tmp_path / "partial"
    (partial / "circularity" / "material_intensity_batpac").mkdir(parents=True)
    (partial / Path(*BATPAC)).write_bytes(shared_path(*BATPAC).read_bytes())
    monkeypatch.setenv(ENV_VAR, str(partial))
    assert mfa_data_folder() is None


def test_an_explicit_folder_must_hold_the_files(empty_shared: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        load_model_data(empty_shared)
    assert str(empty_shared / Path(*BATPAC)) in str(caught.value)


# ---- bad package tables -------------------------------------------------------------------------------------------


def test_a_bad_content_table_names_row_and_field(tmp_path: Path, package_data: ModelData) -> None:
    path = tmp_path / "content.csv"
    rows = CONTENT_FILE.read_text(encoding="utf-8").splitlines()
    header, body = rows[0], rows[1:]
    body[0] = body[0].replace("NMC 111,Li,0.123509", "NMC 111,Li,-0.1")
    body[1] = body[1].replace("NMC 111,Ni,", "NMC 111,Unobtainium,")
    body[2] = body[2].replace("NMC 111,Co,", "LCO,Co,")
    body.append(body[3])  # a duplicate
    body.append('NMC 622,Li,0.11,""')  # no source
    path.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        package_intensity(package_data.chemistries, path)
    assert [p.field for p in caught.value.problems] == [f"{path}:{len(body) + 1}: source"]
    path.write_text("\n".join([header, *body[:-1]]) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        package_intensity(package_data.chemistries, path)
    fields = [p.field for p in caught.value.problems]
    assert f"{path}:2: kg_per_kwh" in fields
    assert f"{path}:3: element" in fields
    assert f"{path}:4: chemistry" in fields
    assert f"{path}:{len(body)}" in fields  # the duplicate
    messages = [p.message for p in caught.value.problems]
    assert "no row for NMC 111, Ni" in messages and "no row for NMC 111, Co" in messages
    path.write_text("chemistry,element,kg_per_kwh\nNMC 111,Li,0.1\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="missing column"):
        package_intensity(package_data.chemistries, path)


def test_a_bad_tonnes_table_names_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "pom.csv"
    path.write_text(
        "year,category,tonnes,source\n20x9,portable,5,a\n2010,EV,5,a\n2011,portable,lots,a\n"
        "2012,portable,1,a\n2012,portable,2,a\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as caught:
        package_pom(path)
    fields = [p.field for p in caught.value.problems]
    assert f"{path}:2: year" in fields
    assert f"{path}:3: category" in fields
    assert f"{path}:4: tonnes" in fields
    assert f"{path}:6" in fields
    assert any(p.message == "no rows for LMT" for p in caught.value.problems)


# ---- the Dutch flows for the monitor and the demo ------------------------------------------------------------------


@pytest.mark.shared_data
def test_published_flows_are_the_shared_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    path = shared_path(*FLOWS)
    monkeypatch.setenv(ENV_VAR, str(shared_path()))
    rows = published_flows()
    assert rows is not None
    with path.open(encoding="utf-8", newline="") as handle:
        expected = [{k: (v or "").strip() for k, v in r.items()} for r in csv.DictReader(handle)]
    assert rows == expected and len(rows) == 55
    assert set(FLOWS_COLUMNS) <= set(rows[0])
    portable_2019 = next(
        r for r in rows if (r["year"], r["stream"], r["metric"]) == ("2019", "portable", "collection_rate_reported")
    )
    assert float(portable_2019["value"]) > 0 and portable_2019["source_url"].startswith("http")


def test_published_flows_in_a_source_checkout_without_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset, the checkout's ../shared/data is read; the answer is None exactly when that file is absent."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    folder = shared_data_dir()
    present = folder is not None and (folder / Path(*FLOWS)).is_file()
    assert (published_flows() is not None) == present


def test_a_bad_flows_file_names_row_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / Path(*FLOWS)
    path.parent.mkdir(parents=True)
    path.write_text(
        "year,stream,metric,value,unit,source_url,note\n"
        "2019,portable,collected,4400,t,https://example.org/a,\n"
        "19,portable,collected,4400,t,https://example.org/a,\n"
        "2020,portable,collected,many,t,https://example.org/a,\n"
        "2021,portable,collected,1,t,,\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(ValidationError) as caught:
        published_flows()
    fields = [p.field for p in caught.value.problems]
    assert fields == [f"{path}:3: year", f"{path}:4: value", f"{path}:5: source_url"]
    path.write_text("year,stream,value\n2019,portable,1\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="missing column"):
        read_flows(path)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone"))
    with pytest.raises(ValidationError, match=ENV_VAR):
        published.published_flows()


# ---- the command says which data it used ----------------------------------------------------------------------------


def _mfa(tmp_path: Path, out: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["circularity", "mfa", "--scenario", str(SCENARIOS / "current_policy.toml"), "--until", "2032"]
    return subprocess.run(
        [sys.executable, "-m", "batteryloop.cli", *args, "--out", str(tmp_path / out), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )


def test_the_command_without_shared_data_uses_the_package_tables(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _mfa(tmp_path, "b", {**os.environ, ENV_VAR: str(empty)})
    assert proc.returncode == 0, proc.stderr
    assert "data: the package's own tables mfa_material_content.csv" in proc.stdout
    assert f"{empty} lacks circularity/material_intensity_batpac" in proc.stdout
    assert (tmp_path / "b" / "elements.csv").is_file()
    # an explicit --data folder must hold the files; a variable naming a missing folder is refused
    proc = _mfa(tmp_path, "c", {**os.environ, ENV_VAR: str(empty)}, "--data", str(empty))
    assert proc.returncode == 2 and "mineral_intensity_kg_per_kwh.csv" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _mfa(tmp_path, "d", {**os.environ, ENV_VAR: str(tmp_path / "gone")})
    assert proc.returncode == 2 and ENV_VAR in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.shared_data
def test_the_command_gives_the_same_numbers_with_and_without_shared_data(tmp_path: Path) -> None:
    folder = shared_mfa_folder()
    empty = tmp_path / "empty"
    empty.mkdir()
    with_shared = _mfa(tmp_path, "a", {**os.environ, ENV_VAR: str(folder)})
    without = _mfa(tmp_path, "b", {**os.environ, ENV_VAR: str(empty)})
    assert with_shared.returncode == 0 and without.returncode == 0, with_shared.stderr + without.stderr
    assert f"data: the shared data in {folder}" in with_shared.stdout
    assert "data: the package's own tables" in without.stdout
    for name in ("elements.csv", "categories.csv", "goal_2030.csv"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text(), name


def test_an_installed_package_without_a_variable_uses_the_package_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No variable and no source checkout (as from a wheel): no shared folder, no flows, the package tables."""
    from batteryloop import shared_data
    from batteryloop.commands.circularity_mfa import resolve_model_data

    package = tmp_path / "site-packages" / "batteryloop"
    package.mkdir(parents=True)
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(shared_data, "PACKAGE_DIR", package)
    assert shared_data_dir() is None and mfa_data_folder() is None and published_flows() is None
    data, line = resolve_model_data(None)
    assert line.startswith("data: the package's own tables") and "no shared data folder found" in line
    assert data.content == load_model_data(None).content
