"""Tables of the producer-responsibility register (SQLAlchemy 2.0 typed mappings).

Producers and producer-responsibility organisations (PROs), recyclers and authorities are rows of the registry's
``organisations`` table (its ``kind``). ``epr_memberships`` says which producer a PRO carries out the obligations of,
per battery category. ``epr_reports`` holds every yearly report: a producer's or PRO's report of batteries placed on
the market and collected (``kind = market``) or a recycler's process report (``kind = process``), its content as
validated JSON. A correction is a new version of the same (kind, organisation, year); the old version is kept with
``current`` false and ``replaced_at`` set, and nothing in this table is deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from batteryloop.db import Base, JSONType
from batteryloop.passport.models import UTCDateTime, utcnow


class Membership(Base):
    """A producer whose obligations for one battery category a PRO carries out, from a year on."""

    __tablename__ = "epr_memberships"
    __table_args__ = (UniqueConstraint("producer_id", "category", name="uq_epr_memberships_producer_category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    pro_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    since_year: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Report(Base):
    """One version of a yearly report (market or process) of one organisation."""

    __tablename__ = "epr_reports"
    __table_args__ = (
        UniqueConstraint("kind", "organisation_id", "year", "version", name="uq_epr_reports_kind_org_year_version"),
        Index("ix_epr_reports_year_kind", "year", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(String(500))
