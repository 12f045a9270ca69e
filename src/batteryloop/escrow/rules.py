"""The rules of the mirror, read from ``escrow_rules.csv`` (one row per rule: key, value, citation, note)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class EscrowRule:
    key: str
    value: str
    citation: str
    note: str


@dataclass(frozen=True)
class EscrowRules:
    """The rules the code applies, typed."""

    extend_only: bool
    keep_predecessors: bool
    refuse_local_ids: bool
    max_versions: int
    rows: tuple[EscrowRule, ...]


def _bool(rows: dict[str, EscrowRule], key: str) -> bool:
    value = rows[key].value.strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"escrow_rules.csv: {key} must be true or false, not {value!r}")
    return value == "true"


@cache
def rules() -> EscrowRules:
    source = resources.files("batteryloop.escrow").joinpath("escrow_rules.csv")
    with io.StringIO(source.read_text(encoding="utf-8"), newline="") as handle:
        rows = tuple(EscrowRule(r["key"], r["value"], r["citation"], r["note"]) for r in csv.DictReader(handle))
    by_key = {r.key: r for r in rows}
    missing = {"extend_only", "keep_predecessors", "refuse_local_ids", "max_versions", "trusted_signers"} - set(by_key)
    if missing:
        raise ValueError(f"escrow_rules.csv lacks {sorted(missing)}")
    if by_key["trusted_signers"].value != "agreement":
        raise ValueError("escrow_rules.csv: trusted_signers supports only 'agreement'")
    return EscrowRules(
        extend_only=_bool(by_key, "extend_only"),
        keep_predecessors=_bool(by_key, "keep_predecessors"),
        refuse_local_ids=_bool(by_key, "refuse_local_ids"),
        max_versions=int(by_key["max_versions"].value),
        rows=rows,
    )
