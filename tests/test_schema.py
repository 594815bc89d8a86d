"""matrix.schema.json: what a run writes fits it; broken matrices do not."""
import copy
import json

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (the dev extra) is not installed")

from conformance.report import write_matrix  # noqa: E402
from conformance.schema import load_schema, validate  # noqa: E402
from tests.report_samples import candidate_matrix, second_matrix


def test_the_schema_is_a_valid_draft_2020_12_schema():
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_matrices_as_written_by_a_run_are_accepted(tmp_path):
    for matrix in (candidate_matrix(), second_matrix()):
        path = write_matrix(tmp_path, matrix)        # through JSON, as the plugin writes it
        validate(json.loads(path.read_text()))


def test_later_keys_are_allowed():
    matrix = candidate_matrix()
    matrix["generated_by"] = "a later version"
    matrix["layers"]["Dense"]["cells"][0]["seed"] = 7
    validate(matrix)


def _cell(m):
    return m["layers"]["Dense"]["cells"][0]


def _failed_case(m):
    return next(r for c in m["layers"]["Dense"]["cells"] for r in c["case_results"]
                if r["status"] == "failed")


BROKEN = {
    "no candidate": lambda m: m.pop("candidate"),
    "no candidate name": lambda m: m["candidate"].pop("name"),
    "unknown spec": lambda m: m["candidate"].update(spec="keras9"),
    "no layers": lambda m: m.pop("layers"),
    "cells not a list": lambda m: m["layers"]["Dense"].update(cells={}),
    "cell without status": lambda m: _cell(m).pop("status"),
    "cell without max_error_ratio": lambda m: _cell(m).pop("max_error_ratio"),
    "bad cell status": lambda m: _cell(m).update(status="ok"),
    "folded status": lambda m: _cell(m).update(status="passed-ish"),
    "bad case status": lambda m: _cell(m)["case_results"][0].update(status="PASSED"),
    "bad status in counts": lambda m: _cell(m)["counts"].update(succeeded=1),
    "bad status in summary": lambda m: m["summary"].update(green=3),
    "ratio as text": lambda m: _cell(m).update(max_error_ratio="0.5"),
    "negative case count": lambda m: _cell(m).update(cases=-1),
    "index of floats": lambda m: _failed_case(m)["worst"].update(index=[0.5]),
}


@pytest.mark.parametrize("breakage", BROKEN, ids=list(BROKEN))
def test_broken_matrices_are_rejected(breakage):
    matrix = copy.deepcopy(candidate_matrix())
    BROKEN[breakage](matrix)
    with pytest.raises(ValueError):
        validate(matrix)


def test_the_message_says_where():
    matrix = candidate_matrix()
    _cell(matrix).update(status="ok")
    with pytest.raises(ValueError, match=r"layers/Dense/cells/0/status: 'ok' is not one of"):
        validate(matrix)
