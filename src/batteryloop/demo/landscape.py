"""The demo landscape that ``make demo`` serves: a Dutch battery landscape on the embedded database.

:func:`build_demo` builds, at ``scale="full"`` (``make demo``) or ``"small"`` (the web tests):

1. organisations and one account with an access key per role (and the producer-responsibility organisations' and
   importers' operator accounts);
2. passports of real battery models (:mod:`batteryloop.demo.catalogue`: EV models from the ElaadNL/ev2gym
   specifications where ``../shared`` has them, e-bike and stationary models) issued in production batches through
   :meth:`PassportService.issue_batch`, plus the hand-written complete passports of :mod:`batteryloop.demo.legacy`;
3. the ageing of every battery from its putting into service until today (:mod:`batteryloop.demo.ageing`: the
   BLAST-Lite models under the Dutch climate and each battery's use), from which a share of the passports get a
   state of health reported by their battery-management system;
4. for a subset, check-up sessions as battery-management-system telemetry (:mod:`batteryloop.demo.checkup`) written to
   the telemetry store (``settings.data_dir / "telemetry"``), from which :func:`batteryloop.health.pipeline.estimate`
   finds the Annex VII parameters that are recorded in the passports at each check-up (a health history);
5. the lifecycle: re-used, repurposed (several EV packs into one stationary store), remanufactured, waste, recycled;
6. grants to a repurposer and an aggregator, producer-responsibility reports (the published Dutch figures from the
   shared data folder, or without it the demo's own figures of ``epr_assumptions.csv``, as reports of the ARN, EPAC
   and Stibat demo accounts, and a recycler's process report), incidents, due-diligence documents on some models,
   and the Dutch day-ahead prices named in the summary (the shared file, or the package's synthetic prices;
   :mod:`batteryloop.demo.sources`). ``DemoSummary.sources`` says which data each part used.

The organisations are fictional or clearly marked demo accounts; nothing is sent anywhere.
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.circularity.published import published_flows
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.demo import ageing
from batteryloop.demo.catalogue import BatteryModel, ev_models, gtin13, other_models, passport_data
from batteryloop.demo.checkup import session as checkup_session
from batteryloop.demo.legacy import ROLE_ACCOUNTS, ev_model_nmc, industrial_model, lmt_model
from batteryloop.energy.price_data import price_source
from batteryloop.errors import ImportFormatError, Problem, ValidationError
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.models import Passport
from batteryloop.passport.service import PassportService

SCALES = ("full", "small")
GRID_START = date(2016, 1, 1)
CHECKUP_KEYS = (
    "remaining_capacity_Ah",
    "soh_capacity_pct",
    "capacity_fade_pct",
    "ohmic_resistance_mOhm",
    "internal_resistance_increase_pct",
    "remaining_energy_kWh",
    "state_of_certified_energy_pct",
    "power_fade_pct",
    "state_of_charge_pct",
    "operating_temperature_C",
)
"""What a check-up session gives of the Annex VII parameters. Left out: the counters of the session alone (cycles,
throughput, extreme-temperature hours: the passport takes the battery's lifetime counters instead, from its BMS), and
the remaining power capability (computed to the cell cut-off, above what the pack's BMS allows)."""


@dataclass(frozen=True)
class Scale:
    """How many batteries of each kind; every number here is what :func:`build_demo` builds."""

    ev: int
    lmt: int
    industrial: int
    telemetry_ev: int
    telemetry_lmt: int
    telemetry_industrial: int
    checkups: int
    bms_soh_share: float
    ev_waste: int
    ev_recycled: int
    ev_repurposed_stores: int  # each store from 2 or 3 packs
    ev_remanufactured: int
    lmt_reused: int
    lmt_waste: int
    lmt_recycled: int
    industrial_waste: int
    industrial_recycled: int
    incidents: int


SCALE = {
    "full": Scale(
        ev=1500,
        lmt=1150,
        industrial=300,
        telemetry_ev=12,
        telemetry_lmt=4,
        telemetry_industrial=4,
        checkups=5,
        bms_soh_share=0.4,
        ev_waste=40,
        ev_recycled=25,
        ev_repurposed_stores=24,
        ev_remanufactured=15,
        lmt_reused=40,
        lmt_waste=70,
        lmt_recycled=50,
        industrial_waste=6,
        industrial_recycled=3,
        incidents=24,
    ),
    "small": Scale(
        ev=150,
        lmt=110,
        industrial=40,
        telemetry_ev=2,
        telemetry_lmt=1,
        telemetry_industrial=1,
        checkups=4,
        bms_soh_share=0.5,
        ev_waste=5,
        ev_recycled=3,
        ev_repurposed_stores=4,
        ev_remanufactured=2,
        lmt_reused=5,
        lmt_waste=8,
        lmt_recycled=5,
        industrial_waste=2,
        industrial_recycled=1,
        incidents=8,
    ),
}
LEGACY_PASSPORTS = 24 + 20 + 8 + 3
"""The hand-written passports: 24 EV packs, 20 e-bike batteries, 8 stores, and 3 successors."""


@dataclass
class DemoSummary:
    passports: int = 0
    organisations: int = 0
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Role value -> (account, access key) of that role's demo account."""
    examples: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """Every demo account with a key: account -> (role, organisation, access key)."""
    scale: str = "full"
    sources: dict[str, str] = field(default_factory=dict)
    """What the landscape took from where (EV models, prices, ageing models)."""
    counts: dict[str, int] = field(default_factory=dict)
    """Passports by ``category`` and by ``status`` (``status:recycled`` is a closed waste passport)."""
    telemetry_batteries: list[str] = field(default_factory=list)
    checkups: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class _Battery:
    pid: str
    model: BatteryModel
    operator: str  # account name of the responsible operator
    made: date
    service: date
    duty: str


def _months_back(now: datetime, rng: random.Random, earliest: date, weights_recent: float) -> date:
    """A manufacturing date between ``earliest`` and two months ago, leaning towards recent years."""
    span = (now.date() - timedelta(days=60) - earliest).days
    u = rng.random() ** (1.0 / weights_recent)  # weights_recent > 1 favours recent dates
    return earliest + timedelta(days=int(u * span))


def build_demo(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    console: Console | None = None,
    scale: str = "full",
) -> DemoSummary:
    """Build the demo landscape on the (empty, migrated) database of ``factory``; see the module text."""
    if scale not in SCALE:
        raise ValidationError(f"unknown demo scale {scale!r}", field="scale", expected=" or ".join(SCALES))
    spec = SCALE[scale]
    rng = random.Random(2027)  # noqa: S311 - reproducible demo values, not secrets
    nrng = np.random.default_rng(2027)
    summary = DemoSummary(scale=scale)
    now = datetime.now(UTC).replace(microsecond=0)
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        t = time.perf_counter()
        summary.seconds[name] = round(t - clock, 2)
        clock = t
        if console is not None:
            console.print(f"  {name}: {summary.seconds[name]:.1f} s")

    if console is not None:
        console.print(f"Building the demo landscape ({scale}) ...")
    evs, ev_origin = ev_models()
    others = other_models()
    prices = price_source()
    epr = epr_figures()
    summary.sources = {
        "ev_models": ev_origin,
        "other_models": "batteryloop/demo/battery_models.csv (real e-bike and stationary products, and demo models)",
        "prices": prices.description,
        "producer_responsibility": epr.source,
        "ageing": "BLAST-Lite 1.1.1 life models re-implemented in batteryloop/demo/ageing.py (NMC capacity: DENSO "
        "NMC622, Smith et al. 2021; NMC resistance: Kokam, Smith et al. 2017; LFP: 250 Ah prismatic cell and Naumann "
        "et al.)",
        "climate": "KNMI normals 1991-2020 De Bilt (batteryloop/demo/climate.csv)",
    }

    batteries: list[_Battery] = []
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        _organisations(svc, summary, evs, others)
        step("organisations and accounts")
        legacy = _legacy(svc, summary, now, rng)
        batteries.extend(legacy)
        step("complete passports")
        batteries.extend(_bulk(svc, spec, evs, others, now, rng))
        step(f"passports of {len(evs) + len(others)} real and demo models")

    # ageing of every battery, BMS-reported health of a share, check-ups of a subset
    telemetry = _pick_telemetry(batteries, spec, now, legacy)
    bms = [b for b in batteries if b.pid not in {t.pid for t in telemetry} and rng.random() < spec.bms_soh_share]
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        _bms_health(svc, bms, now, nrng)
        step(f"BMS health of {len(bms)} batteries")
    summary.telemetry_batteries = [b.pid for b in telemetry]
    summary.checkups = _checkups(factory, settings, telemetry, spec.checkups, now, nrng)
    step(f"telemetry and {summary.checkups} health check-ups of {len(telemetry)} batteries")

    with transaction(factory) as session:
        svc = PassportService(session, settings)
        protected = {b.pid for b in telemetry} | set(summary.examples.values())
        _lifecycle(svc, spec, batteries, protected, now, rng)
        _grants(svc, batteries, telemetry, bms)
        step("lifecycle and grants")
        _epr(session, svc, batteries, epr)
        _incidents(session, svc, spec, batteries, now, rng)
        step("producer responsibility and incidents")
        rows = session.execute(select(Passport.category, Passport.status, Passport.state)).all()
        summary.passports = len(rows)
        counts: Counter[str] = Counter()
        for category, status, state in rows:
            counts[f"category:{category}"] += 1
            counts[f"status:{'recycled' if state == 'closed' else status}"] += 1
        summary.counts = dict(sorted(counts.items()))
    if console is not None:
        total = sum(summary.seconds.values())
        console.print(f"built {summary.passports} passports in {total:.1f} s")
    return summary


# ---------------------------------------------------------------------------------------------------------------------
# organisations


def _organisations(
    svc: PassportService, summary: DemoSummary, evs: Sequence[BatteryModel], others: Sequence[BatteryModel]
) -> None:
    svc.create_organisation("Amstel Battery Systems B.V.", identifier="NL-KVK-90000001", kind="manufacturer")
    svc.create_organisation("Fietsaccu Nederland B.V.", identifier="NL-KVK-90000002", kind="manufacturer")
    svc.create_organisation("Delta Opslag B.V.", identifier="NL-KVK-90000003", kind="manufacturer")
    for pro in ("ARN (demo)", "EPAC (demo)", "Stibat (demo)"):
        svc.create_organisation(pro, kind="producer_responsibility_organisation")
    for role, account, org_name, kind in ROLE_ACCOUNTS:
        org = svc.ensure_organisation(org_name, kind=kind)
        acc = svc.create_account(account, role, org.name)
        token = svc.issue_token(acc)
        summary.tokens[role.value] = (account, token)
        summary.accounts[account] = (role.value, org.name, token)
    operators = [
        ("fietsaccu-operator", "Fietsaccu Nederland B.V."),
        ("delta-operator", "Delta Opslag B.V."),
        ("arn-operator", "ARN (demo)"),
        ("epac-operator", "EPAC (demo)"),
        ("stibat-operator", "Stibat (demo)"),
    ]
    makers = sorted({m.manufacturer for m in [*evs, *others]} - {"Fietsaccu Nederland B.V.", "Delta Opslag B.V."})
    for i, maker in enumerate(makers):
        svc.create_organisation(maker, identifier=f"NL-KVK-9100{i:04d}", kind="importer")
        operators.append((_account_of(maker), maker))
    for account, org_name in operators:
        acc = svc.create_account(account, Role.ECONOMIC_OPERATOR, org_name)
        summary.accounts[account] = (Role.ECONOMIC_OPERATOR.value, org_name, svc.issue_token(acc))
    summary.organisations = len({org for _, org, _ in summary.accounts.values()})


def _account_of(manufacturer: str) -> str:
    if manufacturer == "Fietsaccu Nederland B.V.":
        return "fietsaccu-operator"
    if manufacturer == "Delta Opslag B.V.":
        return "delta-operator"
    skip = {"robert", "gmbh", "b.v.", "europe"}
    words = [w for w in manufacturer.split("(")[0].split() if w.lower() not in skip]
    return "".join(c for c in words[0].lower() if c.isalnum()) + "-operator"


def _viewer(svc: PassportService, account: str) -> Viewer:
    return svc.viewer_for(account)


# ---------------------------------------------------------------------------------------------------------------------
# passports


LEGACY_EV = BatteryModel(
    key="ams-ev75",
    category="ev",
    manufacturer="Amstel Battery Systems B.V.",
    model="AMS-EV75-NMC811",
    chemistry="NMC",
    chemistry_name="NMC 811 / graphite",
    rated_energy_kWh=75.0,
    nominal_voltage_V=355.2,
    cells_in_series=96,
    battery_mass_kg=478.0,
    max_power_W=180000.0,
    expected_lifetime_cycles=1500,
    warranty="P8Y",
    duty="ev",
    weight=0.0,
    source="fictional demo model (batteryloop/demo/legacy.py)",
    confidence="demo",
)


def _legacy(svc: PassportService, summary: DemoSummary, now: datetime, rng: random.Random) -> list[_Battery]:
    """The hand-written complete passports and their lineage (the examples printed at start-up)."""
    amstel_v = _viewer(svc, "amstel-operator")
    fiets_v = _viewer(svc, "fietsaccu-operator")
    delta_v = _viewer(svc, "delta-operator")
    out: list[_Battery] = []
    lmt_model_row = next(m for m in other_models() if m.key == "fnl-eb500")
    ind_model_row = next(m for m in other_models() if m.key == "dlt-ess100-lfp")
    ev_ids: list[str] = []
    ev_gtin = gtin13("871234", 1)
    for i in range(24):
        data = ev_model_nmc(ev_gtin)
        made = (now - timedelta(days=rng.randint(1200, 2600) if i < 16 else rng.randint(200, 1100))).date()
        data["serial_number"] = f"EV75{i + 1:06d}"
        data["manufacturing_date"] = made.strftime("%Y-%m")
        p = svc.create(amstel_v, data)
        ev_ids.append(p.id)
        out.append(_Battery(p.id, LEGACY_EV, "amstel-operator", made, made + timedelta(days=60), "ev"))
    lmt_ids: list[str] = []
    lmt_gtin = gtin13("871235", 7)
    for i in range(20):
        data = lmt_model(lmt_gtin)
        made = (now - timedelta(days=rng.randint(400, 1800))).date()
        data["serial_number"] = f"EB500-{i + 1:05d}"
        data["manufacturing_date"] = made.strftime("%Y-%m")
        p = svc.create(fiets_v, data)
        lmt_ids.append(p.id)
        out.append(_Battery(p.id, lmt_model_row, "fietsaccu-operator", made, made + timedelta(days=45), "ebike"))
    ind_gtin = gtin13("871236", 3)
    ind_ids = []
    for i in range(8):
        data = industrial_model(ind_gtin)
        made = (now - timedelta(days=rng.randint(500, 1500))).date()
        data["serial_number"] = f"ESS100-{i + 1:04d}"
        data["manufacturing_date"] = made.strftime("%Y-%m-%d")
        p = svc.create(delta_v, data)
        ind_ids.append(p.id)
        out.append(_Battery(p.id, ind_model_row, "delta-operator", made, made + timedelta(days=90), "grid"))

    repurposer = _viewer(svc, "tweede-leven")
    reman = _viewer(svc, "revisie-werkplaats")
    repair = _viewer(svc, "garage-de-vries")
    recycler = _viewer(svc, "circulair-metaal")
    store = _store_data(now, "2L150-0001", energy_kWh=112.0, capacity_Ah=311.0)
    repurposed = svc.create_successor(
        repurposer, [ev_ids[14], ev_ids[15]], "repurposed", store, note="two 75 kWh packs combined into one store"
    )
    reman_data = ev_model_nmc(ev_gtin)
    reman_data.update(serial_number="EV75R000001", manufacturing_date=now.strftime("%Y-%m"))
    remanufactured = svc.create_successor(
        reman, [ev_ids[13]], "remanufactured", reman_data, note="four modules replaced"
    )
    reused_data = lmt_model(lmt_gtin)
    reused_data.update(serial_number="EB500-R0001", manufacturing_date=now.strftime("%Y-%m"))
    reused = svc.create_successor(repair, [lmt_ids[19]], "re-used", reused_data, note="tested and resold")
    svc.change_status(amstel_v, ev_ids[12], "waste", new_responsible="ARN (demo)", note="crash damage")
    svc.change_status(fiets_v, lmt_ids[18], "waste", new_responsible="EPAC (demo)")
    svc.change_status(recycler, lmt_ids[17], "waste", note="handed in at a collection point")
    svc.change_status(recycler, lmt_ids[17], "recycled", note="hydrometallurgical recycling")
    svc.change_status(fiets_v, lmt_ids[16], "waste", new_responsible="Circulair Metaal Recycling B.V.")
    svc.change_status(recycler, lmt_ids[16], "recycled")
    gone = {ev_ids[12], ev_ids[13], ev_ids[14], ev_ids[15], lmt_ids[16], lmt_ids[17], lmt_ids[18], lmt_ids[19]}
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
    return [b for b in out if b.pid not in gone]


def _store_data(now: datetime, serial: str, *, energy_kWh: float, capacity_Ah: float) -> dict[str, Any]:
    """A stationary store built by the repurposer from used NMC EV packs."""
    store = industrial_model(gtin13("871237", 11), model="TLO-2L150-NMC", energy_kWh=energy_kWh)
    store.update(
        manufacturer_name="Tweede Leven Opslag B.V.",
        manufacturer_identifier="NL-KVK-90000010",
        manufacturer_postal_address="Energieweg 2, 5652 AB Eindhoven, NL",
        manufacturing_place="Eindhoven, NL",
        serial_number=serial,
        manufacturing_date=now.strftime("%Y-%m"),
        battery_chemistry="NMC",
        rated_capacity_Ah=capacity_Ah,
        nominal_voltage_V=355.2,
        minimum_voltage_V=288.0,
        maximum_voltage_V=403.2,
        battery_mass_kg=1010.0,
        expected_lifetime_cycles=2500,
    )
    return store


def _bulk(
    svc: PassportService,
    spec: Scale,
    evs: Sequence[BatteryModel],
    others: Sequence[BatteryModel],
    now: datetime,
    rng: random.Random,
) -> list[_Battery]:
    """Production batches of the real models (EVs weighted by their Dutch registrations)."""
    plan: list[tuple[BatteryModel, int]] = []
    total_w = sum(m.weight for m in evs) or 1.0
    ev_counts = _apportion([m.weight / total_w for m in evs], spec.ev)
    plan += [(m, n) for m, n in zip(evs, ev_counts, strict=True)]
    lmts = [m for m in others if m.category == "lmt" and m.key != "fnl-eb500"]
    plan += list(zip(lmts, _apportion([1.0 / len(lmts)] * len(lmts), spec.lmt), strict=True))
    inds = [m for m in others if m.category == "industrial"]
    ind_share = [4.0 if m.duty == "home" else 1.0 for m in inds]
    plan += list(zip(inds, _apportion([w / sum(ind_share) for w in ind_share], spec.industrial), strict=True))
    out: list[_Battery] = []
    for index, (model, count) in enumerate(plan):
        if count == 0:
            continue
        account = _account_of(model.manufacturer)
        viewer = _viewer(svc, account)
        # due diligence: most models publish a report, every third model also a third-party verification
        data = passport_data(
            model, gtin13("87180", 100 + index), due_diligence=index % 5 != 4, third_party=index % 3 == 0
        )
        earliest = {"ev": date(2016, 6, 1), "lmt": date(2019, 1, 1), "industrial": date(2018, 1, 1)}[model.category]
        records = []
        batteries = []
        prefix = "".join(c for c in model.key.upper() if c.isalnum())[:6]
        for i in range(count):
            made = _months_back(now, rng, earliest, 1.6)
            serial = f"{prefix}-{made:%y%m}-{i + 1:05d}"
            records.append({"data": {**data, "serial_number": serial, "manufacturing_date": made.isoformat()}})
            duty = model.duty
            if model.category == "ev" and rng.random() < 0.06:
                duty = "ev_taxi"
            batteries.append((made, duty))
        issued = svc.issue_batch(viewer, records, note=f"production batch of {model.model}")
        for p, (made, duty) in zip(issued, batteries, strict=True):
            service = made + timedelta(days=rng.randint(20, 150))
            out.append(_Battery(p.id, model, account, made, min(service, now.date() - timedelta(days=10)), duty))
    return out


def _apportion(shares: Sequence[float], total: int) -> list[int]:
    """Whole numbers proportional to ``shares`` that add up to ``total`` (largest remainders)."""
    raw = [s * total for s in shares]
    base = [math.floor(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda j: raw[j] - base[j], reverse=True)[: total - sum(base)]:
        base[i] += 1
    return base


# ---------------------------------------------------------------------------------------------------------------------
# ageing and health


def _day(d: date) -> int:
    return (d - GRID_START).days


def _age(batteries: Sequence[_Battery], sample: np.ndarray, nrng: np.random.Generator) -> ageing.Ageing:
    """Age ``batteries`` (one chemistry group at a time) and read them at the day indices ``sample`` (n, k)."""
    n = len(batteries)
    out_cap = np.ones(sample.shape)
    out_res = np.ones(sample.shape)
    out_efc = np.zeros(sample.shape)
    days = int(sample.max()) + 1
    doy = np.asarray((np.arange(days) + GRID_START.timetuple().tm_yday) % 365.25, dtype=np.float64)
    ambient = ageing.climate().ambient_C(doy)
    profiles = ageing.duty_profiles()
    usage = nrng.lognormal(0.0, 0.35, n)
    scalar = np.clip(nrng.normal(1.0, 0.15, n), 0.6, 1.5)
    temps = np.empty((n, days))
    for i, b in enumerate(batteries):
        prof = profiles[b.duty]
        if prof.indoor_temperature_C is not None:
            temps[i] = prof.indoor_temperature_C + nrng.normal(0.0, 1.0)
        else:
            temps[i] = ambient + (prof.temperature_offset_C or 0.0) + nrng.normal(0.0, 1.5)
    for model in ageing.MODELS:
        idx = np.array([i for i, b in enumerate(batteries) if ageing.model_for(b.model.chemistry) == model], dtype=int)
        if idx.size == 0:
            continue
        prof_list = [profiles[batteries[i].duty] for i in idx]
        duty = ageing.Duty(
            efc_per_day=np.array([p.efc_per_day for p in prof_list]) * usage[idx],
            dod=np.array([p.dod for p in prof_list]),
            mean_soc=np.array([p.mean_soc for p in prof_list]),
            charge_c_rate=np.array([p.charge_c_rate for p in prof_list]),
        )
        start = np.array([_day(batteries[i].service) for i in idx], dtype=np.int64)
        res = ageing.simulate(model, start, temps[idx], duty, sample[idx], scalar=scalar[idx], step_days=7)
        out_cap[idx], out_res[idx], out_efc[idx] = res.capacity, res.resistance, res.efc
    return ageing.Ageing(out_cap, out_res, out_efc)


def _counters(b: _Battery, efc: float) -> dict[str, float]:
    return {
        "full_equivalent_cycles": round(efc, 1),
        "capacity_throughput_Ah": round(2.0 * efc * b.model.rated_capacity_Ah, 0),
        "energy_throughput_kWh": round(2.0 * efc * b.model.rated_energy_kWh, 1),
    }


BMS_READINGS = 4
"""Yearly state-of-health readings a battery management system reported per battery (the last in the past month), so
that the health pages have a history; fewer where the battery is younger (the earliest three months in service)."""


def _bms_health(svc: PassportService, batteries: Sequence[_Battery], now: datetime, nrng: np.random.Generator) -> None:
    """The state of health a battery's management system reported once a year, from the ageing model."""
    if not batteries:
        return
    today = _day(now.date()) - 1
    sample = np.empty((len(batteries), BMS_READINGS), dtype=np.int64)
    for i, b in enumerate(batteries):
        first = min(max(_day(b.service) + 90, today - 365 * (BMS_READINGS - 1)), today)
        sample[i] = np.linspace(first, today, BMS_READINGS).round().astype(np.int64)
    aged = _age(batteries, sample, nrng)
    method = (
        "battery management system estimate (demo: BLAST-Lite ageing model under the Dutch climate and the "
        "battery's use, profile {duty})"
    )
    for i, b in enumerate(batteries):
        days = sorted(set(int(d) for d in sample[i]))
        last_soh = 100.0
        for k, day in enumerate(days):
            col = int(np.flatnonzero(sample[i] == day)[0])
            q, r = float(aged.capacity[i, col]), float(aged.resistance[i, col])
            efc = float(aged.efc[i, col])
            # a BMS estimate is good to about 1 %; it never reports a battery healthier than its last reading
            soh = min(round(100.0 * q + nrng.normal(0.0, 0.7), 1), 100.0, last_soh)
            last_soh = soh
            when = GRID_START + timedelta(days=day)
            measured = datetime(when.year, when.month, when.day, int(nrng.integers(6, 22)), tzinfo=UTC)
            if k == len(days) - 1:
                measured = now - timedelta(days=int(nrng.integers(1, 30)), hours=int(nrng.integers(0, 24)))
            values: dict[str, Any] = {
                "soh_capacity_pct": soh,
                "remaining_capacity_Ah": round(b.model.rated_capacity_Ah * soh / 100.0, 1),
                "internal_resistance_increase_pct": round(100.0 * (r - 1.0), 1),
                **_counters(b, efc),
            }
            svc.update_dynamic(
                _viewer(svc, b.operator), b.pid, values, measured_at=measured, method=method.format(duty=b.duty)
            )


def _pick_telemetry(
    batteries: Sequence[_Battery], spec: Scale, now: datetime, legacy: Sequence[_Battery]
) -> list[_Battery]:
    """The batteries with check-up telemetry: the first complete EV pack, then, per category, batteries in service for
    more than three years (taxis among the EVs), drawn reproducibly."""
    first = legacy[0]
    chosen = [first]
    old = sorted(
        (b for b in batteries if (now.date() - b.service).days > 3 * 365 and b.pid != first.pid),
        key=lambda b: b.pid,
    )
    rng = random.Random(7)  # noqa: S311 - reproducible demo choice
    for category, count in (
        ("ev", spec.telemetry_ev - 1),
        ("lmt", spec.telemetry_lmt),
        ("industrial", spec.telemetry_industrial),
    ):
        pool = [b for b in old if b.model.category == category]
        taxis = [b for b in pool if b.duty == "ev_taxi"]
        picked = taxis[: max(0, count // 4)]
        rest = [b for b in pool if b not in picked]
        picked += rng.sample(rest, min(count - len(picked), len(rest)))
        chosen += picked
    return chosen


def _checkups(
    factory: sessionmaker[Session],
    settings: Settings,
    batteries: Sequence[_Battery],
    checkups: int,
    now: datetime,
    nrng: np.random.Generator,
) -> int:
    """Check-up sessions written to the telemetry store, each estimated and recorded in the passport."""
    from batteryloop.health.pipeline import Reference, estimate
    from batteryloop.telemetry import quality
    from batteryloop.telemetry.store import TelemetryStore

    if not batteries:
        return 0
    today = _day(now.date())
    sample = np.zeros((len(batteries), checkups), dtype=np.int64)
    for i, b in enumerate(batteries):
        first = _day(b.service) + 120
        last = today - 3
        sample[i] = np.linspace(first, last, checkups).round().astype(np.int64)
    aged = _age(batteries, sample, nrng)
    store = TelemetryStore(settings.data_dir / "telemetry")
    frames = []
    starts: list[list[datetime]] = []
    for i, b in enumerate(batteries):
        row = []
        for k in range(checkups):
            day = GRID_START + timedelta(days=int(sample[i, k]))
            start = datetime(day.year, day.month, day.day, 7, 0, tzinfo=UTC) + timedelta(
                minutes=int(nrng.integers(0, 90))
            )
            row.append(start)
            frames.append(
                checkup_session(
                    b.pid,
                    start,
                    capacity_Ah=b.model.rated_capacity_Ah * float(aged.capacity[i, k]),
                    resistance_Ohm=b.model.pack_resistance_mOhm / 1000.0 * float(aged.resistance[i, k]),
                    chemistry=b.model.chemistry,
                    cells_in_series=b.model.cells_in_series,
                    v_min_cell=b.model.cell_voltage_min_V,
                    v_max_cell=b.model.cell_voltage_max_V,
                    temperature_C=float(np.round(nrng.uniform(18.0, 23.0), 1)),
                    seed=int(nrng.integers(0, 2**31)),
                )
            )
        starts.append(row)
    store.write(pl.concat(frames))
    done = 0
    for i, b in enumerate(batteries):
        limits = quality.QualityLimits.for_chemistry(b.model.chemistry, b.model.cells_in_series, None)
        with transaction(factory) as session:
            svc = PassportService(session, settings)
            viewer = _viewer(svc, b.operator)
            for k, start in enumerate(starts[i]):
                frame = store.scan(b.pid, start=start, end=start + timedelta(hours=14)).collect()
                checked = quality.check(frame, limits)
                result = estimate(
                    checked.frame,
                    nominal_capacity_Ah=b.model.rated_capacity_Ah,
                    nominal_energy_kWh=b.model.rated_energy_kWh,
                    chemistry=b.model.chemistry,
                    cells_in_series=b.model.cells_in_series,
                    reference=Reference(initial_resistance_mOhm=b.model.pack_resistance_mOhm),
                    quality_report=checked.report.as_dict(),
                )
                values, _ = result.passport_values(b.model.category)
                chosen: dict[str, Any] = {key: values[key] for key in CHECKUP_KEYS if key in values}
                when = result.measured_at
                for key, value in _counters(b, float(aged.efc[i, k])).items():
                    chosen[key] = {"value": value, "measured_at": when, "method": "battery management system counter"}
                if k == 0:
                    chosen["putting_into_service_date"] = {
                        "value": b.service.isoformat(),
                        "measured_at": when,
                        "method": "declared by the operator at the first check-up",
                    }
                svc.update_dynamic(viewer, b.pid, chosen, note=f"workshop check-up {k + 1} of {checkups}")
                done += 1
    return done


# ---------------------------------------------------------------------------------------------------------------------
# lifecycle, grants


def _lifecycle(
    svc: PassportService,
    spec: Scale,
    batteries: list[_Battery],
    protected: set[str],
    now: datetime,
    rng: random.Random,
) -> None:
    """Statuses: repurposed, remanufactured, re-used, waste, recycled; on batteries old enough for it."""
    free = [b for b in batteries if b.pid not in protected and b.model.key != "ams-ev75"]
    old_first = sorted(free, key=lambda b: (b.made, b.pid))

    def take(category: str, count: int, *, chemistry: str | None = None) -> list[_Battery]:
        pool = [
            b
            for b in old_first
            if b.model.category == category and (chemistry is None or b.model.chemistry == chemistry)
        ]
        chosen = pool[: count * 2]
        rng.shuffle(chosen)
        chosen = chosen[:count]
        for b in chosen:
            old_first.remove(b)
        return chosen

    repurposer = _viewer(svc, "tweede-leven")
    reman = _viewer(svc, "revisie-werkplaats")
    repair = _viewer(svc, "garage-de-vries")
    recycler = _viewer(svc, "circulair-metaal")
    for n in range(spec.ev_repurposed_stores):
        packs = take("ev", 2 + n % 2, chemistry="NMC")
        if len(packs) < 2:
            break
        energy = round(sum(p.model.rated_energy_kWh for p in packs) * 0.8, 1)
        capacity = round(energy * 1000.0 / 355.2, 1)
        data = _store_data(now, f"2L-{n + 2:04d}", energy_kWh=energy, capacity_Ah=capacity)
        svc.create_successor(
            repurposer,
            [p.pid for p in packs],
            "repurposed",
            data,
            note=f"{len(packs)} used EV packs ({', '.join(sorted({p.model.model for p in packs}))}) in one store",
        )
    for n, b in enumerate(take("ev", spec.ev_remanufactured)):
        data = passport_data(b.model, gtin13("87181", 1), due_diligence=True, third_party=False)
        data.update(serial_number=f"RM-{n + 1:05d}", manufacturing_date=now.date().isoformat())
        svc.create_successor(reman, [b.pid], "remanufactured", data, note="modules with the lowest capacity replaced")
    for n, b in enumerate(take("lmt", spec.lmt_reused)):
        data = passport_data(b.model, gtin13("87182", 1), due_diligence=True, third_party=False)
        data.update(serial_number=f"RU-{n + 1:05d}", manufacturing_date=now.date().isoformat())
        svc.create_successor(repair, [b.pid], "re-used", data, note="tested, new casing, resold")
    pro = {"ev": "ARN (demo)", "lmt": "EPAC (demo)", "industrial": "Circulair Metaal Recycling B.V."}
    plan = (
        ("ev", spec.ev_waste, spec.ev_recycled),
        ("lmt", spec.lmt_waste, spec.lmt_recycled),
        ("industrial", spec.industrial_waste, spec.industrial_recycled),
    )
    for category, waste, recycled in plan:
        for n, b in enumerate(take(category, waste + recycled)):
            owner = _viewer(svc, b.operator)
            if n < recycled:
                svc.change_status(owner, b.pid, "waste", new_responsible="Circulair Metaal Recycling B.V.")
                svc.change_status(recycler, b.pid, "recycled", note="hydrometallurgical recycling")
            else:
                svc.change_status(owner, b.pid, "waste", new_responsible=pro[category], note="end of life")


def _grants(
    svc: PassportService, batteries: Sequence[_Battery], telemetry: Sequence[_Battery], bms: Sequence[_Battery]
) -> None:
    """The repurposer may read the health of used EV packs, the aggregator that of stationary stores."""
    active = {
        p.id
        for p in svc.session.scalars(select(Passport).where(Passport.state == "active", Passport.status == "original"))
    }
    with_health = [b for b in [*telemetry, *bms] if b.pid in active]
    for b in [x for x in with_health if x.model.category == "ev"][:200]:
        svc.grant(_viewer(svc, b.operator), b.pid, "tweede-leven", days=90, purpose="second-life assessment")
    for b in [x for x in with_health if x.model.category == "industrial"][:80]:
        svc.grant(_viewer(svc, b.operator), b.pid, "flexnet", days=365, purpose="FCR pre-qualification")
    for b in [x for x in batteries if x.model.category == "industrial" and x.pid in active][:10]:
        if b not in with_health:
            svc.grant(_viewer(svc, b.operator), b.pid, "flexnet", days=365, purpose="flexibility portfolio")


# ---------------------------------------------------------------------------------------------------------------------
# producer responsibility, incidents


EPR_ASSUMPTIONS = "epr_assumptions.csv"
MARKET_STREAMS = {"portable": "Stibat (demo):portable", "epac_ebike": "EPAC (demo):LMT"}
"""Published stream (nl_battery_flows_by_year.csv) -> the demo organisation and category that reports it."""


@dataclass(frozen=True)
class EprFigures:
    """The producer-responsibility figures the demo's organisations report, and where they are from."""

    market: dict[str, list[tuple[int, float, float]]]
    """``"<organisation>:<category>"`` -> (year, placed on the market [t], collected [t])."""
    ev_collected: list[tuple[int, float]]
    """EV traction batteries collected by ARN [t] per year."""
    source: str


def published_epr_figures(rows: Sequence[dict[str, str]]) -> EprFigures:
    """The published Dutch figures (rows of :func:`batteryloop.circularity.published.published_flows`): Stibat's
    portable and EPAC's e-bike tonnes for each year with both placed-on-market and collected figures, ARN's collected
    EV batteries for each year."""
    values = {(r["stream"], r["metric"], int(r["year"])): float(r["value"]) for r in rows}
    market: dict[str, list[tuple[int, float, float]]] = {}
    for stream, key in MARKET_STREAMS.items():
        years = sorted(y for (s, m, y) in values if s == stream and m == "pom" and (s, "collected", y) in values)
        market[key] = [(y, values[(stream, "pom", y)], values[(stream, "collected", y)]) for y in years]
    ev = sorted((y, v) for (s, m, y), v in values.items() if s == "ev_traction" and m == "collected")
    return EprFigures(
        market,
        ev,
        "published Stibat, EPAC and ARN figures from the shared data folder (circularity/nl_battery_flows/"
        "nl_battery_flows_by_year.csv; each row cites its report)",
    )


def own_epr_figures(text: str | None = None) -> EprFigures:
    """The demo's own figures where the published ones are absent (``epr_assumptions.csv``, each a stated assumption):
    placed on the market ``pom_first_t * (1 + pom_growth_pct / 100) ** (year - first_year)``, collected that times
    ``collection_share_pct / 100``; ARN's collected EV batteries ``collected_first_t`` growing by
    ``collected_growth_pct`` a year. A bad row is an error naming its line and field."""
    if text is None:
        text = resources.files("batteryloop.demo").joinpath(EPR_ASSUMPTIONS).read_text(encoding="utf-8")
    params: dict[tuple[str, str], float] = {}
    problems: list[Problem] = []
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        where = f"{EPR_ASSUMPTIONS}:{line}"
        try:
            value = float(row["value"])
        except (TypeError, ValueError):
            problems.append(Problem(f"{where}: value", repr(row.get("value")), "a number"))
            continue
        if not (row.get("source") or "").strip():
            problems.append(Problem(f"{where}: source", "empty", "the reason for the assumption"))
        params[(row["category"], row["parameter"])] = value
    needed = [(c, p) for c in ("portable", "LMT") for p in ("first_year", "last_year", "pom_first_t")]
    needed += [(c, p) for c in ("portable", "LMT") for p in ("pom_growth_pct", "collection_share_pct")]
    needed += [("EV", p) for p in ("first_year", "last_year", "collected_first_t", "collected_growth_pct")]
    missing = [(c, p) for c, p in needed if (c, p) not in params]
    problems += [Problem(f"{EPR_ASSUMPTIONS}: {c}", f"no {p}", f"a {p} row for {c}") for c, p in missing]
    if problems:
        raise ImportFormatError(f"{EPR_ASSUMPTIONS}: bad rows", problems=problems)

    def years(category: str) -> range:
        return range(int(params[(category, "first_year")]), int(params[(category, "last_year")]) + 1)

    market: dict[str, list[tuple[int, float, float]]] = {}
    for category, key in (("portable", MARKET_STREAMS["portable"]), ("LMT", MARKET_STREAMS["epac_ebike"])):
        first = int(params[(category, "first_year")])
        growth = 1.0 + params[(category, "pom_growth_pct")] / 100.0
        share = params[(category, "collection_share_pct")] / 100.0
        rows = []
        for year in years(category):
            pom = round(params[(category, "pom_first_t")] * growth ** (year - first), 1)
            rows.append((year, pom, round(pom * share, 1)))
        market[key] = rows
    first_ev = int(params[("EV", "first_year")])
    ev_growth = 1.0 + params[("EV", "collected_growth_pct")] / 100.0
    ev = [(y, round(params[("EV", "collected_first_t")] * ev_growth ** (y - first_ev), 3)) for y in years("EV")]
    return EprFigures(
        market,
        ev,
        "the demo's own producer-responsibility figures (batteryloop/demo/epr_assumptions.csv: placed-on-market "
        "growth and collection share per category, stated assumptions, not published figures); the published "
        "Stibat, EPAC and ARN figures need the shared data folder",
    )


def epr_figures() -> EprFigures:
    """The published figures where the shared data folder has them, else the demo's own."""
    rows = published_flows()
    return own_epr_figures() if rows is None else published_epr_figures(rows)


def _epr(session: Session, svc: PassportService, batteries: Sequence[_Battery], figures: EprFigures) -> None:
    from batteryloop.circularity.epr import EprService

    epr = EprService(session)
    for key, rows in figures.market.items():
        org, category = key.split(":")
        viewer = _viewer(svc, f"{org.split(' ')[0].lower()}-operator")
        chemistry = "lithium-ion" if category == "LMT" else "all chemistries"
        for year, pom, col in rows:
            epr.submit(
                viewer,
                "market",
                org,
                year,
                {
                    "lines": [
                        {"category": category, "chemistry": chemistry, "placed_on_market_t": pom, "collected_t": col}
                    ]
                },
            )
    arn = _viewer(svc, "arn-operator")
    epac = _viewer(svc, "epac-operator")
    for year, col in figures.ev_collected:
        # ARN places nothing on the market itself; its members do (their market reports below)
        epr.submit(
            arn,
            "market",
            "ARN (demo)",
            year,
            {"lines": [{"category": "EV", "chemistry": "lithium-ion", "placed_on_market_t": 0.0, "collected_t": col}]},
        )
    # memberships and the members' own placed-on-market figures: the demo passports' mass by year of manufacture
    by_member: dict[tuple[str, str, int], float] = {}
    for b in batteries:
        member = (b.model.manufacturer, b.model.category, b.made.year)
        by_member[member] = by_member.get(member, 0.0) + b.model.battery_mass_kg / 1000.0
    members = sorted({(m, c) for m, c, _ in by_member})
    for maker, category in members:
        pro_name, pro_viewer = ("ARN (demo)", arn) if category == "ev" else ("EPAC (demo)", epac)
        if category == "industrial":
            continue
        epr.add_member(pro_viewer, maker, pro_name, "EV" if category == "ev" else "LMT", 2019)
        maker_viewer = _viewer(svc, _account_of(maker))
        for (m, c, year), mass in sorted(by_member.items()):
            if m == maker and c == category and 2019 <= year <= 2025:
                epr.submit(
                    maker_viewer,
                    "market",
                    maker,
                    year,
                    {
                        "lines": [
                            {
                                "category": "EV" if category == "ev" else "LMT",
                                "chemistry": "lithium-ion",
                                "placed_on_market_t": round(mass, 3),
                                "collected_t": 0.0,
                            }
                        ]
                    },
                )
    recycler = _viewer(svc, "circulair-metaal")
    for year, scale_t in ((2024, 420.0), (2025, 610.0)):
        epr.submit(recycler, "process", "Circulair Metaal Recycling B.V.", year, _process_report(scale_t))


def _process_report(input_t: float) -> dict[str, Any]:
    """A hydrometallurgical plant's year: lithium-ion input, black mass and foils recycled, plastics not.

    Demo composition of a mixed lithium-ion input (of the order of the BatPaC material intensities): Co 4 %, Ni 9 %,
    Li 1.6 %, Cu 8 %, Al 7 %, Mn 3 %; outputs sum to less than the input (losses)."""
    return {
        "inputs": [
            {
                "chemistry": "lithium-based",
                "mass_t": input_t,
                "element_content_pct": {"Co": 4.0, "Ni": 9.0, "Li": 1.6, "Cu": 8.0, "Al": 7.0, "Mn": 3.0},
            }
        ],
        "outputs": [
            {
                "chemistry": "lithium-based",
                "fraction": "black mass",
                "mass_t": round(input_t * 0.38, 1),
                "element_content_pct": {"Co": 9.8, "Ni": 22.0, "Li": 3.6, "Mn": 7.4},
                "destination": "hydrometallurgical refining (demo)",
                "recycled": True,
            },
            {
                "chemistry": "lithium-based",
                "fraction": "copper and aluminium foils",
                "mass_t": round(input_t * 0.14, 1),
                "element_content_pct": {"Cu": 54.0, "Al": 44.0},
                "destination": "metal recycling (demo)",
                "recycled": True,
            },
            {
                "chemistry": "lithium-based",
                "fraction": "steel casings",
                "mass_t": round(input_t * 0.18, 1),
                "element_content_pct": {"Fe": 95.0},
                "destination": "steel works (demo)",
                "recycled": True,
            },
            {
                "chemistry": "lithium-based",
                "fraction": "plastics and electrolyte residue",
                "mass_t": round(input_t * 0.2, 1),
                "element_content_pct": {},
                "destination": "energy recovery (demo)",
                "recycled": False,
            },
        ],
    }


INCIDENT_PLAN: list[tuple[str, str, str, str, str]] = [
    # category, location_type, cause, consequence, description
    ("LMT", "home", "overcharge", "material_damage", "e-bike battery caught fire while charging in a hallway"),
    ("LMT", "charging", "internal_defect", "evacuation", "e-bike battery fire in a bicycle parking garage"),
    ("LMT", "home", "modification", "injury", "modified e-bike battery (third-party cells) ignited"),
    ("LMT", "waste_facility", "mechanical_damage", "material_damage", "battery crushed in a waste truck"),
    ("EV", "vehicle", "mechanical_damage", "material_damage", "thermal event after a collision"),
    ("EV", "storage", "unknown", "no_damage", "smoke from a damaged pack in quarantine storage"),
    ("EV", "transport", "mechanical_damage", "no_damage", "damaged pack found hot during transport"),
    ("industrial", "storage", "internal_defect", "evacuation", "module fire in a home battery"),
    ("LMT", "home", "water_ingress", "no_damage", "swollen battery after water ingress"),
    ("LMT", "waste_facility", "external_short_circuit", "material_damage", "fire at a sorting belt"),
    ("EV", "charging", "unknown", "material_damage", "thermal event at a fast charger"),
    ("industrial", "other", "thermal_abuse", "no_damage", "container battery overheated in a heat wave"),
]


def _incidents(
    session: Session,
    svc: PassportService,
    spec: Scale,
    batteries: Sequence[_Battery],
    now: datetime,
    rng: random.Random,
) -> None:
    from batteryloop.safety.incidents import IncidentService

    incidents = IncidentService(session)
    fire = _viewer(svc, "brandweer-aa")
    linkable = {c: [b for b in batteries if b.model.category == c.lower()] for c in ("EV", "LMT", "industrial")}
    for n in range(spec.incidents):
        category, location, cause, consequence, text = INCIDENT_PLAN[n % len(INCIDENT_PLAN)]
        day = now.date() - timedelta(days=rng.randint(10, 4 * 365))
        pool = linkable[category]
        linked = pool[n % len(pool)] if pool and n % 3 == 0 else None
        chem = linked.model.chemistry if linked else ("NMC" if category != "industrial" else "LFP")
        data: dict[str, Any] = {
            "occurred_on": day.isoformat(),
            "location_type": location,
            "category": category,
            "chemistry": chem,
            "cause": cause,
            "consequence": consequence,
            "description": text + " (demo)",
        }
        if linked is not None:
            data["passport_id"] = linked.pid
        incidents.record(fire, data)
