"""The path columns of attributes.csv are the mapping: every cell parses, every mapped attribute is either a plain
value the generic mapping copies or has a transform, units convert, and the appended rows keep the conventions."""

from __future__ import annotations

import pytest

from batteryloop import units
from batteryloop.passport.attributes import FORMAT_COLUMNS, attributes
from batteryloop.passport.interop import FORMATS
from batteryloop.passport.interop.engine import DocumentFormat
from batteryloop.passport.interop.paths import parse_cell, parse_path, render
from batteryloop.passport.structures import STRUCTURES

ALL_FORMATS = sorted(FORMATS)


def _fmt(name: str) -> DocumentFormat:
    fmt = FORMATS[name]
    assert isinstance(fmt, DocumentFormat)
    return fmt


def test_path_syntax() -> None:
    path = parse_path("ProductCondition:StateOfCharge.StateOfChargeValue(%)@LastUpdate")
    assert (path.part, path.steps, path.unit, path.quantity, path.time_key) == (
        "ProductCondition",
        ("StateOfCharge", "StateOfChargeValue"),
        "%",
        False,
        "LastUpdate",
    )
    assert path.time_loc == ("StateOfCharge", "LastUpdate")
    weight = parse_path("characteristics.physicalDimension.weight{g}")
    assert (weight.part, weight.unit, weight.quantity) == (None, "g", True)
    listed = parse_path("identification.identification.codes[]")
    assert listed.lists == frozenset({2})
    assert not listed.plain
    assert [p.part for p in parse_cell("DigitalNameplate:ManufacturerName;TechnicalData:GeneralInformation.X")] == [
        "DigitalNameplate",
        "TechnicalData",
    ]
    assert parse_cell("") == []
    where = render("Circularity", ("SparePartSources", 0, "NameOfSupplier"))
    assert where == "Circularity:SparePartSources[0].NameOfSupplier"
    with pytest.raises(ValueError, match="not a path"):
        parse_path("a..b")


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_every_cell_parses_and_names_parts_of_its_model(name: str) -> None:
    fmt = _fmt(name)
    for attr in attributes().values():
        for path in parse_cell(attr.paths[name]):
            assert path.part in fmt.parts, f"{attr.key}: {path.text} names no part of {name}"


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_every_mapped_attribute_is_plain_or_has_a_transform(name: str) -> None:
    fmt = _fmt(name)
    for attr in fmt.mapped():
        if fmt.transform_for(attr.key) is not None:
            continue
        for path in fmt.paths(attr.key):
            last = len(path.steps) - 1
            assert path.lists <= {last}, f"{attr.key}: {path.text} crosses an array and needs a transform"
            if path.lists:
                assert attr.type == "list[string]", f"{attr.key}: an array of {attr.type} needs a transform"
            assert attr.structure is None or attr.structure == "string", f"{attr.key}: structures need a transform"


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_transforms_serve_mapped_attributes_only(name: str) -> None:
    fmt = _fmt(name)
    mapped = {a.key for a in fmt.mapped()}
    for transform in fmt.transforms:
        assert set(transform.keys) <= mapped, f"{transform.keys}: a transform for an attribute without a path"
        assert transform.export.__doc__, f"{transform.keys}: say what the mapping does"
        assert transform.import_.__doc__, f"{transform.keys}: say what the mapping does"


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_units_of_the_paths_convert_to_the_attribute_units(name: str) -> None:
    fmt = _fmt(name)
    for attr in fmt.mapped():
        for path in parse_cell(attr.paths[name]):
            if path.unit is None:
                continue
            units.lookup(path.unit)
            if fmt.transform_for(attr.key) is None:  # a transform's path documents the unit its code converts
                assert attr.type in ("decimal", "integer"), f"{attr.key}: a unit on a {attr.type}"
                assert units.dimension_of(path.unit) == units.dimension_of(attr.unit), f"{attr.key}: {path.text}"


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_measurement_times_belong_to_dynamic_attributes(name: str) -> None:
    for attr in _fmt(name).mapped():
        for path in parse_cell(attr.paths[name]):
            if path.time_key is not None:
                assert attr.is_dynamic, f"{attr.key}: {path.text} gives a time to static data"


def test_the_path_columns_are_those_of_the_formats() -> None:
    assert set(FORMAT_COLUMNS) == set(FORMATS)


def test_appended_rows_follow_the_table_conventions() -> None:
    """Rows for what the models carry beyond Annex XIII: voluntary, with Dutch labels, a citation of the model and
    a description that says why their access group fits."""
    appended = [
        a
        for a in attributes().values()
        if a.annex_xiii == "voluntary" and a.obligation == "voluntary" and any(a.paths.values())
    ]
    assert len(appended) >= 40
    suffixes = {"%": "_pct", "degC": "_C", "1/h": "_rate", "%/month": "_per_month", "W/Wh": "_W_per_Wh"}
    for attr in appended:
        assert attr.label_en
        assert attr.label_nl
        assert attr.label_nl != attr.label_en or attr.key == "taric_code"
        assert attr.citation
        assert attr.description
        assert attr.writable == "user"
        assert attr.categories == frozenset({"ev", "lmt", "industrial"})
        assert attr.type in ("string", "decimal", "date", "uri", "email", "list[string]") or (
            attr.structure in STRUCTURES
        ), attr.key
        if attr.unit and attr.unit != "1":
            assert attr.key.endswith(suffixes.get(attr.unit, "_" + attr.unit)), f"{attr.key}: the unit in the name"
