"""Import and export of passports in IDTA-02035, Battery Pass 1.2 and Catena-X 6.1.0 (see ``base.py``).

:data:`FORMATS` holds one instance of each format, keyed by the names of ``attributes.FORMAT_COLUMNS``;
:func:`get_format` looks one up (and, given the directory of the official schemas, returns one that also checks
every imported source against them). :func:`validate_export` validates exported documents against the official JSON
schemas. The mappings are the path columns of ``attributes.csv`` (syntax in :mod:`.paths`), with the transforms of
:mod:`.idta`, :mod:`.batterypass` and :mod:`.catenax` where a value needs more than a copy (those that IDTA-02035 and
Battery Pass share are built by :mod:`.samm`).
"""

from __future__ import annotations

from pathlib import Path

from batteryloop.errors import Problem, ValidationError
from batteryloop.passport.interop import schema as _schema
from batteryloop.passport.interop.base import ExportMeta, ExportResult, ImportResult, PassportFormat
from batteryloop.passport.interop.batterypass import BatteryPassFormat
from batteryloop.passport.interop.catenax import CatenaXFormat
from batteryloop.passport.interop.engine import DocumentFormat, FormatExport, FormatImport
from batteryloop.passport.interop.idta import IdtaFormat

_CLASSES: dict[str, type[DocumentFormat]] = {
    IdtaFormat.name: IdtaFormat,
    BatteryPassFormat.name: BatteryPassFormat,
    CatenaXFormat.name: CatenaXFormat,
}

FORMATS: dict[str, PassportFormat] = {name: cls() for name, cls in _CLASSES.items()}


def get_format(name: str, *, schema_dir: Path | None = None) -> DocumentFormat:
    """The format called ``name``; with ``schema_dir`` (the model's folder of official schemas) its imports also
    report every violation of those schemas in ``defects``."""
    cls = _CLASSES.get(name)
    if cls is None:
        raise ValidationError(
            f"unknown format {name!r}", field="format", expected="one of " + ", ".join(sorted(_CLASSES))
        )
    return cls(schema_dir) if schema_dir is not None else cls()


def validate_export(result: ExportResult, schema_dir: Path) -> list[Problem]:
    """Validate each exported document against its official JSON schema in ``schema_dir``.

    Each problem names the document (its file name) and the JSON path, e.g.
    ``TechnicalData.json:TechnicalPropertyAreas.Lifetime.ExpectedNumberOfCycles``.
    """
    fmt = get_format(result.format)
    out: list[Problem] = []
    for file_name, document in result.documents.items():
        part = fmt.part_of_file(file_name)
        path = schema_dir / fmt.schema_file(part, document)
        if not path.exists():
            out.append(
                Problem(
                    file_name,
                    f"no schema to validate against: {path} is missing",
                    "the official schema",
                    "schema_missing",
                )
            )
            continue
        for problem in _schema.problems(document, _schema.load_schema(path), part=file_name, code="schema"):
            out.append(problem)
    return out


__all__ = [
    "FORMATS",
    "ExportMeta",
    "ExportResult",
    "FormatExport",
    "FormatImport",
    "ImportResult",
    "PassportFormat",
    "get_format",
    "validate_export",
]
