"""The incident register's table (SQLAlchemy 2.0 typed mappings).

``safety_incidents`` holds every version of every recorded fire or thermal event. An incident is its ``number``; a
correction is a new row of the same number with the next ``version``, the old row kept with ``current`` false and
``replaced_at`` set. Nothing in this table is deleted.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from batteryloop.db import Base
from batteryloop.passport.models import UTCDateTime, utcnow


class Incident(Base):
    """One version of one incident: a fire or thermal event of a battery."""

    __tablename__ = "safety_incidents"
    __table_args__ = (
        UniqueConstraint("number", "version", name="uq_safety_incidents_number_version"),
        Index("ix_safety_incidents_occurred_on", "occurred_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    occurred_on: Mapped[date] = mapped_column(Date)
    location_type: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    chemistry: Mapped[str] = mapped_column(String(100))
    cause: Mapped[str] = mapped_column(String(40))
    consequence: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    passport_id: Mapped[str | None] = mapped_column(ForeignKey("passports.id"), index=True)
    recorded_by: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(String(500))
