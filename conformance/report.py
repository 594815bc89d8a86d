"""Turning case results into reports/<candidate>/matrix.json. Reads results, nothing else.

Keys kept stable for the HTML report and the gate:
{"candidate": {"name", "spec", "device", "versions"},
 "layers": {"<Keras class name>": {"cells": [{"params", "status", "cases", "failed",
                                              "max_error_ratio", ...}], ...}}}
"""
import json
import math
from pathlib import Path

# A cell's status is the most serious of its cases' statuses, in this order.
SEVERITY = ("error", "failed", "xpassed", "xfailed", "passed", "skipped")


def cell_status(statuses):
    return min(statuses, key=SEVERITY.index)


def _key(params):
    return json.dumps(params, sort_keys=True)


def _short(value):
    """A float to 6 significant digits (ints, strings and None as they are)."""
    return float(f"{value:.6g}") if isinstance(value, float) else value


def _case_result(c):
    result = {k: c.get(k) for k in ("id", "status", "error_ratio", "message", "worst",
                                    "oracle")}
    if c["status"] == "passed":
        result["error_ratio"] = _short(result["error_ratio"])
        if isinstance(result["worst"], dict):
            result["worst"] = {k: _short(v) for k, v in result["worst"].items()}
    result["rerun"] = None if c["status"] == "passed" else c.get("rerun")
    return result


def build_matrix(candidate, results, live=None):
    """results: dicts with layer, params, id, status, error_ratio, message, worst, rerun.
    live: {layer: {"status", "message", "rerun"}} from the property tests."""
    layers = {}
    for r in sorted(results, key=lambda r: (r["layer"], r["id"])):
        cells = layers.setdefault(r["layer"], {})
        cells.setdefault(_key(r["params"]), []).append(r)
    matrix = {"candidate": candidate, "layers": {}}
    for layer in sorted(set(layers) | set(live or {})):
        cells = []
        for _, cases in sorted(layers.get(layer, {}).items()):
            ratios = [c["error_ratio"] for c in cases if c.get("error_ratio") is not None]
            counts = {s: sum(c["status"] == s for c in cases) for s in SEVERITY}
            cells.append({
                "params": cases[0]["params"],
                "status": cell_status([c["status"] for c in cases]),
                "cases": len(cases),
                "failed": counts["failed"],
                "counts": {s: n for s, n in counts.items() if n},
                "max_error_ratio": (None if not ratios else _short(max(ratios))
                                    if counts["passed"] == len(cases) else max(ratios)),
                # a rerun command for the cases that need one: a passed case's would be the
                # same command, and 5000 of them are most of a report's size; a passed case's
                # numbers to 6 digits (a failed one's in full)
                "case_results": [_case_result(c) for c in cases],
            })
        entry = {"cells": cells}
        totals = {s: sum(c["counts"].get(s, 0) for c in cells) for s in SEVERITY}
        entry["summary"] = {s: n for s, n in totals.items() if n}
        if live and layer in live:
            entry["live"] = live[layer]
        matrix["layers"][layer] = entry
    matrix["summary"] = {s: sum(l["summary"].get(s, 0) for l in matrix["layers"].values())
                         for s in SEVERITY}
    return matrix


def write_matrix(report_dir, matrix):
    folder = Path(report_dir) / safe_name(matrix["candidate"]["name"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "matrix.json"
    path.write_text(json.dumps(matrix, sort_keys=True, allow_nan=False, separators=(",", ":"),
                               default=_jsonable) + "\n")
    return path


def _jsonable(value):
    return str(value)


def safe_name(name):
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(name)) or "candidate"


def plain(value):
    """value with every non-finite float written as the string "nan", "inf" or "-inf", so that
    it is strict JSON (a NaN a candidate returned shows up in the worst element)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def json_number(x):
    """A float that JSON can hold (inf and NaN ratios become a large sentinel and None)."""
    if x is None or x != x:
        return None
    return min(float(x), 1e308)
