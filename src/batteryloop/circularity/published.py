"""The published circularity data of ``../shared/data`` where it is present, and the package's fallbacks where not.

The project never ships copies of the shared data sets (``../shared/data/README.md``); the folder is found by
:func:`batteryloop.shared_data.shared_data_dir`. This module gives the circularity callers (the CLI, the web monitor,
the demo) one place to ask:

- :func:`published_flows`: the Dutch placed-on-market and collection figures (Stibat, EPAC, ARN; one source URL per
  row), or ``None`` where the shared data is absent: there is no package copy of them, so a caller shows "no data".
- :func:`mfa_data_folder` / :func:`default_model_data`: the material-flow model's inputs from the shared data when it
  holds every file the model reads, else from the package's own cited tables (``mfa_material_content.csv``,
  ``mfa_pom_nl.csv``); ``ModelData.source`` says which one a run used.
"""

from __future__ import annotations

import csv
from pathlib import Path

from batteryloop.circularity.material_flow import NL_FLOWS_FILE, SHARED_FILES, ModelData, load_model_data
from batteryloop.errors import Problem, ValidationError
from batteryloop.shared_data import shared_data_dir, shared_file

FLOWS_COLUMNS = ("year", "stream", "metric", "value", "unit", "source_url")
"""The columns every caller of :func:`published_flows` may rely on (``note`` is there too, possibly empty)."""


def read_flows(path: Path) -> list[dict[str, str]]:
    """The rows of a Dutch battery-flows file (``nl_battery_flows_by_year.csv`` layout), checked.

    Every row needs a year, a stream, a metric, a numeric value, a unit and a source URL; a bad row is an error naming
    ``file:line`` and the field, and a missing column names the file.
    """
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in FLOWS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValidationError(
                f"{path}: missing column(s) {', '.join(missing)}",
                field=str(path),
                expected=f"columns {', '.join(FLOWS_COLUMNS)}",
            )
        rows = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    problems: list[Problem] = []
    for line, row in enumerate(rows, start=2):
        where = f"{path}:{line}"
        if not (row["year"].isdigit() and 1900 <= int(row["year"]) <= 2200):
            problems.append(Problem(f"{where}: year", f"{row['year']!r} is not a year", "a year such as 2022"))
        try:
            float(row["value"])
        except ValueError:
            problems.append(Problem(f"{where}: value", f"{row['value']!r} is not a number", "a number"))
        for name in ("stream", "metric", "unit", "source_url"):
            if not row[name]:
                problems.append(Problem(f"{where}: {name}", "empty", f"the row's {name}"))
    if problems:
        raise ValidationError(f"{path}: bad battery-flows file", problems=problems)
    return rows


def published_flows() -> list[dict[str, str]] | None:
    """The Dutch battery flows by year from ``../shared/data/circularity/nl_battery_flows``, or None when absent.

    One dict per row with the file's columns (``year, stream, metric, value, unit, source_url, note``, all text as in
    the file; cite ``source_url`` and the folder's SOURCE.md). ``BATTERYLOOP_SHARED_DATA`` set to a missing folder is an
    error (see :func:`batteryloop.shared_data.shared_data_dir`).
    """
    path = shared_file(NL_FLOWS_FILE)
    return None if path is None else read_flows(path)


def mfa_data_folder() -> Path | None:
    """The shared data folder when it holds every file the material-flow model reads, else None (package tables)."""
    folder = shared_data_dir()
    if folder is None or not all((folder / f).is_file() for f in SHARED_FILES):
        return None
    return folder


def default_model_data() -> ModelData:
    """The material-flow model's inputs: from the shared data where present, else from the package's own tables."""
    return load_model_data(mfa_data_folder())
