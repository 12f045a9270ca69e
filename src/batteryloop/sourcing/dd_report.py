"""The due-diligence report of Regulation (EU) 2023/1542 Art. 52(3) for one battery model, as HTML and PDF.

The report has the four parts the disclosure obligation names: the management system (Art. 49), the risks identified
(Art. 50(1); here the findings of the OECD step-2 screening of :mod:`batteryloop.sourcing.due_diligence`), the
measures taken against them (the risk-management plan of Art. 50(2)) and the third-party verification (Art. 51).
The screening is computed from the supply-graph document; the operator's policy, measures and verification come from
a small JSON document (see ``docs/due-diligence.md``), validated here with every problem named by its field.

The HTML is self-contained: inline style, no script, no external resource; every input text is escaped. The PDF
(:func:`to_pdf`) is that HTML laid out by WeasyPrint (BSD licence; it needs the Pango library, Debian packages
``libpango-1.0-0 libpangoft2-1.0-0``), with the same text, sections and tables.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from batteryloop.errors import Problem, ValidationError
from batteryloop.sourcing import due_diligence as dd

SECTIONS = (
    ("management-system", "1. Management system", "Reg. (EU) 2023/1542 Art. 49"),
    ("risks", "2. Risks identified", "Reg. (EU) 2023/1542 Art. 50(1); Annex X; OECD Due Diligence Guidance step 2"),
    ("measures", "3. Risk-management measures", "Reg. (EU) 2023/1542 Art. 50(2); OECD Due Diligence Guidance step 3"),
    ("verification", "4. Third-party verification", "Reg. (EU) 2023/1542 Art. 51; OECD Due Diligence Guidance step 4"),
)
"""The report's sections: anchor, heading and the provision each answers (Art. 52(3) lists what to disclose)."""

MEASURE_STATUSES = ("planned", "in_progress", "done")
NO_MEASURE = "no measure recorded"


@dataclass(frozen=True)
class Measure:
    measure: str
    status: str
    node: str | None = None
    rule: str | None = None
    due: date | None = None


@dataclass(frozen=True)
class Verification:
    body: str
    date: date
    scope: str
    result: str
    report_url: str | None = None


@dataclass
class Policy:
    """The operator's part of the report."""

    operator: str
    management_system: dict[str, str]
    measures: list[Measure] = field(default_factory=list)
    verification: Verification | None = None


MANAGEMENT_FIELDS = {
    "policy": "the supply-chain due-diligence policy (Art. 49(1)(a))",
    "responsible": "who in senior management is responsible (Art. 49(1)(b))",
    "traceability": "the system of controls and transparency over the supply chain (Art. 49(1)(c)-(d))",
    "grievance_mechanism": "the grievance mechanism (Art. 49(1)(e))",
}
"""Keys of ``management_system``: ``policy`` is required, the others are shown where given (missing: stated so)."""


def _text(raw: Any, where: str, problems: list[Problem], *, required: bool = True) -> str | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, str) or not raw.strip():
        problems.append(
            Problem(where, "missing or empty" if raw is None else f"{raw!r} is not text", "a non-empty string")
        )
        return None
    return raw.strip()


def _date(raw: Any, where: str, problems: list[Problem], *, required: bool = True) -> date | None:
    if raw is None and not required:
        return None
    try:
        return date.fromisoformat(str(raw)) if raw is not None else None
    except ValueError:
        pass
    problems.append(Problem(where, "missing" if raw is None else f"{raw!r} is not a date", "YYYY-MM-DD"))
    return None


def parse_policy(data: Any) -> Policy:
    """Validate the policy document; every problem is collected and raised at once, each with its field path."""
    if not isinstance(data, dict):
        raise ValidationError("not a policy document", field="policy", expected='{"operator": ..., ...}')
    problems: list[Problem] = []
    known = {"operator", "management_system", "measures", "verification"}
    for key in sorted(set(data) - known):
        problems.append(Problem(key, "unknown field", " | ".join(sorted(known))))
    operator = _text(data.get("operator"), "operator", problems)
    system: dict[str, str] = {}
    raw_system = data.get("management_system")
    if not isinstance(raw_system, dict):
        problems.append(Problem("management_system", "missing", "{policy, responsible, traceability, ...}"))
    else:
        for key in sorted(set(raw_system) - set(MANAGEMENT_FIELDS)):
            problems.append(Problem(f"management_system.{key}", "unknown field", " | ".join(MANAGEMENT_FIELDS)))
        for key in MANAGEMENT_FIELDS:
            value = _text(raw_system.get(key), f"management_system.{key}", problems, required=key == "policy")
            if value is not None:
                system[key] = value
    measures: list[Measure] = []
    raw_measures = data.get("measures", [])
    if not isinstance(raw_measures, list):
        problems.append(Problem("measures", "not a list", "a list of {measure, status, node, rule, due}"))
        raw_measures = []
    for i, raw in enumerate(raw_measures):
        where = f"measures[{i}]"
        if not isinstance(raw, dict):
            problems.append(Problem(where, "not an object", "{measure, status, node, rule, due}"))
            continue
        text = _text(raw.get("measure"), f"{where}.measure", problems)
        status = raw.get("status", "planned")
        if status not in MEASURE_STATUSES:
            problems.append(Problem(f"{where}.status", f"unknown status {status!r}", " | ".join(MEASURE_STATUSES)))
        node = _text(raw.get("node"), f"{where}.node", problems, required=False)
        rule = _text(raw.get("rule"), f"{where}.rule", problems, required=False)
        if rule is not None and rule not in dd.load_rules():
            problems.append(Problem(f"{where}.rule", f"unknown rule {rule!r}", "a rule of dd_rules.csv"))
        due = _date(raw.get("due"), f"{where}.due", problems, required=False)
        if text is not None and status in MEASURE_STATUSES:
            measures.append(Measure(text, str(status), node, rule, due))
    verification: Verification | None = None
    raw_ver = data.get("verification")
    if raw_ver is not None:
        if not isinstance(raw_ver, dict):
            problems.append(Problem("verification", "not an object", "{body, date, scope, result, report_url}"))
        else:
            body = _text(raw_ver.get("body"), "verification.body", problems)
            when = _date(raw_ver.get("date"), "verification.date", problems)
            scope = _text(raw_ver.get("scope"), "verification.scope", problems)
            result = _text(raw_ver.get("result"), "verification.result", problems)
            url = _text(raw_ver.get("report_url"), "verification.report_url", problems, required=False)
            if url is not None and not url.startswith(("https://", "http://")):
                problems.append(Problem("verification.report_url", f"{url!r} is not a web address", "https://..."))
            if body and when and scope and result:
                verification = Verification(body, when, scope, result, url)
    if problems:
        raise ValidationError(f"invalid policy document: {len(problems)} problem(s)", problems=problems)
    assert operator is not None
    return Policy(operator, system, measures, verification)


def _for_model(chain: dd.SupplyChain, model: str) -> dd.SupplyChain:
    graphs = [g for g in chain.graphs if g.model == model]
    if not graphs:
        known = sorted({g.model for g in chain.graphs})
        raise ValidationError(
            f"model {model!r} is not in the supply-chain document", field="MODEL_ID", expected=" | ".join(known)
        )
    return dd.SupplyChain(graphs)


def _check_measures(policy: Policy, chain: dd.SupplyChain) -> None:
    nodes = {n for g in chain.graphs for n in g.nodes}
    problems = [
        Problem(f"measures[{i}].node", f"unknown node {m.node!r} for this model", "a node id of the supply graph")
        for i, m in enumerate(policy.measures)
        if m.node is not None and m.node not in nodes
    ]
    if problems:
        raise ValidationError("the measures name nodes the supply graph lacks", problems=problems)


def measures_for(finding: dict[str, str], measures: list[Measure]) -> list[Measure]:
    """The measures addressing a finding: same node (or none named) and same rule (or none named), not both unnamed."""
    return [
        m
        for m in measures
        if (m.node is not None or m.rule is not None)
        and (m.node is None or m.node == finding["node"])
        and (m.rule is None or m.rule == finding["rule"])
    ]


def build(document: Any, policy_data: Any, model: str, *, as_of: date) -> tuple[str, dict[str, Any]]:
    """The report's HTML and the screening it rests on, for one model of a supply-chain document."""
    return build_parsed(dd.parse_graph(document), parse_policy(policy_data), model, as_of=as_of)


def build_parsed(chain: dd.SupplyChain, policy: Policy, model: str, *, as_of: date) -> tuple[str, dict[str, Any]]:
    """As :func:`build`, from a parsed supply chain and policy."""
    chain = _for_model(chain, model)
    _check_measures(policy, chain)
    cahra = dd.load_cahra()
    findings = dd.screen(chain, as_of=as_of, cahra=cahra)
    screening = dd.report(chain, findings, as_of=as_of, cahra=cahra, scope=dd.in_scope(None, as_of))
    return render(model, screening, policy), screening


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _id(value: object) -> str:
    """An identifier (node, rule), kept on one line: a hyphen in it is no place to break."""
    return f'<span class="id">{_e(value)}</span>'


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border:1px solid #bbb;padding:.3rem .5rem;"
    "text-align:left;vertical-align:top}th{background:#eee}.high{color:#a00;font-weight:bold}.medium{color:#a60}"
    ".gap{color:#a00}.cite{color:#555;font-size:.9em}.id{white-space:nowrap}"
)


def render(model: str, screening: dict[str, Any], policy: Policy) -> str:
    """The report as one HTML document (inline style, no script, no external resource)."""
    parts: list[str] = []
    s = screening["summary"]
    scope = screening["scope"]
    parts.append(f"<h1>Supply-chain due-diligence report: battery model {_e(model)}</h1>")
    parts.append(
        f"<p>Economic operator: {_e(policy.operator)}. Screening date: {_e(screening['as_of'])}. "
        f"Raw materials screened: {_e(', '.join(g['material'] for g in screening['graphs']))}. "
        f"Findings: {s['high']} high, {s['medium']} medium, {s['low']} low.</p>"
    )
    if not scope["date_applies"]:
        parts.append(
            f"<p>The obligation applies from {_e(scope['obligation_start'])} ({_e(scope['obligation_start_source'])});"
            " this report is made before that date.</p>"
        )
    sections = {anchor: (title, cite) for anchor, title, cite in SECTIONS}

    def open_section(anchor: str) -> None:
        title, cite = sections[anchor]
        parts.append(f'<section id="{anchor}"><h2>{_e(title)}</h2><p class="cite">{_e(cite)}</p>')

    open_section("management-system")
    rows = [
        [
            _e(label),
            _e(policy.management_system[key])
            if key in policy.management_system
            else '<span class="gap">not stated</span>',
        ]
        for key, label in MANAGEMENT_FIELDS.items()
    ]
    parts.append(_table(["element", "the operator's statement"], rows) + "</section>")

    open_section("risks")
    findings: list[dict[str, str]] = screening["findings"]
    if findings:
        parts.append(
            _table(
                ["severity", "material", "node", "rule", "finding", "source"],
                [
                    [
                        f'<span class="{_e(f["severity"])}">{_e(f["severity"])}</span>',
                        _e(f["material"]),
                        _id(f["node"]),
                        _id(f["rule"]),
                        _e(f["message"]),
                        _e(f["citation"]),
                    ]
                    for f in findings
                ],
            )
        )
    else:
        parts.append("<p>The screening found no risk in the declared supply graphs.</p>")
    cl = screening["cahra_list"]
    parts.append(
        f'<p class="cite">CAHRA list: {cl["entries"]} entries, list dates {_e(", ".join(cl["list_dates"]))}, '
        f"confidence {_e(', '.join(cl['confidence']))}.</p></section>"
    )

    open_section("measures")
    rows = []
    uncovered = 0
    for f in findings:
        found = measures_for(f, policy.measures)
        if not found:
            uncovered += 1
        text = (
            "<br>".join(
                f"{_e(m.measure)} ({_e(m.status.replace('_', ' '))}{', due ' + _e(m.due) if m.due else ''})"
                for m in found
            )
            or f'<span class="gap">{NO_MEASURE}</span>'
        )
        rows.append([_e(f["severity"]), _id(f["node"]), _id(f["rule"]), text])
    general = [m for m in policy.measures if m.node is None and m.rule is None]
    if rows:
        parts.append(_table(["severity", "node", "rule", "measures"], rows))
    parts.append(f"<p>{len(findings) - uncovered} of {len(findings)} finding(s) have a measure recorded.</p>")
    if general:
        items = "".join(f"<li>{_e(m.measure)} ({_e(m.status.replace('_', ' '))})</li>" for m in general)
        parts.append(f"<p>General measures:</p><ul>{items}</ul>")
    parts.append("</section>")

    open_section("verification")
    v = policy.verification
    if v is None:
        parts.append('<p class="gap">No third-party verification is recorded.</p>')
    else:
        link = f' <a href="{_e(v.report_url)}">verification report</a>' if v.report_url else ""
        parts.append(
            f"<p>Verified by {_e(v.body)} on {_e(v.date.isoformat())}. Scope: {_e(v.scope)}. "
            f"Result: {_e(v.result)}.{link}</p>"
        )
    parts.append("</section>")
    title = f"Due-diligence report {model}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def read_json(path: Path, name: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path}: cannot read JSON ({exc})", field=name, expected="a JSON file") from None


FORMATS = ("html", "pdf")
MIME_TYPES = {"html": "text/html", "pdf": "application/pdf"}
PDF_STYLE = (
    "@page{size:A4;margin:18mm 15mm;@bottom-right{content:counter(page) ' / ' counter(pages);font-size:8pt}}"
    "body{max-width:none;margin:0;padding:0;font-size:10pt}td,th{font-size:8.5pt}td:nth-last-child(-n+2){overflow-wrap:anywhere}"
)
"""Added to the HTML's style for print: A4 pages, the page margins instead of the screen's centred column."""


def to_pdf(page: str) -> bytes:
    """The report's HTML as a PDF document (A4), laid out by WeasyPrint; nothing is fetched from the network."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: the Pango library is missing
        raise ValidationError(
            f"cannot make a PDF here: {exc}",
            field="--format",
            expected="html, or install weasyprint and Pango (Debian: libpango-1.0-0 libpangoft2-1.0-0)",
        ) from None

    def no_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise ValueError(f"the report refers to no external resource ({url})")

    printable = page.replace("</style>", PDF_STYLE + "</style>", 1)
    pdf: bytes = HTML(string=printable, url_fetcher=no_fetch).write_pdf()
    return pdf


def file_name(model: str, fmt: str = "html") -> str:
    """The report's file name: the model identifier with anything but letters, digits, '.', '-', '_' replaced."""
    return "due-diligence-" + re.sub(r"[^A-Za-z0-9._-]", "_", model) + "." + fmt
