"""The passport's due-diligence section (Annex XIII 1(d)) filled from the Art. 52(3) report of a battery model.

The due-diligence attributes are model-level: every active passport of the battery model carries the same report.
:func:`passport_values` turns a built report into the values of ``due_diligence_report`` (the report as published by
the operator, one document per published file) and ``third_party_assurance`` (the verification report the policy
names, Art. 51); :func:`publish` writes them on each active passport of the model that the caller's organisation is
responsible for, through :class:`~batteryloop.passport.service.PassportService` (a new signed version per passport,
none where the passport carries these values already).

``supply_chain_indices`` is left unset on purpose. Battery Pass 1.2 (``SupplyChainDueDiligence:supplyChainIndicies``,
DIN DKE SPEC 99100 6.4.4) describes it as the ESGE+ indices "under development by the Global Battery Alliance,
scoring and benchmarking sustainability performance". No published index exists yet, and a home-made figure (such as
the share of audited nodes) in a field that readers take for that benchmark would mislead them; the report itself
states the audit coverage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from batteryloop.errors import NotFoundError, PermissionDeniedError, Problem, ValidationError
from batteryloop.passport.access import Viewer
from batteryloop.passport.attributes import attribute
from batteryloop.passport.models import Passport
from batteryloop.passport.service import PassportService
from batteryloop.passport.values import check_uri
from batteryloop.sourcing.dd_report import Policy

KEYS = ("due_diligence_report", "third_party_assurance")
REPORT_TYPE = "due-diligence report (Reg. (EU) 2023/1542 Art. 52(3))"
ASSURANCE_TYPE = "third-party verification of due diligence (Reg. (EU) 2023/1542 Art. 51)"
SUFFIX_MIME = {".pdf": "application/pdf", ".html": "text/html", ".htm": "text/html"}


def mime_of(url: str) -> str | None:
    """The MIME type the address's file suffix gives (``.pdf``, ``.html``, ``.htm``), else None."""
    path = urlsplit(url).path.lower()
    return next((mime for suffix, mime in SUFFIX_MIME.items() if path.endswith(suffix)), None)


def passport_values(
    model: str, screening: dict[str, Any], policy: Policy, report_urls: list[str], *, field_name: str = "report_urls"
) -> tuple[dict[str, Any], dict[str, str]]:
    """The passport values from a built report, and the attributes left unset with the reason.

    ``report_urls`` are the addresses where the operator publishes the report's files (HTML, PDF); the registry keeps
    the links, not the files. Every address must be an absolute URI; the problems name ``field_name[i]``.
    """
    if not report_urls:
        raise ValidationError(
            "no address of the published report", field=field_name, expected="at least one https:// address"
        )
    problems: list[Problem] = []
    urls: list[str] = []
    for i, raw in enumerate(report_urls):
        try:
            url = check_uri(raw)
        except ValueError as exc:
            problems.append(Problem(f"{field_name}[{i}]", f"{raw!r} is not an address", str(exc)))
            continue
        if url in urls:
            problems.append(Problem(f"{field_name}[{i}]", f"{url!r} is given twice", "distinct addresses"))
        urls.append(url)
    if problems:
        raise ValidationError("invalid report addresses", problems=problems)
    s = screening["summary"]
    title = (
        f"Supply-chain due-diligence report, battery model {model}, screening of {screening['as_of']}: "
        f"{s['high']} high, {s['medium']} medium, {s['low']} low finding(s)"
    )
    docs = []
    for url in urls:
        doc: dict[str, Any] = {"url": url, "title": title, "document_type": REPORT_TYPE}
        mime = mime_of(url)
        if mime is not None:
            doc["mime_type"] = mime
        docs.append(doc)
    values: dict[str, Any] = {"due_diligence_report": docs}
    unset: dict[str, str] = {
        "supply_chain_indices": "no published index: Battery Pass 1.2 reserves it for the Global Battery Alliance's "
        "ESGE+ indices, still under development"
    }
    v = policy.verification
    if v is None:
        unset["third_party_assurance"] = "the policy records no third-party verification"
    elif v.report_url is None:
        unset["third_party_assurance"] = "the policy's verification names no report_url"
    else:
        doc = {
            "url": v.report_url,
            "title": f"Verification by {v.body} of {v.date.isoformat()}: {v.result} (scope: {v.scope})"[:1000],
            "document_type": ASSURANCE_TYPE,
        }
        mime = mime_of(v.report_url)
        if mime is not None:
            doc["mime_type"] = mime
        values["third_party_assurance"] = [doc]
    return values, unset


@dataclass
class PublishResult:
    """What :func:`publish` wrote: passports updated (a new version), unchanged (values there already), skipped
    (with the reason), and the attributes left unset (with the reason)."""

    model: str
    values: dict[str, Any]
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    unset: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def publish(
    service: PassportService,
    viewer: Viewer,
    model: str,
    values: dict[str, Any],
    *,
    unset: dict[str, str] | None = None,
    note: str | None = None,
) -> PublishResult:
    """Write ``values`` on every active passport of ``model`` whose responsible operator is the caller's organisation.

    Refused (403) where the model's active passports all belong to other operators, or the caller acts for no
    organisation; 404 where the registry has no active passport of the model. Passports of another operator and of a
    category without a due-diligence section are skipped and listed.
    """
    rows = service.session.execute(
        select(Passport.id, Passport.operator_id, Passport.category)
        .where(Passport.model == model, Passport.state == "active")
        .order_by(Passport.id)
    ).all()
    if not rows:
        raise NotFoundError(f"no active passport of battery model {model!r}", field="model_id")
    if viewer.organisation_id is None or all(r.operator_id != viewer.organisation_id for r in rows):
        raise PermissionDeniedError(
            f"only the economic operator responsible for the passports of battery model {model!r} may publish its "
            "due-diligence report"
        )
    result = PublishResult(model, values, unset=dict(unset or {}))
    target = attribute("due_diligence_report")
    for r in rows:
        if r.operator_id != viewer.organisation_id:
            result.skipped.append({"passport_id": r.id, "reason": "another economic operator is responsible"})
            continue
        if not target.applies_to(r.category):
            result.skipped.append({"passport_id": r.id, "reason": f"a {r.category} passport has no due-diligence data"})
            continue
        passport = service.session.get(Passport, r.id)
        assert passport is not None
        data = passport.data or {}
        if all(data.get(key) == value for key, value in values.items()):
            result.unchanged.append(r.id)
            continue
        service.update_static(
            viewer, r.id, values, note=note or f"due-diligence report of battery model {model} (Art. 52(3))"
        )
        result.updated.append(r.id)
    return result
