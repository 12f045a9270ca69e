"""The one exception tree of batteryloop.

Every error a user can cause or meet is a :class:`BatteryloopError`. Each carries a machine-readable ``code``, a
human message, and where it applies the ``field`` (a dotted path into the input) and the ``expected`` form, so the
API, the CLI and the web pages can all say precisely what was wrong without a traceback.

::

    BatteryloopError
    ├── ValidationError            bad input: a value, a type, a unit, an unknown attribute       -> HTTP 422, exit 2
    │   ├── UnknownAttributeError  an attribute that is not in passport/attributes.csv
    │   ├── NotApplicableError     an attribute that does not apply to the battery's category
    │   ├── IdentifierError        a malformed passport identifier, GTIN (check digit) or serial
    │   └── ImportFormatError      a file that is not valid in the format it claims (names file and field)
    ├── NotFoundError              a passport, account, grant or operator that does not exist     -> HTTP 404, exit 2
    ├── AuthenticationError        missing, unknown or revoked token                              -> HTTP 401, exit 2
    ├── PermissionDeniedError      the caller's role or organisation may not do this              -> HTTP 403, exit 2
    ├── ConflictError              the state forbids the change (closed passport, duplicate id)   -> HTTP 409, exit 2
    ├── ExportIncompleteError      the passport lacks what a target format requires               -> HTTP 422, exit 2
    └── IntegrityError             a signature, hash or chain check failed                        -> HTTP 409, exit 1

``ValidationError`` may hold several problems at once (``problems``): a request with three bad fields is answered
with all three, not the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (``field``), what (``message``) and what was expected."""

    field: str
    message: str
    expected: str | None = None
    code: str = "invalid"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message, "code": self.code}
        if self.expected is not None:
            out["expected"] = self.expected
        return out

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        return text


@dataclass
class BatteryloopError(Exception):
    """Base of every batteryloop error."""

    message: str
    field: str | None = None
    expected: str | None = None
    problems: list[Problem] = dc_field(default_factory=list)

    code: str = "error"
    http_status: int = 400
    exit_code: int = 2

    def __post_init__(self) -> None:
        super().__init__(self.message)
        if self.field is not None and not self.problems:
            self.problems = [Problem(self.field, self.message, self.expected, self.code)]

    def __str__(self) -> str:
        if len(self.problems) > 1:
            return self.message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        if self.problems:
            return str(self.problems[0])
        return self.message

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "problems": [p.as_dict() for p in self.problems],
        }


@dataclass
class ValidationError(BatteryloopError):
    code: str = "invalid"
    http_status: int = 422


@dataclass
class UnknownAttributeError(ValidationError):
    code: str = "unknown_attribute"


@dataclass
class NotApplicableError(ValidationError):
    code: str = "not_applicable"


@dataclass
class IdentifierError(ValidationError):
    code: str = "invalid_identifier"


@dataclass
class ImportFormatError(ValidationError):
    code: str = "invalid_import"


@dataclass
class ExportIncompleteError(BatteryloopError):
    code: str = "export_incomplete"
    http_status: int = 422


@dataclass
class NotFoundError(BatteryloopError):
    code: str = "not_found"
    http_status: int = 404


@dataclass
class AuthenticationError(BatteryloopError):
    code: str = "unauthenticated"
    http_status: int = 401


@dataclass
class PermissionDeniedError(BatteryloopError):
    code: str = "forbidden"
    http_status: int = 403


@dataclass
class ConflictError(BatteryloopError):
    code: str = "conflict"
    http_status: int = 409


@dataclass
class IntegrityError(BatteryloopError):
    code: str = "integrity"
    http_status: int = 409
    exit_code: int = 1


def collect(problems: list[Problem], message: str, cls: type[ValidationError] = ValidationError) -> None:
    """Raise ``cls`` carrying every problem when there is at least one."""
    if problems:
        codes = {p.code for p in problems}
        if cls is ValidationError and codes == {"unknown_attribute"}:
            cls = UnknownAttributeError
        elif cls is ValidationError and codes == {"not_applicable"}:
            cls = NotApplicableError
        raise cls(message, problems=problems)
