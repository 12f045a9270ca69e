"""Import into and export from the registry, in every supported format.

Import is all or nothing. Each value of the source is validated against ``attributes.csv``; by default a single value
that cannot be imported (a defect of the source, an out-of-range number, an attribute that does not apply to the
category) refuses the whole file with every problem named. With ``skip_invalid`` the valid values are imported and
each refused value is kept, with its reason, in the import record of the passport's first version and counted in the
report, so nothing is lost silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batteryloop.errors import (
    BatteryloopError,
    ImportFormatError,
    PermissionDeniedError,
    Problem,
    ValidationError,
)
from batteryloop.passport import bundle as bundle_mod
from batteryloop.passport import interop
from batteryloop.passport.access import SUPERVISORY_ROLES, Viewer, bundle_attribute_keys, groups_outside
from batteryloop.passport.attributes import AccessGroup, attributes, validate_values
from batteryloop.passport.identifiers import check_passport_id
from batteryloop.passport.interop import ExportMeta, ExportResult, ImportResult
from batteryloop.passport.models import Passport
from batteryloop.passport.qr import resolver_url
from batteryloop.passport.service import PassportService

FORMATS = ("batteryloop", "idta-02035", "batterypass-1.2", "catenax-6.1")


@dataclass
class ImportOutcome:
    passport: Passport
    imported: list[str]
    rejected: list[Problem] = field(default_factory=list)
    defects: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "passport_id": self.passport.id,
            "imported_attributes": len(self.imported),
            "rejected": [p.as_dict() for p in self.rejected],
            "rejected_count": len(self.rejected),
            "source_defects": [p.as_dict() for p in self.defects],
            "notes": self.notes,
        }


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise ValidationError(f"unknown format {name!r}", field="format", expected=", ".join(FORMATS))
    return name


def read_document(path: Path, fmt: str) -> Any:
    """Parse an import file (or directory, for formats made of several documents)."""
    check_format(fmt)
    if not path.exists():
        raise ImportFormatError(f"{path} does not exist", field="file", expected="an existing file or directory")
    if fmt == "batteryloop":
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ImportFormatError(f"{path}: not JSON ({exc})", field=str(path), expected="a JSON document") from None
        except IsADirectoryError:
            raise ImportFormatError(f"{path} is a directory", field=str(path), expected="a JSON file") from None
    return interop.get_format(fmt).read(path)


def _validate_each(result: ImportResult) -> tuple[dict[str, Any], list[Problem]]:
    category_raw = result.data.get("battery_category")
    if not isinstance(category_raw, str):
        raise ImportFormatError(
            "the document does not give the battery category",
            field="battery_category",
            expected="a category the format maps to ev, lmt, industrial, sli or portable",
        )
    category = validate_values({"battery_category": category_raw}, "ev")["battery_category"]
    clean: dict[str, Any] = {}
    rejected: list[Problem] = []
    table = attributes()
    for key, raw in result.data.items():
        if key in table and table[key].writable == "registry":
            continue
        try:
            clean.update(validate_values({key: raw}, category))
        except BatteryloopError as exc:
            rejected.extend(exc.problems)
    return clean, rejected


def import_document(
    service: PassportService,
    viewer: Viewer,
    fmt: str,
    document: Any,
    *,
    source: str,
    skip_invalid: bool = False,
) -> ImportOutcome:
    check_format(fmt)
    if fmt == "batteryloop":
        return _import_bundle(service, viewer, document, source=source)
    result = interop.get_format(fmt).import_document(document, source=source)
    clean, rejected = _validate_each(result)
    skipped = list(result.skipped)
    blocking = skipped + rejected
    if blocking and not skip_invalid:
        problems = _dedupe(result.defects + blocking)
        raise ImportFormatError(
            f"{source}: {len(blocking)} value(s) cannot be imported; nothing was written "
            "(import with skip-invalid to import the rest and keep the refused values on record)",
            problems=problems,
        )
    notes = []
    passport_id = None
    if result.passport_id:
        try:
            passport_id = check_passport_id(result.passport_id)
        except ValidationError:
            notes.append(
                f"the source identifier {result.passport_id!r} cannot serve as a passport identifier here "
                "(it holds characters a URL path cannot carry); the registry issued one"
            )
    outcome_rejected = _dedupe(skipped + rejected)
    record = {
        "format": fmt,
        "source": source,
        "source_passport_identifier": result.passport_id,
        "source_operator_identifier": result.operator_identifier,
        "rejected": [p.as_dict() for p in outcome_rejected],
        "source_defects": [p.as_dict() for p in result.defects],
    }
    observed = {k: v for k, v in result.observations.items() if k in clean}
    passport = service.create(viewer, clean, passport_id=passport_id, import_report=record, observed=observed)
    return ImportOutcome(passport, sorted(clean), outcome_rejected, list(result.defects), notes)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    out = []
    for p in problems:
        key = (p.field, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _import_bundle(service: PassportService, viewer: Viewer, document: Any, *, source: str) -> ImportOutcome:
    report = bundle_mod.verify_bundle(document)
    if not report.ok:
        raise ImportFormatError(
            f"{source}: the bundle does not verify",
            problems=[Problem(c.name, c.detail or "failed", None, "integrity") for c in report.failures],
        )
    last = document["versions"][-1]["content"]
    data = {k: v for k, v in last.get("data", {}).items() if attributes().get(k) and attributes()[k].writable == "user"}
    record = {
        "format": "batteryloop",
        "source": source,
        "source_head_hash": document["versions"][-1]["hash"],
        "source_versions": len(document["versions"]),
    }
    observations = last.get("observations") or {}
    if not isinstance(observations, Mapping):
        raise ImportFormatError(
            f"{source}: the observations of the newest version are not an object",
            field="versions[-1].content.observations",
            expected="an object: attribute -> measurement time and method",
        )
    observed = {k: v for k, v in observations.items() if k in data}
    passport = service.create(
        viewer, data, passport_id=document.get("passport_id"), import_report=record, observed=observed
    )
    return ImportOutcome(passport, sorted(data))


def export_passport(
    service: PassportService, viewer: Viewer, passport_id: str, fmt: str, *, route: str | None = None
) -> ExportResult:
    """Export what ``viewer`` may read of a passport. The signed ``batteryloop`` bundle holds every attribute, so
    only the responsible operator exports it, and a supervising authority only if it may read every attribute the
    bundle records (:func:`check_whole_bundle`)."""
    check_format(fmt)
    if fmt == "batteryloop":
        passport = service._passport(passport_id)
        groups, responsible, _ = service.groups_for(viewer, passport)
        if not responsible and viewer.role not in SUPERVISORY_ROLES:
            raise PermissionDeniedError(
                "the signed bundle holds every attribute: only the responsible operator and authorities export it"
            )
        doc = bundle_mod.export_bundle(service.session, passport_id)
        if not responsible:
            check_whole_bundle(doc, groups)
        service.log_access(viewer, passport_id, sorted(passport.data), action="export", route=route)
        return ExportResult(format=fmt, documents={f"{_safe(passport_id)}.json": doc})
    view = service.view(viewer, passport_id, action="export", route=route)
    meta = ExportMeta(
        passport_id=view.passport_id,
        version=view.version,
        updated_at=view.updated_at.isoformat(),
        state=view.state,
        public_url=resolver_url(service.settings.public_base_url, view.passport_id),
        predecessors=view.predecessors,
    )
    return interop.get_format(fmt).export(view.data, view.observations, meta)


GROUP_POINT = {
    AccessGroup.PUBLIC: "1",
    AccessGroup.LEGITIMATE_INTEREST: "2",
    AccessGroup.AUTHORITIES: "3",
    AccessGroup.LEGITIMATE_INTEREST_INDIVIDUAL: "4",
}


def check_whole_bundle(doc: Mapping[str, Any], groups: Iterable[AccessGroup]) -> None:
    """Refuse a signed bundle to a caller who may not read every attribute it records (a bundle cannot be filtered
    without breaking its signatures): an authority reads Annex XIII points 1-3, so a passport that records point-4
    data of the individual battery is exported to it in a filtered format instead."""
    hidden = groups_outside(bundle_attribute_keys(doc), groups)
    if hidden:
        raise PermissionDeniedError(
            "the signed bundle holds every attribute, also "
            + ", ".join(f"{g.value} (Annex XIII point {GROUP_POINT[g]})" for g in hidden)
            + " that your role may not read on this passport (Art. 77(2)): export it in another format"
            f" ({', '.join(interop.FORMATS)}), which keeps what you may read"
        )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def write_export(result: ExportResult, out: Path) -> list[Path]:
    """Write one document to the file ``out``, or several into the directory ``out``."""
    written = []
    if len(result.documents) == 1 and result.format in ("batteryloop", "catenax-6.1"):
        ((name, doc),) = result.documents.items()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    for name, doc in result.documents.items():
        path = out / name
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def documents_from_mapping(fmt: str, body: Mapping[str, Any]) -> Any:
    """The API receives multi-document formats as one JSON object: file name -> document."""
    return body
