"""Where the shared data folder is: the environment variable, the folder next to a source checkout, or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from batteryloop import shared_data
from batteryloop.errors import ValidationError
from batteryloop.shared_data import ENV_VAR, project_root, shared_data_dir, shared_file

ROOT = Path(__file__).resolve().parents[1]


def checkout(tmp_path: Path, *, name: str = "batteryloop", pyproject: bool = True, shared: bool = True) -> Path:
    """A fake source checkout ``tmp_path/project/src/batteryloop`` with ``tmp_path/shared/data`` beside it."""
    package = tmp_path / "project" / "src" / "batteryloop"
    package.mkdir(parents=True)
    if pyproject:
        (tmp_path / "project" / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n', encoding="utf-8")
    if shared:
        (tmp_path / "shared" / "data" / "circularity").mkdir(parents=True)
        (tmp_path / "shared" / "data" / "circularity" / "a.csv").write_text("x\n1\n", encoding="utf-8")
    return package


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(ENV_VAR, raising=False)
    return monkeypatch


def test_the_variable_names_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.csv").write_text("a\n", encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    # the variable wins over the checkout's ../shared/data, which exists here or not
    assert shared_data_dir() == tmp_path
    assert shared_file("rules", "r.csv") == tmp_path / "rules" / "r.csv"
    assert shared_file("rules") == tmp_path / "rules"
    assert shared_file("rules", "missing.csv") is None
    assert shared_file(Path("rules") / "r.csv") == tmp_path / "rules" / "r.csv"


def test_a_variable_naming_a_missing_folder_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(ENV_VAR, str(missing))
    with pytest.raises(ValidationError) as caught:
        shared_data_dir()
    assert caught.value.field == ENV_VAR
    assert ENV_VAR in str(caught.value) and str(missing) in str(caught.value) and "does not exist" in str(caught.value)
    with pytest.raises(ValidationError, match=ENV_VAR):
        shared_file("circularity")
    a_file = tmp_path / "file.txt"
    a_file.write_text("", encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, str(a_file))
    with pytest.raises(ValidationError, match="is a file, not a folder"):
        shared_data_dir()


def test_unset_in_a_source_checkout_finds_the_folder_beside_the_project(
    tmp_path: Path, unset: pytest.MonkeyPatch
) -> None:
    package = checkout(tmp_path)
    unset.setattr(shared_data, "PACKAGE_DIR", package)
    assert project_root() == tmp_path / "project"
    assert shared_data_dir() == tmp_path / "shared" / "data"
    assert shared_file("circularity", "a.csv") == tmp_path / "shared" / "data" / "circularity" / "a.csv"
    assert shared_file("circularity", "b.csv") is None
    # an empty variable counts as unset
    unset.setenv(ENV_VAR, "")
    assert shared_data_dir() == tmp_path / "shared" / "data"


def test_unset_without_the_folder_is_none(tmp_path: Path, unset: pytest.MonkeyPatch) -> None:
    unset.setattr(shared_data, "PACKAGE_DIR", checkout(tmp_path, shared=False))
    assert project_root() == tmp_path / "project"
    assert shared_data_dir() is None
    assert shared_file("circularity", "a.csv") is None


@pytest.mark.parametrize(
    ("name", "pyproject"), [("batteryloop", False), ("someone-else", True)], ids=["installed", "other-project"]
)
def test_outside_a_batteryloop_checkout_there_is_no_folder(
    tmp_path: Path, unset: pytest.MonkeyPatch, name: str, pyproject: bool
) -> None:
    """An installed wheel (no pyproject.toml two folders up) or another project's tree never reaches ../shared."""
    unset.setattr(shared_data, "PACKAGE_DIR", checkout(tmp_path, name=name, pyproject=pyproject))
    assert (tmp_path / "shared" / "data").is_dir()
    assert project_root() is None
    assert shared_data_dir() is None
    assert shared_file("circularity", "a.csv") is None


def test_a_broken_pyproject_is_not_a_checkout(tmp_path: Path, unset: pytest.MonkeyPatch) -> None:
    package = checkout(tmp_path)
    (tmp_path / "project" / "pyproject.toml").write_text("[project\n", encoding="utf-8")
    unset.setattr(shared_data, "PACKAGE_DIR", package)
    assert shared_data_dir() is None


def test_this_checkout(unset: pytest.MonkeyPatch) -> None:
    """The package runs from this repository's src/, so its root is the repository (wherever ../shared may be)."""
    assert project_root() == ROOT
    expected = ROOT.parent / "shared" / "data"
    assert shared_data_dir() == (expected if expected.is_dir() else None)
