"""A complete passport: every user-writable attribute of ``attributes.csv`` filled with realistic values.

The battery is a 75 kWh NMC 811 electric-vehicle pack of 96 cells in series (three in parallel): 357 V nominal,
210 Ah, 452.5 kg, by a fictitious Dutch manufacturer. Its identifiers follow the conventions of the data models (a
GS1 GTIN with a valid check digit, Catena-X business partner numbers BPNL/BPNA for the manufacturer and its plant).
Dynamic values describe the pack after a few months of use.
"""

from __future__ import annotations

import copy
from typing import Any

_SITE = "https://www.lowlands-battery.example/passport/ev75"


def _doc(
    name: str, title: str, *, document_type: str | None = None, mime_type: str | None = "application/pdf"
) -> dict[str, Any]:
    doc: dict[str, Any] = {"url": f"{_SITE}/{name}", "title": title}
    if document_type is not None:
        doc["document_type"] = document_type
    if mime_type is not None:
        doc["mime_type"] = mime_type
    return doc


_EV75: dict[str, Any] = {
    # Annex XIII 1(a): identification, manufacturer, place and date of manufacture, mass
    "battery_category": "ev",
    "battery_model_identifier": "LBS-EV75-NMC811",
    "gtin": "08712345000011",
    "serial_number": "LBS75-2025-000123",
    "batch_number": "B2025-11-07",
    "manufacturer_name": "Lowlands Battery Systems B.V.",
    "manufacturer_identifier": "BPNL0000000LBS01",
    "manufacturer_postal_address": "Batterijweg 12, 5652 AM Eindhoven, NL",
    "manufacturer_email": "passport@lowlands-battery.example",
    "manufacturer_web_address": "https://www.lowlands-battery.example",
    "manufacturing_place": "Batterijweg 12, 5652 AM Eindhoven, NL",
    "manufacturing_facility_identifier": "BPNA0000000LBS02",
    "manufacturing_date": "2025-11-07",
    "battery_mass_kg": 452.5,
    # 1(b): material composition
    "battery_chemistry": "NMC",
    "battery_chemistry_name": "Lithium nickel manganese cobalt oxide (NMC 811) with graphite anode",
    "hazardous_substances": [
        {
            "name": "Lithium hexafluorophosphate",
            "identifier": "21324-40-3",
            "hazard_class": "AcuteToxicity",
            "concentration_pct": 1.2,
            "location": "Electrolyte",
            "critical_raw_material": False,
            "impact": ["H301: Toxic if swallowed", "H314: Causes severe skin burns and eye damage"],
            "impact_documents": [_doc("sds-lipf6.pdf", "Safety data sheet, lithium hexafluorophosphate")],
            "documents": [_doc("substance-lipf6.pdf", "Use of LiPF6 in the EV75 electrolyte")],
        },
        {
            "name": "Ethylene carbonate",
            "identifier": "96-49-1",
            "hazard_class": "EyeDamageOrIrritation",
            "concentration_pct": 2.9,
            "location": "Electrolyte",
            "critical_raw_material": False,
            "impact": ["H319: Causes serious eye irritation"],
        },
    ],
    "usable_extinguishing_agent": ["Water in large quantities", "Class D extinguishing powder"],
    "critical_raw_materials": ["cobalt", "lithium", "manganese", "natural graphite", "nickel"],
    # 1(c): carbon footprint per kWh of energy over the service life (about 112 MWh: 75 kWh x 1500 cycles)
    "carbon_footprint_kgCO2e_per_kWh": 0.06,
    "absolute_carbon_footprint_kgCO2e": 6750.0,
    "carbon_footprint_per_lifecycle_stage": [
        {"stage": "raw_material_acquisition", "kgCO2e_per_kWh": 0.039},
        {"stage": "main_product_production", "kgCO2e_per_kWh": 0.016},
        {"stage": "distribution", "kgCO2e_per_kWh": 0.001},
        {"stage": "end_of_life_and_recycling", "kgCO2e_per_kWh": 0.004},
    ],
    "carbon_footprint_performance_class": "B",
    "carbon_footprint_study": [_doc("carbon-footprint-study.pdf", "Carbon footprint study EV75 (public version)")],
    # 1(d): due diligence
    "due_diligence_report": [_doc("due-diligence-report-2025.pdf", "Due diligence report 2025")],
    "third_party_assurance": [_doc("due-diligence-assurance-2025.pdf", "Assurance report on due diligence 2025")],
    "supply_chain_indices": 72.0,
    # 1(e), 1(f): recycled and renewable content
    "recycled_content": [
        {"material": "cobalt", "pre_consumer_pct": 8.0, "post_consumer_pct": 8.0},
        {"material": "lithium", "pre_consumer_pct": 3.0, "post_consumer_pct": 3.0},
        {"material": "nickel", "pre_consumer_pct": 2.5, "post_consumer_pct": 3.5},
        {"material": "lead", "pre_consumer_pct": 0.0, "post_consumer_pct": 0.0},
    ],
    "renewable_content_pct": 4.5,
    # 1(g)-(p): performance and durability
    "rated_capacity_Ah": 210.0,
    "rated_energy_kWh": 75.0,
    "nominal_voltage_V": 357.0,
    "minimum_voltage_V": 288.0,
    "maximum_voltage_V": 403.2,
    "voltage_reference_temperature_C": 25.0,
    "original_power_capability": [{"soc_pct": 80.0, "power_W": 210000.0}, {"soc_pct": 20.0, "power_W": 165000.0}],
    "maximum_permitted_power_W": 230000.0,
    "power_energy_ratio_W_per_Wh": 3.07,
    "power_reference_temperature_C": 25.0,
    "expected_lifetime_cycles": 1500,
    "cycle_life_reference_test": [
        _doc("cycle-life-test-iec-62660-1.pdf", "IEC 62660-1:2018 cycle-life test, 1 C, 25 °C, 90 % DoD")
    ],
    "capacity_threshold_exhaustion_pct": 70.0,
    "idle_temperature_lower_C": -30.0,
    "idle_temperature_upper_C": 55.0,
    "commercial_warranty_period": "P8Y",
    "initial_round_trip_efficiency_pct": 95.0,
    "round_trip_efficiency_at_50pct_cycle_life_pct": 93.0,
    "initial_internal_resistance_cell_mOhm": 0.9,
    "initial_internal_resistance_module_mOhm": 4.0,
    "initial_internal_resistance_pack_mOhm": 35.0,
    "initial_self_discharge_rate_pct_per_month": 2.0,
    "cycle_life_test_c_rate": 1.0,
    # 1(q)-(s): labels, conformity, end of life
    "labels": [
        {
            "subject": "SeparateCollection",
            "symbol_url": f"{_SITE}/labels/separate-collection.svg",
            "meaning": "Collect separately; do not dispose of with household waste (Art. 13(1))",
        },
        {
            "subject": "CarbonFootPrint",
            "symbol_url": f"{_SITE}/labels/carbon-footprint-class-b.svg",
            "meaning": "Carbon footprint performance class B (Art. 7(2))",
        },
    ],
    "eu_declaration_of_conformity": [
        _doc("eu-declaration-of-conformity.pdf", "EU declaration of conformity EV75"),
        _doc("eu-declaration-of-conformity-nl.pdf", "EU-conformiteitsverklaring EV75"),
    ],
    "eu_declaration_of_conformity_id": "LBS-DoC-2025-0042",
    "waste_prevention_information": [
        _doc("waste-prevention.html", "Extending the life of your battery", mime_type="text/html")
    ],
    "separate_collection_information": [
        _doc("separate-collection.html", "Separate collection of batteries", mime_type="text/html")
    ],
    "collection_and_reuse_information": [
        _doc("collection-and-reuse.html", "Collection, take-back and re-use", mime_type="text/html")
    ],
    # 2: persons with a legitimate interest
    "detailed_composition": [
        {
            "name": "Lithium nickel manganese cobalt oxide",
            "identifier": "346417-97-8",
            "component": "Cathode",
            "component_id": "CELL-CA-01",
            "mass_kg": 128.0,
            "concentration_pct": 28.3,
            "critical_raw_material": True,
            "recycled_pct": 6.0,
            "renewable_pct": 0.0,
            "documents": [_doc("material-nmc811.pdf", "NMC 811 cathode material specification")],
        },
        {
            "name": "Graphite",
            "identifier": "7782-42-5",
            "component": "Anode",
            "component_id": "CELL-AN-01",
            "mass_kg": 71.0,
            "concentration_pct": 15.7,
            "critical_raw_material": True,
            "recycled_pct": 0.0,
            "renewable_pct": 0.0,
        },
        {
            "name": "Lithium hexafluorophosphate",
            "identifier": "21324-40-3",
            "component": "Electrolyte",
            "component_id": "CELL-EL-01",
            "mass_kg": 5.4,
            "concentration_pct": 1.2,
            "critical_raw_material": False,
            "recycled_pct": 0.0,
            "renewable_pct": 0.0,
        },
    ],
    "component_part_numbers": [
        {"part_name": "Battery module 12s3p", "part_number": "LBS-MOD-12S3P-A"},
        {"part_name": "Battery management system", "part_number": "LBS-BMS-96S-C"},
    ],
    "spare_part_sources": [
        {
            "supplier_name": "Lowlands Battery Service B.V.",
            "postal_address": "Servicestraat 4, 5652 AN Eindhoven, NL",
            "email": "spares@lowlands-battery.example",
            "web_address": "https://service.lowlands-battery.example",
            "components": [
                {"part_name": "Battery module 12s3p", "part_number": "LBS-MOD-12S3P-A"},
                {"part_name": "Battery management system", "part_number": "LBS-BMS-96S-C"},
            ],
        }
    ],
    "dismantling_information": [
        _doc("dismantling-manual.pdf", "Dismantling manual EV75", document_type="DismantlingManual"),
    ],
    "safety_measures": [_doc("safety-instructions.pdf", "Safety instructions for handling and discharging")],
    # 3: notified bodies, market surveillance, Commission
    "test_report_results": [_doc("test-report-un-38-3.pdf", "UN 38.3 test summary")],
    # 4: the individual battery
    "capacity_fade_pct": 3.8,
    "power_fade_pct": 2.9,
    "internal_resistance_increase_pct": 8.0,
    "round_trip_efficiency_fade_pct": 1.1,
    "expected_lifetime_years": 12.0,
    "state_of_certified_energy_pct": 96.2,
    "remaining_capacity_Ah": 202.0,
    "soh_capacity_pct": 96.2,
    "remaining_energy_kWh": 72.2,
    "remaining_power_capability": [
        {"soc_pct": 80.0, "power_W": 204000.0, "measured_at": "2026-02-01T08:00:00Z"},
        {"soc_pct": 20.0, "power_W": 158000.0, "measured_at": "2026-02-01T08:00:00Z"},
    ],
    "remaining_round_trip_efficiency_pct": 94.0,
    "current_self_discharge_rate_pct_per_month": 2.2,
    "evolution_of_self_discharge_pct": 10.0,
    "ohmic_resistance_mOhm": 37.8,
    "putting_into_service_date": "2025-12-15",
    "energy_throughput_kWh": 4350.0,
    "capacity_throughput_Ah": 12200.0,
    "deep_discharge_events": 1,
    "time_extreme_high_temperature_h": 3.5,
    "time_extreme_low_temperature_h": 12.25,
    "time_charging_extreme_high_temperature_h": 0.5,
    "time_charging_extreme_low_temperature_h": 1.75,
    "full_equivalent_cycles": 58.0,
    "state_of_charge_pct": 64.0,
    "negative_events": [
        {"event": "Deep discharge below 2.5 V per cell during storage", "time": "2026-01-12T03:40:00Z"}
    ],
    "operating_temperature_C": 18.5,
    "safety_status": "damaged",
    "operating_environment_reports": [
        _doc("environment-report-2026-q1.pdf", "Operating conditions, first quarter 2026")
    ],
    # voluntary attributes that the data models carry
    "product_name": "EV75 NMC battery pack",
    "unique_product_identifier": "https://id.lowlands-battery.example/01/08712345000011/21/LBS75-2025-000123",
    "data_carrier_type": "QR",
    "data_carrier_layout": "On the pack lid, upper left corner",
    "taric_code": "8507 60 00",
    "battery_length_mm": 2100.0,
    "battery_width_mm": 1500.0,
    "battery_height_mm": 140.0,
    "placed_on_market_date": "2025-12-01",
    "intended_purpose": ["automotive"],
    "fire_class": "A, B",
    "cycle_life_test_depth_of_discharge_pct": 90.0,
    "cycle_life_test_temperature_C": 25.0,
    "cycle_life_test_charge_c_rate": 0.5,
    "capacity_reference_temperature_C": 25.0,
    "energy_reference_temperature_C": 25.0,
    "resistance_reference_temperature_C": 25.0,
    "round_trip_efficiency_reference_temperature_C": 25.0,
    "internal_resistance_increase_cell_pct": 6.0,
    "internal_resistance_increase_module_pct": 7.0,
    "ohmic_resistance_cell_mOhm": 0.95,
    "ohmic_resistance_module_mOhm": 4.3,
    "negative_event_reports": [_doc("event-report-2026-01-12.pdf", "Deep discharge of 12 January 2026")],
    "active_materials": [
        {
            "substance": "nickel",
            "location": "Cathode",
            "critical_raw_material": True,
            "documents": [_doc("nickel-sourcing.pdf", "Nickel: origin and refining")],
        },
        {"substance": "lithium", "location": "Cathode", "critical_raw_material": True},
        {"substance": "cobalt", "location": "Cathode", "critical_raw_material": True},
        {
            "substance": "manganese",
            "identifier": "7439-96-5",
            "location": "Cathode",
            "recycled_pct": 0.0,
            "critical_raw_material": True,
        },
    ],
    "restricted_substances": [
        {"substance": "mercury", "location": "Not present", "concentration_pct": 0.0, "critical_raw_material": False},
        {"substance": "cadmium", "location": "Not present", "concentration_pct": 0.0, "critical_raw_material": False},
        {
            "substance": "lead",
            "location": "Solder of the battery management system",
            "concentration_pct": 0.0009,
            "critical_raw_material": False,
            "impact": ["Lead is toxic to reproduction (H360)"],
        },
    ],
    "passport_expiration_date": "2040-12-01",
    "sustainability_report": [_doc("sustainability-report-2025.pdf", "Sustainability report 2025")],
    "eu_taxonomy_disclosure": [_doc("eu-taxonomy-disclosure-2025.pdf", "EU taxonomy disclosure 2025")],
    "additional_sources": [_doc("user-manual.pdf", "User manual EV75", document_type="User Manuals and Guides")],
    "performance_documents": [_doc("datasheet.pdf", "Datasheet EV75")],
    "performance_test_reports": [_doc("rated-performance-test-report.pdf", "Test report of the rated values")],
    "dynamic_performance_documents": [_doc("state-of-health-2026-02.pdf", "State of health, February 2026")],
    "safe_discharging_information": [_doc("safe-discharging.pdf", "Safe discharging before dismantling")],
    "removal_information": [_doc("removal-from-vehicle.pdf", "Removal of the pack from the vehicle")],
    "carbon_footprint_methods": ["Regulation (EU) 2023/1542 Art. 7 and Annex II", "ISO 14067:2018"],
    "carbon_footprint_rulebook": [
        {"url": "https://eur-lex.europa.eu/eli/reg/2023/1542/oj", "title": "Regulation (EU) 2023/1542, Annex II"}
    ],
    "spare_part_producers": ["BPNL0000000LBS03"],
    "economic_operator_name": "Lowlands Battery Systems B.V.",
    "economic_operator_postal_address": "Batterijweg 12, 5652 AM Eindhoven, NL",
    "economic_operator_email": "compliance@lowlands-battery.example",
    "economic_operator_web_address": "https://www.lowlands-battery.example/compliance",
    "classifications": [{"standard": "UNSPSC", "identifier": "26111701", "description": "Rechargeable batteries"}],
    "extinguishing_agent_documents": [_doc("fire-fighting-guide.pdf", "Fire-fighting guidance for the EV75 pack")],
}

# The attributes the registry sets through its lifecycle operations, as a registry export includes them.
REGISTRY_VALUES: dict[str, Any] = {
    "economic_operator_identifier": "BPNL0000000LBS01",
    "battery_status": "original",
}


def full_passport_data(category: str = "ev") -> dict[str, Any]:
    """Every user-writable attribute filled for a battery of ``category`` (a fresh copy each call).

    For another category than ``ev`` the attributes that do not apply to it (Annex XIII 1(k), 4(b) SOCE: electric
    vehicle batteries only) are left out, and the category is set.
    """
    from batteryloop.passport.attributes import attributes

    data = copy.deepcopy(_EV75)
    data["battery_category"] = category
    table = attributes()
    return {k: v for k, v in data.items() if table[k].applies_to(category)}
