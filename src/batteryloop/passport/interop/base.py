"""The contract every passport format implements (import and export).

A format turns a document of its own into attribute values of ``attributes.csv`` (:class:`ImportResult`), and the
attribute values of a passport back into its documents (:class:`ExportResult`). It never drops anything silently:
a source value that cannot be imported is kept in ``skipped`` with the reason, a value of the source that violates
the source's own schema is reported in ``defects`` with its path, and a passport attribute the target format cannot
hold is listed in ``not_representable``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from batteryloop.errors import Problem


@dataclass
class ImportResult:
    """What a document yields: attribute values (still to be validated by the registry) and what went wrong."""

    format: str
    data: dict[str, Any] = field(default_factory=dict)
    # measurement time and method of dynamic values: {key: {"measured_at": iso, "method": text}}
    observations: dict[str, dict[str, Any]] = field(default_factory=dict)
    passport_id: str | None = None
    operator_identifier: str | None = None
    # the source violates its own schema here (path in the source document, what is wrong, what the schema wants)
    defects: list[Problem] = field(default_factory=list)
    # source values that were not imported, with the reason
    skipped: list[Problem] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "attributes": len(self.data),
            "defects": [p.as_dict() for p in self.defects],
            "skipped": [p.as_dict() for p in self.skipped],
        }


@dataclass
class ExportMeta:
    """Registry facts an export needs besides the attribute values."""

    passport_id: str
    version: int
    updated_at: str
    state: str
    public_url: str
    predecessors: list[str] = field(default_factory=list)


@dataclass
class ExportResult:
    format: str
    # file name -> JSON document; single-document formats have one entry
    documents: dict[str, Any] = field(default_factory=dict)
    # attribute keys present in the passport that this format has no place for
    not_representable: list[str] = field(default_factory=list)


class PassportFormat(Protocol):
    name: str

    def read(self, path: Path) -> Any:
        """Parse ``path`` (a file, or a directory for formats made of several documents)."""

    def import_document(self, document: Any, *, source: str) -> ImportResult:
        """Map a parsed document onto attribute values."""

    def export(self, data: Mapping[str, Any], observations: Mapping[str, Any], meta: ExportMeta) -> ExportResult:
        """Map attribute values onto this format's documents."""
