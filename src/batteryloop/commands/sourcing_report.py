"""``batteryloop sourcing report``: the Art. 52(3) due-diligence report of one battery model as one HTML file."""

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
) -> None:
    """Write the due-diligence report (management system, risks identified, measures, third-party verification)."""
    from batteryloop.sourcing import dd_report

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
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / dd_report.file_name(model_id)
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(
            f"cannot write the report: {exc}", field="--out", expected="a writable directory"
        ) from None
    s = screening["summary"]
    out.print(f"{target}: {s['high']} high, {s['medium']} medium, {s['low']} low finding(s) on {when}")
