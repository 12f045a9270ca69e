"""Imports every module that defines tables, so that ``Base.metadata`` knows them all (for Alembic and tests)."""

from batteryloop.circularity import epr_models as circularity_epr_models
from batteryloop.escrow import models as escrow_models
from batteryloop.passport import models as passport_models
from batteryloop.safety import incident_models as safety_incident_models

__all__ = ["circularity_epr_models", "escrow_models", "passport_models", "safety_incident_models"]
