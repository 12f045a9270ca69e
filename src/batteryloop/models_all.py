"""Imports every module that defines tables, so that ``Base.metadata`` knows them all (for Alembic and tests)."""

from batteryloop.passport import models as passport_models

__all__ = ["passport_models"]
