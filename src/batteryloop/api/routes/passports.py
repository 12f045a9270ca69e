"""``/api/v1/passports``: create, read (filtered by role), search, update, lifecycle, grants, versions, history,
import, export and QR codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Path, Query, Response, status
from fastapi.responses import JSONResponse

from batteryloop.api.deps import Context, ContextDep
from batteryloop.errors import NotFoundError
from batteryloop.escrow.service import mirrored_view
from batteryloop.escrow.versions import MirroredVersions, bundle_address
from batteryloop.passport import schemas
from batteryloop.passport.access import Viewer
from batteryloop.passport.qr import qr_png, qr_svg, resolver_url
from batteryloop.passport.service import PassportService
from batteryloop.passport.transfer import export_passport, import_document

router = APIRouter(prefix="/api/v1/passports", tags=["passports"])

PassportIdPath = Annotated[
    str,
    Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9:._\-~]*$", description="Passport identifier"),
]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorResponse} for code in (400, 401, 403, 404, 409, 422)
}
# on an answer from a passport kept as backup service provider (escrow): the address of its signed bundle
MIRROR_HEADER = "X-Mirrored-Copy"
T = TypeVar("T")


def _local_or_mirror(local: Callable[[], T], mirrored: Callable[[], T | None]) -> tuple[T, bool]:
    """The registry's own answer or, when it holds no such passport, the mirrored copy's; and which it was."""
    try:
        return local(), False
    except NotFoundError:
        found = mirrored()
        if found is None:
            raise
        return found, True


def _view(service: PassportService, viewer: Viewer, passport_id: str, ctx: Context) -> dict[str, Any]:
    return service.view(viewer, passport_id, route=ctx.route).as_dict()


def _data(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return out


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.PassportPublic, responses=ERRORS)
async def create_passport(body: schemas.PassportCreate, ctx: ContextDep) -> Any:
    """Issue a passport for the caller's organisation (economic operators)."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        passport = service.create(viewer, _data(body.data), passport_id=body.passport_identifier, note=body.note)
        return _view(service, viewer, passport.id, ctx)

    return await ctx.run(work)


@router.post("/batch", status_code=status.HTTP_201_CREATED, response_model=schemas.BatchOutcome, responses=ERRORS)
async def issue_batch(body: schemas.BatchCreate, ctx: ContextDep) -> Any:
    """Issue the passports of a production batch in one transaction: all of them or, when any record is invalid,
    none, with every problem of every record named (``records.{i}.data.{attribute}``)."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        records = [{"data": _data(r.data), "passport_identifier": r.passport_identifier} for r in body.records]
        passports = service.issue_batch(viewer, records, note=body.note)
        return {"issued": len(passports), "passport_ids": [p.id for p in passports]}

    return await ctx.run(work)


# A search counts its matches up to this many; beyond it the total is reported as a lower bound
# (``total_exact: false``), as search engines do for broad queries (Elasticsearch's ``track_total_hits`` default is
# the same 10,000). On 10 million passports an exact count of a category is a scan of millions of index entries per
# request (docs/registry-scale.md); the page of results never needs it.
SEARCH_COUNT_LIMIT = 10_000

# OpenAPI link: a search hit's id reads that passport (lets stateful API testing chain search -> read -> ...)
_FIRST_HIT_LINK = {
    "operationRef": "#/paths/~1api~1v1~1passports~1{passport_id}/get",
    "parameters": {"passport_id": "$response.body#/items/0/passport_id"},
}


@router.get(
    "",
    response_model=schemas.SearchResult,
    responses=ERRORS,
    openapi_extra={"responses": {"200": {"links": {"ReadFirstHit": _FIRST_HIT_LINK}}}},
)
async def search_passports(
    ctx: ContextDep,
    model: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[Literal["ev", "lmt", "industrial", "sli", "portable"] | None, Query()] = None,
    chemistry: Annotated[str | None, Query(max_length=100)] = None,
    state: Annotated[Literal["active", "superseded", "closed"] | None, Query()] = None,
    battery_status: Annotated[
        Literal["original", "re-used", "repurposed", "remanufactured", "waste"] | None,
        Query(description="Annex XIII 4(c): searches only batteries whose individual data you may read"),
    ] = None,
    soh_min: Annotated[float | None, Query(ge=0, le=200, description="State of health from [%]")] = None,
    soh_max: Annotated[float | None, Query(ge=0, le=200, description="State of health up to [%]")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """Search by model, category, chemistry and state; by status and state-of-health range within the batteries
    whose individual data the caller may read (for a repurposer: those granted to it)."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        total, items = service.search(
            viewer,
            model=model,
            category=category,
            chemistry=chemistry,
            state=state,
            status=battery_status,
            soh_min=soh_min,
            soh_max=soh_max,
            limit=limit,
            offset=offset,
            route=ctx.route,
            count_limit=SEARCH_COUNT_LIMIT,
        )
        exact = total <= SEARCH_COUNT_LIMIT
        return {
            "total": total if exact else SEARCH_COUNT_LIMIT,
            "total_exact": exact,
            "limit": limit,
            "offset": offset,
            "items": items,
        }

    return await ctx.run(work)


@router.post("/successors", status_code=201, response_model=schemas.PassportPublic, responses=ERRORS)
async def create_successor(body: schemas.SuccessorCreate, ctx: ContextDep) -> Any:
    """A new passport for a repurposed, remanufactured or re-used battery, linked to its original(s) (Art. 77(7))."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        passport = service.create_successor(
            viewer, body.originals, body.kind, _data(body.data), passport_id=body.passport_identifier, note=body.note
        )
        return _view(service, viewer, passport.id, ctx)

    return await ctx.run(work)


@router.post("/import", status_code=201, response_model=schemas.ImportOutcome, responses=ERRORS)
async def import_passport(
    ctx: ContextDep,
    format: Annotated[Literal["batteryloop", "idta-02035", "batterypass-1.2", "catenax-6.1"], Query()],
    document: Annotated[
        dict[str, Any],
        Body(description="The document; for IDTA-02035 and Battery Pass an object of file name -> document"),
    ],
    skip_invalid: Annotated[
        bool, Query(description="Import the valid values and keep the refused ones on record")
    ] = False,
) -> Any:
    """Import a passport in another format for the caller's organisation; every refused value is named."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        outcome = import_document(service, viewer, format, document, source="request body", skip_invalid=skip_invalid)
        return {"passport_id": outcome.passport.id, "report": outcome.report()}

    return await ctx.run(work)


@router.get("/{passport_id}", response_model=schemas.PassportPublic, responses=ERRORS)
async def read_passport(passport_id: PassportIdPath, ctx: ContextDep) -> Any:
    """The passport as the caller may see it: public data for everyone, more by role, grant or responsibility.
    A passport this registry keeps as backup service provider (escrow) is answered from its mirrored copy, with a
    ``mirror`` object saying which signed version it is and who signed it."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        try:
            return _view(service, viewer, passport_id, ctx)
        except NotFoundError:
            mirrored = mirrored_view(service.session, service.settings, viewer, passport_id, route=ctx.route)
            if mirrored is None:
                raise
            return mirrored.as_dict()

    result = await ctx.run(work)
    return JSONResponse(result) if "mirror" in result else result


@router.patch("/{passport_id}", response_model=schemas.PassportPublic, responses=ERRORS)
async def update_passport(passport_id: PassportIdPath, body: schemas.PassportUpdate, ctx: ContextDep) -> Any:
    """Change or remove static attributes; each change is a new signed version."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        service.update_static(viewer, passport_id, _data(body.data), remove=body.remove, note=body.note)
        return _view(service, viewer, passport_id, ctx)

    return await ctx.run(work)


@router.post("/{passport_id}/dynamic", response_model=schemas.PassportPublic, responses=ERRORS)
async def update_dynamic(passport_id: PassportIdPath, body: schemas.DynamicUpdate, ctx: ContextDep) -> Any:
    """Record state-of-health and usage values (Annex XIII point 4, Annex VII) with their time and method."""
    values: dict[str, Any] = {}
    for key, item in body.values.items():
        values[key] = (
            item.model_dump(mode="json", exclude_none=True) if isinstance(item, schemas.DynamicValueIn) else item
        )

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        service.update_dynamic(
            viewer, passport_id, values, measured_at=body.measured_at, method=body.method, note=body.note
        )
        return _view(service, viewer, passport_id, ctx)

    return await ctx.run(work)


@router.post("/{passport_id}/status", response_model=schemas.PassportPublic, responses=ERRORS)
async def change_status(passport_id: PassportIdPath, body: schemas.StatusChange, ctx: ContextDep) -> Any:
    """Declare the battery waste (responsibility moves, Art. 77(6)) or recycled (the passport closes)."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        service.change_status(viewer, passport_id, body.status, new_responsible=body.new_responsible, note=body.note)
        return _view(service, viewer, passport_id, ctx)

    return await ctx.run(work)


@router.get("/{passport_id}/versions", response_model=list[schemas.VersionSummary], responses=ERRORS)
async def list_versions(passport_id: PassportIdPath, ctx: ContextDep, response: Response) -> Any:
    """Every version: number, kind, time, hash, previous hash and signer (of a mirrored passport too)."""
    result, mirrored = await ctx.run(
        lambda service, viewer: _local_or_mirror(
            lambda: service.versions(viewer, passport_id),
            lambda: MirroredVersions(service.session, service.settings).versions(passport_id),
        )
    )
    if mirrored:
        response.headers[MIRROR_HEADER] = bundle_address(passport_id)
    return result


@router.get("/{passport_id}/versions/{number}", response_model=schemas.VersionPublic, responses=ERRORS)
async def read_version(
    passport_id: PassportIdPath, number: Annotated[int, Path(ge=1, le=10_000_000)], ctx: ContextDep
) -> Any:
    """One version's data, filtered like the passport itself; of a mirrored passport with a ``mirror`` object
    saying who signed that version and who serves the copy."""
    result, mirrored = await ctx.run(
        lambda service, viewer: _local_or_mirror(
            lambda: service.version_view(viewer, passport_id, number, route=ctx.route),
            lambda: MirroredVersions(service.session, service.settings).version(
                viewer, passport_id, number, route=ctx.route
            ),
        )
    )
    if not mirrored:
        return result
    body = {**schemas.VersionPublic.model_validate(result).model_dump(mode="json"), "mirror": result["mirror"]}
    return JSONResponse(body, headers={MIRROR_HEADER: bundle_address(passport_id)})


@router.get("/{passport_id}/history/{key}", response_model=list[schemas.HistoryPoint], responses=ERRORS)
async def read_history(
    passport_id: PassportIdPath, key: Annotated[str, Path(max_length=80)], ctx: ContextDep, response: Response
) -> Any:
    """Every recorded value of one dynamic attribute, with its measurement time and method."""
    result, mirrored = await ctx.run(
        lambda service, viewer: _local_or_mirror(
            lambda: service.history(viewer, passport_id, key, route=ctx.route),
            lambda: MirroredVersions(service.session, service.settings).history(
                viewer, passport_id, key, route=ctx.route
            ),
        )
    )
    if mirrored:
        response.headers[MIRROR_HEADER] = bundle_address(passport_id)
    return result


@router.get("/{passport_id}/grants", response_model=list[schemas.GrantPublic], responses=ERRORS)
async def list_grants(passport_id: PassportIdPath, ctx: ContextDep) -> Any:
    """The grants on this passport (responsible operator only)."""
    return await ctx.run(lambda service, viewer: service.grants(viewer, passport_id))


@router.post("/{passport_id}/grants", status_code=201, response_model=schemas.GrantPublic, responses=ERRORS)
async def create_grant(passport_id: PassportIdPath, body: schemas.GrantCreate, ctx: ContextDep) -> Any:
    """Grant an account with a legitimate interest access to this battery's individual data (Annex XIII point 4)."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        service.grant(viewer, passport_id, body.account, days=body.days, purpose=body.purpose)
        return next(g for g in reversed(service.grants(viewer, passport_id)) if g["account"] == body.account)

    return await ctx.run(work)


@router.delete("/{passport_id}/grants/{account}", status_code=204, responses=ERRORS)
async def revoke_grant(
    passport_id: PassportIdPath, account: Annotated[str, Path(min_length=1, max_length=200)], ctx: ContextDep
) -> Response:
    """End an account's grant; it takes effect on its next request."""
    await ctx.run(lambda service, viewer: service.revoke(viewer, passport_id, account))
    return Response(status_code=204)


@router.get("/{passport_id}/export", responses=ERRORS)
async def export(
    passport_id: PassportIdPath,
    format: Annotated[Literal["batteryloop", "idta-02035", "batterypass-1.2", "catenax-6.1"], Query()],
    ctx: ContextDep,
) -> JSONResponse:
    """The passport in another format, holding what the caller may read. Multi-document formats come as an
    object of file name -> document; ``X-Not-Representable`` lists attributes the format cannot hold."""
    result = await ctx.run(
        lambda service, viewer: export_passport(service, viewer, passport_id, format, route=ctx.route)
    )
    body: Any = next(iter(result.documents.values())) if format in ("batteryloop", "catenax-6.1") else result.documents
    headers = {"X-Not-Representable": ",".join(result.not_representable)} if result.not_representable else None
    return JSONResponse(body, headers=headers)


@router.get(
    "/{passport_id}/qr.{kind}",
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}, **ERRORS},
    response_class=Response,
)
async def qr_code(passport_id: PassportIdPath, kind: Literal["svg", "png"], ctx: ContextDep) -> Response:
    """The QR code for the battery label; it resolves to the public passport page."""

    def local(service: PassportService, viewer: Viewer) -> str:
        view = service.view(viewer, passport_id, action="qr")
        return resolver_url(
            service.settings.public_base_url, passport_id, view.data.get("gtin"), view.data.get("serial_number")
        )

    url, mirrored = await ctx.run(
        lambda service, viewer: _local_or_mirror(
            lambda: local(service, viewer),
            lambda: MirroredVersions(service.session, service.settings).qr_url(viewer, passport_id, route=ctx.route),
        )
    )
    headers = {MIRROR_HEADER: bundle_address(passport_id)} if mirrored else None
    if kind == "svg":
        return Response(
            qr_svg(url, title=f"Battery passport {passport_id}"), media_type="image/svg+xml", headers=headers
        )
    return Response(qr_png(url), media_type="image/png", headers=headers)
