"""``batteryloop circularity recycled-content`` and ``national-report``: Art. 8 shares into the passports, and the
figures an authority reports."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from batteryloop.commands.groups import circularity_app
from batteryloop.errors import ValidationError
from batteryloop.passport.access import Role, Viewer

out = Console(soft_wrap=True, highlight=False)


def _read_inputs(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{file}: cannot read JSON ({exc})", field="--inputs", expected="a JSON file") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{file}: not a JSON object", field="--inputs", expected='{"elements": {...}}')
    return data


@circularity_app.command("recycled-content")
def recycled_content_command(
    model: Annotated[str, typer.Option(help="Battery model identifier (battery_model_identifier of its passports).")],
    inputs: Annotated[Path, typer.Option(help="JSON: category and per element total/pre/post-consumer masses [kg].")],
    apply: Annotated[bool, typer.Option("--apply", help="Write recycled_content into every passport of the model.")] = (
        False
    ),
    on: Annotated[
        str | None, typer.Option("--date", help="Check the minimums applicable on this date (default today).")
    ] = None,
    organisation: Annotated[
        str | None, typer.Option(help="The model's operator, where several operators use the same model identifier.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Recycled share of Co, Li, Ni and Pb of a battery model (Art. 8), checked against the minimums; with --apply
    written into the passports of the model (a new version each where it changes)."""
    from sqlalchemy import select

    from batteryloop.circularity import recycled_content as rc
    from batteryloop.cli import registry
    from batteryloop.passport.models import Organisation, Passport

    try:
        when = date.fromisoformat(on) if on is not None else datetime.now(UTC).date()
    except ValueError:
        raise ValidationError(f"{on!r} is not a date", field="--date", expected="YYYY-MM-DD") from None
    data = _read_inputs(inputs)
    with registry() as (service, session):
        operators = set(session.scalars(select(Passport.operator_id).where(Passport.model == model)))
        if organisation is not None:
            org = service.organisation(organisation)
        elif len(operators) == 1:
            found = session.get(Organisation, next(iter(operators)))
            assert found is not None
            org = found
        elif not operators:
            raise ValidationError(f"no passport of battery model {model!r}", field="--model", expected="a model")
        else:
            raise ValidationError(
                f"{len(operators)} operators have passports of model {model!r}",
                field="--organisation",
                expected="the operator of the model",
            )
        category = data.get("category")
        if category is None:
            cats = set(session.scalars(select(Passport.category).where(Passport.model == model)))
            category = next(iter(cats)) if len(cats) == 1 else None
        result = rc.recycled_content(data, when, category)
        viewer = Viewer(Role.ECONOMIC_OPERATOR, account=f"cli:{org.name}", organisation_id=org.id)
        rows = rc.apply(service, viewer, model, result, dry_run=not apply)
    if json_out:
        print(json.dumps({**result.as_dict(), "model": model, "passports": rows}, ensure_ascii=False))
        return
    out.print(f"recycled content of {model} ({result.category}), minimums applicable on {when.isoformat()}:")
    for s in result.shares:
        out.print(
            f"  {s.element}: {s.recycled_pct:.2f} % (pre-consumer {s.pre_consumer_pct:.2f} %, "
            f"post-consumer {s.post_consumer_pct:.2f} %)"
        )
    for c in result.checks:
        verdict = "met" if c.met else f"NOT met, missing {c.missing_kg:,.3f} kg"
        out.print(f"  {c.target.id} ({c.target.provision}): {c.target.value_pct:g} % -> {verdict}")
    if not result.checks:
        out.print("  no Art. 8 minimum applies on that date")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["action"]] = counts.get(row["action"], 0) + 1
    out.print("passports: " + ", ".join(f"{n} {a}" for a, n in sorted(counts.items())))


@circularity_app.command("national-report")
def national_report_command(
    year: Annotated[int, typer.Option(help="Reporting (calendar) year.")],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", help="Directory for national_report_<year>.csv/.json and quality_check_<year>.csv/.html."
        ),
    ],
) -> None:
    """The year's figures a Member State reports, from the register, with the quality check report (Art. 76(3))
    beside them (as the market surveillance authority)."""
    from batteryloop.circularity.epr import EprService, national_report
    from batteryloop.circularity.quality import quality_check, warnings_of
    from batteryloop.cli import registry

    viewer = Viewer(Role.MARKET_SURVEILLANCE_AUTHORITY, account="cli")
    with registry() as (_, session):
        epr = EprService(session)
        result = national_report(epr, viewer, year)
        quality = quality_check(epr, viewer, year, result)
    csv_path, json_path = result.write(out_dir)
    quality_csv, quality_html = quality.write(out_dir)
    for r in result.collection_rates:
        out.print(f"collection rate {r.category} {year}: {r.collection_rate_pct:.2f} % ({r.citation})")
    for gap in result.not_computed:
        out.print(f"collection rate {gap['category']} {year} not computed: {gap['basis']}")
    for a in result.recycling_efficiency:
        out.print(f"recycling efficiency {a.subject}: {a.pct:.1f} % of {a.denominator_t:,.1f} t")
    for a in result.material_recovery:
        out.print(f"material recovery {a.subject}: {a.pct:.1f} % of {a.denominator_t:,.3f} t")
    for f in warnings_of(quality):
        out.print(f"quality {f.status}: {f.figure}: {f.detail}")
    out.print(f"wrote {csv_path}, {json_path}, {quality_csv} and {quality_html}")
