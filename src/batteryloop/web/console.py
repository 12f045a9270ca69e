"""The operator console: list, create and edit passports, upload files, QR labels, grants and the access log.

Every page asks the :class:`~batteryloop.passport.service.PassportService` with the signed-in
:class:`~batteryloop.passport.access.Viewer`, so the server filters each attribute for the role exactly as the API
does. The list shows the passports a role works with: an economic operator those its organisation is responsible
for, a repairer, remanufacturer, repurposer, recycler or aggregator those granted to it, the authorities, the
Commission and the fire service every passport. Of each row it shows the public columns, and the battery's status and
state of health (Annex XIII point 4) only where the role may read them. Showing those to a grantee is written to the
access log like any other read; the responsible operator's own list is not (it would bury the reads by others that
the log is for), while its reads of a whole passport are logged by the service as for every caller.
"""

from __future__ import annotations

import io
import json
import math
import re
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Select, and_, func, literal, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from batteryloop.errors import BatteryloopError, NotFoundError, PermissionDeniedError, Problem, ValidationError
from batteryloop.passport.access import GRANTEE_ROLES, SUPERVISORY_ROLES, Role, Viewer, visible_groups
from batteryloop.passport.attributes import AccessGroup, Category, attributes, validate_values
from batteryloop.passport.models import Account, Grant, Organisation, Passport
from batteryloop.passport.qr import qr_svg, resolver_url
from batteryloop.passport.service import STATUSES, PassportService
from batteryloop.passport.transfer import check_format, import_document, read_document
from batteryloop.web import console_forms as forms
from batteryloop.web.console_texts import TEXTS
from batteryloop.web.i18n import CATEGORY_LABELS, choose_language, register, translator
from batteryloop.web.layout import (
    PageForbiddenError,
    check_csrf,
    read_session,
    render,
    require_user,
    settings_of,
    write_session,
)
from batteryloop.web.pages import value_cell

register(TEXTS)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
MAX_LABELS = 100
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
STATES = ("active", "superseded", "closed")
CATEGORIES = tuple(c.value for c in Category)
IMPORT_FORMATS = ("idta-02035", "batterypass-1.2", "catenax-6.1", "batteryloop")
FORMAT_LABELS = {
    "idta-02035": "IDTA-02035 Digital Battery Passport (AAS submodels, JSON)",
    "batterypass-1.2": "Battery Pass 1.2 (JSON per part)",
    "catenax-6.1": "Catena-X battery pass 6.1.0 (JSON)",
    "batteryloop": "batteryloop signed bundle (JSON)",
}
LOG_ROLES = frozenset({Role.ECONOMIC_OPERATOR}) | SUPERVISORY_ROLES
POINTS = ("1", "2", "3", "4", "voluntary")


# ---------------------------------------------------------------------------------------------------------------------
# Helpers


def _local(moment: datetime | str | None) -> str:
    """A time in Europe/Amsterdam, as the interface shows times (UTC inside)."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(forms.AMSTERDAM).strftime("%Y-%m-%d %H:%M")


def _href(passport_id: str, suffix: str = "") -> str:
    return f"/console/p/{quote(passport_id, safe=':~')}{suffix}"


def _category_label(category: str, lang: str) -> str:
    return CATEGORY_LABELS.get(category, {}).get(lang, category)


def _categories(lang: str) -> list[tuple[str, str]]:
    return [(c, _category_label(c, lang)) for c in CATEGORIES]


def _is_grantee(viewer: Viewer) -> bool:
    return viewer.role in GRANTEE_ROLES


def _grant_clause(viewer: Viewer) -> Any:
    """SQL: the viewer holds an active grant on the row's passport (condition ``grant`` of ``access_rules.csv``)."""
    now = datetime.now(UTC)
    return (
        select(Grant.id)
        .where(
            Grant.account_id == viewer.account_id,
            Grant.passport_id == Passport.id,
            Grant.revoked_at.is_(None),
            or_(Grant.expires_at.is_(None), Grant.expires_at > now),
        )
        .exists()
    )


def _scope(viewer: Viewer) -> Any:
    """The passports a role works with in the console (see the module docstring)."""
    if viewer.role is Role.ECONOMIC_OPERATOR:
        return Passport.operator_id == (viewer.organisation_id if viewer.organisation_id is not None else -1)
    if _is_grantee(viewer):
        return _grant_clause(viewer) if viewer.account_id is not None else and_(Passport.id.is_(None))
    return None


def _scope_text(viewer: Viewer) -> str:
    if viewer.role is Role.ECONOMIC_OPERATOR:
        return "console_intro_operator"
    if _is_grantee(viewer):
        return "console_intro_grantee"
    return "console_intro_all"


def _status_choices(viewer: Viewer) -> list[str]:
    """Battery statuses (Annex XIII 4(c)) are offered to the roles that read them for the passports they list."""
    if viewer.role is Role.ECONOMIC_OPERATOR or _is_grantee(viewer):
        return list(STATUSES)
    return []


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        number = default
    return max(low, min(high, number))


def _service(session: Session, request: Request) -> PassportService:
    return PassportService(session, settings_of(request))


def _not_found(request: Request, passport_id: str) -> Response:
    return render(request, "not_found.html", {"passport_id": passport_id}, 404)


def _done(key: str | None) -> str | None:
    return f"console_done_{key}" if key in ("created", "updated", "dynamic", "granted", "revoked") else None


# ---------------------------------------------------------------------------------------------------------------------
# The list


@router.get("/console", response_class=HTMLResponse)
def passport_list(request: Request) -> Response:
    viewer = require_user(request)
    lang = choose_language(request)
    params = request.query_params
    category = params.get("category") or ""
    category = category if category in CATEGORIES else ""
    status = params.get("status") or ""
    q = (params.get("q") or "").strip()[:200]
    page = _int(params.get("page"), 1, 1, 1_000_000)
    status_choices = _status_choices(viewer)
    if status not in STATES and status not in status_choices:
        status = ""

    grant = _grant_clause(viewer) if _is_grantee(viewer) and viewer.account_id is not None else None
    stmt: Select[Any] = select(
        Passport.id,
        Passport.category,
        Passport.model,
        Passport.chemistry,
        Passport.state,
        Passport.status,
        Passport.soh_pct,
        Passport.operator_id,
        Passport.updated_at,
        (grant if grant is not None else literal(False)).label("granted"),
    )
    scope = _scope(viewer)
    if scope is not None:
        stmt = stmt.where(scope)
    if category:
        stmt = stmt.where(Passport.category == category)
    if status in STATES:
        stmt = stmt.where(Passport.state == status)
    elif status:
        # Status is individual data: filter only the passports whose point-4 data the viewer reads (as search does).
        own = Passport.operator_id == viewer.organisation_id if viewer.organisation_id is not None else None
        allowed = [c for c in (own, grant) if c is not None]
        stmt = stmt.where(or_(*allowed) if allowed else and_(Passport.id.is_(None))).where(Passport.status == status)
    if q:
        stmt = stmt.where(
            or_(
                Passport.id.icontains(q, autoescape=True),
                Passport.model.icontains(q, autoescape=True),
                Passport.serial_number.icontains(q, autoescape=True),
                Passport.gtin.icontains(q, autoescape=True),
            )
        )
    session = read_session(request)
    try:
        service = _service(session, request)
        total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(page, pages)
        rows = session.execute(
            stmt.order_by(Passport.updated_at.desc(), Passport.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        ).all()
        items = []
        for row in rows:
            responsible = viewer.organisation_id is not None and viewer.organisation_id == row.operator_id
            groups = visible_groups(viewer, responsible=responsible, granted=bool(row.granted))
            individual = AccessGroup.LEGITIMATE_INTEREST_INDIVIDUAL in groups
            if individual and not responsible:
                service.log_access(
                    viewer, row.id, ["battery_status", "soh_capacity_pct"], action="search", route="GET /console"
                )
            items.append(
                {
                    "id": row.id,
                    "href": _href(row.id),
                    "category": _category_label(row.category, lang),
                    "model": row.model or "",
                    "chemistry": row.chemistry or "",
                    "state": row.state,
                    "status": row.status if individual else None,
                    "soh": row.soh_pct if individual else None,
                    "updated": _local(row.updated_at),
                }
            )
    finally:
        session.close()

    def page_href(number: int) -> str:
        query = {k: v for k, v in (("category", category), ("status", status), ("q", q)) if v}
        return "/console?" + urlencode({**query, "page": number})

    return render(
        request,
        "console_list.html",
        {
            "items": items,
            "total": total,
            "page": page,
            "pages": pages,
            "prev_href": page_href(page - 1) if page > 1 else None,
            "next_href": page_href(page + 1) if page < pages else None,
            "category": category,
            "status": status,
            "q": q,
            "categories": _categories(lang),
            "states": STATES,
            "status_choices": status_choices,
            "intro": _scope_text(viewer),
            "can_create": viewer.role is Role.ECONOMIC_OPERATOR,
            "can_log": viewer.role in LOG_ROLES,
            "done": _done(params.get("done")),
        },
    )


# ---------------------------------------------------------------------------------------------------------------------
# One passport


def _rows_by_point(view_data: Mapping[str, Any], observations: Mapping[str, Any], lang: str) -> list[dict[str, Any]]:
    t = translator(lang)
    groups: dict[str, list[dict[str, Any]]] = {p: [] for p in POINTS}
    for key, attr in attributes().items():
        if key not in view_data:
            continue
        row = {
            "key": key,
            "label": attr.label(lang),
            "point": t["voluntary"] if attr.annex_xiii == "voluntary" else attr.annex_xiii,
            **value_cell(key, view_data[key], attr.unit, lang),
        }
        obs = observations.get(key)
        if isinstance(obs, Mapping) and obs.get("measured_at"):
            row["measured"] = t["console_measured"].format(
                date=_local(str(obs["measured_at"])), method=obs.get("method") or ""
            )
        point = attr.point if attr.point in POINTS else "voluntary"
        if attr.annex_xiii == "voluntary":
            point = "voluntary"
        groups[point].append(row)
    return [{"point": p, "title": t[f"console_point_{p}"], "rows": rows} for p, rows in groups.items() if rows]


@router.get("/console/p/{passport_id}", response_class=HTMLResponse)
def passport_detail(request: Request, passport_id: str) -> Response:
    viewer = require_user(request)
    context = _detail_context(request, viewer, passport_id)
    if context is None:
        return _not_found(request, passport_id)
    return render(request, "console_passport.html", context)


def _detail_context(request: Request, viewer: Viewer, passport_id: str) -> dict[str, Any] | None:
    """What the passport page shows the viewer; ``None`` when there is no such passport."""
    lang = choose_language(request)
    t = translator(lang)
    session = read_session(request)
    try:
        service = _service(session, request)
        try:
            view = service.view(viewer, passport_id, route="GET /console/p")
        except NotFoundError:
            return None
        passport = session.get(Passport, passport_id)
        assert passport is not None
        versions = service.versions(viewer, passport_id)
        grants: list[dict[str, Any]] = []
        log: list[dict[str, Any]] = []
        if view.responsible:
            grants = service.grants(viewer, passport_id)
        if view.responsible or viewer.role in SUPERVISORY_ROLES:
            log = service.access_log(viewer, passport_id=passport_id, limit=10)
        accounts = _grantee_accounts(session) if view.responsible else []
        organisations = sorted({a["organisation"] for a in accounts if a["organisation"]})
    finally:
        session.close()
    missing = [attributes()[k].label(lang) for k in view.incomplete if k in attributes()]
    for g in grants:
        g["state"] = "active" if g["active"] else ("revoked" if g["revoked_at"] else "expired")
        g["issued"] = _local(g["issued_at"])
        g["expires"] = _local(g["expires_at"]) if g["expires_at"] else t["console_never"]
    return {
        "view": view,
        "href": _href(passport_id),
        "public_href": f"/p/{quote(passport_id, safe=':~')}",
        "model": view.data.get("battery_model_identifier") or passport.model,
        "manufacturer": view.data.get("manufacturer_name"),
        "category": _category_label(passport.category, lang),
        "sections": _rows_by_point(view.data, view.observations, lang),
        "versions": [{**v, "recorded": _local(v["recorded_at"])} for v in versions],
        "missing": missing,
        "grants": grants,
        "grant_form": {"account": "", "organisation": "", "expires": "", "purpose": ""},
        "grant_errors": {},
        "grant_general": [],
        "accounts": accounts,
        "organisations": organisations,
        "log": [{**e, "when": _local(e["at"])} for e in log],
        "can_change": view.responsible and view.state == "active",
        "can_see_log": view.responsible or viewer.role in SUPERVISORY_ROLES,
        "updated": _local(view.updated_at),
        "done": _done(request.query_params.get("done")),
    }


def _grantee_accounts_of(session: Session, organisation: str) -> list[str]:
    """The accounts of ``organisation`` whose role receives legitimate-interest grants."""
    return list(
        session.scalars(
            select(Account.name)
            .join(Organisation, Organisation.id == Account.organisation_id)
            .where(Organisation.name == organisation, Account.role.in_([r.value for r in GRANTEE_ROLES]))
            .order_by(Account.name)
        )
    )


def _grantee_accounts(session: Session) -> list[dict[str, str]]:
    rows = session.execute(
        select(Account.name, Account.role, Organisation.name)
        .join(Organisation, Organisation.id == Account.organisation_id, isouter=True)
        .where(Account.role.in_([r.value for r in GRANTEE_ROLES]))
        .order_by(Account.name)
    ).all()
    return [{"name": n, "role": r.replace("_", " "), "organisation": o or ""} for n, r, o in rows]


# ---------------------------------------------------------------------------------------------------------------------
# Create and correct static data


def _form_context(
    request: Request,
    *,
    mode: str,
    category: str,
    texts: Mapping[str, str],
    errors: Mapping[str, list[str]],
    general: list[str],
    current: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    lang = choose_language(request)
    t = translator(lang)
    attrs = forms.form_attributes(category, dynamic=mode == "dynamic")
    fixed = ("gtin", "serial_number") if mode == "edit" else ()
    fields = forms.build_fields(
        attrs,
        category,
        lang,
        t,
        texts=texts,
        errors=errors,
        current=current if mode == "dynamic" else None,
        readonly=fixed,
    )
    sections = []
    for name in ("mandatory", "conditional", "voluntary"):
        chosen = [f for f in fields if f.section == name]
        if chosen:
            sections.append(
                {
                    "name": name,
                    "title": t[f"console_{name}"],
                    "fields": chosen,
                    "open": name == "mandatory" or any(f.errors or f.value or f.current for f in chosen),
                }
            )
    return {
        "mode": mode,
        "category": category,
        "category_label": _category_label(category, lang),
        "sections": sections,
        "general": general,
        "has_errors": bool(errors or general),
        "error_list": [(f.input_id, f.label, e) for f in fields for e in f.errors],
        **(extra or {}),
    }


@router.get("/console/new", response_class=HTMLResponse)
def new_form(request: Request) -> Response:
    require_user(request, {Role.ECONOMIC_OPERATOR})
    lang = choose_language(request)
    category = request.query_params.get("category") or ""
    if category not in CATEGORIES:
        return render(request, "console_new.html", {"categories": _categories(lang), "category": ""})
    context = _form_context(
        request,
        mode="create",
        category=category,
        texts={},
        errors={},
        general=[],
        extra={"passport_identifier": "", "note": "", "id_errors": [], "action": "/console/new"},
    )
    return render(request, "console_form.html", context)


@router.post("/console/new", response_class=HTMLResponse)
async def create_passport(request: Request) -> Response:
    viewer = require_user(request, {Role.ECONOMIC_OPERATOR})
    form = await request.form()
    check_csrf(request, form)
    return await _run(request, lambda: _create(request, viewer, form))


async def _run(request: Request, work: Callable[[], Response]) -> Response:
    """Run the database work of a form outside the event loop (the form itself is read asynchronously)."""
    result: Response = await run_in_threadpool(work)
    return result


def _create(request: Request, viewer: Viewer, form: FormData) -> Response:
    lang = choose_language(request)
    t = translator(lang)
    category = str(form.get("battery_category", ""))
    if category not in CATEGORIES:
        return RedirectResponse("/console/new", status_code=303)
    attrs = forms.form_attributes(category, dynamic=False)
    parsed = forms.parse_form(attrs, _text_fields(form), t)
    passport_id = str(form.get("passport_identifier", "")).strip() or None
    note = str(form.get("note", "")).strip() or None
    data = {"battery_category": category, **parsed.values}
    problems = list(parsed.problems)
    created: str | None = None
    if problems:
        # The form could not even be read as values: report those, and what the data model says of the rest.
        try:
            validate_values(data, category)
        except ValidationError as exc:
            problems.extend(exc.problems)
    else:
        session = write_session(request)
        try:
            passport = _service(session, request).create(viewer, data, passport_id=passport_id, note=note)
            created = passport.id
            session.commit()
        except BatteryloopError as exc:
            session.rollback()
            problems = exc.problems or [Problem("", exc.message)]
        finally:
            session.close()
    if created is not None:
        return RedirectResponse(_href(created, "?done=created"), status_code=303)
    keys = [a.key for a in attrs] + ["passport_identifier"]
    errors, general = forms.errors_by_field(problems, keys, t)
    id_errors = errors.pop("passport_identifier", [])
    context = _form_context(
        request,
        mode="create",
        category=category,
        texts=parsed.texts,
        errors=errors,
        general=general,
        extra={
            "passport_identifier": passport_id or "",
            "note": note or "",
            "id_errors": id_errors,
            "action": "/console/new",
        },
    )
    if id_errors:
        context["has_errors"] = True
        context["error_list"] = [("f-passport_identifier", t["console_passport_id"], e) for e in id_errors] + list(
            context["error_list"]
        )
    return render(request, "console_form.html", context, 422)


def _text_fields(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _owned(request: Request, viewer: Viewer, passport_id: str) -> Passport | None:
    """The passport, detached, when the viewer's organisation is responsible for it and it is active.

    ``None`` when there is no such passport; a passport of another organisation, or one that is no longer active,
    is refused with the page that says why.
    """
    session = read_session(request)
    try:
        passport = session.get(Passport, passport_id)
        if passport is None:
            return None
        session.expunge(passport)
    finally:
        session.close()
    if viewer.organisation_id is None or passport.operator_id != viewer.organisation_id:
        raise PageForbiddenError((), reason="console_not_yours")
    if passport.state != "active":
        raise PageForbiddenError((), reason="console_inactive")
    return passport


@router.get("/console/p/{passport_id}/edit", response_class=HTMLResponse)
def edit_form(request: Request, passport_id: str) -> Response:
    viewer = require_user(request, {Role.ECONOMIC_OPERATOR})
    lang = choose_language(request)
    passport = _owned(request, viewer, passport_id)
    if passport is None:
        return _not_found(request, passport_id)
    attrs = forms.form_attributes(passport.category, dynamic=False)
    texts = {a.key: forms.value_text(a, passport.data[a.key], lang) for a in attrs if a.key in passport.data}
    context = _form_context(
        request,
        mode="edit",
        category=passport.category,
        texts=texts,
        errors={},
        general=[],
        extra=_edit_extra(passport, ""),
    )
    return render(request, "console_form.html", context)


def _edit_extra(passport: Passport, note: str) -> dict[str, Any]:
    return {
        "passport_id": passport.id,
        "href": _href(passport.id),
        "action": _href(passport.id, "/edit"),
        "note": note,
        "version": passport.version,
        "model": passport.model,
    }


@router.post("/console/p/{passport_id}/edit", response_class=HTMLResponse)
async def edit_passport(request: Request, passport_id: str) -> Response:
    viewer = require_user(request, {Role.ECONOMIC_OPERATOR})
    form = await request.form()
    check_csrf(request, form)
    return await _run(request, lambda: _edit(request, viewer, passport_id, form))


def _edit(request: Request, viewer: Viewer, passport_id: str, form: FormData) -> Response:
    lang = choose_language(request)
    t = translator(lang)
    passport = _owned(request, viewer, passport_id)
    if passport is None:
        return _not_found(request, passport_id)
    attrs = [
        a for a in forms.form_attributes(passport.category, dynamic=False) if a.key not in ("gtin", "serial_number")
    ]
    parsed = forms.parse_form(attrs, _text_fields(form), t, current=passport.data)
    note = str(form.get("note", "")).strip() or None
    changed = {k: v for k, v in parsed.values.items() if passport.data.get(k) != v}
    removed = [k for k in parsed.empty if k in passport.data]
    problems = list(parsed.problems)
    if problems:
        try:
            validate_values(changed, passport.category, only_static=True)
        except ValidationError as exc:
            problems.extend(exc.problems)
    else:
        session = write_session(request)
        try:
            _service(session, request).update_static(viewer, passport_id, changed, remove=removed, note=note)
            session.commit()
            return RedirectResponse(_href(passport_id, "?done=updated"), status_code=303)
        except BatteryloopError as exc:
            session.rollback()
            problems = exc.problems or [Problem("", exc.message)]
        finally:
            session.close()
    problems = [
        Problem(f"data.{p.field[len('remove.') :]}", p.message, p.expected, p.code)
        if p.field.startswith("remove.")
        else p
        for p in problems
    ]
    errors, general = forms.errors_by_field(problems, [a.key for a in attrs], t)
    texts = {a.key: forms.value_text(a, passport.data[a.key], lang) for a in attrs if a.key in passport.data}
    texts.update(parsed.texts)
    for key in ("gtin", "serial_number"):
        if key in passport.data:
            texts[key] = str(passport.data[key])
    context = _form_context(
        request,
        mode="edit",
        category=passport.category,
        texts=texts,
        errors=errors,
        general=general,
        extra=_edit_extra(passport, note or ""),
    )
    return render(request, "console_form.html", context, 422)


# ---------------------------------------------------------------------------------------------------------------------
# Dynamic data (Annex XIII point 4)


@router.get("/console/p/{passport_id}/dynamic", response_class=HTMLResponse)
def dynamic_form(request: Request, passport_id: str) -> Response:
    viewer = require_user(request, {Role.ECONOMIC_OPERATOR})
    passport = _owned(request, viewer, passport_id)
    if passport is None:
        return _not_found(request, passport_id)
    now = datetime.now(forms.AMSTERDAM).strftime("%Y-%m-%dT%H:%M")
    context = _form_context(
        request,
        mode="dynamic",
        category=passport.category,
        texts={},
        errors={},
        general=[],
        current=passport.data,
        extra={**_dynamic_extra(passport), "measured_at": now, "method": "", "meta_errors": {}},
    )
    return render(request, "console_form.html", context)


def _dynamic_extra(passport: Passport) -> dict[str, Any]:
    return {
        "passport_id": passport.id,
        "href": _href(passport.id),
        "action": _href(passport.id, "/dynamic"),
        "note": "",
        "version": passport.version,
        "model": passport.model,
    }


@router.post("/console/p/{passport_id}/dynamic", response_class=HTMLResponse)
async def record_dynamic(request: Request, passport_id: str) -> Response:
    viewer = require_user(request, {Role.ECONOMIC_OPERATOR})
    form = await request.form()
    check_csrf(request, form)
    return await _run(request, lambda: _dynamic(request, viewer, passport_id, form))


def _dynamic(request: Request, viewer: Viewer, passport_id: str, form: FormData) -> Response:
    lang = choose_language(request)
    t = translator(lang)
    passport = _owned(request, viewer, passport_id)
    if passport is None:
        return _not_found(request, passport_id)
    attrs = forms.form_attributes(passport.category, dynamic=True)
    texts = _text_fields(form)
    parsed = forms.parse_form(attrs, texts, t)
    problems = [Problem(f"values.{p.field[5:]}", p.message, p.expected, p.code) for p in parsed.problems]
    measured_text = texts.get("measured_at", "")
    method = texts.get("method", "").strip()
    note = texts.get("note", "").strip() or None
    measured_at, problem = forms.parse_local_datetime(measured_text, "measured_at", t)
    if problem is not None:
        problems.append(problem)
    if not problems:
        session = write_session(request)
        try:
            _service(session, request).update_dynamic(
                viewer, passport_id, parsed.values, measured_at=measured_at, method=method or None, note=note
            )
            session.commit()
            return RedirectResponse(_href(passport_id, "?done=dynamic"), status_code=303)
        except BatteryloopError as exc:
            session.rollback()
            problems = exc.problems or [Problem("", exc.message)]
        finally:
            session.close()
    meta_errors: dict[str, list[str]] = {"measured_at": [], "method": []}
    rest: list[Problem] = []
    for p in problems:
        text = forms.problem_text(p, t)
        if p.field == "measured_at" or p.field.endswith(".measured_at") or "measurement time" in p.message:
            meta_errors["measured_at"].append(
                text if p.field == "measured_at" else f"{forms.field_key(p.field)}: {text}"
            )
        elif "has no method" in p.message or p.field == "method":
            meta_errors["method"].append(text)
        else:
            rest.append(p)
    errors, general = forms.errors_by_field(rest, [a.key for a in attrs], t)
    context = _form_context(
        request,
        mode="dynamic",
        category=passport.category,
        texts=parsed.texts,
        errors=errors,
        general=general,
        current=passport.data,
        extra={
            **_dynamic_extra(passport),
            "note": note or "",
            "measured_at": measured_text,
            "method": method,
            "meta_errors": meta_errors,
        },
    )
    if any(meta_errors.values()):
        context["has_errors"] = True
        labels = {"measured_at": t["console_measured_at"], "method": t["console_method"]}
        context["error_list"] = [(f"f-{k}", labels[k], e) for k, errs in meta_errors.items() for e in errs] + list(
            context["error_list"]
        )
    return render(request, "console_form.html", context, 422)


# ---------------------------------------------------------------------------------------------------------------------
# Grants


@router.post("/console/p/{passport_id}/grants", response_class=HTMLResponse)
async def grant_access(request: Request, passport_id: str) -> Response:
    viewer = require_user(request, {Role.ECONOMIC_OPERATOR})
    form = await request.form()
    check_csrf(request, form)
    return await _run(request, lambda: _grant(request, viewer, passport_id, form))


def _grant(request: Request, viewer: Viewer, passport_id: str, form: FormData) -> Response:
    """Grant one account, or every grantee-role account of one organisation, access to this battery's data."""
    lang = choose_language(request)
    t = translator(lang)
    texts = _text_fields(form)
    account = texts.get("account", "").strip()
    organisation = texts.get("organisation", "").strip()
    expires = texts.get("expires", "").strip()
    purpose = texts.get("purpose", "").strip() or None
    problems: list[Problem] = []
    days: float | None = None
    if not account and not organisation:
        problems.append(Problem("name", t["console_account_or_organisation"]))
    elif account and organisation:
        problems.append(Problem("organisation", t["console_account_or_organisation"]))
    if expires:
        try:
            end_day = date.fromisoformat(expires)
        except ValueError:
            problems.append(Problem("days", t["console_bad_date"].format(text=repr(expires)), "YYYY-MM-DD"))
        else:
            end = datetime.combine(end_day, time(23, 59, 59), tzinfo=forms.AMSTERDAM)
            days = (end - datetime.now(UTC)).total_seconds() / 86400.0
    if not problems:
        session = write_session(request)
        try:
            service = _service(session, request)
            names = [account] if account else _grantee_accounts_of(session, organisation)
            if not names:
                raise NotFoundError(
                    t["console_no_grantee_accounts"].format(organisation=organisation), field="organisation"
                )
            for name in names:
                service.grant(viewer, passport_id, name, days=days, purpose=purpose)
            session.commit()
            return RedirectResponse(_href(passport_id, "?done=granted#grants"), status_code=303)
        except NotFoundError as exc:
            session.rollback()
            if exc.field == "passport_id":
                return _not_found(request, passport_id)
            problems = exc.problems
        except PermissionDeniedError:
            session.rollback()
            raise PageForbiddenError((), reason="console_not_yours") from None
        except BatteryloopError as exc:
            session.rollback()
            problems = exc.problems or [Problem("", exc.message)]
        finally:
            session.close()
    field_names = {"name": "account", "organisation": "organisation", "days": "expires", "purpose": "purpose"}
    grant_errors: dict[str, list[str]] = {}
    general: list[str] = []
    for p in problems:
        if p.field in field_names:
            grant_errors.setdefault(field_names[p.field], []).append(forms.problem_text(p, t))
        else:
            general.append(forms.problem_text(p, t))
    context = _detail_context(request, viewer, passport_id)
    if context is None:
        return _not_found(request, passport_id)
    context.update(
        {
            "grant_form": {
                "account": account,
                "organisation": organisation,
                "expires": expires,
                "purpose": purpose or "",
            },
            "grant_errors": grant_errors,
            "grant_general": general,
        }
    )
    return render(request, "console_passport.html", context, 422)


@router.post("/console/p/{passport_id}/grants/revoke", response_class=HTMLResponse)
async def revoke_access(request: Request, passport_id: str) -> Response:
    viewer = require_user(request, {Role.ECONOMIC_OPERATOR})
    form = await request.form()
    check_csrf(request, form)
    account = str(form.get("account", ""))

    def work() -> Response:
        session = write_session(request)
        try:
            _service(session, request).revoke(viewer, passport_id, account)
            session.commit()
        except PermissionDeniedError:
            session.rollback()
            raise PageForbiddenError((), reason="console_not_yours") from None
        except NotFoundError:
            session.rollback()
            return _not_found(request, passport_id)
        finally:
            session.close()
        return RedirectResponse(_href(passport_id, "?done=revoked#grants"), status_code=303)

    return await _run(request, work)


# ---------------------------------------------------------------------------------------------------------------------
# Upload


@router.get("/console/import", response_class=HTMLResponse)
def import_form(request: Request) -> Response:
    require_user(request, {Role.ECONOMIC_OPERATOR})
    return render(request, "console_import.html", _import_context("idta-02035", False))


def _import_context(fmt: str, skip_invalid: bool, **extra: Any) -> dict[str, Any]:
    return {
        "formats": [(f, FORMAT_LABELS[f]) for f in IMPORT_FORMATS],
        "format": fmt,
        "skip_invalid": skip_invalid,
        "problems": [],
        "outcome": None,
        "file_errors": [],
        **extra,
    }


@router.post("/console/import", response_class=HTMLResponse)
async def import_upload(request: Request) -> Response:
    viewer = require_user(request, {Role.ECONOMIC_OPERATOR})
    form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
    check_csrf(request, form)
    fmt = str(form.get("format", ""))
    fmt = fmt if fmt in IMPORT_FORMATS else "idta-02035"
    skip_invalid = form.get("skip_invalid") == "on"
    uploads: list[tuple[str, bytes]] = []
    total = 0
    for item in form.getlist("files"):
        if isinstance(item, UploadFile) and item.filename:
            content = await item.read()
            total += len(content)
            uploads.append((item.filename, content))
    lang = choose_language(request)
    t = translator(lang)
    if not uploads:
        return render(
            request,
            "console_import.html",
            _import_context(fmt, skip_invalid, file_errors=[t["console_files_help"]]),
            422,
        )
    if total > MAX_UPLOAD_BYTES:
        return render(
            request,
            "console_import.html",
            _import_context(fmt, skip_invalid, file_errors=[t["console_files_help"]]),
            413,
        )
    return await _run(request, lambda: _import(request, viewer, fmt, skip_invalid, uploads))


def _import(
    request: Request, viewer: Viewer, fmt: str, skip_invalid: bool, uploads: list[tuple[str, bytes]]
) -> Response:
    source = ", ".join(name for name, _ in uploads)
    session = write_session(request)
    try:
        document = _document_of(fmt, uploads)
        outcome = import_document(
            _service(session, request), viewer, check_format(fmt), document, source=source, skip_invalid=skip_invalid
        )
        report = outcome.report()
        session.commit()
    except BatteryloopError as exc:
        session.rollback()
        problems = exc.problems or [Problem(source, exc.message)]
        rows = [{"field": p.field, "message": p.message, "expected": p.expected or ""} for p in problems]
        return render(
            request,
            "console_import.html",
            _import_context(fmt, skip_invalid, problems=rows, summary=None if len(problems) == 1 else exc.message),
            422,
        )
    finally:
        session.close()
    return render(
        request,
        "console_import.html",
        _import_context(
            fmt,
            skip_invalid,
            outcome={
                "id": report["passport_id"],
                "href": _href(report["passport_id"]),
                "imported": report["imported_attributes"],
                "rejected": report["rejected"],
                "defects": report["source_defects"],
                "notes": report["notes"],
            },
        ),
        201,
    )


def _safe_name(name: str) -> str:
    """The last part of an uploaded or archived file name, without directories (no path tricks)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    return "".join(c if c.isalnum() or c in "-_. " else "_" for c in base) or "file.json"


def _document_of(fmt: str, uploads: list[tuple[str, bytes]]) -> Any:
    """The parsed document from the uploaded files, read exactly as the CLI reads a file or a directory."""
    files: list[tuple[str, bytes]] = []
    for name, content in uploads:
        if name.lower().endswith(".zip"):
            try:
                with zipfile.ZipFile(io.BytesIO(content)) as archive:
                    for info in archive.infolist():
                        if info.is_dir() or not info.filename.lower().endswith(".json"):
                            continue
                        if info.file_size > MAX_UPLOAD_BYTES:
                            raise ValidationError(
                                f"{name}: {info.filename} is larger than 20 MB", field=name, expected="at most 20 MB"
                            )
                        files.append((info.filename, archive.read(info)))
            except zipfile.BadZipFile:
                raise ValidationError(f"{name} is not a ZIP archive", field=name, expected="a ZIP archive") from None
        else:
            files.append((name, content))
    if not files:
        raise ValidationError("no JSON file in the upload", field="files", expected="JSON files or a ZIP of them")
    names = [_safe_name(n) for n, _ in files]
    if len(set(names)) != len(names):
        raise ValidationError(
            "two uploaded files have the same name", field=", ".join(names), expected="one file per part"
        )
    with tempfile.TemporaryDirectory(prefix="bl-import-") as tmp:
        folder = Path(tmp)
        for safe, (_, content) in zip(names, files, strict=True):
            (folder / safe).write_bytes(content)
        multi = fmt in ("idta-02035", "batterypass-1.2")
        if len(files) == 1 and (not multi or _is_mapping_file(folder / names[0])):
            return read_document(folder / names[0], "batteryloop" if multi else fmt)
        if not multi:
            raise ValidationError(
                f"{fmt} is one JSON document, but {len(files)} files were uploaded",
                field="files",
                expected="one file",
            )
        return read_document(folder, fmt)


def _is_mapping_file(path: Path) -> bool:
    """One file that holds every part as ``{file name: document}`` (the API's form of a multi-document format)."""
    try:
        document = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(document, dict) and bool(document) and all(str(k).lower().endswith(".json") for k in document)


# ---------------------------------------------------------------------------------------------------------------------
# QR labels


@router.get("/console/labels", response_class=HTMLResponse)
def labels(request: Request) -> Response:
    require_user(request)
    lang = choose_language(request)
    t = translator(lang)
    ids = list(dict.fromkeys(i.strip() for i in request.query_params.getlist("id") if i.strip()))
    too_many = len(ids) > MAX_LABELS
    ids = ids[:MAX_LABELS]
    out: list[dict[str, Any]] = []
    missing: list[str] = []
    session = read_session(request)
    try:
        service = _service(session, request)
        for pid in ids:
            # A label carries what is printed on the battery: the public part (Annex XIII point 1) only.
            try:
                view = service.view(Viewer.anonymous(), pid, action="qr")
            except NotFoundError:
                missing.append(pid)
                continue
            passport = session.get(Passport, pid)
            url = resolver_url(
                service.settings.public_base_url, pid, view.data.get("gtin"), view.data.get("serial_number")
            )
            out.append(
                {
                    "id": pid,
                    "svg": _scalable(qr_svg(url, title=t["qr"], scale=3).decode("utf-8")),
                    "url": url,
                    "model": view.data.get("battery_model_identifier") or (passport.model if passport else ""),
                    "manufacturer": view.data.get("manufacturer_name") or "",
                    "serial": view.data.get("serial_number") or "",
                    "category": _category_label(passport.category, lang) if passport else "",
                }
            )
    finally:
        session.close()
    return render(
        request,
        "console_labels.html",
        {"labels": out, "missing": missing, "too_many": too_many, "max_labels": MAX_LABELS},
    )


def _scalable(svg: str) -> str:
    """The ``<svg>`` element with a viewBox, so that CSS can size the code (segno writes only width and height)."""
    svg = svg[svg.index("<svg") :]
    size = re.match(r'<svg[^>]*\swidth="(\d+)" height="(\d+)"', svg)
    if size and "viewBox" not in svg[: svg.index(">")]:
        svg = svg.replace("<svg ", f'<svg viewBox="0 0 {size.group(1)} {size.group(2)}" ', 1)
    return svg


# ---------------------------------------------------------------------------------------------------------------------
# Access log


@router.get("/console/log", response_class=HTMLResponse)
def access_log(request: Request) -> Response:
    viewer = require_user(request, LOG_ROLES)
    params = request.query_params
    passport_id = (params.get("passport_id") or "").strip()[:128]
    since_text = (params.get("since") or "").strip()
    offset = _int(params.get("offset"), 0, 0, 10_000_000)
    lang = choose_language(request)
    t = translator(lang)
    since = None
    errors: list[str] = []
    if since_text:
        try:
            since = datetime.combine(date.fromisoformat(since_text), time(0, 0), tzinfo=forms.AMSTERDAM)
        except ValueError:
            errors.append(t["console_bad_date"].format(text=repr(since_text)))
    entries: list[dict[str, Any]] = []
    session = read_session(request)
    try:
        try:
            entries = _service(session, request).access_log(
                viewer, passport_id=passport_id or None, since=since, limit=PAGE_SIZE + 1, offset=offset
            )
        except NotFoundError:
            errors.append(t["console_not_found"].format(id=passport_id))
        except PermissionDeniedError:
            errors.append(t["console_not_yours"])
    finally:
        session.close()
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    labels_by_key = {k: a.label(lang) for k, a in attributes().items()}

    def href(new_offset: int) -> str:
        query = {k: v for k, v in (("passport_id", passport_id), ("since", since_text)) if v}
        return "/console/log?" + urlencode({**query, "offset": new_offset})

    return render(
        request,
        "console_log.html",
        {
            "entries": [
                {
                    **e,
                    "when": _local(e["at"]),
                    "href": _href(e["passport_id"]),
                    "labels": [labels_by_key.get(k, k) for k in e["attributes"]],
                    "role_text": str(e["role"]).replace("_", " "),
                }
                for e in entries
            ],
            "passport_id": passport_id,
            "since": since_text,
            "errors": errors,
            "older_href": href(offset + PAGE_SIZE) if more else None,
            "newer_href": href(max(0, offset - PAGE_SIZE)) if offset > 0 else None,
            "help": "console_log_help_all" if viewer.role in SUPERVISORY_ROLES else "console_log_help_operator",
        },
    )


__all__ = ["router"]
