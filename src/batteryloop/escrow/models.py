"""Tables of the mirror: escrow agreements with origin operators, and the passports mirrored under them.

A mirrored passport is kept as the signed bundle the origin sent (``batteryloop.passport.bundle`` format), with the
facts the mirror needs to find and serve it (identifier, GTIN and serial, newest version and its hash) copied out.
Mirrored passports live apart from the registry's own ``passports``: the mirror cannot sign for the origin, so it
never changes them; it only replaces a bundle by a longer one that extends it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from batteryloop.db import Base, JSONType
from batteryloop.passport.models import UTCDateTime, utcnow


class EscrowAgreement(Base):
    """This registry keeps a backup copy of the passports of ``origin``, deposited by one of its accounts."""

    __tablename__ = "escrow_agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(200), unique=True)
    origin_identifier: Mapped[str | None] = mapped_column(String(100))
    origin_url: Mapped[str | None] = mapped_column(String(500))
    # Ed25519 public keys (base64) whose signatures this registry accepts in deposits under the agreement
    public_keys: Mapped[list[str]] = mapped_column(JSONType)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    provider: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MirroredPassport(Base):
    """The newest deposit of one passport: its whole signed bundle and the facts copied out of it."""

    __tablename__ = "escrow_passports"
    __table_args__ = (UniqueConstraint("gtin", "serial_number", name="uq_escrow_passports_gtin_serial"),)

    passport_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("escrow_agreements.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    gtin: Mapped[str | None] = mapped_column(String(14))
    serial_number: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    responsible: Mapped[str] = mapped_column(String(200))
    signer: Mapped[str] = mapped_column(String(200))
    signer_key: Mapped[str] = mapped_column(String(64))
    bundle: Mapped[dict[str, Any]] = mapped_column(JSONType)
    received_from: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
