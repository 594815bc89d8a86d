"""Small matrices for the report tests, built by the same code as a real run
(conformance.report.build_matrix), with every status and hostile third-party text."""
from conformance.report import build_matrix

HOSTILE_LAYER = "<script>window.__pwned=1</script>"
HOSTILE_VALUE = "\"'><img src=x onerror=window.__pwned=2>"
HOSTILE_MESSAGE = "</details><script>window.__pwned=3</script> & <b>not bold</b>"
HOSTILE_TEXTS = (HOSTILE_LAYER, HOSTILE_VALUE, HOSTILE_MESSAGE)


def _worst(expected, got, bound, index=(0, 1)):
    return {"output": 0, "index": list(index), "expected": expected, "got": got, "bound": bound,
            "ratio": abs(got - expected) / bound}


def result(layer, n, params, status, ratio=None, message="", worst=None, candidate="cand-a"):
    case_id = f"{layer}-{n:03d}"
    return {"layer": layer, "id": case_id, "params": params, "status": status,
            "error_ratio": ratio, "message": message, "worst": worst,
            "rerun": f"pytest --pyargs conformance.test_candidate --candidate {candidate} "
                     f"--case '{case_id}'"}


def results(candidate="cand-a"):
    dense = [result("Dense", i, {"units": u, "use_bias": b}, "passed", 0.1 * (i + 1))
             for i, (u, b) in enumerate([(1, True), (1, False), (4, True)])]
    dense += [  # one cell (units=4, use_bias=false) with a failed and a passed case
        result("Dense", 3, {"units": 4, "use_bias": False}, "failed", 12.5,
               "value outside its bound at output 0 index (0, 1)", _worst(1.0, 1.0000125, 1e-6)),
        result("Dense", 4, {"units": 4, "use_bias": False}, "passed", 0.5),
        result("Dense", 5, {"units": 8, "use_bias": True}, "xfailed", None, "known issue #12"),
        result("Dense", 6, {"units": 8, "use_bias": False}, "skipped", None, "not supported"),
    ]
    hostile = [
        result(HOSTILE_LAYER, 0, {"mode": HOSTILE_VALUE, "n": 1}, "error", None, HOSTILE_MESSAGE),
        result(HOSTILE_LAYER, 1, {"mode": "plain", "n": 1}, "xpassed", 0.2, "should have failed"),
        result(HOSTILE_LAYER, 2, {"mode": "plain", "n": 2}, "passed", 0.0),
    ]
    odd = [  # list, dict and null param values; an infinite ratio (1e308) with NaN worst
        result("Conv1D", 0, {"kernel_size": [3], "opts": {"a": 1}, "padding": None}, "failed",
               1e308, "NaN at output 0", {"output": 0, "index": [0, 0, 0], "expected": 0.5,
                                          "got": "nan", "bound": 0.0, "ratio": "inf"}),
        result("Conv1D", 1, {"kernel_size": [3], "opts": {"a": 1}, "padding": "same"}, "passed", 0.3),
    ]
    return [dict(r, rerun=r["rerun"].replace("cand-a", candidate)) for r in dense + hostile + odd]


def _candidate(name):
    return {"name": name, "spec": "keras3", "device": "cpu", "target": name,
            "versions": {"keras": "3.15.1", "numpy": "2.4.6"}}


def candidate_matrix(name="cand-a"):
    live = {"Dense": {"status": "passed", "message": "", "rerun": "pytest -k live"},
            HOSTILE_LAYER: {"status": "failed", "message": HOSTILE_MESSAGE, "rerun": "pytest -k x"}}
    return build_matrix(_candidate(name), results(name), live)


def second_matrix(name="cand-b"):
    """Another candidate: all of Dense passes, and the hostile layer was not run."""
    kept = [dict(r, status="passed", error_ratio=0.5) if r["layer"] == "Dense" else r
            for r in results(name) if r["layer"] != HOSTILE_LAYER]
    return build_matrix(_candidate(name), kept)
