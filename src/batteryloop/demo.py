"""The demo landscape that ``make demo`` serves.

A small Dutch battery landscape on the embedded database: battery makers for EV, e-bike (LMT) and stationary
(industrial) batteries with models after real product specifications, passports of every category and every status
(original, re-used, repurposed from several EV packs, remanufactured, waste, recycled), state-of-health histories for
used EV packs, grants to a repurposer and an aggregator, and one account with a token per role.

The organisations are fictional, except the producer-responsibility organisations the strategy names, which appear as
clearly marked demo accounts. Everything here is made by the package itself; nothing is read from ``../shared``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.identifiers import gtin_check_digit
from batteryloop.passport.service import PassportService


@dataclass
class DemoSummary:
    passports: int = 0
    organisations: int = 0
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)


def gtin13(company_prefix: str, item: int) -> str:
    body = f"{company_prefix}{item:0{12 - len(company_prefix)}d}"
    return body + str(gtin_check_digit(body))


def document(url: str, title: str, mime_type: str = "application/pdf") -> dict[str, str]:
    """A document of a passport: its link, title and MIME type."""
    return {"url": url, "title": title, "mime_type": mime_type}


COMMON_LINKS = {
    "waste_prevention_information": [
        document("https://www.stibat.nl/", "Stibat: batterijen langer gebruiken en inleveren", "text/html")
    ],
    "separate_collection_information": [
        document("https://www.legebatterijen.nl/", "Lege batterijen gescheiden inleveren", "text/html")
    ],
    "collection_and_reuse_information": [
        document("https://www.legebatterijen.nl/inleverpunten", "Inleverpunten voor batterijen", "text/html")
    ],
}


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
]


def build_demo(factory: sessionmaker[Session], settings: Settings, *, console: Console | None = None) -> DemoSummary:
    rng = random.Random(2027)  # noqa: S311 - reproducible demo values, not secrets
    summary = DemoSummary()
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        amstel = svc.create_organisation(
            "Amstel Battery Systems B.V.", identifier="NL-KVK-90000001", kind="manufacturer"
        )
        fiets = svc.create_organisation("Fietsaccu Nederland B.V.", identifier="NL-KVK-90000002", kind="manufacturer")
        delta = svc.create_organisation("Delta Opslag B.V.", identifier="NL-KVK-90000003", kind="manufacturer")
        arn = svc.create_organisation("ARN (demo)", kind="producer_responsibility_organisation")
        epac = svc.create_organisation("EPAC (demo)", kind="producer_responsibility_organisation")
        svc.create_organisation("Stibat (demo)", kind="producer_responsibility_organisation")
        for role, account, org_name, kind in ROLE_ACCOUNTS:
            org = svc.ensure_organisation(org_name, kind=kind)
            acc = svc.create_account(account, role, org.name)
            summary.tokens[role.value] = (account, svc.issue_token(acc))
        for name, org in (
            ("fietsaccu-operator", fiets),
            ("delta-operator", delta),
            ("arn-operator", arn),
            ("epac-operator", epac),
        ):
            svc.create_account(name, Role.ECONOMIC_OPERATOR, org.name)

        def op(org_id: int, name: str) -> Viewer:
            return Viewer(Role.ECONOMIC_OPERATOR, name, org_id)

        amstel_v = op(amstel.id, "amstel-operator")
        fiets_v = op(fiets.id, "fietsaccu-operator")
        delta_v = op(delta.id, "delta-operator")
        now = datetime.now(UTC)

        ev_ids: list[str] = []
        ev_gtin = gtin13("871234", 1)
        for i in range(24):
            data = ev_model_nmc(ev_gtin)
            made = now - timedelta(days=rng.randint(200, 2400))
            data["serial_number"] = f"EV75{i + 1:06d}"
            data["manufacturing_date"] = made.strftime("%Y-%m")
            p = svc.create(amstel_v, data)
            ev_ids.append(p.id)
            if i < 16:
                _age_ev(svc, amstel_v, p.id, rng, made, now)
        lmt_ids: list[str] = []
        lmt_gtin = gtin13("871235", 7)
        for i in range(20):
            data = lmt_model(lmt_gtin)
            data["serial_number"] = f"EB500-{i + 1:05d}"
            data["manufacturing_date"] = (now - timedelta(days=rng.randint(60, 1500))).strftime("%Y-%m")
            lmt_ids.append(svc.create(fiets_v, data).id)
        ind_gtin = gtin13("871236", 3)
        ind_ids = []
        for i in range(8):
            data = industrial_model(ind_gtin)
            data["serial_number"] = f"ESS100-{i + 1:04d}"
            data["manufacturing_date"] = (now - timedelta(days=rng.randint(30, 900))).strftime("%Y-%m-%d")
            ind_ids.append(svc.create(delta_v, data).id)

        repurposer = svc.viewer_for("tweede-leven")
        reman = svc.viewer_for("revisie-werkplaats")
        repair = svc.viewer_for("garage-de-vries")
        recycler = svc.viewer_for("circulair-metaal")
        # Two used EV packs become one stationary store (Art. 77(7): linked to both originals).
        store = industrial_model(gtin13("871237", 11), model="TLO-2L150-NMC", energy_kWh=112.0)
        store.update(
            manufacturer_name="Tweede Leven Opslag B.V.",
            manufacturer_identifier="NL-KVK-90000010",
            manufacturer_postal_address="Energieweg 2, 5652 AB Eindhoven, NL",
            manufacturing_place="Eindhoven, NL",
            serial_number="2L150-0001",
            manufacturing_date=now.strftime("%Y-%m"),
            battery_chemistry="NMC",
            rated_capacity_Ah=311.0,
            nominal_voltage_V=355.2,
            minimum_voltage_V=288.0,
            maximum_voltage_V=403.2,
            battery_mass_kg=1010.0,
            expected_lifetime_cycles=2500,
        )
        repurposed = svc.create_successor(
            repurposer,
            [ev_ids[14], ev_ids[15]],
            "repurposed",
            store,
            note="two 75 kWh packs at 74 % and 76 % SoH combined into one store",
        )
        reman_data = ev_model_nmc(ev_gtin)
        reman_data.update(serial_number="EV75R000001", manufacturing_date=now.strftime("%Y-%m"))
        remanufactured = svc.create_successor(
            reman, [ev_ids[13]], "remanufactured", reman_data, note="four modules replaced"
        )
        reused_data = lmt_model(lmt_gtin)
        reused_data.update(serial_number="EB500-R0001", manufacturing_date=now.strftime("%Y-%m"))
        reused = svc.create_successor(repair, [lmt_ids[19]], "re-used", reused_data, note="tested and resold")
        # End of life: waste under the PROs' responsibility, and recycled.
        svc.change_status(amstel_v, ev_ids[12], "waste", new_responsible="ARN (demo)", note="crash damage")
        svc.change_status(fiets_v, lmt_ids[18], "waste", new_responsible="EPAC (demo)")
        svc.change_status(recycler, lmt_ids[17], "waste", note="handed in at a collection point")
        svc.change_status(recycler, lmt_ids[17], "recycled", note="hydrometallurgical recycling")
        svc.change_status(fiets_v, lmt_ids[16], "waste", new_responsible="Circulair Metaal Recycling B.V.")
        svc.change_status(recycler, lmt_ids[16], "recycled")
        # Grants: the repurposer may read the health of the used EV packs; the aggregator that of a store.
        for pid in ev_ids[:12]:
            svc.grant(amstel_v, pid, "tweede-leven", days=90, purpose="second-life assessment")
        svc.grant(delta_v, ind_ids[0], "flexnet", days=365, purpose="FCR pre-qualification")
        summary.passports = 24 + 20 + 8 + 3
        summary.organisations = 6 + len({o for _, _, o, _ in ROLE_ACCOUNTS}) - 1
        summary.examples = {
            "EV pack, used (SoH history)": ev_ids[0],
            "EV pack, original": ev_ids[20],
            "EV pack, repurposed (superseded)": ev_ids[14],
            "Stationary store from 2 EV packs": repurposed.id,
            "EV pack, remanufactured": remanufactured.id,
            "E-bike battery": lmt_ids[0],
            "E-bike battery, re-used": reused.id,
            "E-bike battery, waste (EPAC)": lmt_ids[18],
            "E-bike battery, recycled": lmt_ids[17],
            "Industrial store": ind_ids[0],
        }
    if console is not None:
        console.print(f"built {summary.passports} passports")
    return summary


def _age_ev(svc: PassportService, viewer: Viewer, pid: str, rng: random.Random, made: datetime, now: datetime) -> None:
    """Three yearly health checks of a used pack: capacity fades ~2.5-4 % a year with cycling."""
    years = max(1.0, (now - made).days / 365.25)
    fade_per_year = rng.uniform(2.5, 4.2)
    cycles_per_year = rng.uniform(120, 260)
    for k, frac in enumerate((0.4, 0.7, 1.0), start=1):
        t = made + (now - made) * frac
        age = years * frac
        soh = max(60.0, 100.0 - fade_per_year * age - rng.uniform(0, 1.0))
        cycles = cycles_per_year * age
        svc.update_dynamic(
            viewer,
            pid,
            {
                "soh_capacity_pct": round(soh, 1),
                "remaining_capacity_Ah": round(211.0 * soh / 100.0, 1),
                "state_of_certified_energy_pct": round(soh - 0.5, 1),
                "full_equivalent_cycles": round(cycles, 1),
                "energy_throughput_kWh": round(cycles * 75.0 * 0.97, 0),
                "capacity_throughput_Ah": round(cycles * 211.0 * 2, 0),
                "internal_resistance_increase_pct": round((100 - soh) * 1.6, 1),
                "ohmic_resistance_mOhm": round(118.0 * (1 + (100 - soh) * 0.016), 1),
            },
            measured_at=t,
            method=f"BMS capacity estimate, check-up {k} (Annex VII Part A(1))",
        )
