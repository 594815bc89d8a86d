"""The JSON Schema of matrix.json (matrix.schema.json, shipped as package data) and a check
against it. Needs the `jsonschema` package (the `dev` extra)."""
import json
from pathlib import Path

import jsonschema

SCHEMA_PATH = Path(__file__).with_name("matrix.schema.json")


def load_schema():
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


_validator = None


def validate(matrix):
    """Raise ValueError, with jsonschema's message and the place, if matrix does not fit."""
    global _validator
    if _validator is None:
        schema = load_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        _validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(_validator.iter_errors(matrix))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ValueError(f"{where}: {error.message}")
