"""Tables of the passport registry (SQLAlchemy 2.0 typed mappings).

``passports`` holds the current state of each passport for fast reads and searches; ``passport_versions`` holds
every version as signed, immutable content (the hash chain); ``dynamic_values`` indexes the dynamic (Annex XIII
point 4) values of every version for history queries. Nothing in ``passport_versions`` is ever updated or deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from batteryloop.db import Base, JSONType


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores no offset; this restores it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Organisation(Base):
    """An economic operator or other organisation: manufacturer, importer, repurposer, PRO, recycler, authority."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    identifier: Mapped[str | None] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(40), default="manufacturer")
    issuing_agency_code: Mapped[str | None] = mapped_column(String(3))
    company_identification_number: Mapped[str | None] = mapped_column(String(20))
    public_key: Mapped[str] = mapped_column(String(64))
    private_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Account(Base):
    """A user or system of an organisation, with one role."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(40))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKey(Base):
    """A bearer token of an account, stored as its SHA-256 hash (tokens carry 256 random bits)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Passport(Base):
    """The current state of one passport (denormalised from its newest version for reads and searches)."""

    __tablename__ = "passports"
    __table_args__ = (
        UniqueConstraint("gtin", "serial_number", name="uq_passports_gtin_serial"),
        Index("ix_passports_category_status", "category", "status"),
        Index("ix_passports_soh", "soh_pct"),
        # searches by category and state-of-health range; operator_id lets the count skip the table (0005)
        Index("ix_passports_category_soh", "category", "soh_pct", postgresql_include=["operator_id"]),
        # a page of such a search in identifier order, testing SoH and operator on the index entry (0005)
        Index("ix_passports_category_id_soh", "category", "id", "soh_pct", "operator_id"),
    )

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    category: Mapped[str] = mapped_column(String(20))
    gtin: Mapped[str | None] = mapped_column(String(14))
    serial_number: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(200), index=True)
    chemistry: Mapped[str | None] = mapped_column(String(100))
    operator_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default="active")
    soh_pct: Mapped[float | None] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    observations: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # {"predecessors": [...], "successors": [...]}: a copy of passport_links for reads without a join
    links: Mapped[dict[str, list[str]]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PassportVersion(Base):
    """One immutable, signed version of a passport."""

    __tablename__ = "passport_versions"
    __table_args__ = (UniqueConstraint("passport_id", "number", name="uq_passport_versions_passport_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    passport_id: Mapped[str] = mapped_column(ForeignKey("passports.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(30))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    signer_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # ``json``, not ``jsonb``, on PostgreSQL: a version is written once, read whole and never searched inside, so
    # the text is kept as written (the bulk loader writes the signed canonical bytes themselves) and compressed as
    # text, which takes a quarter less disk than jsonb's binary form (migration 0006, docs/registry-scale.md).
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    hash: Mapped[str] = mapped_column(String(64))
    previous_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(120))
    public_key: Mapped[str] = mapped_column(String(64))

    # Declared so that the unit of work inserts a passport before its versions when both are flushed together.
    passport: Mapped[Passport] = relationship(lazy="raise_on_sql")


class PassportLink(Base):
    """Art. 77(7): the passport of a repurposed, remanufactured or re-used battery links to its originals."""

    __tablename__ = "passport_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    predecessor_id: Mapped[str] = mapped_column(ForeignKey("passports.id"), index=True)
    successor_id: Mapped[str] = mapped_column(ForeignKey("passports.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    predecessor_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    predecessor: Mapped[Passport] = relationship(foreign_keys=[predecessor_id], lazy="raise_on_sql")
    successor: Mapped[Passport] = relationship(foreign_keys=[successor_id], lazy="raise_on_sql")


class DynamicValue(Base):
    """A dynamic value as recorded by one version, with its measurement time and method."""

    __tablename__ = "dynamic_values"
    __table_args__ = (Index("ix_dynamic_values_passport_key", "passport_id", "key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    passport_id: Mapped[str] = mapped_column(ForeignKey("passports.id"))
    version: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(80))
    value: Mapped[Any] = mapped_column(JSONType)
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    method: Mapped[str | None] = mapped_column(Text)
    uncertainty: Mapped[float | None] = mapped_column(Float)

    passport: Mapped[Passport] = relationship(lazy="raise_on_sql")


class Grant(Base):
    """A per-battery grant of legitimate-interest access to an account, with an optional expiry."""

    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_account_passport", "account_id", "passport_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    passport_id: Mapped[str] = mapped_column(ForeignKey("passports.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    issued_by: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    purpose: Mapped[str | None] = mapped_column(Text)


class AccessLogEntry(Base):
    """A read of non-public passport data: who, when, which attributes, through which route."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_passport_at", "passport_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    passport_id: Mapped[str] = mapped_column(String(128))
    account: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    organisation_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(30))
    attributes: Mapped[list[str]] = mapped_column(JSONType)
    route: Mapped[str | None] = mapped_column(String(200))
