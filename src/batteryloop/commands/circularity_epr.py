"""``batteryloop circularity collection-rate`` and ``report``: collection rates and compliance with the targets."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from batteryloop.circularity.collection import CollectionRate, Method, collection_rate, tonnes_by_year
from batteryloop.commands.groups import circularity_app
from batteryloop.errors import ValidationError
from batteryloop.passport.access import Role, Viewer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

out = Console(soft_wrap=True, highlight=False)
member_app = typer.Typer(help="Members of producer-responsibility organisations.", no_args_is_help=True)
circularity_app.add_typer(member_app, name="member")


@contextmanager
def _register(as_organisation: str | None = None, role: Role | None = None) -> Iterator[tuple[Session, Viewer]]:
    """A transaction on the configured database, as the local administrator: an authority, or (for submissions)
    the given organisation's own account of ``role``."""
    from batteryloop.circularity.epr import EprService
    from batteryloop.cli import registry

    with registry() as (_, session):
        if as_organisation is None:
            viewer = Viewer(Role.MARKET_SURVEILLANCE_AUTHORITY, account="cli")
        else:
            org = EprService(session).organisation(as_organisation)
            viewer = Viewer(role or Role.ECONOMIC_OPERATOR, account=f"cli:{org.name}", organisation_id=org.id)
        yield session, viewer


def read_tonnes(path: Path, option: str) -> dict[int, float]:
    """``year,tonnes`` rows of a CSV file; bad rows are named by file, line and column."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            if not {"year", "tonnes"} <= {h.strip() for h in header}:
                raise ValidationError(
                    f"{path}: header is {','.join(header) or 'empty'}",
                    field=f"{option} {path}",
                    expected="columns year,tonnes",
                )
            reader.fieldnames = [h.strip() for h in header]
            return tonnes_by_year(reader, str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path} ({exc})", field=option, expected="a CSV file") from None


def print_rate(rate: CollectionRate) -> None:
    years = sorted(rate.placed_on_market_t)
    out.print(
        f"{rate.category} {rate.year} ({rate.method.value} method, {rate.citation}): "
        f"[bold]{rate.collection_rate_pct:.1f} %[/bold]"
    )
    out.print(f"  collected {rate.year}: {rate.collected_t:,.1f} t")
    for y in years:
        out.print(f"  placed on the market {y}: {rate.placed_on_market_t[y]:,.1f} t")
    out.print(f"  average placed on the market {years[0]}-{years[-1]}: {rate.average_placed_on_market_t:,.1f} t")


@circularity_app.command("collection-rate")
def collection_rate_command(
    category: Annotated[str, typer.Option(help="Battery category: portable (both methods) or LMT (regulation).")],
    year: Annotated[int, typer.Option(help="Reporting year X.")],
    method: Annotated[
        Method, typer.Option(help="directive (2006/66/EC Annex I) or regulation (2023/1542 Annex XI).")
    ] = Method.REGULATION,
    placed_on_market: Annotated[
        Path | None, typer.Option("--placed-on-market", help="CSV with columns year,tonnes (placed on the market).")
    ] = None,
    collected: Annotated[
        Path | None, typer.Option("--collected", help="CSV with columns year,tonnes (collected).")
    ] = None,
    organisation: Annotated[
        str | None, typer.Option(help="From the register: this organisation (a PRO with its members); default all.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Collection rate: collected in year X over the average placed on the market in X, X-1 and X-2."""
    if (placed_on_market is None) != (collected is None):
        raise ValidationError(
            "give both --placed-on-market and --collected, or neither (the register)",
            field="--placed-on-market" if placed_on_market is None else "--collected",
            expected="a CSV file with columns year,tonnes",
        )
    if placed_on_market is not None and collected is not None:
        if organisation is not None:
            raise ValidationError(
                "--organisation reads the register; it cannot be combined with CSV files",
                field="--organisation",
                expected="either --organisation or --placed-on-market with --collected",
            )
        pom = read_tonnes(placed_on_market, "--placed-on-market")
        col = read_tonnes(collected, "--collected")
        rate = collection_rate(category, year, col, pom, method)
    else:
        from batteryloop.circularity.epr import EprService

        with _register() as (session, viewer):
            rate = EprService(session).collection_rate(viewer, category, year, method, organisation)
    if json_out:
        print(json.dumps(rate.as_dict(), ensure_ascii=False))
    else:
        print_rate(rate)


@member_app.command("add")
def member_add(
    producer: Annotated[str, typer.Option(help="Producer (name or identifier).")],
    pro: Annotated[str, typer.Option(help="Producer-responsibility organisation (name or identifier).")],
    category: Annotated[str, typer.Option(help="Battery category the PRO carries out the obligations for.")],
    since_year: Annotated[int, typer.Option(help="First reporting year of the membership.")],
) -> None:
    """Register a producer as a member of a PRO for one category."""
    from batteryloop.circularity.epr import EprService

    with _register() as (session, viewer):
        membership = EprService(session).add_member(viewer, producer, pro, category, since_year)
        out.print(f"{producer} member of {pro} for {membership.category} since {since_year}")


def _read_report(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{file}: cannot read JSON ({exc})", field=str(file), expected="a JSON file") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{file}: not a JSON object", field=str(file), expected="a JSON object")
    return data


@circularity_app.command("submit")
def submit(
    kind: Annotated[
        str,
        typer.Option(
            help="market (a producer's or PRO's placed on the market and collected), process (a recycler's) or "
            "collection (a waste operator's own collection)."
        ),
    ],
    organisation: Annotated[str, typer.Option(help="The reporting organisation (name or identifier).")],
    year: Annotated[int, typer.Option(help="Reporting year.")],
    file: Annotated[Path, typer.Argument(help="The report as JSON (see batteryloop.circularity.epr).")],
    correction: Annotated[bool, typer.Option(help="Replace this year's report as a new version.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why the report is corrected.")] = None,
) -> None:
    """Submit a yearly report of an organisation to the register."""
    from batteryloop.circularity.epr import EprService

    data = _read_report(file)
    role = Role.RECYCLER if kind == "process" else Role.ECONOMIC_OPERATOR
    with _register(organisation, role) as (session, viewer):
        report = EprService(session).submit(
            viewer, kind, organisation, year, data, correction=correction, reason=reason
        )
        out.print(f"{kind} report of {organisation} for {year}: version {report.version}")
        print(report.id)


@circularity_app.command("reports")
def reports(
    organisation: Annotated[str | None, typer.Option(help="Only this organisation.")] = None,
    year: Annotated[int | None, typer.Option(help="Only this year.")] = None,
    history: Annotated[bool, typer.Option(help="Every version, not only the current ones.")] = False,
) -> None:
    """List the reports in the register (as JSON)."""
    from batteryloop.circularity.epr import EprService

    with _register() as (session, viewer):
        epr = EprService(session)
        found = [epr.report_dict(r) for r in epr.reports(viewer, year=year, organisation=organisation, history=history)]
    print(json.dumps(found, ensure_ascii=False, default=str))


@circularity_app.command("report")
def report(
    organisation: Annotated[str, typer.Option(help="Organisation (name, identifier or id).")],
    year: Annotated[int, typer.Option(help="Reporting year.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the HTML and CSV.")],
) -> None:
    """The compliance report of an organisation for a year (HTML and CSV): each target met or not, margin, missing."""
    from batteryloop.circularity.epr import EprService

    with _register() as (session, viewer):
        result = EprService(session).compliance(viewer, organisation, year)
    csv_path, html_path = result.write(out_dir)
    for r in result.results:
        verdict = "met" if r.met else f"NOT met, missing {r.missing_t:,.1f} t"
        out.print(
            f"{r.target.id}: {r.target.parameter} {r.target.subject or r.achieved.category} "
            f"{r.achieved.pct:.1f} % vs {r.target.value_pct:g} % -> {verdict}"
        )
    for gap in result.not_computed:
        out.print(f"not computed: {gap['parameter']} {gap['category']}: {gap['basis']}")
    out.print(f"wrote {csv_path} and {html_path}")
