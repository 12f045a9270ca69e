"""Bulk loading of generated passports into a PostgreSQL registry with ``COPY ... FROM STDIN``.

:func:`bulk_load` writes ``count`` passports numbered ``start, start + 1, ...`` with the rows the registry itself
writes for them (``passports``, ``passport_versions``, ``dynamic_values``, ``passport_links``), so that the registry
treats a bulk-loaded passport exactly like an issued one: every version carries the SHA-256 hash of its RFC 8785
canonical content and the Ed25519 signature of the operator that made it, and the chains pass
:func:`batteryloop.continuity.verify.verify_chains`.

The batteries are built from the demo models (:mod:`batteryloop.demo.legacy`) with the mix of ``bulk_mix.csv``:
categories by count near the Dutch stock, statuses (original, waste, recycled, repurposed, remanufactured, re-used)
and a state of health that falls with the battery's age. The lifecycle of each status is written as the registry's
own operations would write it:

- ``original``: one version (issue);
- ``waste``: issue, then the responsible operator declares it waste (a second version, a dynamic value);
- ``recycled``: as waste, then recycled (a third version, the passport is closed);
- ``repurposed``, ``remanufactured``, ``re-used``: the passport of the second-life battery is a successor issued by
  the second-life operator and linked to the passport of the original battery (Art. 77(7)), which is superseded and
  taken over by that operator (Art. 77(6)). The original carries serial ``A{n:09d}``; it comes on top of ``count``.

Passport ``n`` has the identifier ``01{GTIN-14}21B{n:09d}`` (a GS1 element string, as the registry makes it), where
the GTIN is that of the model of category ``category_for(n)``: the category follows from ``n`` alone
(``n mod 1000`` against the cumulative shares), so that a load generator can pick a random ``n`` and build the
identifier without a lookup (:func:`passport_id_for`, and :func:`sql_passport_id` for the same in SQL).

The work per passport (the canonical JSON, its hash and the signature) runs in a pool of worker processes. The
canonical JSON of a version differs between passports of a model only in a few values, so each worker renders it
from a template: the canonical bytes of the version with placeholders, in which the canonical bytes of each value
are spliced (RFC 8785 orders members by name, so values never move). The first issued passport of every chunk is
also canonicalised in full with :func:`batteryloop.passport.signing.canonical` and compared, byte for byte.
"""

from __future__ import annotations

import csv
import hashlib
import math
import multiprocessing
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from batteryloop.config import Settings, get_settings
from batteryloop.demo.catalogue import gtin13
from batteryloop.demo.legacy import ev_model_nmc, industrial_model, lmt_model
from batteryloop.errors import BatteryloopError, IntegrityError, NotFoundError, ValidationError
from batteryloop.passport import signing
from batteryloop.passport.access import SUCCESSOR_ROLES, Role
from batteryloop.passport.attributes import attributes, validate_values
from batteryloop.passport.identifiers import normalise_gtin
from batteryloop.passport.service import VERSION_SCHEMA

MIX_FILE = "bulk_mix.csv"
CATEGORIES = ("lmt", "ev", "industrial")
STATUSES = ("original", "waste", "recycled", "repurposed", "remanufactured", "re-used")
SUCCESSOR_STATUSES = ("repurposed", "remanufactured", "re-used")
BUILDERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "lmt": lmt_model,
    "ev": ev_model_nmc,
    "industrial": industrial_model,
}
# A fixed GTIN per model (fictional GS1 company prefixes of the demo makers).
GTINS: dict[str, str] = {
    "ev": gtin13("871234", 1),
    "lmt": gtin13("871235", 7),
    "industrial": gtin13("871236", 3),
}
GTIN14: dict[str, str] = {key: normalise_gtin(gtin) for key, gtin in GTINS.items()}
MAX_SERIAL = 999_999_999
BUCKETS = 1000
# The tables the loader writes, in the order of each chunk (a passport before its versions and values).
TABLES = ("passports", "passport_versions", "dynamic_values", "passport_links")
COLUMNS: dict[str, tuple[str, ...]] = {
    "passports": (
        "id",
        "category",
        "gtin",
        "serial_number",
        "model",
        "chemistry",
        "operator_id",
        "status",
        "state",
        "soh_pct",
        "version",
        "head_hash",
        "data",
        "observations",
        "links",
        "created_at",
        "updated_at",
        "closed_at",
    ),
    "passport_versions": (
        "passport_id",
        "number",
        "kind",
        "recorded_at",
        "signer_id",
        "content",
        "hash",
        "previous_hash",
        "signature",
        "public_key",
    ),
    "dynamic_values": ("passport_id", "version", "key", "value", "measured_at", "method", "uncertainty"),
    "passport_links": ("predecessor_id", "successor_id", "kind", "predecessor_hash", "created_at"),
}


# ---------------------------------------------------------------------------------------------------------------------
# The mix


@dataclass(frozen=True)
class Mix:
    """Shares of categories (by count) and statuses, and the yearly capacity fade per category [%/a]."""

    categories: Mapping[str, float]
    statuses: Mapping[str, float]
    soh_fade: Mapping[str, float]

    def __post_init__(self) -> None:
        for name, shares, allowed in (
            ("category", self.categories, CATEGORIES),
            ("status", self.statuses, STATUSES),
        ):
            unknown = set(shares) - set(allowed)
            if unknown:
                raise ValidationError(
                    f"unknown {name} {sorted(unknown)[0]!r} in the mix", field=name, expected=", ".join(allowed)
                )
            for key, share in shares.items():
                if not (math.isfinite(share) and 0 <= share <= 1):
                    raise ValidationError(
                        f"share of {name} {key!r} is {share}", field=f"{name}.{key}", expected="0 <= share <= 1"
                    )
            if abs(sum(shares.values()) - 1.0) > 1e-6:
                raise ValidationError(
                    f"the {name} shares add up to {sum(shares.values()):.6f}", field=name, expected="a sum of 1"
                )
        for key in self.categories:
            fade = self.soh_fade.get(key)
            if fade is None or not (math.isfinite(fade) and 0 <= fade <= 50):
                raise ValidationError(
                    f"no plausible capacity fade for category {key!r}: {fade}",
                    field=f"soh_fade.{key}",
                    expected="0-50 %/a",
                )

    def thresholds(self) -> list[tuple[int, str]]:
        """Cumulative per-mille bounds: passport ``n`` has the first category whose bound exceeds ``n mod 1000``."""
        out: list[tuple[int, str]] = []
        acc = 0.0
        for key in CATEGORIES:
            share = self.categories.get(key, 0.0)
            if share <= 0:
                continue
            acc += share
            out.append((min(BUCKETS, round(acc * BUCKETS)), key))
        out[-1] = (BUCKETS, out[-1][1])
        return out


def load_mix(path: str | None = None) -> Mix:
    """The mix of ``bulk_mix.csv`` (or of the CSV at ``path``, with the same columns)."""
    if path is None:
        source = resources.files("batteryloop.passport").joinpath(MIX_FILE)
        rows_text = source.read_text(encoding="utf-8")
        where = MIX_FILE
    else:
        try:
            with open(path, encoding="utf-8") as fh:
                rows_text = fh.read()
        except OSError as exc:
            raise ValidationError(f"cannot read {path}: {exc.strerror}", field="mix", expected="a CSV file") from None
        where = path
    tables: dict[str, dict[str, float]] = {"category": {}, "status": {}, "soh_fade": {}}
    reader = csv.DictReader(rows_text.splitlines())
    missing = {"dimension", "key", "value"} - set(reader.fieldnames or ())
    if missing:
        raise ValidationError(
            f"{where} lacks the column(s) {', '.join(sorted(missing))}", field="mix", expected="dimension,key,value"
        )
    for i, row in enumerate(reader, start=2):
        dim = row["dimension"]
        if dim not in tables:
            raise ValidationError(
                f"{where} row {i}: unknown dimension {dim!r}",
                field=f"{where}:{i}.dimension",
                expected="category, status or soh_fade",
            )
        try:
            value = float(row["value"])
        except (TypeError, ValueError):
            raise ValidationError(
                f"{where} row {i}: value {row['value']!r} is not a number", field=f"{where}:{i}.value"
            ) from None
        tables[dim][row["key"]] = value
    return Mix(categories=tables["category"], statuses=tables["status"], soh_fade=tables["soh_fade"])


def category_for(n: int, mix: Mix) -> str:
    """The category of passport ``n``: fixed by ``n mod 1000``, so that the shares hold over any 1000 numbers."""
    bucket = n % BUCKETS
    for bound, key in mix.thresholds():
        if bucket < bound:
            return key
    raise AssertionError("the last threshold is 1000")  # pragma: no cover


def serial_for(n: int, prefix: str = "B") -> str:
    return f"{prefix}{n:09d}"


def passport_id_for(n: int, mix: Mix) -> str:
    """The identifier of passport ``n``: the GS1 element string ``01{GTIN-14}21{serial}``."""
    return f"01{GTIN14[category_for(n, mix)]}21{serial_for(n)}"


def sql_passport_id(n_expr: str, mix: Mix) -> str:
    """A PostgreSQL expression that gives :func:`passport_id_for` of the integer expression ``n_expr``."""
    cases = " ".join(f"WHEN ({n_expr}) % {BUCKETS} < {bound} THEN '{GTIN14[key]}'" for bound, key in mix.thresholds())
    return f"('01' || (CASE {cases} END) || '21B' || lpad(({n_expr})::text, 9, '0'))"


# ---------------------------------------------------------------------------------------------------------------------
# Canonical JSON from templates

_SLOT = "\x00slot:{}\x00"
_SLOT_RE = re.compile(rb'"\\u0000slot:(\w+)\\u0000"')


class Template:
    """The RFC 8785 bytes of a JSON value with named placeholders, into which canonical bytes are spliced."""

    def __init__(self, value: Any) -> None:
        raw = signing.canonical(value)
        self.parts: list[bytes] = []
        self.names: list[str] = []
        pos = 0
        for m in _SLOT_RE.finditer(raw):
            self.parts.append(raw[pos : m.start()])
            self.names.append(m.group(1).decode("ascii"))
            pos = m.end()
        self.parts.append(raw[pos:])

    def render(self, values: Mapping[str, bytes]) -> bytes:
        out = [self.parts[0]]
        for name, part in zip(self.names, self.parts[1:], strict=True):
            out.append(values[name])
            out.append(part)
        return b"".join(out)


def slot(name: str) -> str:
    return _SLOT.format(name)


def cj(value: Any) -> bytes:
    """RFC 8785 canonical bytes of one value."""
    return signing.canonical(value)


# ---------------------------------------------------------------------------------------------------------------------
# Parties


@dataclass(frozen=True)
class Party:
    """An organisation that signs versions, with the account that acts for it."""

    org_id: int
    name: str
    identifier: str | None
    public_key: str
    private_key: bytes
    account: str

    @property
    def operator_identifier(self) -> str:
        return self.identifier or self.name

    def responsible(self) -> dict[str, Any]:
        return {"organisation": self.name, "identifier": self.identifier, "public_key": self.public_key}

    def signer(self) -> dict[str, Any]:
        return {"organisation": self.name, "public_key": self.public_key}


def _party(conn: Any, account: str, settings: Settings, field_name: str, roles: frozenset[Role]) -> Party:
    row = conn.execute(
        text(
            "select a.role, o.id, o.name, o.identifier, o.public_key, o.private_key "
            "from accounts a left join organisations o on o.id = a.organisation_id where a.name = :n"
        ),
        {"n": account},
    ).first()
    if row is None:
        raise NotFoundError(f"no account {account!r}", field=field_name)
    if Role(row[0]) not in roles:
        raise ValidationError(
            f"account {account!r} has role {row[0]}, which may not do this",
            field=field_name,
            expected=" or ".join(sorted(r.value for r in roles)),
        )
    if row[1] is None:
        raise ValidationError(
            f"account {account!r} acts for no organisation", field=field_name, expected="an organisation's account"
        )
    raw = signing.unwrap_private(row[5], settings.key_encryption_key)
    if signing.KeyPair.from_private_bytes(raw).public_b64 != row[4]:
        raise IntegrityError(f"the private key of {row[2]!r} does not match its public key", field=field_name)
    return Party(row[1], row[2], row[3], row[4], raw, account)


# ---------------------------------------------------------------------------------------------------------------------
# Generation (runs in the worker processes)


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs to generate passports."""

    mix: Mix
    seed: int
    issuer: Party
    successors: Mapping[str, Party]
    note: str | None
    templates: Mapping[str, dict[str, Any]]  # category -> validated static data (without the varying values)


@dataclass
class Chunk:
    """COPY text (PostgreSQL text format) per table for passports ``first .. first + count - 1``."""

    first: int
    count: int
    rows: dict[str, bytes]
    statuses: Counter[str]
    categories: Counter[str]
    versions: int
    dynamic_values: int
    links: int
    extra_passports: int


_PLAN: Plan | None = None
_KEYS: dict[int, signing.KeyPair] = {}


def _init_worker(plan: Plan) -> None:
    global _PLAN
    _PLAN = plan
    _KEYS.clear()
    for party in (plan.issuer, *plan.successors.values()):
        _KEYS[party.org_id] = signing.KeyPair.from_private_bytes(party.private_key)


def _copy_text(value: bytes) -> bytes:
    """A JSON or text field for COPY's text format (backslash doubled; JSON holds no raw tabs or newlines)."""
    return value.replace(b"\\", b"\\\\")


def _esc(value: str) -> bytes:
    return _copy_text(value.encode("utf-8")).replace(b"\t", b"\\t").replace(b"\n", b"\\n").replace(b"\r", b"\\r")


NULL = b"\\N"


def _safe(value: str) -> bytes:
    """Identifiers and names of the registry's own making: letters, digits and ``: . _ - ~`` only."""
    return value.encode("ascii")


def _pick(rng: random.Random, shares: Mapping[str, float]) -> str:
    r = rng.random()
    acc = 0.0
    last = ""
    for key, share in shares.items():
        if share <= 0:
            continue
        acc += share
        last = key
        if r < acc:
            return key
    return last


@dataclass
class _Battery:
    n: int
    category: str
    status: str
    serial: str
    manufacturing_date: str
    soh: float
    remaining_Ah: float


def _battery(n: int, plan: Plan) -> _Battery:
    rng = random.Random(plan.seed * 1_000_003 + n)  # noqa: S311 - reproducible test data, not secrets
    category = category_for(n, plan.mix)
    status = _pick(rng, plan.mix.statuses)
    year = rng.randint(2018, 2026)
    month = rng.randint(1, 12 if year < 2026 else 10)
    age_years = max(0.0, (2026 + 10 / 12) - (year + (month - 0.5) / 12))
    fade = plan.mix.soh_fade[category] * (1.8 if status in ("waste", "recycled") else 1.0)
    soh = 100.0 - fade * age_years * rng.uniform(0.6, 1.4) + rng.gauss(0.0, 1.5)
    soh = round(min(100.0, max(40.0, soh)), 1)
    rated = float(plan.templates[category]["rated_capacity_Ah"])
    return _Battery(n, category, status, serial_for(n), f"{year}-{month:02d}", soh, round(rated * soh / 100.0, 2))


class _Writer:
    """Accumulates the COPY rows of one chunk."""

    def __init__(self) -> None:
        self.rows: dict[str, list[bytes]] = {t: [] for t in TABLES}

    def passport(self, values: Sequence[bytes]) -> None:
        self.rows["passports"].append(b"\t".join(values))

    def add(self, table: str, values: Sequence[bytes]) -> None:
        self.rows[table].append(b"\t".join(values))

    def result(self) -> dict[str, bytes]:
        return {t: (b"\n".join(r) + b"\n") if r else b"" for t, r in self.rows.items()}


class _Generator:
    """Builds the versions of one chunk's passports, as the registry's operations write them."""

    def __init__(self, plan: Plan, now: datetime) -> None:
        self.plan = plan
        self.now = now
        self.now_iso = now.isoformat()
        self.now_cj = cj(self.now_iso)
        self.data_templates: dict[tuple[str, str], Template] = {}
        self.content_templates: dict[tuple[Any, ...], Template] = {}
        self.cj_cache: dict[int, bytes] = {}
        self.check = True
        self.out = _Writer()
        self.versions = 0
        self.dynamic_values = 0
        self.links = 0
        self.extra = 0
        dyn = {"measured_at": self.now_iso, "method": "declared at issue"}
        self.obs_issue = {"soh_capacity_pct": dyn, "remaining_capacity_Ah": dyn}
        self.obs_waste = {**self.obs_issue, "battery_status": {"measured_at": self.now_iso, "method": "declared waste"}}

    # -- data ----------------------------------------------------------------------------------------------------------

    def data(self, b: _Battery, serial: str, status: str, operator: Party) -> dict[str, Any]:
        """The passport's data as the registry stores it (the issue's clean values plus the registry's own)."""
        return {
            **self.plan.templates[b.category],
            "serial_number": serial,
            "manufacturing_date": b.manufacturing_date,
            "soh_capacity_pct": b.soh,
            "remaining_capacity_Ah": b.remaining_Ah,
            "passport_identifier": self.pid(b.category, serial),
            "economic_operator_identifier": operator.operator_identifier,
            "battery_status": status,
        }

    def data_bytes(self, b: _Battery, serial: str, status: str, operator: Party) -> bytes:
        key = (b.category, f"{status}|{operator.org_id}")
        tpl = self.data_templates.get(key)
        if tpl is None:
            shape = {
                **self.plan.templates[b.category],
                "serial_number": slot("serial"),
                "manufacturing_date": slot("date"),
                "soh_capacity_pct": slot("soh"),
                "remaining_capacity_Ah": slot("remaining"),
                "passport_identifier": slot("pid"),
                "economic_operator_identifier": operator.operator_identifier,
                "battery_status": status,
            }
            tpl = self.data_templates[key] = Template(shape)
        return tpl.render(
            {
                "serial": cj(serial),
                "date": cj(b.manufacturing_date),
                "soh": cj(b.soh),
                "remaining": cj(b.remaining_Ah),
                "pid": cj(self.pid(b.category, serial)),
            }
        )

    def cached(self, value: Mapping[str, Any]) -> bytes:
        """Canonical bytes of one of the generator's fixed objects (the observations of a chunk)."""
        out = self.cj_cache.get(id(value))
        if out is None:
            out = self.cj_cache[id(value)] = cj(dict(value))
        return out

    @staticmethod
    def pid(category: str, serial: str) -> str:
        return f"01{GTIN14[category]}21{serial}"

    # -- versions ------------------------------------------------------------------------------------------------------

    def content(
        self,
        *,
        pid: str,
        number: int,
        previous_hash: str,
        category: str,
        status: str,
        state: str,
        responsible: Party,
        signer: Party,
        change: Mapping[str, Any],
        data: bytes,
        observations: Mapping[str, Any],
        predecessors: Sequence[Mapping[str, Any]] = (),
        successors: Sequence[Mapping[str, Any]] = (),
    ) -> bytes:
        """Canonical bytes of a version's content, the dict :meth:`PassportService._append_version` builds."""
        key_change = tuple(sorted((k, str(v)) for k, v in change.items() if k not in ("successor",)))
        key = (
            category,
            status,
            state,
            responsible.org_id,
            signer.org_id,
            key_change,
            number,
            bool(predecessors),
            bool(successors),
            tuple(sorted(observations)),
        )
        tpl = self.content_templates.get(key)
        if tpl is None:
            shape: dict[str, Any] = {
                "schema": VERSION_SCHEMA,
                "passport_id": slot("pid"),
                "version": number,
                "previous_hash": slot("prev"),
                "recorded_at": slot("now"),
                "category": category,
                "status": status,
                "state": state,
                "responsible": responsible.responsible(),
                "signer": signer.signer(),
                "change": {k: (slot("change_successor") if k == "successor" else v) for k, v in change.items()},
                "data": slot("data"),
                "observations": slot("obs"),
            }
            if predecessors:
                shape["predecessors"] = slot("preds")
            if successors:
                shape["successors"] = slot("succs")
            tpl = self.content_templates[key] = Template(shape)
        values = {
            "pid": cj(pid),
            "prev": cj(previous_hash),
            "now": self.now_cj,
            "data": data,
            "obs": self.cached(observations),
        }
        if "successor" in change:
            values["change_successor"] = cj(change["successor"])
        if predecessors:
            values["preds"] = cj(list(predecessors))
        if successors:
            values["succs"] = cj(list(successors))
        return tpl.render(values)

    def version(
        self, pid: str, number: int, previous_hash: str, signer: Party, kind: str, content: bytes
    ) -> tuple[str, list[bytes]]:
        digest = hashlib.sha256(content).hexdigest()
        signature = _KEYS[signer.org_id].sign(digest)
        self.versions += 1
        return digest, [
            _safe(pid),
            str(number).encode(),
            _safe(kind),
            self.now_iso.encode(),
            str(signer.org_id).encode(),
            _copy_text(content),
            digest.encode(),
            previous_hash.encode(),
            signature.encode(),
            signer.public_key.encode(),
        ]

    def issued(self, b: _Battery, pid: str, serial: str, data: bytes) -> tuple[str, list[bytes]]:
        """Version 1 of passport ``pid`` as the issuer signs it, and the two dynamic values declared with it."""
        issuer = self.plan.issuer
        change = self.issue_change(issuer)
        content = self.content(
            pid=pid,
            number=1,
            previous_hash=signing.GENESIS,
            category=b.category,
            status="original",
            state="active",
            responsible=issuer,
            signer=issuer,
            change=change,
            data=data,
            observations=self.obs_issue,
        )
        if self.check:
            self._check(content, b, serial, "original", issuer, 1, signing.GENESIS, change)
        head, row = self.version(pid, 1, signing.GENESIS, issuer, "create", content)
        self.dynamic(pid, 1, "soh_capacity_pct", b.soh, "declared at issue")
        self.dynamic(pid, 1, "remaining_capacity_Ah", b.remaining_Ah, "declared at issue")
        return head, row

    def dynamic(self, pid: str, number: int, key: str, value: Any, method: str) -> None:
        self.dynamic_values += 1
        self.out.add(
            "dynamic_values",
            [
                _safe(pid),
                str(number).encode(),
                _safe(key),
                _copy_text(cj(value)),
                self.now_iso.encode(),
                _esc(method),
                NULL,
            ],
        )

    def passport_row(
        self,
        *,
        pid: str,
        b: _Battery,
        serial: str,
        operator: Party,
        status: str,
        state: str,
        version: int,
        head: str,
        data: bytes,
        observations: Mapping[str, Any],
        links: Mapping[str, list[str]],
        closed: bool,
    ) -> None:
        tpl = self.plan.templates[b.category]
        self.out.passport(
            [
                _safe(pid),
                _safe(b.category),
                GTIN14[b.category].encode(),
                _safe(serial),
                _esc(str(tpl["battery_model_identifier"])),
                _esc(str(tpl["battery_chemistry"])) if tpl.get("battery_chemistry") else NULL,
                str(operator.org_id).encode(),
                _safe(status),
                _safe(state),
                repr(b.soh).encode(),
                str(version).encode(),
                head.encode(),
                _copy_text(data),
                _copy_text(self.cached(observations)),
                _copy_text(cj(dict(links))),
                self.now_iso.encode(),
                self.now_iso.encode(),
                self.now_iso.encode() if closed else NULL,
            ]
        )

    def change(self, kind: str, party: Party, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": kind, "by": party.account}
        out.update(extra)
        return out

    def issue_change(self, party: Party) -> dict[str, Any]:
        change = self.change("create", party)
        if self.plan.note:
            change["note"] = self.plan.note
        return change

    # -- lifecycles ----------------------------------------------------------------------------------------------------

    def battery(self, b: _Battery) -> None:
        if b.status in SUCCESSOR_STATUSES:
            self.successor(b)
            return
        issuer = self.plan.issuer
        pid = self.pid(b.category, b.serial)
        data = self.data_bytes(b, b.serial, "original", issuer)
        head, row = self.issued(b, pid, b.serial, data)
        versions = [row]
        status, state, observations, number = "original", "active", self.obs_issue, 1
        if b.status in ("waste", "recycled"):
            status, observations, number = "waste", self.obs_waste, 2
            data = self.data_bytes(b, b.serial, "waste", issuer)
            change = self.change("status", issuer, status="waste", responsible=issuer.name)
            content = self.content(
                pid=pid,
                number=2,
                previous_hash=head,
                category=b.category,
                status="waste",
                state="active",
                responsible=issuer,
                signer=issuer,
                change=change,
                data=data,
                observations=observations,
            )
            head, row = self.version(pid, 2, head, issuer, "status", content)
            versions.append(row)
            self.dynamic(pid, 2, "battery_status", "waste", "declared waste")
        if b.status == "recycled":
            state, number = "closed", 3
            content = self.content(
                pid=pid,
                number=3,
                previous_hash=head,
                category=b.category,
                status="waste",
                state="closed",
                responsible=issuer,
                signer=issuer,
                change=self.change("status", issuer, status="recycled", closed=True),
                data=data,
                observations=observations,
            )
            head, row = self.version(pid, 3, head, issuer, "status", content)
            versions.append(row)
        self.passport_row(
            pid=pid,
            b=b,
            serial=b.serial,
            operator=issuer,
            status=status,
            state=state,
            version=number,
            head=head,
            data=data,
            observations=observations,
            links={"predecessors": [], "successors": []},
            closed=state == "closed",
        )
        for v in versions:
            self.out.add("passport_versions", v)

    def successor(self, b: _Battery) -> None:
        """The original battery's passport (issued, later superseded) and the second-life battery's successor."""
        issuer = self.plan.issuer
        org = self.plan.successors[b.status]
        self.extra += 1
        # the original, as issued
        o_serial = serial_for(b.n, "A")
        o_pid = self.pid(b.category, o_serial)
        o_data = self.data_bytes(b, o_serial, "original", issuer)
        o_head1, o_v1 = self.issued(b, o_pid, o_serial, o_data)
        # the successor, linked to the original's newest version
        pid = self.pid(b.category, b.serial)
        data = self.data_bytes(b, b.serial, b.status, org)
        links = [{"passport_id": o_pid, "hash": o_head1}]
        content = self.content(
            pid=pid,
            number=1,
            previous_hash=signing.GENESIS,
            category=b.category,
            status=b.status,
            state="active",
            responsible=org,
            signer=org,
            change=self.issue_change(org),
            data=data,
            observations=self.obs_issue,
            predecessors=links,
        )
        head, v1 = self.version(pid, 1, signing.GENESIS, org, "create", content)
        self.dynamic(pid, 1, "soh_capacity_pct", b.soh, "declared at issue")
        self.dynamic(pid, 1, "remaining_capacity_Ah", b.remaining_Ah, "declared at issue")
        # the original is superseded: the second-life operator takes it over (Art. 77(6))
        o_data2 = self.data_bytes(b, o_serial, "original", org)
        change = self.change(
            "superseded",
            org,
            successor=pid,
            successor_kind=b.status,
            responsible=org.name,
            previous_responsible=issuer.name,
        )
        content = self.content(
            pid=o_pid,
            number=2,
            previous_hash=o_head1,
            category=b.category,
            status="original",
            state="superseded",
            responsible=org,
            signer=org,
            change=change,
            data=o_data2,
            observations=self.obs_issue,
            successors=[{"passport_id": pid, "kind": b.status}],
        )
        o_head2, o_v2 = self.version(o_pid, 2, o_head1, org, "superseded", content)
        self.passport_row(
            pid=o_pid,
            b=b,
            serial=o_serial,
            operator=org,
            status="original",
            state="superseded",
            version=2,
            head=o_head2,
            data=o_data2,
            observations=self.obs_issue,
            links={"predecessors": [], "successors": [pid]},
            closed=False,
        )
        self.passport_row(
            pid=pid,
            b=b,
            serial=b.serial,
            operator=org,
            status=b.status,
            state="active",
            version=1,
            head=head,
            data=data,
            observations=self.obs_issue,
            links={"predecessors": [o_pid], "successors": []},
            closed=False,
        )
        for v in (o_v1, o_v2, v1):
            self.out.add("passport_versions", v)
        self.links += 1
        self.out.add(
            "passport_links",
            [_safe(o_pid), _safe(pid), _safe(b.status), o_head1.encode(), self.now_iso.encode()],
        )

    def _check(
        self,
        rendered: bytes,
        b: _Battery,
        serial: str,
        status: str,
        party: Party,
        number: int,
        previous_hash: str,
        change: Mapping[str, Any],
    ) -> None:
        """Compare a spliced version with the full canonicalisation of the dict the registry builds."""
        content = {
            "schema": VERSION_SCHEMA,
            "passport_id": self.pid(b.category, serial),
            "version": number,
            "previous_hash": previous_hash,
            "recorded_at": self.now_iso,
            "category": b.category,
            "status": status,
            "state": "active",
            "responsible": party.responsible(),
            "signer": party.signer(),
            "change": dict(change),
            "data": self.data(b, serial, status, party),
            "observations": self.obs_issue,
        }
        if signing.canonical(content) != rendered:
            raise IntegrityError(f"the canonical content of passport {b.n} differs from its template")
        self.check = False


def generate_chunk(first: int, count: int) -> Chunk:
    """Generate passports ``first .. first + count - 1`` (in a worker initialised by :func:`_init_worker`)."""
    plan = _PLAN
    if plan is None:
        raise RuntimeError("worker not initialised")
    gen = _Generator(plan, datetime.now(UTC))
    statuses: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    for n in range(first, first + count):
        b = _battery(n, plan)
        statuses[b.status] += 1
        categories[b.category] += 1
        gen.battery(b)
    return Chunk(
        first=first,
        count=count,
        rows=gen.out.result(),
        statuses=statuses,
        categories=categories,
        versions=gen.versions,
        dynamic_values=gen.dynamic_values,
        links=gen.links,
        extra_passports=gen.extra,
    )


def _generate(args: tuple[int, int]) -> Chunk:
    return generate_chunk(*args)


# ---------------------------------------------------------------------------------------------------------------------
# Loading


@dataclass
class BulkReport:
    """What a bulk load wrote and how long it took."""

    passports: int = 0
    extra_passports: int = 0
    versions: int = 0
    dynamic_values: int = 0
    links: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    copy_seconds: float = 0.0
    wait_seconds: float = 0.0  # of copy_seconds: waiting for the workers' chunks
    index_seconds: float = 0.0
    analyze_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.copy_seconds + self.index_seconds + self.analyze_seconds

    @property
    def rate(self) -> float:
        """Passports (as counted by ``count``) per second, over the whole load with indexes and ANALYZE."""
        return self.passports / self.seconds if self.seconds > 0 else 0.0


def _templates(mix: Mix) -> dict[str, dict[str, Any]]:
    """The validated static data of each category's model (validated once; the varying values per passport)."""
    out = {}
    for category in mix.categories:
        raw = BUILDERS[category](GTINS[category])
        raw.pop("serial_number", None)
        out[category] = validate_values(raw, category)
    return out


def _validate_varying(templates: Mapping[str, dict[str, Any]], mix: Mix, seed: int) -> None:
    """Check the values that vary per passport against ``attributes.csv`` on extreme examples."""
    for category in templates:
        for soh in (40.0, 100.0):
            rated = float(templates[category]["rated_capacity_Ah"])
            validate_values(
                {
                    "serial_number": serial_for(MAX_SERIAL),
                    "manufacturing_date": "2018-01",
                    "soh_capacity_pct": soh,
                    "remaining_capacity_Ah": round(rated * soh / 100.0, 2),
                },
                category,
            )
    dynamic = {k for k, a in attributes().items() if a.is_dynamic}
    if not {"soh_capacity_pct", "remaining_capacity_Ah", "battery_status"} <= dynamic:
        raise BatteryloopError("attributes.csv no longer marks the state of health as dynamic")  # pragma: no cover


def _index_ddl(conn: Any) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """The non-primary-key indexes and the constraints (unique, foreign key) of the loaded tables."""
    tables = list(TABLES)
    indexes = conn.execute(
        text(
            "select i.relname, pg_get_indexdef(x.indexrelid) from pg_index x "
            "join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid "
            "where t.relname = any(:t) and t.relnamespace = to_regnamespace(current_schema())::oid "
            "and not x.indisprimary and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)"
        ),
        {"t": tables},
    ).all()
    constraints = conn.execute(
        text(
            "select t.relname, c.conname, pg_get_constraintdef(c.oid), c.contype from pg_constraint c "
            "join pg_class t on t.oid = c.conrelid "
            "where t.relname = any(:t) and t.relnamespace = to_regnamespace(current_schema())::oid "
            "and c.contype in ('u', 'f') order by c.contype desc"
        ),
        {"t": tables},
    ).all()
    drop = [f'DROP INDEX "{name}"' for name, _ in indexes]
    drop += [f'ALTER TABLE "{t}" DROP CONSTRAINT "{c}"' for t, c, _, kind in reversed(constraints)]
    create = [ddl for _, ddl in indexes]
    add = [(kind, f'ALTER TABLE "{t}" ADD CONSTRAINT "{c}" {ddl}') for t, c, ddl, kind in constraints]
    add.sort(key=lambda x: x[0] != "u")  # unique constraints first: the foreign keys refer to keys
    return drop, create, add


def bulk_load(
    engine: Engine,
    count: int,
    *,
    issuer: str,
    repurposer: str | None = None,
    remanufacturer: str | None = None,
    start: int = 1,
    mix: Mix | None = None,
    seed: int = 7,
    workers: int = 2,
    chunk: int = 2000,
    note: str | None = "bulk load",
    rebuild_indexes: bool = True,
    settings: Settings | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> BulkReport:
    """Write passports ``start .. start + count - 1`` into the PostgreSQL registry of ``engine``.

    ``issuer`` is the account of an economic operator that issues the batteries; ``repurposer`` and
    ``remanufacturer`` are the accounts of the second-life operators (repurposed and re-used batteries; remanufactured
    ones), needed when the mix holds those statuses. With ``rebuild_indexes`` the secondary indexes, unique and
    foreign-key constraints of the loaded tables are dropped before the COPY and built again after it (much faster
    for a large load; the tables are unavailable to other writers meanwhile); either way the tables are vacuumed and
    analysed (the visibility map lets counts be answered from an index alone).
    ``progress`` is called after every chunk with (passports written, count, seconds).
    """
    if engine.dialect.name != "postgresql":
        raise ValidationError(
            f"bulk loading uses PostgreSQL's COPY; this database is {engine.dialect.name}",
            field="database",
            expected="a PostgreSQL database URL",
        )
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValidationError(f"count is {count!r}", field="count", expected="a whole number >= 1")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValidationError(f"start is {start!r}", field="start", expected="a whole number >= 0")
    if start + count - 1 > MAX_SERIAL:
        raise ValidationError(
            f"passports up to {start + count - 1} do not fit serials of 9 digits",
            field="count",
            expected=f"start + count - 1 <= {MAX_SERIAL}",
        )
    if not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ValidationError(f"workers is {workers!r}", field="workers", expected="1-64 processes")
    if not isinstance(chunk, int) or not 1 <= chunk <= 100_000:
        raise ValidationError(f"chunk is {chunk!r}", field="chunk", expected="1-100000 passports")
    mix = mix or load_mix()
    settings = settings or get_settings()
    with engine.connect() as conn:
        parties = {"issuer": _party(conn, issuer, settings, "issuer", frozenset({Role.ECONOMIC_OPERATOR}))}
        for status, account, name in (
            ("repurposed", repurposer, "repurposer"),
            ("re-used", repurposer, "repurposer"),
            ("remanufactured", remanufacturer, "remanufacturer"),
        ):
            if mix.statuses.get(status, 0) <= 0:
                continue
            if account is None:
                raise ValidationError(
                    f"the mix holds {status} batteries; give the account of the operator that makes them",
                    field=name,
                    expected="an account with one of the roles " + ", ".join(sorted(SUCCESSOR_ROLES[status])),
                )
            parties[status] = _party(conn, account, settings, name, SUCCESSOR_ROLES[status])
        taken = conn.execute(
            text("select count(*) from passports where id = any(:ids)"),
            {"ids": [passport_id_for(n, mix) for n in (start, start + count - 1)]},
        ).scalar()
        if taken:
            raise ValidationError(
                f"passports in {start}..{start + count - 1} exist already",
                field="start",
                expected="a range of passport numbers not yet loaded",
            )
    templates = _templates(mix)
    _validate_varying(templates, mix, seed)
    plan = Plan(
        mix=mix,
        seed=seed,
        issuer=parties["issuer"],
        successors={k: v for k, v in parties.items() if k != "issuer"},
        note=note,
        templates=templates,
    )
    report = BulkReport()
    with engine.connect() as conn:
        drop, create, add = _index_ddl(conn)
    dropped = False
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        assert pg is not None
        with pg.cursor() as cur:  # for this connection only; reset before it goes back to the pool
            cur.execute("SET synchronous_commit = off")
            cur.execute("SET maintenance_work_mem = '512MB'")
        pg.commit()
        started = time.perf_counter()
        if rebuild_indexes:
            with pg.cursor() as cur:
                for ddl in drop:
                    cur.execute(ddl)
            pg.commit()
            dropped = True
        waited = time.perf_counter()
        for c in _chunks(plan, start, count, chunk, workers):
            report.wait_seconds += time.perf_counter() - waited
            with pg.cursor() as cur:
                for table in TABLES:
                    body = c.rows[table]
                    if not body:
                        continue
                    cols = ", ".join(COLUMNS[table])
                    with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                        copy.write(body)
            pg.commit()
            report.passports += c.count
            report.extra_passports += c.extra_passports
            report.versions += c.versions
            report.dynamic_values += c.dynamic_values
            report.links += c.links
            report.statuses.update(c.statuses)
            report.categories.update(c.categories)
            if progress is not None:
                progress(report.passports, count, time.perf_counter() - started)
            waited = time.perf_counter()
        report.copy_seconds = time.perf_counter() - started
        t0 = time.perf_counter()
        if dropped:
            _restore_indexes(pg, create, add)
            dropped = False
        report.index_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        pg.autocommit = True
        with pg.cursor() as cur:
            for table in TABLES:
                cur.execute(f"VACUUM (ANALYZE) {table}")
            cur.execute("RESET synchronous_commit")
            cur.execute("RESET maintenance_work_mem")
        pg.autocommit = False
        report.analyze_seconds = time.perf_counter() - t0
    except BaseException:
        raw.invalidate()
        if dropped:  # the chunks committed so far stay; the indexes and constraints come back
            restore = engine.raw_connection()
            try:
                assert restore.driver_connection is not None
                _restore_indexes(restore.driver_connection, create, add)
            finally:
                restore.close()
        raise
    finally:
        raw.close()
    return report


def _restore_indexes(pg: Any, create: Sequence[str], add: Sequence[tuple[str, str]]) -> None:
    with pg.cursor() as cur:
        for ddl in create:
            cur.execute(ddl)
        for _, ddl in add:
            cur.execute(ddl)
    pg.commit()


def _chunks(plan: Plan, start: int, count: int, size: int, workers: int) -> Iterator[Chunk]:
    tasks = [(first, min(size, start + count - first)) for first in range(start, start + count, size)]
    if workers == 1:
        _init_worker(plan)
        for first, n in tasks:
            yield generate_chunk(first, n)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(plan,), maxtasksperchild=None) as pool:
        yield from pool.imap(_generate, tasks, chunksize=1)


__all__ = [
    "BUILDERS",
    "GTINS",
    "BulkReport",
    "Mix",
    "bulk_load",
    "category_for",
    "load_mix",
    "passport_id_for",
    "serial_for",
    "sql_passport_id",
]
