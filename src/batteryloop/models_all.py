"""Imports every module that defines tables, so that ``Base.metadata`` knows them all (for Alembic and tests)."""

from batteryloop.circularity import epr_models as circularity_epr_models
from batteryloop.passport import models as passport_models

__all__ = ["circularity_epr_models", "passport_models"]
