"""The markup every HTML page of the suite shares: statuses in words and symbols, the style and
script (allowed by a Content-Security-Policy of their hashes only), escaping, number and value
formats, a layer's aggregate status, and the page shell. The pages are in html_report.py."""
import base64
import hashlib
import functools
import json
from collections import Counter
from html import escape
from urllib.parse import quote

from conformance.report import SEVERITY

ORDER = ("passed", "failed", "error", "xpassed", "xfailed", "skipped")   # reading order
FAILING = ("failed", "error", "xpassed")
SYMBOL = {"passed": "✓", "failed": "✗", "error": "⚠", "xpassed": "✓!", "xfailed": "⊘",
          "skipped": "↷"}
MEANING = {"passed": "within bounds", "failed": "outside bounds", "error": "crashed or raised",
           "xpassed": "expected to fail but passed", "xfailed": "expected failure",
           "skipped": "declared unsupported, or skipped"}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d232a;margin:0 auto;
 padding:1.2em 2em 4em;max-width:1400px;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:0}h3{font-size:1em;margin:1.2em 0 .4em}
a{color:#0b57d0}
code,pre,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}
table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #d4d9df;padding:3px 8px;
 text-align:left;vertical-align:top}th{background:#f3f5f7;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#4a5561;margin:.2em 0}.meta b{color:#1d232a}
.st{display:inline-block;padding:0 .45em;border-radius:3px;font-weight:600;white-space:nowrap}
.st-passed{background:#e3f4e8;color:#1b5e20}.st-failed{background:#fde2e1;color:#a4161a}
.st-error{background:#ffe9cc;color:#8a4100}.st-xpassed{background:#efe3fb;color:#6a1b9a}
.st-xfailed{background:#eceff3;color:#3e4a57}.st-skipped{background:#f4f4f4;color:#5f6368}
.st-unknown,.notrun{background:#fff;color:#5f6368}
td.st{display:table-cell;border-radius:0}
.counts span{white-space:nowrap}.counts span+span{margin-left:.8em}
.over{color:#a4161a;font-weight:600}
.legend>span{margin-right:1.2em;white-space:nowrap}
.layer{border:1px solid #d4d9df;border-radius:6px;padding:.8em 1em;margin:1.2em 0}
.layer>header{display:flex;flex-wrap:wrap;gap:.4em 1em;align-items:baseline}
.grids{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.grid td{text-align:center;white-space:nowrap;min-width:3em}
.grid small{display:block;font-weight:400}
.grid td.none{color:#aab}
details{margin:.3em 0}summary{cursor:pointer}
details.cell{border:1px solid #d4d9df;border-radius:4px;padding:.2em .6em}
details.cell[open]{background:#fbfbfc}
.case{border-top:1px solid #e3e6ea;padding:.4em 0}
pre.msg{white-space:pre-wrap;word-break:break-word;max-height:18em;overflow:auto;background:#f6f7f9;
 border:1px solid #e3e6ea;padding:.4em .6em;margin:.3em 0}
.rerun code{background:#f6f7f9;border:1px solid #e3e6ea;padding:1px 5px;user-select:all}
button{font:inherit;font-size:12px;padding:1px 8px;cursor:pointer}
.tools{margin:.8em 0;display:flex;gap:1em;align-items:center}
body.only-failing .layer.ok,body.only-failing tr.ok{display:none}
.compare td{min-width:11em}.compare td a{font-weight:600;color:inherit}
.compare small{display:block;color:#3e4a57}
"""

JS = """
const all = (selector) => document.querySelectorAll(selector);
all('[data-expand]').forEach((b) => b.addEventListener('click', () =>
  all('details.cell').forEach((d) => { d.open = b.dataset.expand === '1'; })));
const only = document.getElementById('only-failing');
if (only) only.addEventListener('change', () =>
  document.body.classList.toggle('only-failing', only.checked));
all('button.copy').forEach((b) => b.addEventListener('click', () =>
  navigator.clipboard?.writeText(b.previousElementSibling.textContent)
    .then(() => { b.textContent = 'copied'; }, () => {})));
"""


def _sha(text):
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# Only this module's <style> and <script> blocks may apply: injected markup could not run.
CSP = f"default-src 'none'; style-src {_sha(CSS)}; script-src {_sha(JS)}"


def e(text):
    return escape(str(text), quote=True)


def _rank(status):
    return SEVERITY.index(status) if status in SEVERITY else -1   # unknown counts as worst


def worst_status(statuses):
    statuses = list(statuses)
    return min(statuses, key=_rank) if statuses else None


def _cls(status):
    return f'st st-{status if status in SYMBOL else "unknown"}'


def badge(status, tag="span"):
    return f'<{tag} class="{_cls(status)}">{SYMBOL.get(status, "?")} {e(status)}</{tag}>'


def fmt_ratio(r):
    """A ratio to read: 1e308 (and "inf", as worst elements hold it) is ∞; above 1 stands out."""
    if r is None:
        return "—"
    try:
        x = float(r)
    except (TypeError, ValueError):
        return e(r)
    text = "∞" if x >= 1e308 else "NaN" if x != x else f"{x:.3g}"
    return text if x <= 1 else f'<span class="over">{text}</span>'


def fmt_value(v):
    """A param value as text: strings bare unless they would read as another JSON value."""
    if isinstance(v, str):
        try:
            json.loads(v)
        except ValueError:
            return v
    if isinstance(v, float):
        return repr(v)
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def fmt_counts(counts):
    parts = [f"<span>{e(counts[s])} {SYMBOL[s]} {s}</span>" for s in ORDER if counts.get(s)]
    parts += [f"<span>{e(n)} ? {e(s)}</span>" for s, n in counts.items() if s not in SYMBOL and n]
    return f'<span class="counts">{"".join(parts) or "no cases"}</span>'


def cell_counts(cell):
    return Counter(cell.get("counts") or {cell["status"]: cell.get("cases", 1)})


def aggregate(cells):
    counts = Counter()
    for c in cells:
        counts.update(c.get("counts") or {c["status"]: c.get("cases", 1)})
    ratios = [c["max_error_ratio"] for c in cells if c.get("max_error_ratio") is not None]
    return {"status": worst_status(c["status"] for c in cells), "counts": counts,
            "cells": len(cells), "worst": max(ratios, default=None)}


def layer_overview(entry):
    """(status, counts, worst ratio) of a layer; a failing live property test counts too."""
    cells = entry.get("cells") or []
    agg = aggregate(cells)
    counts = Counter(entry.get("summary") or agg["counts"])
    live = (entry.get("live") or {}).get("status")
    status = worst_status([s for s, n in counts.items() if n] + ([live] if live else []))
    return status, counts, agg["worst"]


def anchor(layer):
    return "layer-" + quote(str(layer), safe="")


def _key(v):
    if v is None or type(v) in (str, int, float, bool):     # most values: one dumps each
        return _scalar_key(v)
    return json.dumps(v, sort_keys=True)


@functools.lru_cache(maxsize=4096, typed=True)
def _scalar_key(v):
    return json.dumps(v)


def _ordered(distinct):
    """The values of {_key(value): value}: numbers first, in numeric order, then the rest in
    the order of their keys."""
    def order(item):
        key, v = item
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        return (0, v, "") if number else (1, 0, key)
    return [v for _, v in sorted(distinct.items(), key=order)]


def _page(title, body):
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{e(title)}</title>\n<style>{CSS}</style></head>\n<body>\n{body}\n'
            f'<script>{JS}</script>\n</body></html>\n')


def _legend():
    items = "".join(f'<span>{badge(s)} {MEANING[s]}</span>' for s in ORDER)
    return (f'<p class="legend">{items}<br>ratio = |got − expected| / bound, of the worst '
            'element; above 1 fails. A pair grid gives, for each pair of parameter values, the '
            'cases per status and the worst ratio; · means no case has that pair.</p>')
