"""Property-based fuzzing of the whole API against its own OpenAPI schema (schemathesis), bounded in size.

Every operation gets generated requests, anonymous and as an economic operator; no input may cause a 5xx, and every
answer must match the documented status codes, content types and response schemas.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance

from batteryloop.api.app import create_app
from batteryloop.config import Settings
from batteryloop.db import make_engine, make_session_factory, transaction
from batteryloop.migrate import upgrade
from batteryloop.passport.service import PassportService

# The schema is loaded when the module is collected, so the app exists then; its database is filled by the fixture.
_TMP = Path(tempfile.mkdtemp(prefix="batteryloop-fuzz-"))
_ENGINE = make_engine(f"sqlite:///{_TMP / 'fuzz.db'}")
_SETTINGS = Settings(data_dir=_TMP, public_base_url="https://passport.example.nl")
APP = create_app(_SETTINGS, engine=_ENGINE)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
TOKENS: dict[str, str] = {}
# Passport validation is richer than JSON Schema can say (GTIN check digits, category applicability, units, a
# passport that must exist), so schema-valid requests may rightly be refused with a 4xx naming the field: the
# "positive data acceptance" check does not apply. Every other check does, and no request may cause a 5xx.
EXCLUDED = [positive_data_acceptance]
FUZZ = settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def _registry() -> Iterator[None]:
    upgrade(_ENGINE)
    with transaction(make_session_factory(_ENGINE)) as session:
        svc = PassportService(session, _SETTINGS)
        svc.create_organisation("Maker B.V.")
        TOKENS["operator"] = svc.issue_token(svc.create_account("maker", "economic_operator", "Maker B.V."))
        svc.create(
            svc.viewer_for("maker"), {"battery_category": "ev", "serial_number": "FUZZ-1", "gtin": "6291041500213"}
        )
    yield
    _ENGINE.dispose()
    shutil.rmtree(_TMP, ignore_errors=True)


@schema.parametrize()
@FUZZ
def test_anonymous_input_never_causes_a_server_error(case: Case) -> None:
    case.call_and_validate(excluded_checks=EXCLUDED)


@schema.parametrize()
@FUZZ
def test_operator_input_never_causes_a_server_error(case: Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKENS['operator']}"}, excluded_checks=EXCLUDED)
