"""Supply-chain due diligence of battery raw materials: the supply graph and its risk screening.

Regulation (EU) 2023/1542 Art. 47-52 and Annex X oblige an economic operator to identify and assess the risks in the
supply chains of cobalt, natural graphite, lithium and nickel (OECD five-step framework, step 2). The input is, per
battery model and raw material, a graph of nodes (mine or recycler -> smelter/refiner -> cathode/anode producer -> cell
maker) and edges (supplier -> customer). :func:`parse_graph` validates it (every problem named by its field);
:func:`screen` checks each node against the CAHRA list, the Annex X risk categories, audits and missing links.

The rules, the scope dates and the parameters are data: ``dd_rules.csv``, ``cahra.csv`` and ``countries.csv`` beside
this module, each row with its source.
"""

from __future__ import annotations

import csv
import functools
import json
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from batteryloop.errors import Problem, ValidationError

MATERIALS = ("cobalt", "natural_graphite", "lithium", "nickel")
ROLES = ("mine", "recycler", "smelter_refiner", "cathode_producer", "anode_producer", "cell_maker")
SOURCE_ROLES = ("mine", "recycler")
AUDIT_RESULTS = ("conformant", "non_conformant", "in_progress")
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


# --- data ------------------------------------------------------------------------------------------------------------


def _package_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("batteryloop.sourcing").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@dataclass(frozen=True)
class Rule:
    key: str
    kind: str
    value: str
    unit: str
    severity: str
    description: str
    citation: str


@functools.cache
def load_rules() -> dict[str, Rule]:
    """The rows of ``dd_rules.csv`` by key."""
    out: dict[str, Rule] = {}
    for row in _package_csv("dd_rules.csv"):
        out[row["key"]] = Rule(
            row["key"], row["kind"], row["value"], row["unit"], row["severity"], row["description"], row["citation"]
        )
    return out


@functools.cache
def load_countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code -> name."""
    return {row["alpha2"]: row["name"] for row in _package_csv("countries.csv")}


@dataclass(frozen=True)
class CahraEntry:
    country: str
    region: str
    status: str
    list_date: str
    source_url: str
    confidence: str


CAHRA_COLUMNS = ("country", "region", "status", "list_date", "source_url")


def load_cahra(path: Path | None = None) -> list[CahraEntry]:
    """The CAHRA list: the shipped one, or a user's CSV with columns country, region, status, list_date, source_url
    (confidence optional). A blank region means the whole country."""
    if path is None:
        rows = _package_csv("cahra.csv")
        where = "cahra.csv"
    else:
        try:
            rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"{path}: cannot read ({exc})", field="--cahra", expected="a CSV file") from None
        where = str(path)
        missing = [c for c in CAHRA_COLUMNS if rows and c not in rows[0]] if rows else list(CAHRA_COLUMNS)
        if missing:
            raise ValidationError(
                f"{where}: missing column(s) {', '.join(missing)}", field="--cahra", expected=", ".join(CAHRA_COLUMNS)
            )
    countries = load_countries()
    out: list[CahraEntry] = []
    problems: list[Problem] = []
    for i, row in enumerate(rows, start=2):
        code = (row.get("country") or "").strip().upper()
        if code not in countries:
            problems.append(Problem(f"{where}:{i}.country", f"unknown country code {code!r}", "ISO 3166-1 alpha-2"))
            continue
        out.append(
            CahraEntry(
                code,
                (row.get("region") or "").strip(),
                (row.get("status") or "").strip(),
                (row.get("list_date") or "").strip(),
                (row.get("source_url") or "").strip(),
                (row.get("confidence") or "user-supplied").strip(),
            )
        )
    if problems:
        raise ValidationError(f"{where}: {len(problems)} bad row(s)", problems=problems)
    return out


# --- the graph -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    scheme: str
    date: date
    result: str


@dataclass(frozen=True)
class Node:
    id: str
    role: str
    country: str
    region: str
    audit: Audit | None
    recycled_input_share_pct: float
    risks: tuple[str, ...]
    field: str


@dataclass
class MaterialGraph:
    model: str
    material: str
    nodes: dict[str, Node]
    edges: list[tuple[str, str]]
    field: str

    def suppliers(self, node_id: str) -> list[str]:
        return [a for a, b in self.edges if b == node_id]

    def customers(self, node_id: str) -> list[str]:
        return [b for a, b in self.edges if a == node_id]


@dataclass
class SupplyChain:
    graphs: list[MaterialGraph] = field(default_factory=list)


def _norm(name: str) -> str:
    return " ".join(name.replace("-", " ").replace("'", "").lower().split())


def _find_cycle(nodes: list[str], edges: list[tuple[str, str]]) -> list[str] | None:
    """One cycle as a closed list of node ids (first == last), or None."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
    state: dict[str, int] = {n: 0 for n in nodes}  # 0 new, 1 on stack, 2 done
    for start in nodes:
        if state[start]:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        state[start] = 1
        while stack:
            node, i = stack[-1]
            if i < len(succ[node]):
                stack[-1] = (node, i + 1)
                nxt = succ[node][i]
                if state[nxt] == 1:
                    return [*path[path.index(nxt) :], nxt]
                if state[nxt] == 0:
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                path.pop()
    return None


def _reachable(start: list[str], edges: list[tuple[str, str]]) -> set[str]:
    seen = set(start)
    todo = list(start)
    while todo:
        n = todo.pop()
        for a, b in edges:
            if a == n and b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def _parse_node(raw: Any, where: str, countries: dict[str, str], problems: list[Problem]) -> Node | None:
    risk_keys = {k for k, r in load_rules().items() if r.kind == "annex_x_category"}
    if not isinstance(raw, dict):
        problems.append(Problem(where, "not an object", '{"id": ..., "role": ..., "country": ...}'))
        return None
    ok = True
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id:
        problems.append(Problem(f"{where}.id", "missing or not a string", "a node identifier"))
        ok = False
    role = raw.get("role")
    if role not in ROLES:
        problems.append(Problem(f"{where}.role", f"unknown role {role!r}", " | ".join(ROLES)))
        ok = False
    country = raw.get("country")
    if not isinstance(country, str) or country.upper() not in countries:
        problems.append(Problem(f"{where}.country", f"unknown country code {country!r}", "ISO 3166-1 alpha-2, e.g. CD"))
        ok = False
    region = raw.get("region") or ""
    if not isinstance(region, str):
        problems.append(Problem(f"{where}.region", "not a string", "a region name"))
        ok = False
    share_raw = raw.get("recycled_input_share_pct", 0)
    share = 0.0
    if isinstance(share_raw, bool) or not isinstance(share_raw, int | float) or not 0 <= share_raw <= 100:
        problems.append(Problem(f"{where}.recycled_input_share_pct", f"{share_raw!r} out of range", "0 to 100 [%]"))
        ok = False
    else:
        share = float(share_raw)
    audit: Audit | None = None
    raw_audit = raw.get("audit")
    if raw_audit is not None:
        if not isinstance(raw_audit, dict):
            problems.append(Problem(f"{where}.audit", "not an object", '{"scheme", "date", "result"}'))
            ok = False
        else:
            try:
                adate = date.fromisoformat(str(raw_audit.get("date")))
            except ValueError:
                problems.append(
                    Problem(f"{where}.audit.date", f"{raw_audit.get('date')!r} is not a date", "YYYY-MM-DD")
                )
                ok = False
                adate = date.min
            result = raw_audit.get("result")
            if result not in AUDIT_RESULTS:
                problems.append(
                    Problem(f"{where}.audit.result", f"unknown result {result!r}", " | ".join(AUDIT_RESULTS))
                )
                ok = False
            scheme = raw_audit.get("scheme")
            if not isinstance(scheme, str) or not scheme:
                problems.append(Problem(f"{where}.audit.scheme", "missing", "the audit scheme, e.g. RMAP"))
                ok = False
            if ok:
                audit = Audit(str(scheme), adate, str(result))
    risks = raw.get("risks", [])
    if not isinstance(risks, list) or any(r not in risk_keys for r in risks):
        problems.append(Problem(f"{where}.risks", f"unknown risk category in {risks!r}", " | ".join(sorted(risk_keys))))
        ok = False
    if not ok:
        return None
    return Node(
        str(node_id), str(role), str(country).upper(), str(region), audit, share, tuple(str(r) for r in risks), where
    )


def parse_graph(data: Any) -> SupplyChain:
    """Validate the input document; every problem is collected and raised at once, each with its field path."""
    problems: list[Problem] = []
    countries = load_countries()
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ValidationError("not a supply-chain document", field="models", expected='{"models": [...]}')
    chain = SupplyChain()
    for mi, model in enumerate(data["models"]):
        mwhere = f"models[{mi}]"
        if not isinstance(model, dict) or not isinstance(model.get("model"), str):
            problems.append(Problem(f"{mwhere}.model", "missing model identifier", "a string"))
            continue
        materials = model.get("materials")
        if not isinstance(materials, dict):
            problems.append(Problem(f"{mwhere}.materials", "missing", "{material: {nodes, edges}}"))
            continue
        for material, graph in materials.items():
            gwhere = f"{mwhere}.materials.{material}"
            if material not in MATERIALS:
                problems.append(Problem(gwhere, f"unknown raw material {material!r}", " | ".join(MATERIALS)))
                continue
            if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
                problems.append(Problem(f"{gwhere}.nodes", "missing", "a list of nodes"))
                continue
            nodes: dict[str, Node] = {}
            bad = False  # a node failed: edges to it are not reported as unknown
            for ni, raw in enumerate(graph["nodes"]):
                node = _parse_node(raw, f"{gwhere}.nodes[{ni}]", countries, problems)
                if node is None:
                    bad = True
                elif node.id in nodes:
                    problems.append(Problem(f"{gwhere}.nodes[{ni}].id", f"duplicate node id {node.id!r}", "unique ids"))
                    bad = True
                else:
                    nodes[node.id] = node
            nodes_bad = bad
            edges: list[tuple[str, str]] = []
            for ei, edge in enumerate(graph.get("edges", [])):
                ewhere = f"{gwhere}.edges[{ei}]"
                if not isinstance(edge, dict):
                    problems.append(Problem(ewhere, "not an object", '{"from": id, "to": id}'))
                    bad = True
                    continue
                for end in ("from", "to"):
                    if edge.get(end) not in nodes and not nodes_bad:
                        problems.append(Problem(f"{ewhere}.{end}", f"unknown node {edge.get(end)!r}", "a node id"))
                if edge.get("from") in nodes and edge.get("to") in nodes:
                    edges.append((str(edge["from"]), str(edge["to"])))
                else:
                    bad = True
            if bad:
                continue
            cycle = _find_cycle(list(nodes), edges)
            if cycle is not None:
                problems.append(Problem(f"{gwhere}.edges", "cycle " + " -> ".join(cycle), "an acyclic supply graph"))
                continue
            sources = [n for n, v in nodes.items() if v.role in SOURCE_ROLES]
            cells = [n for n, v in nodes.items() if v.role == "cell_maker"]
            reach = _reachable(sources, edges)
            if not cells or not any(c in reach for c in cells):
                problems.append(
                    Problem(
                        gwhere,
                        f"missing link: no path from a mine or recycler to a cell maker for {material}",
                        "edges from mine/recycler through to the cell maker",
                    )
                )
                continue
            chain.graphs.append(MaterialGraph(model["model"], material, nodes, edges, gwhere))
    if problems:
        raise ValidationError(f"invalid supply-chain document: {len(problems)} problem(s)", problems=problems)
    return chain


def load_graph(path: Path) -> SupplyChain:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path}: cannot read JSON ({exc})", field="FILE", expected="a JSON file") from None
    return parse_graph(data)


# --- screening -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    severity: str
    model: str
    material: str
    node: str
    rule: str
    message: str
    citation: str

    def as_dict(self) -> dict[str, str]:
        return {
            "severity": self.severity,
            "model": self.model,
            "material": self.material,
            "node": self.node,
            "rule": self.rule,
            "message": self.message,
            "citation": self.citation,
        }


def _months_between(earlier: date, later: date) -> int:
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - (1 if later.day < earlier.day else 0)


def screen(
    chain: SupplyChain,
    *,
    as_of: date,
    cahra: list[CahraEntry] | None = None,
    audit_max_age_months: int | None = None,
) -> list[Finding]:
    """Findings of OECD step 2 for every node of every material graph, most severe first."""
    rules = load_rules()
    entries = load_cahra() if cahra is None else cahra
    max_age = int(rules["audit_max_age_months"].value) if audit_max_age_months is None else audit_max_age_months
    findings: list[Finding] = []

    def add(
        g: MaterialGraph, node: str, key: str, message: str, severity: str | None = None, citation: str | None = None
    ) -> None:
        rule = rules[key]
        findings.append(
            Finding(severity or rule.severity, g.model, g.material, node, key, message, citation or rule.citation)
        )

    for g in chain.graphs:
        cells = [n for n, v in g.nodes.items() if v.role == "cell_maker"]
        for n in g.nodes.values():
            listed = [e for e in entries if e.country == n.country]
            whole = [e for e in listed if not e.region]
            region_hit = [e for e in listed if e.region and n.region and _norm(e.region) == _norm(n.region)]
            if region_hit or whole:
                e = (region_hit or whole)[0]
                where = f"{n.region}, {n.country}" if e.region else n.country
                add(
                    g,
                    n.id,
                    "cahra_region",
                    f"{n.role} in {where}: on the CAHRA list ({e.status}, list of {e.list_date}, confidence "
                    f"{e.confidence}, {e.source_url})",
                )
            elif listed:
                region = f"region {n.region!r} not listed" if n.region else "region not stated"
                add(
                    g,
                    n.id,
                    "cahra_country",
                    f"{n.role} in {n.country} ({region}); the country has listed CAHRA regions",
                )
            if n.audit is None:
                if n.role == "smelter_refiner":
                    add(g, n.id, "unaudited_smelter", "smelter/refiner without a third-party audit")
            else:
                if n.audit.result == "non_conformant":
                    add(g, n.id, "failed_audit", f"{n.audit.scheme} audit of {n.audit.date}: non-conformant")
                elif n.audit.result == "in_progress" and n.role == "smelter_refiner":
                    add(g, n.id, "unaudited_smelter", f"{n.audit.scheme} audit in progress, no conformant result yet")
                age = _months_between(n.audit.date, as_of)
                if age > max_age:
                    add(
                        g,
                        n.id,
                        "stale_audit",
                        f"{n.audit.scheme} audit of {n.audit.date} is {age} months old (limit {max_age})",
                    )
            if n.role not in SOURCE_ROLES and not g.suppliers(n.id):
                add(g, n.id, "missing_link", f"{n.role} has no declared supplier for {g.material}")
            if n.role != "cell_maker" and not any(c in _reachable([n.id], g.edges) for c in cells):
                add(g, n.id, "missing_link", f"{n.role} has no path to the cell maker")
            for risk in n.risks:
                cat = rules[risk]
                add(g, n.id, "annex_x_risk", f"Annex X risk: {cat.description}", cat.severity, cat.citation)
    findings.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.model, f.material, f.node, f.rule))
    return findings


def in_scope(turnover_eur: float | None, on: date, turnover_threshold_eur: float | None = None) -> dict[str, Any]:
    """Whether the obligation applies: date against ``obligation_start`` and turnover against the threshold."""
    rules = load_rules()
    start = date.fromisoformat(rules["obligation_start"].value)
    threshold = (
        float(rules["turnover_threshold_eur"].value) if turnover_threshold_eur is None else turnover_threshold_eur
    )
    applies_date = on >= start
    applies_turnover = None if turnover_eur is None else turnover_eur >= threshold
    return {
        "obligation_start": start.isoformat(),
        "obligation_start_source": rules["obligation_start"].citation,
        "date_applies": applies_date,
        "turnover_threshold_eur": threshold,
        "turnover_threshold_source": rules["turnover_threshold_eur"].citation,
        "turnover_applies": applies_turnover,
    }


def report(
    chain: SupplyChain, findings: list[Finding], *, as_of: date, cahra: list[CahraEntry], scope: dict[str, Any]
) -> dict[str, Any]:
    counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITY_ORDER}
    dates = sorted({e.list_date for e in cahra})
    return {
        "as_of": as_of.isoformat(),
        "scope": scope,
        "cahra_list": {
            "entries": len(cahra),
            "list_dates": dates,
            "sources": sorted({e.source_url for e in cahra}),
            "confidence": sorted({e.confidence for e in cahra}),
        },
        "graphs": [{"model": g.model, "material": g.material, "nodes": len(g.nodes)} for g in chain.graphs],
        "summary": counts,
        "findings": [f.as_dict() for f in findings],
    }


def text_table(findings: list[Finding]) -> str:
    if not findings:
        return "no findings"
    cols = ("severity", "model", "material", "node", "rule", "message")
    rows = [[str(f.as_dict()[c]) for c in cols] for f in findings]
    widths = [max(len(c), *(min(len(r[i]), 70) for r in rows)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)
