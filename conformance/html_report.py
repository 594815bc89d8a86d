"""HTML pages from matrix.json: one page per candidate, and a side-by-side compatibility page.

Each page is one self-contained file (inline CSS, a few lines of static JS, no network). Every
piece of text from the matrix is escaped with html.escape(quote=True); the JS holds no data, and
a Content-Security-Policy allows only the style and script blocks of html_parts.py.

    python -m conformance.html_report render reports/tf.keras/matrix.json
    python -m conformance.html_report compare reports/*/matrix.json -o reports/index.html
"""
import argparse
import itertools
import json
import os
import sys
import textwrap
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from conformance.html_parts import (
    FAILING, ORDER, SYMBOL, _cls, _key, _legend, _ordered, _page, aggregate, anchor, badge,
    cell_counts, e, fmt_counts, fmt_ratio, fmt_value, layer_overview, worst_status,
)
from conformance.report import SEVERITY


# Candidate page ------------------------------------------------------------------------------

def render_candidate(matrix):
    cand = matrix.get("candidate") or {}
    layers = matrix.get("layers") or {}
    overviews = {name: layer_overview(entry) for name, entry in layers.items()}
    totals = Counter(matrix.get("summary") or sum((o[1] for o in overviews.values()), Counter()))
    versions = ", ".join(f"{e(k)} {e(v)}" for k, v in sorted((cand.get("versions") or {}).items()))
    head = (f'<h1>Keras conformance: {e(cand.get("name", "?"))}</h1>\n<p class="meta">'
            f'spec <b>{e(cand.get("spec", "?"))}</b> · device <b>{e(cand.get("device", "?"))}</b>'
            f' · precision <b>{e(cand.get("precision") or "float32")}</b>'
            + (f' · target <b>{e(cand["target"])}</b>' if cand.get("target") else "")
            + (f' · {versions}' if versions else "") + '</p>\n'
            f'<p>{badge(worst_status(s for s, n in totals.items() if n) or "skipped")} '
            f'{fmt_counts(totals)} in {len(layers)} layers</p>\n{_legend()}')
    rows = []
    for name, (status, counts, worst) in overviews.items():
        live = (layers[name].get("live") or {}).get("status")
        ok = "" if status in FAILING else ' class="ok"'
        rows.append(f'<tr{ok}><td><a href="#{e(anchor(name))}">{e(name)}</a></td>'
                    f'{badge(status or "skipped", "td")}<td>{fmt_counts(counts)}</td>'
                    f'<td class="n">{fmt_ratio(worst)}</td>'
                    f'<td>{badge(live) if live else "—"}</td></tr>')
    overview = ('<table class="overview"><tr><th>Layer</th><th>Status</th><th>Cases</th>'
                '<th class="n">Worst ratio</th><th>Property test</th></tr>\n'
                + "\n".join(rows) + '</table>\n')
    tools = ('<div class="tools"><label><input type="checkbox" id="only-failing"> only layers '
             'with failures</label><button data-expand="1">expand all cells</button>'
             '<button data-expand="0">collapse all cells</button></div>')
    sections = [_layer_section(name, entry, overviews[name]) for name, entry in layers.items()]
    return _page(f'Keras conformance: {cand.get("name", "?")}',
                 head + _gate_section(matrix.get("gate") or {}) + _model_section(matrix)
                 + overview + tools + "\n".join(sections))


# the model section's statuses, as the badges of case statuses show them
MODEL_BADGE = {"passed": "passed", "failing": "failed", "error": "error", "skipped": "skipped",
               "not vouched": "error", "known divergence": "xfailed"}


def _model_section(matrix):
    """--model: the model's layers in its own order, with each one's status and, where it
    fails, the first problem and its rerun command."""
    model = matrix.get("model")
    if not model:
        return ""
    rows = []
    for n, row in enumerate(model.get("layers") or []):
        status = row.get("status", "?")
        shown = MODEL_BADGE.get(status)
        mark = f'<td class="{_cls(shown)}">{SYMBOL.get(shown, "·")} {e(status)}</td>'
        detail = e(row.get("message") or "")
        if row.get("rerun"):
            detail += f'<br><code>{e(row["rerun"])}</code>'
        shapes = ", ".join(str(tuple(s)) for s in row.get("input_shapes") or [])
        layer = (f'<a href="#{e(anchor(row["layer"]))}">{e(row["layer"])}</a>'
                 if row["layer"] in (matrix.get("layers") or {}) else e(row["layer"]))
        rows.append(f'<tr><td class="n">{n}</td><td>{e(row.get("name"))}</td><td>{layer}</td>'
                    f'<td>{e(shapes)}</td>{mark}<td class="n">{e(row.get("cases", ""))}</td>'
                    f'<td class="n">{fmt_ratio(row.get("worst_ratio"))}</td>'
                    f'<td>{detail}</td></tr>')
    counts = ", ".join(f"{e(n)} {e(s)}" for s, n in sorted((model.get("summary") or {}).items()))
    return (f'<section class="model"><h2>Model {e(model.get("name"))}</h2>'
            f'<p class="meta">{e(model.get("source"))} · {e(model.get("spec"))} · '
            f'{len(model.get("layers") or [])} layer instances: {counts}</p>'
            '<table class="overview"><tr><th class="n">#</th><th>Layer</th><th>Class</th>'
            '<th>Input shapes</th><th>Status</th><th class="n">Cases</th>'
            '<th class="n">Worst ratio</th><th>First problem</th></tr>\n'
            + "\n".join(rows) + '</table></section>\n')


def _gate_section(findings):
    """What the CI gate saw: stale known-failures entries, patterns matching nothing, and the
    cells that regressed or improved against the baseline."""
    items = []
    for case_id in findings.get("stale") or []:
        items.append(f'<li>{badge("xpassed")} fixed: known-failures entry <code>{e(case_id)}'
                     f'</code> passes now (stale entry)</li>')
    for pattern in findings.get("unmatched_patterns") or []:
        items.append(f'<li>⚠ known-failures pattern <code>{e(pattern)}</code> matches no case</li>')
    baseline = findings.get("baseline") or {}
    for kind, mark in (("regressed", "▼ regressed"), ("improved", "▲ improved")):
        for change in baseline.get(kind) or []:
            items.append(f'<li><b>{mark}</b>: <a href="#{e(anchor(change["layer"]))}">'
                         f'{e(change["layer"])}</a> {e(_params_text(change["params"]))}: '
                         f'{e(change["before"] or "not run")} → {e(change["after"])}</li>')
    if not items:
        return ""
    source = f' (baseline {e(baseline["path"])})' if baseline.get("path") else ""
    return f'<section class="gate"><h2>CI gate{source}</h2><ul>{"".join(items)}</ul></section>\n'



def _layer_section(name, entry, overview):
    status, counts, worst = overview
    cells = entry.get("cells") or []
    failing = status in FAILING
    out = [f'<section class="layer{"" if failing else " ok"}" id="{e(anchor(name))}"><header>'
           f'<h2>{e(name)}</h2>{badge(status or "skipped")}{fmt_counts(counts)}'
           f'<span>{len(cells)} cells · worst ratio {fmt_ratio(worst)}</span></header>']
    live = entry.get("live")
    if live and live.get("status") in FAILING:
        out.append(f'<details class="live"><summary>Property test: {badge(live.get("status"))} '
                   f'(falsifying example)</summary>'
                   f'{_message_and_rerun(live.get("message"), live.get("rerun"))}</details>')
    elif live:
        out.append(f'<p>Property test: {badge(live.get("status"))}</p>')
    params = list(dict.fromkeys(p for c in cells for p in c.get("params") or {}))
    present = [s for s in ORDER if any(cell_counts(c).get(s) for c in cells)]
    keyed = _keyed(cells)
    if params:
        out.append('<h3>By parameter value</h3>' + _value_table(keyed, params, present))
    # a pair of parameters no cell holds together (a common parameter's own key and a layer
    # parameter, or a full config's) has nothing to show; "contract" (which part of the
    # contract a cell checks: the common parameters) is read in the by-value table
    gridded = [p for p in params if p != "contract"]
    held = set()
    for _, keys in keyed:
        held.update(itertools.combinations([p for p in gridded if p in keys], 2))
    pairs = [pair for pair in itertools.combinations(gridded, 2) if pair in held]
    if pairs and all(c["status"] in ("passed", "skipped") for c in cells):
        # nothing to locate: thousands of green grids would be most of the page
        out.append(f'<p>By pair of parameter values: every cell passed or was skipped '
                   f'({len(pairs)} grids not drawn; matrix.json holds every cell).</p>')
    elif pairs:
        grids = [_pair_grid(keyed, a, b) for a, b in pairs]
        plural = "s" * (len(grids) > 1)
        out.append(f'<details class="pairs"{" open" if failing else ""}><summary>'
                   f'<b>By pair of parameter values</b> ({len(grids)} grid{plural})</summary>'
                   f'<div class="grids">{"".join(grids)}</div></details>')
    bad = [c for c in cells if c["status"] in FAILING]
    if bad:
        out.append(f'<h3>Failing cells ({len(bad)})</h3>' + "".join(_cell_details(c) for c in bad))
    other = [c for c in cells if c["status"] in ("xfailed", "skipped")]
    if other:
        out.append(f'<details><summary>Expected failures and skips ({len(other)} cells)</summary>'
                   + "".join(_cell_details(c) for c in other) + '</details>')
    return "\n".join(out) + "</section>"


def _keyed(cells):
    """(cell, {param: _key(value)}) for each cell: the keys computed once a layer."""
    return [(c, {p: _key(v) for p, v in (c.get("params") or {}).items()}) for c in cells]


def _grouped(keyed, *params):
    """The cells that have every one of `params`, grouped by their values (as _key gives
    them), from (cell, {param: _key(value)}) pairs: what _with gives for each combination of
    values, in one pass."""
    groups = {}
    for c, keys in keyed:
        if all(p in keys for p in params):
            groups.setdefault(tuple(keys[p] for p in params), []).append(c)
    return groups


def _value_table(keyed, params, present):
    head = ('<tr><th>Parameter</th><th>Value</th><th>Status</th>'
            + "".join(f'<th class="n">{SYMBOL[s]} {s}</th>' for s in present)
            + '<th class="n">Cells</th><th class="n">Worst ratio</th></tr>')
    rows = []
    for p in params:
        values = _ordered({keys[p]: c["params"][p] for c, keys in keyed if p in keys})
        groups = _grouped(keyed, p)
        for i, v in enumerate(values):
            agg = aggregate(groups.get((_key(v),), []))
            first = f'<th rowspan="{len(values)}">{e(p)}</th>' if i == 0 else ""
            rows.append(f'<tr>{first}<td class="mono">{e(fmt_value(v))}</td>'
                        f'{badge(agg["status"], "td")}'
                        + "".join(f'<td class="n">{e(agg["counts"].get(s) or "")}</td>'
                                  for s in present)
                        + f'<td class="n">{agg["cells"]}</td>'
                          f'<td class="n">{fmt_ratio(agg["worst"])}</td></tr>')
    return f'<table class="values">{head}{"".join(rows)}</table>'


def _pair_grid(keyed, a, b):
    rows_v = _ordered({keys[a]: c["params"][a] for c, keys in keyed if a in keys and b in keys})
    cols_v = _ordered({keys[b]: c["params"][b] for c, keys in keyed if a in keys and b in keys})
    head = (f'<tr><th>{e(a)} ╲ {e(b)}</th>'
            + "".join(f'<th class="mono">{e(fmt_value(v))}</th>' for v in cols_v) + '</tr>')
    groups = _grouped(keyed, a, b)
    rows = []
    for rv in rows_v:
        tds = []
        for cv in cols_v:
            agg = aggregate(groups.get((_key(rv), _key(cv)), []))
            # terse markup: a report holds thousands of these (the legend explains them)
            if not agg["cells"]:
                tds.append('<td class="none">·</td>')
                continue
            counts = agg["counts"]
            text = " ".join(f"{SYMBOL[s]}{e(counts[s])}" for s in SEVERITY if counts.get(s))
            tip = "" if agg["status"] == "passed" else \
                f' title="{e(agg["status"])}: {agg["cells"]} cells"'
            tds.append(f'<td class="{_cls(agg["status"])}"{tip}>{text}'
                       f'<small>{fmt_ratio(agg["worst"])}</small></td>')
        rows.append(f'<tr><th class="mono">{e(fmt_value(rv))}</th>{"".join(tds)}</tr>')
    return f'<table class="grid">{head}{"".join(rows)}</table>'


def _params_text(params):
    return " · ".join(f"{k}={fmt_value(v)}" for k, v in (params or {}).items()) or "(no params)"


def _cell_details(cell):
    counts = cell_counts(cell)
    cases = cell.get("case_results") or []
    shown = [c for c in cases if c.get("status") in FAILING] or \
        [c for c in cases if c.get("status") != "passed"] or cases
    rest = Counter(c.get("status") for c in cases if not any(c is s for s in shown))
    body = "".join(_case(c) for c in shown)
    if rest:
        body += f'<p>Also in this cell: {fmt_counts(rest)}</p>'
    return (f'<details class="cell"><summary>{badge(cell["status"])} '
            f'<span class="mono">{e(_params_text(cell.get("params")))}</span> · '
            f'{fmt_counts(counts)} · worst ratio {fmt_ratio(cell.get("max_error_ratio"))}'
            f'</summary><div class="cases">{body or "<p>no case results recorded</p>"}</div>'
            '</details>')


def _case(case):
    worst = case.get("worst")
    vouched = f' · vouched for by {e(case["oracle"])}' if case.get("oracle") else ""
    line = (f'<div><b class="mono">{e(case.get("id", "?"))}</b> {badge(case.get("status"))} '
            f'ratio {fmt_ratio(case.get("error_ratio"))}{vouched}</div>')
    if isinstance(worst, dict):
        fields = [("output", worst.get("output")), ("index", worst.get("index")),
                  ("expected", worst.get("expected")), ("got", worst.get("got")),
                  ("bound", worst.get("bound"))]
        line += ('<div class="mono">worst element: '
                 + " · ".join(f'{k} {e(fmt_value(v))}' for k, v in fields)
                 + f' · ratio {fmt_ratio(worst.get("ratio"))}</div>')
    return (f'<div class="case">{line}'
            f'{_message_and_rerun(case.get("message"), case.get("rerun"))}</div>')


def _message_and_rerun(message, rerun):
    out = f'<pre class="msg">{e(textwrap.dedent(message).strip())}</pre>' if message else ""
    if rerun:
        out += (f'<div class="rerun">rerun: <code>{e(rerun)}</code> '
                '<button class="copy" type="button">copy</button></div>')
    return out


# Side-by-side page ---------------------------------------------------------------------------

def _detail_href(matrix_relpath, layer=None):
    page = Path(matrix_relpath).parent.joinpath("index.html").as_posix()
    return quote(page, safe="/") + (f"#{anchor(layer)}" if layer is not None else "")


def render_comparison(matrices):
    """matrices: [(path of matrix.json relative to the page's folder, matrix dict)]."""
    layers = sorted({name for _, m in matrices for name in m.get("layers") or {}})
    head = ['<th>Layer</th>']
    for rel, m in matrices:
        cand = m.get("candidate") or {}
        agg = Counter()
        for entry in (m.get("layers") or {}).values():
            agg += layer_overview(entry)[1]
        totals = Counter(m.get("summary") or agg)
        head.append(f'<th><a href="{e(_detail_href(rel))}">{e(cand.get("name", "?"))}</a>'
                    f'<small>{e(cand.get("spec", "?"))} · {e(cand.get("device", "?"))} · '
                    f'{e(cand.get("precision") or "float32")}</small>'
                    f'<small>{fmt_counts(totals)}</small></th>')
    rows = []
    for name in layers:
        tds = []
        for rel, m in matrices:
            entry = (m.get("layers") or {}).get(name)
            if entry is None:
                tds.append('<td class="notrun">– not run</td>')
                continue
            status, counts, worst = layer_overview(entry)
            status = status or "skipped"
            tds.append(f'<td class="{_cls(status)}"><a href="{e(_detail_href(rel, name))}">'
                       f'{SYMBOL.get(status, "?")} {e(status)}</a>'
                       f'<small>{fmt_counts(counts)}</small>'
                       f'<small>worst ratio {fmt_ratio(worst)}</small></td>')
        rows.append(f'<tr><th>{e(name)}</th>{"".join(tds)}</tr>')
    body = (f'<h1>Keras conformance: side by side</h1>\n{_legend()}\n'
            f'<table class="compare"><tr>{"".join(head)}</tr>\n' + "\n".join(rows) + '</table>')
    return _page("Keras conformance: side by side", body)


# Files and command line ----------------------------------------------------------------------

def load_matrix(path):
    """The matrix at path, checked against matrix.schema.json (a shape check without jsonschema).
    Raises ValueError saying what is wrong."""
    try:
        matrix = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read a matrix: {exc}") from None
    try:
        from conformance.schema import validate
    except ImportError:   # jsonschema is a dev extra: check what rendering relies on
        validate = _shape_check
    try:
        validate(matrix)
    except ValueError as exc:
        raise ValueError(f"{path}: not a valid matrix: {exc}") from None
    return matrix


def _shape_check(matrix):
    ok = (isinstance(matrix, dict) and isinstance(matrix.get("candidate"), dict)
          and isinstance(matrix.get("layers"), dict)
          and all(isinstance(l, dict) and isinstance(l.get("cells", []), list)
                  and all(isinstance(c, dict) and "status" in c for c in l.get("cells", []))
                  for l in matrix["layers"].values()))
    if not ok:
        raise ValueError("expected {'candidate': {...}, 'layers': {name: {'cells': [...]}}}")


def write_candidate_report(matrix_path, matrix=None):
    matrix = load_matrix(matrix_path) if matrix is None else matrix
    out = Path(matrix_path).parent / "index.html"
    out.write_text(render_candidate(matrix), encoding="utf-8")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m conformance.html_report",
                                     description="HTML reports from matrix.json files")
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="write index.html next to each matrix.json")
    render.add_argument("matrices", nargs="+")
    compare = sub.add_parser("compare", help="side-by-side page (and each candidate's page)")
    compare.add_argument("matrices", nargs="+")
    compare.add_argument("-o", "--output", default="reports/index.html")
    args = parser.parse_args(argv)
    try:
        loaded = [(path, load_matrix(path)) for path in args.matrices]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path, matrix in loaded:
        print(write_candidate_report(path, matrix))
    if args.command == "compare":
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        rel = [(os.path.relpath(path, out.parent), m) for path, m in loaded]
        out.write_text(render_comparison(rel), encoding="utf-8")
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
