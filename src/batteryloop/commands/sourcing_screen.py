"""``batteryloop sourcing screen``: OECD step-2 risk screening of a battery model's raw-material supply graph."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from batteryloop.commands.groups import sourcing_app
from batteryloop.errors import ValidationError

out = Console(soft_wrap=True, highlight=False)


@sourcing_app.command("screen")
def screen_command(
    file: Annotated[Path, typer.Argument(help="JSON: per model and raw material, the supply graph (nodes and edges).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    cahra: Annotated[
        Path | None, typer.Option(help="CSV replacing the shipped CAHRA list (country,region,status,list_date,...).")
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Screening date (default today), YYYY-MM-DD.")] = None,
    audit_max_age_months: Annotated[
        int | None, typer.Option(help="Audits older than this are stale (default from dd_rules.csv).", min=1)
    ] = None,
    turnover_eur: Annotated[
        float | None, typer.Option(help="The operator's net turnover [EUR], to check the scope threshold.")
    ] = None,
    turnover_threshold: Annotated[
        float | None, typer.Option(help="Scope turnover threshold [EUR] (default from dd_rules.csv).")
    ] = None,
) -> None:
    """Screen every node against the CAHRA list, Annex X risk categories and audits; list missing links."""
    from batteryloop.sourcing import due_diligence as dd

    try:
        when = date.fromisoformat(as_of) if as_of is not None else datetime.now(UTC).date()
    except ValueError:
        raise ValidationError(f"{as_of!r} is not a date", field="--as-of", expected="YYYY-MM-DD") from None
    entries = dd.load_cahra(cahra)
    chain = dd.load_graph(file)
    findings = dd.screen(chain, as_of=when, cahra=entries, audit_max_age_months=audit_max_age_months)
    scope = dd.in_scope(turnover_eur, when, turnover_threshold)
    result = dd.report(chain, findings, as_of=when, cahra=entries, scope=scope)
    if json_out:
        out.print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    s = result["summary"]
    out.print(
        f"{len(chain.graphs)} material graph(s) screened on {when}: {s['high']} high, {s['medium']} medium, "
        f"{s['low']} low finding(s); CAHRA list of {', '.join(result['cahra_list']['list_dates'])}"
    )
    if not scope["date_applies"]:
        out.print(f"note: the obligation applies from {scope['obligation_start']} ({scope['obligation_start_source']})")
    out.print(dd.text_table(findings))
