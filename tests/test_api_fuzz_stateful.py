"""Stateful fuzzing of the whole API (schemathesis state machine), once with every role's token, bounded in time.

The state machine chains operations along the OpenAPI links that schemathesis infers from the schema (a created or
read passport's ``passport_id`` feeds the read, update, dynamic values, status, versions, history, grants, export, QR,
access log and safety operations; a circularity report's ``id`` feeds its read), so sequences such as create -> read ->
update -> grant -> revoke are generated, not only single calls. Every step is checked for: no 5xx, the answer matches
the documented status codes, content types and schemas, the stateful checks of schemathesis (a created resource can be
read, a deleted one is gone), and **no leaked attribute**: every passport body, version, history, search hit and
export in an answer holds only attributes of the access groups the caller's role may see on that passport
(:func:`batteryloop.passport.access.visible_groups`, with the caller's responsibility and grants read straight from
the database at the time of the answer).

The registry holds an organisation and an account for every :class:`Role` (fire service included), two complete
passports of the maker, one of them granted to every legitimate-interest account, so that grantee roles meet
passports they may read in part.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import Case
from schemathesis.checks import CheckContext, CheckFunction
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import ensure_resource_availability, positive_data_acceptance
from sqlalchemy import or_, select

from batteryloop.api.app import create_app
from batteryloop.config import Settings
from batteryloop.db import make_engine, make_session_factory, transaction
from batteryloop.migrate import upgrade
from batteryloop.passport.access import Role, Viewer, visible_groups
from batteryloop.passport.attributes import attributes
from batteryloop.passport.interop import FORMATS
from batteryloop.passport.models import Account, Grant, Passport
from batteryloop.passport.service import PassportService
from tests.passport.samples import every_attribute

_TMP = Path(tempfile.mkdtemp(prefix="batteryloop-stateful-fuzz-"))
_ENGINE = make_engine(f"sqlite:///{_TMP / 'fuzz.db'}")
_SETTINGS = Settings(data_dir=_TMP, public_base_url="https://passport.example.nl")
_FACTORY = make_session_factory(_ENGINE)
APP = create_app(_SETTINGS, engine=_ENGINE)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

# account -> (role, organisation); one account for every role
ACCOUNTS: dict[str, tuple[Role, str]] = {
    "maker-op": (Role.ECONOMIC_OPERATOR, "Maker B.V."),
    "repairer": (Role.REPAIRER, "Repair B.V."),
    "remanufacturer": (Role.REMANUFACTURER, "Reman B.V."),
    "repurposer": (Role.REPURPOSER, "Second Life B.V."),
    "recycler": (Role.RECYCLER, "Recycling B.V."),
    "aggregator": (Role.AGGREGATOR, "Aggregator B.V."),
    "notified-body": (Role.NOTIFIED_BODY, "Authority"),
    "market-surveillance": (Role.MARKET_SURVEILLANCE_AUTHORITY, "Authority"),
    "commission": (Role.COMMISSION, "Authority"),
    "fire-brigade": (Role.FIRE_SERVICE, "Fire Brigade"),
}
ORG_KINDS = {"Recycling B.V.": "recycler", "Authority": "authority", "Fire Brigade": "authority"}
CALLERS: list[str | None] = [None, *ACCOUNTS]  # None: anonymous
assert {ACCOUNTS[a][0] for a in ACCOUNTS} | {Role.ANONYMOUS} == set(Role), "every role has an account"
TOKENS: dict[str, str] = {}
SEEN: dict[str | None, list[str]] = {}  # role under test -> operations it called with a 2xx answer
# Passport validation is richer than JSON Schema can say (see tests/test_api_fuzz.py): a schema-valid request may
# rightly be refused with a 4xx naming the field, so "positive data acceptance" does not apply; every other check does.
# "Created resource not found" (ensure_resource_availability) also does not apply as it stands: the API answers 404
# when a resource named in the *body* does not exist (the new responsible organisation of a status change, the
# account of a grant), which that check reads as the linked passport being gone. Excluding it, a created passport
# that could not be read back is not flagged here (the API tests in tests/passport read created passports back).
EXCLUDED: list[CheckFunction] = [positive_data_acceptance, ensure_resource_availability]
STEPS = settings(
    max_examples=10,
    stateful_step_count=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found, within the time bound
)
# search-hit fields that carry an attribute's value, and that attribute
SEARCH_FIELDS = {"battery_status": "battery_status", "soh_pct": "soh_capacity_pct"}


@pytest.fixture(scope="module", autouse=True)
def _registry() -> Iterator[None]:
    upgrade(_ENGINE)
    with transaction(_FACTORY) as session:
        svc = PassportService(session, _SETTINGS)
        for org in dict.fromkeys(org for _, org in ACCOUNTS.values()):
            svc.create_organisation(org, kind=ORG_KINDS.get(org, "manufacturer"))
        for account, (role, org) in ACCOUNTS.items():
            TOKENS[account] = svc.issue_token(svc.create_account(account, role, org))
        maker = svc.viewer_for("maker-op")
        granted = svc.create(maker, {**every_attribute(), "serial_number": "FUZZ-GRANTED"})
        svc.create(maker, {**every_attribute(), "serial_number": "FUZZ-PRIVATE"})
        for account, (role, _) in ACCOUNTS.items():
            if role in {Role.REPAIRER, Role.REMANUFACTURER, Role.REPURPOSER, Role.RECYCLER, Role.AGGREGATOR}:
                svc.grant(maker, granted.id, account, purpose="stateful fuzzing")
    yield
    _ENGINE.dispose()
    shutil.rmtree(_TMP, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------------
# the leak check


def _viewer(account: str | None) -> Viewer:
    if account is None:
        return Viewer.anonymous()
    with _FACTORY() as session:
        acc = session.scalars(select(Account).where(Account.name == account)).one()
        return Viewer(Role(acc.role), acc.name, acc.organisation_id, acc.id)


def allowed_keys(viewer: Viewer, passport_id: str) -> set[str] | None:
    """The attribute keys ``viewer`` may read on the passport now; None if there is no such passport."""
    with _FACTORY() as session:
        passport = session.get(Passport, passport_id)
        if passport is None:
            return None
        responsible = viewer.organisation_id is not None and viewer.organisation_id == passport.operator_id
        now = datetime.now(UTC)
        granted = viewer.account_id is not None and any(
            session.scalars(
                select(Grant.id).where(
                    Grant.passport_id == passport_id,
                    Grant.account_id == viewer.account_id,
                    Grant.revoked_at.is_(None),
                    or_(Grant.expires_at.is_(None), Grant.expires_at > now),
                )
            )
        )
    groups = visible_groups(viewer, responsible=responsible, granted=granted)
    return {k for k, a in attributes().items() if a.access_group in groups}


def _passport_bodies(body: Any) -> Iterator[dict[str, Any]]:
    """Every object in ``body`` that carries a passport's ``passport_id`` next to its ``data``."""
    if isinstance(body, dict):
        if isinstance(body.get("passport_id"), str) and isinstance(body.get("data"), dict):
            yield body
        for value in body.values():
            yield from _passport_bodies(value)
    elif isinstance(body, list):
        for value in body:
            yield from _passport_bodies(value)


def leaked_attributes(viewer: Viewer, case: Case[Any], response: Response) -> list[str]:
    """What the answer shows that ``viewer`` may not see, as "passport: key" texts."""
    if response.status_code >= 300 or "json" not in (response.headers.get("content-type") or [""])[0]:
        return []
    return leaks_in(
        viewer, case.operation.path, dict(case.path_parameters or {}), dict(case.query or {}), response.json()
    )


def leaks_in(viewer: Viewer, path: str, params: dict[str, Any], query: dict[str, Any], body: Any) -> list[str]:
    """The leaks of one answer ``body`` to ``path`` (the operation's path template) with these parameters."""
    pid = params.get("passport_id")
    found: list[tuple[str, set[str]]] = []  # (passport id, keys shown)
    for item in _passport_bodies(body):
        found.append((item["passport_id"], set(item["data"])))
    if path.endswith("/versions/{number}") and isinstance(body, dict) and isinstance(body.get("data"), dict):
        found.append((str(pid), set(body["data"])))
    if path.endswith("/history/{key}") and body:
        found.append((str(pid), {str(params["key"])}))
    if isinstance(body, dict) and isinstance(body.get("items"), list):  # search hits
        for hit in body["items"]:
            if isinstance(hit, dict) and isinstance(hit.get("passport_id"), str):
                # the hit's schema has these fields with null defaults: only a value shows anything
                shown = {key for field, key in SEARCH_FIELDS.items() if hit.get(field) is not None}
                found.append((hit["passport_id"], shown))
    if path.endswith("/export"):
        fmt = query.get("format")
        if fmt == "batteryloop":
            found.append((str(pid), _bundle_keys(body)))
        elif fmt in FORMATS:
            imported = FORMATS[fmt].import_document(body, source="export")
            found.append((str(pid), set(imported.data)))
    leaks = []
    for passport_id, shown in found:
        allowed = allowed_keys(viewer, passport_id)
        if allowed is None:
            leaks.append(f"{passport_id}: an answer about a passport that does not exist")
            continue
        leaks.extend(f"{passport_id}: {key}" for key in sorted(shown - allowed) if key in attributes())
    return leaks


def _bundle_keys(bundle: Any) -> set[str]:
    keys: set[str] = set()
    for version in bundle.get("versions", []) if isinstance(bundle, dict) else []:
        keys |= set((version.get("content") or {}).get("data") or {})
    return keys


def make_leak_check(account: str | None) -> Any:
    def no_attribute_the_role_may_not_see(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
        caller = caller_for(account, case)
        leaks = leaked_attributes(_viewer(caller), case, response)
        if caller == account and 200 <= response.status_code < 300:
            SEEN.setdefault(account, []).append(case.operation.label)
        if leaks:
            raise AssertionError(f"{account or 'anonymous'} was shown what its role may not see: {leaks[:10]}")
        return None

    return no_attribute_the_role_may_not_see


# ---------------------------------------------------------------------------------------------------------------------
# the state machine, once per caller


CREATE = "POST /api/v1/passports"
GRANT = "POST /api/v1/passports/{passport_id}/grants"
GRANTEE = {Role.REPAIRER, Role.REMANUFACTURER, Role.REPURPOSER, Role.RECYCLER, Role.AGGREGATOR}


def caller_for(account: str | None, case: Case[Any]) -> str | None:
    """Who makes the call: the role under test, except that the responsible operator creates passports and grants
    access (what every other role may not do), so that the role meets passports made and granted during the run."""
    return "maker-op" if case.operation.label in (CREATE, GRANT) else account


def shape(account: str | None, case: Case[Any], serial: int) -> None:
    """Two of three creations get a complete valid passport (random bodies rarely pass the registry's validation,
    and a chain needs a passport to start from); grants go to the role under test (or a repairer)."""
    if case.operation.label == CREATE and serial % 3:
        case.body = {"data": {**every_attribute(), "serial_number": f"FUZZ-{account}-{serial}"}}
    elif case.operation.label == GRANT and isinstance(case.body, dict):
        role = ACCOUNTS[account][0] if account else None
        case.body = {**case.body, "account": account if role in GRANTEE else "repairer"}


def machine_for(account: str | None) -> Any:
    base: Any = schema.as_state_machine()
    leak_check = make_leak_check(account)
    serials = iter(range(1, 1_000_000))

    class RoleMachine(base):  # type: ignore[misc]
        def before_call(self, case: Case[Any]) -> None:
            shape(account, case, next(serials))

        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            caller = caller_for(account, case)
            return {"headers": {"Authorization": f"Bearer {TOKENS[caller]}"}} if caller else {}

        def validate_response(
            self, response: Response, case: Case[Any], additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                additional_checks=[leak_check],
                excluded_checks=EXCLUDED,
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    return RoleMachine


@pytest.mark.parametrize("account", CALLERS, ids=[a or "anonymous" for a in CALLERS])
def test_stateful_sequences_as_every_role(account: str | None) -> None:
    SEEN.pop(account, None)
    machine_for(account).run(settings=STEPS)
    # not vacuous: the role itself got answers that show passports (read, version, export or search hits)
    reads = [op for op in SEEN.get(account, []) if op.startswith("GET /api/v1/passports")]
    assert reads, f"{account or 'anonymous'} never got a passport answer to check"


def test_the_leak_check_catches_a_leak() -> None:
    """Control: the check flags restricted attributes in an answer to a caller who may not see them."""
    with _FACTORY() as session:
        private = session.scalars(select(Passport).where(Passport.serial_number == "FUZZ-PRIVATE")).one()
        pid, data = private.id, dict(private.data)
    anonymous, operator = _viewer(None), _viewer("maker-op")
    public = allowed_keys(anonymous, pid)
    assert public is not None and "serial_number" in data
    restricted = [k for k in data if k not in public]
    assert restricted, "the complete passport holds restricted attributes"
    everything = allowed_keys(operator, pid)
    assert everything is not None and set(data) <= everything
    repairer = allowed_keys(_viewer("repairer"), pid)
    assert repairer is not None and public < repairer < everything  # legitimate interest, no individual data
    read = "/api/v1/passports/{passport_id}"
    body = {"passport_id": pid, "data": data}
    leaks = leaks_in(anonymous, read, {"passport_id": pid}, {}, body)
    assert {leak.split(": ")[1] for leak in leaks} == set(restricted)
    assert leaks_in(operator, read, {"passport_id": pid}, {}, body) == []
    hit = {"items": [{"passport_id": pid, "battery_status": "original", "soh_pct": None}]}
    assert leaks_in(_viewer("repairer"), "/api/v1/passports", {}, {}, hit) == [f"{pid}: battery_status"]
    history = "/api/v1/passports/{passport_id}/history/{key}"
    assert leaks_in(anonymous, history, {"passport_id": pid, "key": "soh_capacity_pct"}, {}, [{"version": 1}])


def test_an_organisation_named_by_a_unicode_digit_is_not_found() -> None:
    """circularity/epr.py, found by this file: ``"²".isdigit()`` is true, so ``int("²")`` answered 500 to a report
    for organisation "²"; a number past a 64-bit integer would overflow the database. Both now: no such organisation."""
    from batteryloop.circularity.epr import EprService
    from batteryloop.errors import NotFoundError

    with _FACTORY() as session:
        for name in ("²", "1" * 30, 2**70):
            with pytest.raises(NotFoundError):
                EprService(session).organisation(name)
