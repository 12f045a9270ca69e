"""Charts on the web pages: Plotly figures drawn by the plotly.js that ships inside the ``plotly`` package, each with
its data source and its data as CSV.

A page builds :class:`Chart` objects and passes them to the template (``{% include "_chart.html" %}`` per chart). Its
route answers ``?csv=<chart id>`` with that chart's rows (:func:`csv_response`), so every chart is downloadable
without JavaScript, and the same rows are in a collapsed table under the chart for readers without a script.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)


@dataclass
class Chart:
    """One chart: its figure (a Plotly figure as a dict: ``data`` and ``layout``), its rows, where the data is from."""

    id: str
    title: str
    figure: dict[str, Any]
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    source: str
    """Where the numbers come from: a data set, a regulation's article, a model run (shown under the chart)."""
    note: str = ""
    height_px: int = 360
    extra: dict[str, Any] = field(default_factory=dict)

    def figure_json(self) -> str:
        layout = {
            "margin": {"l": 56, "r": 16, "t": 16, "b": 48},
            "height": self.height_px,
            "font": {"family": "system-ui, sans-serif", "size": 13},
            "legend": {"orientation": "h", "y": -0.2},
            **self.figure.get("layout", {}),
        }
        return json.dumps({"data": self.figure.get("data", []), "layout": layout}, default=_jsonable)

    def csv_text(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def csv_response(request: Request, charts: Sequence[Chart]) -> Response | None:
    """The CSV of the chart named by ``?csv=``, or ``None`` when the request does not ask for one."""
    wanted = request.query_params.get("csv")
    if not wanted:
        return None
    for chart in charts:
        if chart.id == wanted:
            return Response(
                chart.csv_text(),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{chart.id}.csv"'},
            )
    return Response(f"no chart {wanted!r} on this page", status_code=404, media_type="text/plain")


@cache
def _plotly_js() -> bytes:
    return resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()


@router.get("/static/plotly.min.js")
def plotly_js() -> Response:
    """The plotly.js bundled with the installed ``plotly`` package (no CDN)."""
    return Response(_plotly_js(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


def csv_href(request: Request, chart_id: str) -> str:
    """The address of this page with ``csv=<chart id>`` (other query parameters kept)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "csv"] + [("csv", chart_id)]
    return f"{request.url.path}?{urlencode(params)}"
