"""Import and export of passports in IDTA-02035, Battery Pass 1.2 and Catena-X 6.1.0 (see ``base.py``)."""

from batteryloop.passport.interop.base import ExportMeta, ExportResult, ImportResult, PassportFormat

__all__ = ["ExportMeta", "ExportResult", "ImportResult", "PassportFormat"]
