"""The demo's hand-written passports: one complete EV pack, e-bike and stationary model of fictional Dutch makers.

These carry every attribute a complete passport has (composition, hazardous substances, carbon footprint by
lifecycle stage, spare parts, dismantling documents, ...), so that the public page, the console and the exports show a
full passport next to the many passports of real models (:mod:`batteryloop.demo.catalogue`), which carry the
mandatory model data only. The organisations are fictional; the role accounts are listed in :data:`ROLE_ACCOUNTS`.
"""

from __future__ import annotations

from typing import Any

from batteryloop.demo.catalogue import COMMON_LINKS, document
from batteryloop.passport.access import Role


def ev_model_nmc(gtin: str) -> dict[str, Any]:
    """A 75 kWh NMC 811 EV pack: 96 cells in series of 211 Ah pouch cells (3.0-4.2 V per cell)."""
    return {
        "battery_category": "ev",
        "battery_model_identifier": "AMS-EV75-NMC811",
        "gtin": gtin,
        "manufacturer_name": "Amstel Battery Systems B.V.",
        "manufacturer_identifier": "NL-KVK-90000001",
        "manufacturer_postal_address": "Westpoort 12, 1047 AB Amsterdam, NL",
        "manufacturer_email": "passport@amstel-battery.example",
        "manufacturer_web_address": "https://amstel-battery.example",
        "manufacturing_place": "Amsterdam, NL",
        "battery_mass_kg": 478.0,
        "battery_chemistry": "NMC",
        "battery_chemistry_name": "Lithium nickel manganese cobalt oxide (NMC 811) / graphite",
        "hazardous_substances": [
            {
                "name": "Lithium hexafluorophosphate",
                "identifier": "21324-40-3",
                "hazard_class": "Acute toxicity",
                "concentration_pct": 1.2,
                "location": "electrolyte",
            },
        ],
        "usable_extinguishing_agent": ["water (large quantities, cooling)", "CO2 for the surroundings"],
        "critical_raw_materials": ["cobalt", "lithium", "natural graphite", "nickel", "manganese"],
        "carbon_footprint_kgCO2e_per_kWh": 68.4,
        "carbon_footprint_per_lifecycle_stage": [
            {"stage": "raw_material_acquisition", "kgCO2e_per_kWh": 41.0},
            {"stage": "main_product_production", "kgCO2e_per_kWh": 24.1},
            {"stage": "distribution", "kgCO2e_per_kWh": 1.3},
            {"stage": "end_of_life_and_recycling", "kgCO2e_per_kWh": 2.0},
        ],
        "carbon_footprint_study": [
            document(
                "https://amstel-battery.example/cf/ams-ev75.pdf", "Carbon footprint study AMS-EV75 (public version)"
            )
        ],
        "due_diligence_report": [
            document("https://amstel-battery.example/due-diligence-2026.pdf", "Due diligence report 2026")
        ],
        "recycled_content": [
            {"material": "cobalt", "pre_consumer_pct": 4.0, "post_consumer_pct": 8.0},
            {"material": "lithium", "pre_consumer_pct": 1.0, "post_consumer_pct": 2.0},
            {"material": "nickel", "pre_consumer_pct": 2.0, "post_consumer_pct": 3.0},
        ],
        "renewable_content_pct": 0.0,
        "rated_capacity_Ah": 211.0,
        "rated_energy_kWh": 75.0,
        "nominal_voltage_V": 355.2,
        "minimum_voltage_V": 288.0,
        "maximum_voltage_V": 403.2,
        "original_power_capability": [{"soc_pct": 80.0, "power_W": 175000.0}, {"soc_pct": 20.0, "power_W": 120000.0}],
        "maximum_permitted_power_W": 180000.0,
        "expected_lifetime_cycles": 1500,
        "cycle_life_reference_test": [
            document(
                "https://amstel-battery.example/reports/cycle-life-ams-ev75.pdf",
                "IEC 62660-1:2018 cycle-life test, 1/3 C, 25 °C, 100 % DoD",
            )
        ],
        "capacity_threshold_exhaustion_pct": 70.0,
        "idle_temperature_lower_C": -40.0,
        "idle_temperature_upper_C": 60.0,
        "commercial_warranty_period": "P8Y",
        "initial_round_trip_efficiency_pct": 95.0,
        "round_trip_efficiency_at_50pct_cycle_life_pct": 93.5,
        "initial_internal_resistance_cell_mOhm": 1.1,
        "initial_internal_resistance_pack_mOhm": 118.0,
        "cycle_life_test_c_rate": 0.33,
        "labels": [{"subject": "separate collection", "meaning": "Do not dispose of with household waste"}],
        "eu_declaration_of_conformity": [
            document("https://amstel-battery.example/doc/ams-ev75-doc.pdf", "EU declaration of conformity AMS-EV75")
        ],
        **COMMON_LINKS,
        "detailed_composition": [
            {
                "name": "NMC 811 cathode active material",
                "component": "cathode",
                "mass_kg": 96.0,
                "critical_raw_material": True,
            },
            {
                "name": "Graphite",
                "identifier": "7782-42-5",
                "component": "anode",
                "mass_kg": 68.0,
                "critical_raw_material": True,
            },
            {"name": "LiPF6 in EC/EMC", "component": "electrolyte", "mass_kg": 38.0},
        ],
        "spare_part_sources": [
            {
                "supplier_name": "Amstel Battery Systems service",
                "email": "spares@amstel-battery.example",
                "components": [{"part_name": "Module 8s", "part_number": "AMS-M8-211"}],
            },
        ],
        "dismantling_information": [
            {
                "url": "https://amstel-battery.example/dismantling/ams-ev75.pdf",
                "title": "Dismantling manual",
                "document_type": "dismantling manual",
                "mime_type": "application/pdf",
            },
        ],
        "safety_measures": [
            {"url": "https://amstel-battery.example/safety/ams-ev75.pdf", "title": "Safe discharge and handling"},
        ],
        "test_report_results": [
            {"url": "https://amstel-battery.example/reports/un38.3-ams-ev75.pdf", "title": "UN 38.3 test summary"},
        ],
    }


def lmt_model(gtin: str) -> dict[str, Any]:
    """A 500 Wh e-bike battery: 10 cells in series, 5 in parallel of 2.78 Ah 18650 NMC cells (36 V, 13.9 Ah)."""
    return {
        "battery_category": "lmt",
        "battery_model_identifier": "FNL-EB500",
        "gtin": gtin,
        "manufacturer_name": "Fietsaccu Nederland B.V.",
        "manufacturer_identifier": "NL-KVK-90000002",
        "manufacturer_postal_address": "Industrieweg 5, 3542 AD Utrecht, NL",
        "manufacturer_email": "info@fietsaccu.example",
        "manufacturing_place": "Utrecht, NL",
        "battery_mass_kg": 2.8,
        "battery_chemistry": "NMC",
        "usable_extinguishing_agent": ["water"],
        "critical_raw_materials": ["cobalt", "lithium", "natural graphite", "nickel"],
        "carbon_footprint_kgCO2e_per_kWh": 85.0,
        "due_diligence_report": [document("https://fietsaccu.example/due-diligence.pdf", "Due diligence report")],
        "renewable_content_pct": 0.0,
        "rated_capacity_Ah": 13.9,
        "rated_energy_kWh": 0.5,
        "nominal_voltage_V": 36.0,
        "minimum_voltage_V": 30.0,
        "maximum_voltage_V": 42.0,
        "original_power_capability": [{"soc_pct": 80.0, "power_W": 900.0}, {"soc_pct": 20.0, "power_W": 650.0}],
        "maximum_permitted_power_W": 1000.0,
        "expected_lifetime_cycles": 800,
        "cycle_life_reference_test": [
            document(
                "https://fietsaccu.example/reports/cycle-life-eb500.pdf", "EN 50604-1 cycle-life test, 0.5 C, 25 °C"
            )
        ],
        "idle_temperature_lower_C": -20.0,
        "idle_temperature_upper_C": 50.0,
        "commercial_warranty_period": "P2Y",
        "initial_round_trip_efficiency_pct": 94.0,
        "round_trip_efficiency_at_50pct_cycle_life_pct": 92.0,
        "initial_internal_resistance_cell_mOhm": 28.0,
        "initial_internal_resistance_pack_mOhm": 95.0,
        "cycle_life_test_c_rate": 0.5,
        "labels": [{"subject": "separate collection", "meaning": "Inleveren bij een inzamelpunt"}],
        "eu_declaration_of_conformity": [
            document("https://fietsaccu.example/doc/eb500.pdf", "EU-conformiteitsverklaring FNL-EB500")
        ],
        **COMMON_LINKS,
        "detailed_composition": [
            {"name": "NMC 622 cathode active material", "component": "cathode", "mass_kg": 0.62},
            {"name": "Graphite", "identifier": "7782-42-5", "component": "anode", "mass_kg": 0.41},
        ],
        "dismantling_information": [{"url": "https://fietsaccu.example/dismantling/eb500.pdf"}],
        "safety_measures": [{"url": "https://fietsaccu.example/safety/eb500.pdf"}],
        "test_report_results": [{"url": "https://fietsaccu.example/reports/en50604.pdf"}],
    }


def industrial_model(gtin: str, *, model: str = "DLT-ESS100-LFP", energy_kWh: float = 99.8) -> dict[str, Any]:
    """A 100 kWh LFP stationary store: 240 prismatic 3.2 V cells in series of 130 Ah (768 V)."""
    return {
        "battery_category": "industrial",
        "battery_model_identifier": model,
        "gtin": gtin,
        "manufacturer_name": "Delta Opslag B.V.",
        "manufacturer_identifier": "NL-KVK-90000003",
        "manufacturer_postal_address": "Havenweg 30, 4382 NL Vlissingen, NL",
        "manufacturing_place": "Vlissingen, NL",
        "battery_mass_kg": 780.0,
        "battery_chemistry": "LFP",
        "usable_extinguishing_agent": ["water"],
        "critical_raw_materials": ["lithium", "natural graphite", "phosphorus"],
        "carbon_footprint_kgCO2e_per_kWh": 55.0,
        "due_diligence_report": [document("https://delta-opslag.example/due-diligence.pdf", "Due diligence report")],
        "renewable_content_pct": 0.0,
        "rated_capacity_Ah": 130.0,
        "rated_energy_kWh": energy_kWh,
        "nominal_voltage_V": 768.0,
        "minimum_voltage_V": 672.0,
        "maximum_voltage_V": 876.0,
        "original_power_capability": [{"soc_pct": 80.0, "power_W": 50000.0}, {"soc_pct": 20.0, "power_W": 50000.0}],
        "maximum_permitted_power_W": 50000.0,
        "expected_lifetime_cycles": 6000,
        "cycle_life_reference_test": [
            document(
                f"https://delta-opslag.example/reports/cycle-life-{model.lower()}.pdf",
                "IEC 62620:2014 cycle-life test, 0.5 C, 25 °C",
            )
        ],
        "idle_temperature_lower_C": -20.0,
        "idle_temperature_upper_C": 55.0,
        "commercial_warranty_period": "P10Y",
        "initial_round_trip_efficiency_pct": 96.0,
        "round_trip_efficiency_at_50pct_cycle_life_pct": 94.5,
        "initial_internal_resistance_cell_mOhm": 0.3,
        "initial_internal_resistance_pack_mOhm": 90.0,
        "cycle_life_test_c_rate": 0.5,
        "labels": [{"subject": "separate collection", "meaning": "Do not dispose of with household waste"}],
        "eu_declaration_of_conformity": [
            document("https://delta-opslag.example/doc/ess100.pdf", f"EU declaration of conformity {model}")
        ],
        **COMMON_LINKS,
        "dismantling_information": [{"url": "https://delta-opslag.example/dismantling/ess100.pdf"}],
        "safety_measures": [{"url": "https://delta-opslag.example/safety/ess100.pdf"}],
        "test_report_results": [{"url": "https://delta-opslag.example/reports/iec62619.pdf"}],
    }


ROLE_ACCOUNTS: list[tuple[Role, str, str, str]] = [
    (Role.ECONOMIC_OPERATOR, "amstel-operator", "Amstel Battery Systems B.V.", "manufacturer"),
    (Role.REPAIRER, "garage-de-vries", "Garage De Vries", "other"),
    (Role.REMANUFACTURER, "revisie-werkplaats", "Revisie Werkplaats B.V.", "remanufacturer"),
    (Role.REPURPOSER, "tweede-leven", "Tweede Leven Opslag B.V.", "repurposer"),
    (Role.RECYCLER, "circulair-metaal", "Circulair Metaal Recycling B.V.", "recycler"),
    (Role.AGGREGATOR, "flexnet", "Flexnet Aggregatie B.V.", "aggregator"),
    (Role.NOTIFIED_BODY, "keurings-instituut", "Keuringsinstituut (notified body)", "authority"),
    (Role.MARKET_SURVEILLANCE_AUTHORITY, "ilt-toezicht", "Inspectie Leefomgeving en Transport", "authority"),
    (Role.COMMISSION, "ec-dg-grow", "European Commission, DG GROW", "authority"),
    (Role.FIRE_SERVICE, "brandweer-aa", "Brandweer Amsterdam-Amstelland (demo)", "authority"),
]
