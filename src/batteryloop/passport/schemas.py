"""Pydantic request and response schemas of the passport API (``XCreate`` / ``XUpdate`` / ``XPublic``).

The attribute fields of ``data`` are generated from ``attributes.csv`` (:func:`attributes.request_model`), so the
OpenAPI schema documents every attribute with its unit, Annex XIII point and access group.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from batteryloop.passport.attributes import request_model

PassportData = request_model(name="PassportData")
StaticData = request_model(dynamic=False, name="PassportStaticData")

PassportId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9:._\-~]*$")]
Note = Annotated[str, Field(max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PassportCreate(Strict):
    data: PassportData  # type: ignore[valid-type]
    passport_identifier: PassportId | None = Field(
        default=None,
        description="Keep an identifier issued before (an imported passport); otherwise the registry issues one.",
    )
    note: Note | None = None


class BatchRecord(Strict):
    data: PassportData  # type: ignore[valid-type]
    passport_identifier: PassportId | None = None


class BatchCreate(Strict):
    records: list[BatchRecord] = Field(min_length=1, max_length=10_000)
    note: Note | None = None


class BatchOutcome(BaseModel):
    issued: int
    passport_ids: list[str]


class PassportUpdate(Strict):
    data: StaticData = Field(default_factory=StaticData)  # type: ignore[valid-type]
    remove: list[Annotated[str, Field(max_length=80)]] = Field(default_factory=list, max_length=200)
    note: Note | None = None


class DynamicValueIn(Strict):
    value: Any
    unit: Annotated[str, Field(max_length=40)] | None = None
    measured_at: AwareDatetime | None = None
    method: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    uncertainty: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


class DynamicUpdate(Strict):
    """New dynamic values. Each value may carry its own measurement time, method and uncertainty."""

    values: dict[Annotated[str, Field(max_length=80)], DynamicValueIn | float | int | str | list[Any]] = Field(
        min_length=1, max_length=200
    )
    measured_at: AwareDatetime | None = Field(default=None, description="Measurement time of values that give none")
    method: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        default=None, description="Method (e.g. 'coulomb counting, Annex VII', 'BMS') of values that give none"
    )
    note: Note | None = None


class StatusChange(Strict):
    status: Literal["waste", "recycled"]
    new_responsible: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="The producer-responsibility organisation or waste operator taking over (Art. 77(6))"
    )
    note: Note | None = None


class SuccessorCreate(Strict):
    originals: list[PassportId] = Field(min_length=1, max_length=1000)
    kind: Literal["repurposed", "remanufactured", "re-used"]
    data: PassportData  # type: ignore[valid-type]
    passport_identifier: PassportId | None = None
    note: Note | None = None


class GrantCreate(Strict):
    account: Annotated[str, Field(min_length=1, max_length=200)]
    days: Annotated[float, Field(gt=0, le=3650)] | None = Field(
        default=None, description="Expiry in days; none = until revoked"
    )
    purpose: Note | None = None


class Links(BaseModel):
    predecessors: list[str]
    successors: list[str]


class AccessInfo(BaseModel):
    groups: list[str]
    basis: list[str]
    withheld_attributes: int


class PassportPublic(BaseModel):
    passport_id: str
    state: Literal["active", "superseded", "closed"]
    version: int
    updated_at: datetime
    closed_at: datetime | None
    digital_link: str | None
    links: Links
    data: dict[str, Any]
    observations: dict[str, Any]
    access: AccessInfo
    missing_mandatory: list[str]


class SearchItem(BaseModel):
    passport_id: str
    category: str
    model: str | None
    chemistry: str | None
    state: str
    battery_status: str | None = None
    soh_pct: float | None = None


class SearchResult(BaseModel):
    total: int = Field(description="Matches counted: all of them, or a lower bound when total_exact is false")
    total_exact: bool = Field(description="False when there are more matches than the count stops at (10,000)")
    limit: int
    offset: int
    items: list[SearchItem]


class VersionSummary(BaseModel):
    version: int
    kind: str
    recorded_at: datetime
    hash: str
    previous_hash: str
    signed_by: str
    key_fingerprint: str
    signature: str


class VersionPublic(BaseModel):
    version: int
    kind: str
    recorded_at: datetime
    hash: str
    previous_hash: str
    data: dict[str, Any]


class HistoryPoint(BaseModel):
    version: int
    value: Any
    measured_at: datetime
    method: str | None
    uncertainty: float | None


class GrantPublic(BaseModel):
    account: str
    role: str
    issued_by: str
    issued_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool
    purpose: str | None


class AccessLogItem(BaseModel):
    at: datetime
    passport_id: str
    account: str | None
    role: str
    action: str
    attributes: list[str]
    route: str | None


class ImportOutcome(BaseModel):
    passport_id: str
    report: dict[str, Any]


class ErrorProblem(BaseModel):
    field: str
    message: str
    code: str
    expected: str | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    problems: list[ErrorProblem]


class ErrorResponse(BaseModel):
    error: ErrorBody
