"""``batteryloop sourcing report``: the Art. 52(3) due-diligence report of one battery model as HTML and/or PDF, and
optionally the passports of that model filled from it (``--publish-url``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from batteryloop.commands.groups import sourcing_app
from batteryloop.errors import ValidationError

out = Console(soft_wrap=True, highlight=False)
T = TypeVar("T")


def _parsed(path: Path, option: str, parse: Callable[[Any], T]) -> T:
    """A JSON file parsed and validated; a problem's message names the file."""
    from batteryloop.sourcing.dd_report import read_json

    data = read_json(path, option)
    try:
        return parse(data)
    except ValidationError as exc:
        exc.message = f"{path}: {exc.message}"
        raise


@sourcing_app.command("report")
def report_command(
    model_id: Annotated[str, typer.Argument(help="The battery model identifier, as in the supply-chain document.")],
    input_file: Annotated[
        Path, typer.Option("--input", help="JSON: the supply-chain document (as for `sourcing screen`).")
    ],
    policy: Annotated[
        Path, typer.Option("--policy", help="JSON: operator, management_system, measures, verification.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the report into (created).")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Screening date (default today), YYYY-MM-DD.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html | pdf | both.")] = "html",
    publish_url: Annotated[
        list[str] | None,
        typer.Option(
            "--publish-url",
            help="Address where the report is published (repeatable, e.g. its HTML and its PDF): fills "
            "due_diligence_report and third_party_assurance of every active passport of the model in the registry.",
        ),
    ] = None,
    organisation: Annotated[
        str | None,
        typer.Option(help="With --publish-url: act for this organisation (default: the model's only operator)."),
    ] = None,
) -> None:
    """Write the due-diligence report (management system, risks identified, measures, third-party verification)."""
    from batteryloop.sourcing import dd_report

    if fmt not in ("html", "pdf", "both"):
        raise ValidationError(f"unknown format {fmt!r}", field="--format", expected="html | pdf | both")
    if organisation is not None and not publish_url:
        raise ValidationError("--organisation without --publish-url", field="--organisation", expected="--publish-url")
    try:
        when = date.fromisoformat(as_of) if as_of is not None else datetime.now(UTC).date()
    except ValueError:
        raise ValidationError(f"{as_of!r} is not a date", field="--as-of", expected="YYYY-MM-DD") from None
    from batteryloop.sourcing import due_diligence as dd

    chain = _parsed(input_file, "--input", dd.parse_graph)
    policy_doc = _parsed(policy, "--policy", dd_report.parse_policy)
    try:
        page, screening = dd_report.build_parsed(chain, policy_doc, model_id, as_of=when)
    except ValidationError as exc:
        exc.message = f"{policy}: {exc.message}" if exc.problems[0].field.startswith("measures") else exc.message
        raise
    values: dict[str, Any] = {}
    unset: dict[str, str] = {}
    if publish_url:
        from batteryloop.sourcing.dd_publish import passport_values

        values, unset = passport_values(model_id, screening, policy_doc, publish_url, field_name="--publish-url")
    files: list[tuple[Path, str | bytes]] = []
    if fmt in ("html", "both"):
        files.append((out_dir / dd_report.file_name(model_id, "html"), page))
    if fmt in ("pdf", "both"):
        files.append((out_dir / dd_report.file_name(model_id, "pdf"), dd_report.to_pdf(page)))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for target, content in files:
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(
            f"cannot write the report: {exc}", field="--out", expected="a writable directory"
        ) from None
    s = screening["summary"]
    for target, _ in files:
        out.print(f"{target}: {s['high']} high, {s['medium']} medium, {s['low']} low finding(s) on {when}")
    if publish_url:
        _publish(model_id, values, unset, organisation)


def _publish(model_id: str, values: dict[str, Any], unset: dict[str, str], organisation: str | None) -> None:
    """Fill the due-diligence section of the model's active passports, as the responsible operator."""
    from sqlalchemy import select

    from batteryloop.cli import registry
    from batteryloop.passport.access import Role, Viewer
    from batteryloop.passport.models import Organisation, Passport
    from batteryloop.sourcing.dd_publish import publish

    with registry() as (service, session):
        if organisation is not None:
            org = service.organisation(organisation)
        else:
            ops = session.scalars(
                select(Passport.operator_id).where(Passport.model == model_id, Passport.state == "active").distinct()
            ).all()
            if len(ops) > 1:
                raise ValidationError(
                    f"the passports of battery model {model_id!r} have {len(ops)} economic operators",
                    field="--organisation",
                    expected="the organisation to act for",
                )
            found = session.get(Organisation, ops[0]) if ops else None
            if found is None:
                raise ValidationError(
                    f"no active passport of battery model {model_id!r} in the registry",
                    field="MODEL_ID",
                    expected="a model with active passports",
                )
            org = found
        viewer = Viewer(Role.ECONOMIC_OPERATOR, account=f"cli:{org.name}", organisation_id=org.id)
        result = publish(service, viewer, model_id, values, unset=unset)
    out.print(
        f"passports of {model_id}: {len(result.updated)} updated, {len(result.unchanged)} unchanged, "
        f"{len(result.skipped)} skipped"
    )
    for item in result.skipped:
        out.print(f"  skipped {item['passport_id']}: {item['reason']}")
    for key, reason in result.unset.items():
        out.print(f"  {key} not set: {reason}")
