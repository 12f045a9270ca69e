"""Who may read what: roles, the access rules (``access_rules.csv``, each row citing the Regulation) and filtering.

The rules are evaluated on the server for every attribute of every response. A caller sees the union of the access
groups of every rule that holds for it: rules for ``*`` hold for every role; ``always`` holds on every passport;
``responsible`` holds when the caller's organisation is the passport's responsible economic operator; ``grant`` holds
when the responsible operator has granted the caller access to that battery and the grant has not expired or been
revoked.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Literal

from batteryloop.passport.attributes import AccessGroup, attributes


class Role(StrEnum):
    ANONYMOUS = "anonymous"
    ECONOMIC_OPERATOR = "economic_operator"
    REPAIRER = "repairer"
    REMANUFACTURER = "remanufacturer"
    REPURPOSER = "repurposer"
    RECYCLER = "recycler"
    AGGREGATOR = "aggregator"
    NOTIFIED_BODY = "notified_body"
    MARKET_SURVEILLANCE_AUTHORITY = "market_surveillance_authority"
    COMMISSION = "commission"
    FIRE_SERVICE = "fire_service"


# Roles whose access to individual battery data rests on a per-battery grant (legitimate interest).
GRANTEE_ROLES = frozenset({Role.REPAIRER, Role.REMANUFACTURER, Role.REPURPOSER, Role.RECYCLER, Role.AGGREGATOR})
# Roles that may read the access log of every passport.
SUPERVISORY_ROLES = frozenset({Role.MARKET_SURVEILLANCE_AUTHORITY, Role.COMMISSION})
# Roles that may create a successor passport (Art. 77(7)) for each kind of change.
SUCCESSOR_ROLES: Mapping[str, frozenset[Role]] = {
    "repurposed": frozenset({Role.REPURPOSER, Role.ECONOMIC_OPERATOR}),
    "remanufactured": frozenset({Role.REMANUFACTURER, Role.ECONOMIC_OPERATOR}),
    "re-used": frozenset({Role.REPAIRER, Role.REMANUFACTURER, Role.REPURPOSER, Role.ECONOMIC_OPERATOR}),
}
# Roles that may take a battery in as waste and with it the responsibility for the passport (Art. 77(6)).
WASTE_TAKEOVER_ROLES = frozenset({Role.RECYCLER, Role.ECONOMIC_OPERATOR})


@dataclass(frozen=True)
class AccessRule:
    role: str
    groups: frozenset[AccessGroup]
    condition: Literal["always", "responsible", "grant"]
    citation: str
    note: str


@cache
def rules() -> tuple[AccessRule, ...]:
    source = resources.files("batteryloop.passport").joinpath("access_rules.csv")
    with io.StringIO(source.read_text(encoding="utf-8"), newline="") as handle:
        return tuple(
            AccessRule(
                role=row["role"],
                groups=frozenset(AccessGroup(g) for g in row["access_group"].split(";")),
                condition=row["condition"],  # type: ignore[arg-type]
                citation=row["citation"],
                note=row["note"],
            )
            for row in csv.DictReader(handle)
        )


@dataclass(frozen=True)
class Viewer:
    """The caller: an account name, its role and the organisation (operator) it acts for."""

    role: Role
    account: str | None = None
    organisation_id: int | None = None
    account_id: int | None = None

    @classmethod
    def anonymous(cls) -> Viewer:
        return cls(Role.ANONYMOUS)


def _holds(rule: AccessRule, viewer: Viewer, *, responsible: bool, granted: bool) -> bool:
    if rule.role not in ("*", viewer.role.value):
        return False
    return {"always": True, "responsible": responsible, "grant": granted}[rule.condition]


def visible_groups(viewer: Viewer, *, responsible: bool, granted: bool) -> frozenset[AccessGroup]:
    """The access groups ``viewer`` may read on a passport."""
    out: set[AccessGroup] = set()
    for rule in rules():
        if _holds(rule, viewer, responsible=responsible, granted=granted):
            out |= rule.groups
    if viewer.role is Role.ANONYMOUS:
        out &= {AccessGroup.PUBLIC}
    return frozenset(out)


def citations_for(viewer: Viewer, *, responsible: bool, granted: bool) -> list[str]:
    """The citations of the rules that give ``viewer`` its access."""
    return [r.citation for r in rules() if _holds(r, viewer, responsible=responsible, granted=granted)]


def filter_data(data: Mapping[str, Any], groups: Iterable[AccessGroup]) -> dict[str, Any]:
    """The part of ``data`` in ``groups``; attributes not in the table are never returned."""
    allowed = set(groups)
    table = attributes()
    return {k: v for k, v in data.items() if k in table and table[k].access_group in allowed}


def restricted_keys(data: Mapping[str, Any]) -> list[str]:
    """Keys of ``data`` that are not public: reading any of them is written to the access log."""
    table = attributes()
    return [k for k in data if k in table and table[k].access_group is not AccessGroup.PUBLIC]


def bundle_attribute_keys(bundle: Mapping[str, Any]) -> set[str]:
    """Every attribute a signed bundle records: the data of each of its versions and of its predecessors' bundles."""
    keys: set[str] = set()
    stack: list[Any] = [bundle]
    while stack:
        doc = stack.pop()
        if not isinstance(doc, Mapping):
            continue
        for version in doc.get("versions") or []:
            content = version.get("content") if isinstance(version, Mapping) else None
            data = content.get("data") if isinstance(content, Mapping) else None
            if isinstance(data, Mapping):
                keys.update(str(k) for k in data)
        stack.extend(doc.get("predecessors") or [])
    return keys


def groups_outside(keys: Iterable[str], groups: Iterable[AccessGroup]) -> list[AccessGroup]:
    """The access groups of ``keys`` that are not among ``groups`` (what a caller of ``groups`` may not read)."""
    allowed = set(groups)
    table = attributes()
    return sorted({table[k].access_group for k in keys if k in table} - allowed)


def closed_to(viewer: Viewer, *, state: str, responsible: bool) -> bool:
    """Whether a passport's data is withheld from ``viewer`` because it is closed (the battery was recycled, Art.
    77(8)): only the responsible operator, the supervising authorities and notified bodies still read it."""
    return state == "closed" and not (
        responsible or viewer.role in SUPERVISORY_ROLES or viewer.role is Role.NOTIFIED_BODY
    )
