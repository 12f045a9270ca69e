"""The data model as data: attributes.csv covers Annex XIII and Annex VII, and validation is built from it."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError as PydanticValidationError

from batteryloop.errors import NotApplicableError, UnknownAttributeError, ValidationError
from batteryloop.passport.attributes import (
    POINT_GROUP,
    AccessGroup,
    attributes,
    missing_mandatory,
    request_model,
    validate_values,
)
from batteryloop.passport.structures import STRUCTURES

# Regulation (EU) 2023/1542, Annex XIII: point 1 (a)-(s), point 2 (a)-(d), point 3, point 4 (a)-(d).
ANNEX_XIII_ITEMS = (
    [f"1({c})" for c in "abcdefghijklmnopqrs"] + [f"2({c})" for c in "abcd"] + ["3"] + [f"4({c})" for c in "abcd"]
)
# Annex VII: Part A, the state of health (SOCE for EV batteries, then points 1-5); Part B, the expected lifetime (1-4).
ANNEX_VII_ITEMS = ["A (SOCE)", "A(1)", "A(2)", "A(3)", "A(4)", "A(5)", "B(1)", "B(2)", "B(3)", "B(4)"]
UNIT_SUFFIXES = {
    "_Ah": "Ah",
    "_kWh": "kWh",
    "_V": "V",
    "_W": "W",
    "_kg": "kg",
    "_mOhm": "mOhm",
    "_pct": "%",
    "_C": "degC",
    "_h": "h",
    "_kgCO2e": "kgCO2e",
    "_kgCO2e_per_kWh": "kgCO2e/kWh",
    "_pct_per_month": "%/month",
    "_W_per_Wh": "W/Wh",
    "_mm": "mm",
    "_years": "a",
}


def test_every_annex_xiii_item_has_an_attribute() -> None:
    points = {a.annex_xiii for a in attributes().values()}
    missing = [item for item in ANNEX_XIII_ITEMS if item not in points]
    assert missing == []


def test_every_annex_vii_parameter_has_an_attribute() -> None:
    found = {a.annex_vii for a in attributes().values() if a.annex_vii}
    assert [p for p in ANNEX_VII_ITEMS if p not in found] == []


def test_access_group_follows_from_the_annex_xiii_point() -> None:
    for attr in attributes().values():
        if attr.annex_xiii == "voluntary":
            # A voluntary attribute says why its access group is what it is.
            assert attr.description, attr.key
            continue
        assert attr.access_group is POINT_GROUP[attr.point], attr.key


def test_point_4_is_battery_level_and_points_2_3_are_model_level() -> None:
    for attr in attributes().values():
        if attr.point == "4":
            assert attr.level == "battery", attr.key
            assert attr.is_dynamic, attr.key
        if attr.point in ("2", "3"):
            assert attr.level == "model", attr.key


def test_units_in_names_match_the_unit_column() -> None:
    for key, attr in attributes().items():
        for suffix, unit in sorted(UNIT_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
            if key.endswith(suffix):
                assert attr.unit == unit, f"{key}: unit {attr.unit!r}, name says {unit!r}"
                break


def test_every_row_is_complete_and_resolvable() -> None:
    for key, attr in attributes().items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*(_[A-Za-z0-9]+)*", key), key
        assert attr.label_en and attr.label_nl and attr.citation, key
        assert attr.categories, key
        if attr.structure and attr.structure != "string":
            assert attr.structure in STRUCTURES, key


def test_only_ev_batteries_have_a_capacity_threshold_for_exhaustion() -> None:
    # Annex XIII 1(k): "capacity threshold for exhaustion (only for electric vehicle batteries)"
    attr = attributes()["capacity_threshold_exhaustion_pct"]
    assert attr.categories == {"ev"}
    with pytest.raises(NotApplicableError) as info:
        validate_values({"capacity_threshold_exhaustion_pct": 70.0}, "lmt")
    assert info.value.problems[0].field == "data.capacity_threshold_exhaustion_pct"
    assert validate_values({"capacity_threshold_exhaustion_pct": 70.0}, "ev") == {
        "capacity_threshold_exhaustion_pct": 70.0
    }


def test_unknown_attribute_is_named_with_a_suggestion() -> None:
    with pytest.raises(UnknownAttributeError) as info:
        validate_values({"rated_capacity_ah": 50.0}, "ev")
    problem = info.value.problems[0]
    assert problem.field == "data.rated_capacity_ah"
    assert "rated_capacity_Ah" in (problem.expected or "")


def test_values_with_units_are_converted_and_wrong_units_refused() -> None:
    assert validate_values({"rated_capacity_Ah": {"value": 51200, "unit": "mAh"}}, "ev") == {"rated_capacity_Ah": 51.2}
    assert validate_values({"battery_mass_kg": {"value": 2800, "unit": "g"}}, "lmt") == {"battery_mass_kg": 2.8}
    assert validate_values({"idle_temperature_lower_C": {"value": 233.15, "unit": "K"}}, "ev") == {
        "idle_temperature_lower_C": pytest.approx(-40.0)
    }
    with pytest.raises(ValidationError) as info:
        validate_values({"rated_capacity_Ah": {"value": 50, "unit": "kg"}}, "ev")
    assert info.value.problems[0].field == "data.rated_capacity_Ah"
    assert "mass" in info.value.problems[0].message


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"rated_capacity_Ah": "fifty"}, "data.rated_capacity_Ah", "a number"),
        ({"rated_capacity_Ah": -1.0}, "data.rated_capacity_Ah", "at least 0"),
        ({"battery_mass_kg": -1.7976931348623157e308}, "data.battery_mass_kg", "at least 0"),
        ({"soh_capacity_pct": float("nan")}, "data.soh_capacity_pct", "finite"),
        ({"expected_lifetime_cycles": 1500.5}, "data.expected_lifetime_cycles", "whole number"),
        ({"expected_lifetime_cycles": True}, "data.expected_lifetime_cycles", "whole number"),
        ({"manufacturing_date": "2026-13-01"}, "data.manufacturing_date", "valid date"),
        ({"commercial_warranty_period": "8 years"}, "data.commercial_warranty_period", "ISO 8601 duration"),
        ({"gtin": "4006381333932"}, "data.gtin", "check digit"),
        ({"battery_category": "bus"}, "data.battery_category", "one of"),
        ({"eu_declaration_of_conformity": [{"url": "not a uri"}]}, "data.eu_declaration_of_conformity", "absolute URI"),
        # a document attribute is a list of documents, not a bare link
        (
            {"eu_declaration_of_conformity": "https://example.com/doc.pdf"},
            "data.eu_declaration_of_conformity",
            "a list",
        ),
        ({"carbon_footprint_study": [{"title": "no link"}]}, "data.carbon_footprint_study", "url"),
        # strict JSON types: 0 is not false, a text is not a number, a number is not a text or a time
        (
            {"detailed_composition": [{"name": "Graphite", "critical_raw_material": 0}]},
            "data.detailed_composition",
            "valid boolean",
        ),
        ({"hazardous_substances": [{"name": "x", "concentration_pct": "1.5"}]}, "data.hazardous_substances", "number"),
        ({"negative_events": [{"event": "x", "time": 1767225600}]}, "data.negative_events", "ISO 8601"),
        ({"negative_events": [{"event": "x", "time": "2026-01-01T10:00:00"}]}, "data.negative_events", "timezone"),
        ({"usable_extinguishing_agent": [1]}, "data.usable_extinguishing_agent", "a text"),
        ({"gtin": 8712345000011}, "data.gtin", "given as text"),
        ({"labels": [{"subject": 13}]}, "data.labels", "string"),
        # recycled content: the total is the sum of the two shares, and at most 100 %
        (
            {"recycled_content": [{"material": "cobalt", "pre_consumer_pct": 60, "post_consumer_pct": 50}]},
            "data.recycled_content",
            "more than 100",
        ),
        (
            {
                "recycled_content": [
                    {"material": "cobalt", "pre_consumer_pct": 6, "post_consumer_pct": 5, "total_pct": 12}
                ]
            },
            "data.recycled_content",
            "not the sum",
        ),
        # the recycled share of cobalt, lithium, nickel and lead has one place: recycled_content (Art. 8)
        (
            {"active_materials": [{"substance": "Cobalt", "recycled_pct": 16.0}]},
            "data.active_materials",
            "recycled_content",
        ),
        (
            {"hazardous_substances": [{"name": "x", "identifier_scheme": "CAS"}]},
            "data.hazardous_substances",
            "identifier",
        ),
        ({"original_power_capability": [{"power_W": 1000.0}]}, "data.original_power_capability", "soc_pct"),
        ({"recycled_content": [{"material": "gold"}]}, "data.recycled_content", "material"),
        ({"critical_raw_materials": "cobalt"}, "data.critical_raw_materials", "a list"),
        ({"battery_status": "original"}, "data.battery_status", "set by the registry"),
    ],
)
def test_bad_values_are_refused_naming_the_field(data: dict[str, object], field: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_values(data, "ev")
    problem = info.value.problems[0]
    assert problem.field == field
    assert fragment in (problem.message + " " + (problem.expected or ""))


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        validate_values({"rated_capacity_Ah": "x", "nominal_voltage_V": -3, "colour": "red"}, "ev")
    assert {p.field for p in info.value.problems} == {
        "data.rated_capacity_Ah",
        "data.nominal_voltage_V",
        "data.colour",
    }


def test_request_model_is_generated_from_the_table() -> None:
    model = request_model(name="PassportData")
    writable = {k for k, a in attributes().items() if a.writable == "user"}
    assert set(model.model_fields) == writable
    description = model.model_fields["rated_capacity_Ah"].description or ""
    assert "[Ah]" in description and "1(g)" in description and "public" in description


def test_request_model_is_strict_about_json_types() -> None:
    """The model the API validates request bodies with accepts what validate_values accepts, no lax coercions."""
    model = request_model(name="PassportData")
    for bad in (
        {"expected_lifetime_cycles": "1500"},
        {"expected_lifetime_cycles": True},
        {"rated_capacity_Ah": "50"},
        {"rated_capacity_Ah": False},
        {"battery_chemistry": 5},
        {"gtin": 6291041500213},
        {"critical_raw_materials": [1]},
        {"detailed_composition": [{"name": "x", "critical_raw_material": 0}]},
        {"detailed_composition": [{"name": "x", "mass_kg": "3"}]},
        {"remaining_power_capability": [{"power_W": 1.0, "measured_at": 1767225600}]},
    ):
        with pytest.raises(PydanticValidationError):
            model.model_validate(bad)
    ok = model.model_validate(
        {
            "expected_lifetime_cycles": 1500.0,  # a JSON number without a fraction is a whole number
            "rated_capacity_Ah": 50,
            "battery_mass_kg": {"value": 2800, "unit": "g"},
            "detailed_composition": [{"name": "x", "critical_raw_material": False, "mass_kg": 3}],
        }
    )
    assert ok.model_dump(exclude_none=True)["expected_lifetime_cycles"] == 1500


def test_identifier_schemes_and_recycled_totals_are_normalised() -> None:
    clean = validate_values(
        {
            "hazardous_substances": [
                {"name": "Lithium hexafluorophosphate", "identifier": "21324-40-3"},
                {"name": "Ethylene carbonate", "identifier": "202-510-0"},
                {"name": "Phenolphthalein", "identifier": "201-004-7", "identifier_scheme": "CAS"},
                {"name": "Electrolyte additive", "identifier": "LBS-ADD-7"},
            ],
            "recycled_content": [
                {"material": "cobalt", "pre_consumer_pct": 8.0, "post_consumer_pct": 8.0},
                {"material": "lead", "total_pct": 12.5},
            ],
            "remaining_power_capability": [{"power_W": 40000.0, "measured_at": "2023-12-07T10:39:13+01:00"}],
        },
        "ev",
    )
    # a CAS or EC number gets the scheme its form gives; a scheme that is given is kept; other identifiers get none
    assert [s.get("identifier_scheme") for s in clean["hazardous_substances"]] == ["CAS", "EC", "CAS", None]
    assert clean["recycled_content"] == [
        {"material": "cobalt", "pre_consumer_pct": 8.0, "post_consumer_pct": 8.0, "total_pct": 16.0},
        {"material": "lead", "total_pct": 12.5},
    ]
    # a remaining power may come without its state of charge (Catena-X gives none)
    assert clean["remaining_power_capability"] == [{"power_W": 40000.0, "measured_at": "2023-12-07T09:39:13Z"}]


def test_missing_mandatory_names_what_an_ev_passport_still_needs() -> None:
    missing = missing_mandatory({"battery_category": "ev"}, "ev")
    assert "rated_capacity_Ah" in missing and "capacity_threshold_exhaustion_pct" in missing
    assert "capacity_threshold_exhaustion_pct" not in missing_mandatory({"battery_category": "lmt"}, "lmt")


def test_access_groups_cover_all_four_points() -> None:
    groups = {a.access_group for a in attributes().values()}
    assert groups == set(AccessGroup)
