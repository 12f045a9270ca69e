"""The ``batteryloop`` command.

The database comes from ``BATTERYLOOP_DATABASE_URL`` (default: a SQLite file in ``BATTERYLOOP_DATA_DIR``, ``./var``).
Commands that print one result a script needs (a token, a passport id) print it as the last line of their output.
Errors name the file, field or value that was wrong and exit with code 2 (1 for a failed verification).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from batteryloop.commands import continuity as continuity_commands
from batteryloop.commands import escrow as escrow_commands
from batteryloop.commands import load_all as load_command_modules
from batteryloop.commands.groups import (
    circularity_app,
    energy_app,
    health_app,
    safety_app,
    sourcing_app,
    telemetry_app,
)
from batteryloop.commands.ocpp import ocpp_app
from batteryloop.commands.openadr import openadr_app
from batteryloop.commands.s2 import s2_app
from batteryloop.config import Settings, get_settings
from batteryloop.db import make_engine, make_session_factory, transaction
from batteryloop.errors import BatteryloopError, ValidationError
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.service import OPERATOR_KINDS, PassportService

app = typer.Typer(
    help="batteryloop: the battery passport registry and battery-lifecycle platform.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (bearer tokens) of accounts.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations: economic operators, PROs, recyclers, authorities.", no_args_is_help=True)
passport_app = typer.Typer(help="Battery passports.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(org_app, name="organisations")
app.add_typer(passport_app, name="passport")
app.add_typer(telemetry_app, name="telemetry")
app.add_typer(health_app, name="health")
app.add_typer(energy_app, name="energy")
app.add_typer(circularity_app, name="circularity")
app.add_typer(sourcing_app, name="sourcing")
app.add_typer(safety_app, name="safety")
app.add_typer(ocpp_app, name="ocpp")
app.add_typer(s2_app, name="s2")
app.add_typer(openadr_app, name="openadr")
continuity_commands.register(app)
escrow_commands.register(app)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])

FORMAT_HELP = "batteryloop, idta-02035, batterypass-1.2 or catenax-6.1"


def _engine(settings: Settings, *, migrate: bool = True) -> Engine:
    from batteryloop.migrate import upgrade

    engine = make_engine(settings.resolved_database_url())
    if migrate:
        upgrade(engine)
    return engine


@contextmanager
def registry() -> Iterator[tuple[PassportService, Session]]:
    """One transaction on the configured database, with the schema brought up to date."""
    settings = get_settings()
    engine = _engine(settings)
    try:
        with transaction(make_session_factory(engine)) as session:
            yield PassportService(session, settings), session
    finally:
        engine.dispose()


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{file}: cannot read JSON ({exc})", field=str(file), expected="a JSON file") from None


def _emit(value: Any) -> None:
    out.print_json(json.dumps(value, ensure_ascii=False, default=str))


# ---------------------------------------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the API and the public pages."""
    import uvicorn

    settings = get_settings()
    _engine(settings).dispose()
    out.print(f"batteryloop on http://{host}:{port}  (database {settings.resolved_database_url()})")
    uvicorn.run("batteryloop.api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


@app.command()
def demo(
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the landscape afterwards.")] = True,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    reset: Annotated[bool, typer.Option(help="Start from an empty embedded database.")] = True,
    scale: Annotated[str, typer.Option(help="full (thousands of passports) or small (a few hundred).")] = "full",
) -> None:
    """Build the demo landscape on the embedded database, print a token per role, and serve it."""
    from batteryloop.demo import build_demo

    settings = get_settings()
    if reset and settings.database_url is None:
        db_file = settings.data_dir / "batteryloop.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db_file) + suffix).unlink(missing_ok=True)
        shutil.rmtree(settings.data_dir / "telemetry", ignore_errors=True)  # the demo's check-up telemetry
    engine = _engine(settings)
    try:
        summary = build_demo(make_session_factory(engine), settings, console=out, scale=scale)
    finally:
        engine.dispose()
    out.print()
    out.print(f"[bold]Demo landscape[/bold]: {summary.passports} passports, {summary.organisations} organisations")
    out.print(f"Sign in at http://{host}:{port}/signin with an access key; one account per role:")
    for role, (account, token) in summary.tokens.items():
        out.print(f"  {role:32s} {account:28s} {token}")
    others = {a: v for a, v in summary.accounts.items() if a not in {acc for acc, _ in summary.tokens.values()}}
    if others:
        out.print("Operator accounts of the importers and producer-responsibility organisations:")
        for account, (_role, organisation, token) in others.items():
            out.print(f"  {organisation:42s} {account:20s} {token}")
    for name, source in summary.sources.items():
        out.print(f"  data: {name}: {source}")
    out.print("(the access keys are also API tokens: Authorization: Bearer TOKEN)")
    out.print("Public passport pages:")
    for label, pid in summary.examples.items():
        out.print(f"  {label:32s} http://{host}:{port}/p/{pid}")
    if serve_after:
        serve(host=host, port=port, workers=1)


# ---------------------------------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Bring the database schema to the newest (or the given) revision."""
    from batteryloop.migrate import current, upgrade

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url())
    try:
        upgrade(engine, revision)
        out.print(f"database at revision {current(engine)}")
    finally:
        engine.dispose()


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision."""
    from batteryloop.migrate import current

    engine = make_engine(get_settings().resolved_database_url())
    try:
        out.print(current(engine) or "empty (run: batteryloop db upgrade)")
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------------------------------


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="Name of the organisation.")],
    kind: Annotated[str, typer.Option(help=", ".join(OPERATOR_KINDS))] = "manufacturer",
    identifier: Annotated[str | None, typer.Option(help="Operator identifier (e.g. EORI, LEI, BPN).")] = None,
    iac: Annotated[str | None, typer.Option(help="ISO/IEC 15459 issuing agency code.")] = None,
    cin: Annotated[str | None, typer.Option(help="Company identification number under that agency.")] = None,
) -> None:
    """Register an organisation and make its Ed25519 signing key."""
    with registry() as (service, _):
        org = service.create_organisation(
            name, identifier=identifier, kind=kind, issuing_agency_code=iac, company_identification_number=cin
        )
        key = service.public_key(org.name)
    out.print(f"organisation {name} ({kind}); public key fingerprint {key['fingerprint']}")
    print(org.name)


@org_app.command("list")
def org_list() -> None:
    """List organisations with their key fingerprints."""
    from sqlalchemy import select

    from batteryloop.passport.models import Organisation
    from batteryloop.passport.signing import fingerprint

    with registry() as (_, session):
        for org in session.scalars(select(Organisation).order_by(Organisation.name)):
            out.print(f"{org.name}\t{org.kind}\t{org.identifier or ''}\t{fingerprint(org.public_key)}")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help=", ".join(r.value for r in Role if r is not Role.ANONYMOUS))],
    name: Annotated[str, typer.Option(help="Account name.")],
    organisation: Annotated[
        str | None,
        typer.Option(help="Organisation the account acts for; an economic operator defaults to one named NAME."),
    ] = None,
) -> None:
    """Create an account (if new) and a bearer token for it; the token is the last line."""
    with registry() as (service, _):
        if organisation is None and role == Role.ECONOMIC_OPERATOR.value:
            organisation = service.ensure_organisation(name).name
        elif organisation is not None:
            service.ensure_organisation(organisation, kind=_kind_for(role))
        account = service.create_account(name, role, organisation)
        token = service.issue_token(account)
    out.print(f"account {name} ({role}{', ' + organisation if organisation else ''}): new token")
    print(token)


def _kind_for(role: str) -> str:
    return {
        "recycler": "recycler",
        "repurposer": "repurposer",
        "remanufacturer": "remanufacturer",
        "aggregator": "aggregator",
        "notified_body": "authority",
        "market_surveillance_authority": "authority",
        "commission": "authority",
    }.get(role, "manufacturer")


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Option(help="Account name.")]) -> None:
    """Revoke every token of an account; the next request with one of them is refused."""
    with registry() as (service, _):
        n = service.revoke_tokens(name)
    out.print(f"revoked {n} token(s) of {name}")


# ---------------------------------------------------------------------------------------------------------------------


def _operator_viewer(service: PassportService, organisation: str) -> Viewer:
    org = service.organisation(organisation)
    return Viewer(Role.ECONOMIC_OPERATOR, account=f"cli:{org.name}", organisation_id=org.id)


def _responsible_viewer(service: PassportService, passport_id: str) -> Viewer:
    from batteryloop.passport.models import Organisation

    passport = service._passport(passport_id)
    org = service.session.get(Organisation, passport.operator_id)
    assert org is not None
    return Viewer(Role.ECONOMIC_OPERATOR, account=f"cli:{org.name}", organisation_id=org.id)


@passport_app.command("create")
def passport_create(
    file: Annotated[Path, typer.Argument(help='JSON file: {"data": {attribute: value, ...}}')],
    operator: Annotated[str, typer.Option(help="The economic operator issuing the passport.")],
) -> None:
    """Issue a passport from attribute values; prints the new id last."""
    body = _read_json(file)
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise ValidationError(
            f"{file}: expected an object with 'data'", field=f"{file}:data", expected='{"data": {...}}'
        )
    with registry() as (service, _):
        service.ensure_organisation(operator)
        passport = service.create(_operator_viewer(service, operator), body["data"], note=f"created from {file.name}")
        pid = passport.id
    print(pid)


@passport_app.command("import")
def passport_import(
    file: Annotated[Path, typer.Argument(help="File, or directory for idta-02035 and batterypass-1.2.")],
    format: Annotated[str, typer.Option("--format", help=FORMAT_HELP)],
    operator: Annotated[str | None, typer.Option(help="Responsible economic operator (created if new).")] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid values; keep the refused ones, with their reasons, on record.")
    ] = False,
) -> None:
    """Import a passport; every refused value and every defect of the source is listed; the new id is printed last."""
    from batteryloop.passport.transfer import check_format, import_document, read_document

    check_format(format)
    document = read_document(file, format)
    with registry() as (service, _):
        if operator is None:
            operator = _operator_from_document(service, format, document, file)
        service.ensure_organisation(operator)
        outcome = import_document(
            service, _operator_viewer(service, operator), format, document, source=str(file), skip_invalid=skip_invalid
        )
        report = outcome.report()
    for d in report["source_defects"]:
        err.print(
            f"[yellow]source defect[/yellow] {d['field']}: {d['message']}"
            + (f" (schema wants {d['expected']})" if d.get("expected") else "")
        )
    for r in report["rejected"]:
        err.print(f"[yellow]not imported[/yellow] {r['field']}: {r['message']}")
    for note in report["notes"]:
        err.print(f"note: {note}")
    out.print(
        f"imported {report['imported_attributes']} attribute(s); {report['rejected_count']} refused and kept on record"
    )
    print(report["passport_id"])


def _operator_from_document(service: PassportService, fmt: str, document: Any, file: Path) -> str:
    if fmt == "batteryloop":
        try:
            return str(document["versions"][-1]["content"]["responsible"]["organisation"])
        except (KeyError, IndexError, TypeError):
            pass
    else:
        from batteryloop.passport.interop import get_format

        result = get_format(fmt).import_document(document, source=str(file))
        if result.operator_identifier:
            try:
                return service.organisation(result.operator_identifier).name
            except BatteryloopError:
                return result.operator_identifier
    raise ValidationError(
        f"{file}: the file names no economic operator", field="--operator", expected="--operator NAME"
    )


@passport_app.command("export")
def passport_export(
    passport_id: Annotated[str, typer.Argument(help="Passport identifier.")],
    format: Annotated[str, typer.Option("--format", help=FORMAT_HELP)],
    out_path: Annotated[Path, typer.Option("--out", help="A file; a directory for formats made of several parts.")],
    role: Annotated[str | None, typer.Option(help="Export what this role may see (default: everything).")] = None,
    schemas: Annotated[
        Path | None, typer.Option(help="Directory of the official schemas to validate the export against.")
    ] = None,
) -> None:
    """Export a passport; the batteryloop format is the signed, versioned bundle that `verify` checks."""
    from batteryloop.passport.transfer import check_format, export_passport, write_export

    check_format(format)
    with registry() as (service, _):
        viewer = (
            _responsible_viewer(service, passport_id) if role is None else Viewer(Role(role), account=f"cli:{role}")
        )
        result = export_passport(service, viewer, passport_id, format, route="cli export")
    written = write_export(result, out_path)
    if result.not_representable:
        err.print(f"{format} cannot hold: {', '.join(result.not_representable)}")
    if schemas is not None and format != "batteryloop":
        from batteryloop.passport.interop import validate_export

        problems = validate_export(result, schemas)
        for p in problems:
            err.print(f"[red]schema[/red] {p}")
        if problems:
            raise typer.Exit(1)
    for path in written:
        out.print(f"wrote {path}")


@passport_app.command("show")
def passport_show(
    passport_id: Annotated[str, typer.Argument(help="Passport identifier.")],
    role: Annotated[
        str | None, typer.Option(help="Show what this role sees (default: the responsible operator).")
    ] = None,
    account: Annotated[str | None, typer.Option(help="Show what this account sees (its role and grants).")] = None,
) -> None:
    """Print a passport as JSON, filtered for a role or an account."""
    with registry() as (service, _):
        if account:
            viewer = service.viewer_for(account)
        elif role:
            try:
                viewer = Viewer(Role(role), account=f"cli:{role}")
            except ValueError:
                raise ValidationError(
                    f"unknown role {role!r}", field="--role", expected=", ".join(r.value for r in Role)
                ) from None
        else:
            viewer = _responsible_viewer(service, passport_id)
        view = service.view(viewer, passport_id, route="cli show").as_dict()
    _emit(view)


@passport_app.command("qr")
def passport_qr(
    passport_id: Annotated[str, typer.Argument(help="Passport identifier.")],
    out_path: Annotated[Path, typer.Option("--out", help="File ending in .svg or .png")],
) -> None:
    """Write the QR code of the passport's public page, ready for a label."""
    from batteryloop.passport.qr import resolver_url, write_qr

    with registry() as (service, _):
        view = service.view(Viewer.anonymous(), passport_id, route="cli qr")
        url = resolver_url(
            service.settings.public_base_url, passport_id, view.data.get("gtin"), view.data.get("serial_number")
        )
    write_qr(url, str(out_path), title=f"Battery passport {passport_id}")
    out.print(f"wrote {out_path} -> {url}")


@passport_app.command("verify")
def passport_verify(
    file: Annotated[Path, typer.Argument(help="A batteryloop-format export.")],
    trusted_keys: Annotated[
        Path | None, typer.Option(help="File of trusted public keys or fingerprints, one per line.")
    ] = None,
) -> None:
    """Check an exported passport offline: signatures, hash chain, schema. Exit 0 only when everything holds."""
    from batteryloop.passport.bundle import verify_bundle

    document = _read_json(file)
    trusted = None
    if trusted_keys is not None:
        trusted = [line.strip() for line in trusted_keys.read_text().splitlines() if line.strip()]
    report = verify_bundle(document, trusted_keys=trusted)
    for check in report.checks:
        style = "green" if check.ok else "red"
        out.print(
            f"[{style}]{'ok  ' if check.ok else 'FAIL'}[/{style}] {check.name}"
            + (f": {check.detail}" if check.detail else "")
        )
    if not report.ok:
        out.print(f"[red]{len(report.failures)} check(s) failed[/red]")
        raise typer.Exit(1)
    out.print(f"passport {report.passport_id}: every check holds")


@passport_app.command("grant")
def passport_grant(
    passport_id: Annotated[str, typer.Argument(help="Passport identifier.")],
    name: Annotated[str, typer.Option(help="Account that receives access.")],
    days: Annotated[float | None, typer.Option(help="Days until the grant expires (default: until revoked).")] = None,
) -> None:
    """Grant an account with a legitimate interest access to this battery's individual data."""
    with registry() as (service, _):
        viewer = _responsible_viewer(service, passport_id)
        grant = service.grant(viewer, passport_id, name, days=days)
        expires = grant.expires_at.isoformat() if grant.expires_at else "until revoked"
    out.print(f"granted {name} access to {passport_id} ({expires})")


@passport_app.command("revoke")
def passport_revoke(
    passport_id: Annotated[str, typer.Argument(help="Passport identifier.")],
    name: Annotated[str, typer.Option(help="Account whose access ends.")],
) -> None:
    """Revoke an account's grant on a passport; it takes effect on the next request."""
    with registry() as (service, _):
        viewer = _responsible_viewer(service, passport_id)
        n = service.revoke(viewer, passport_id, name)
    out.print(f"revoked {n} grant(s) of {name} on {passport_id}")


def main() -> None:
    """Entry point: run the command; a batteryloop error becomes a clear message and its exit code."""
    load_command_modules()
    try:
        rc = app(standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except BatteryloopError as exc:
        err.print(f"[red]error[/red]: {exc.message}")
        for problem in exc.problems:
            line = f"  {problem.field}: {problem.message}"
            if problem.expected:
                line += f" (expected {problem.expected})"
            err.print(line, highlight=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
