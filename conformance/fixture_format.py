"""The golden fixture files: writing and reading them (conformance/fixtures.py generates
and verifies them).

Layout (any language can read it):
    manifest.json            format, tool versions, how seeds are derived, sha256 of each file
    <spec>/<Layer>.json.gz   the cases, gzip-compressed JSON: id, params, config, call_kwargs
                             and, for every array, where <spec>/<Layer>.npz holds it: a
                             reference [dtype, offset, shape] (an array in call_kwargs, such
                             as a mask, is written {"array": reference}; a list of them, such
                             as initial_state, {"arrays": [references]})
    <spec>/<Layer>.npz       the arrays (inputs, weights, expected, bounds, masks, cotangents),
                             packed: one flat .npy member per dtype, named by it ("float32",
                             "float64", "bool", ...), loaded with allow_pickle=False. The array
                             [dtype, offset, shape] is member dtype's elements offset ..
                             offset + prod(shape) - 1, in C order, reshaped to shape.

A case passes when |got - expected| <= bound in every element of every output (with the rules
for NaN, infinities, overflow and values below 2^-126 of conformance/compare.py). JSON cannot
hold NaN or infinities: where a config or check holds one, it is written {"float": "nan"},
{"float": "inf"} or {"float": "-inf"}; the arrays in the .npz hold them as they are.
"""
import copy
import gzip
import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conformance.case import Case

FORMAT = 2


def to_json(value):
    """value with every non-finite float written {"float": "nan" | "inf" | "-inf"}."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def from_json(value):
    """The inverse of to_json."""
    if isinstance(value, dict):
        return _non_finite({k: from_json(v) for k, v in value.items()})
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def _non_finite(obj):
    """A JSON object read back: {"float": "nan" | "inf" | "-inf"} is that float (to_json's
    writing); any other object is itself. As json.loads's object_hook, it decodes a whole
    document in one pass, where from_json walks it again (the fixtures' array references are
    short lists, a hundred values a case)."""
    if len(obj) == 1 and obj.get("float") in ("nan", "inf", "-inf"):
        return float(obj["float"])
    return obj


def default_root():
    """The fixtures shipped with the package (the repo's fixtures/ in a checkout)."""
    try:
        import keras_conformance_fixtures
        return Path(keras_conformance_fixtures.__file__).parent
    except ImportError:
        return Path(__file__).resolve().parent.parent / "fixtures"


class FixtureError(Exception):
    """A fixture file is missing, corrupt or tampered with."""


@dataclass
class FixtureProblem:
    file: str
    message: str


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# Writing --------------------------------------------------------------------------------------

class ArrayPack:
    """The arrays of one layer's cases, packed one flat array per dtype (the .npz members); an
    array is referred to as [dtype, offset, shape]. Packing spares the few hundred bytes that
    an .npz member of its own costs, most of a small array's size. An array put twice (a
    round-trip or full-config twin's inputs and expected values) is stored once, both
    references naming the same elements."""

    def __init__(self, members=None):
        self.members = dict(members or {})      # dtype name -> flat array (reading)
        self._parts = {}                        # dtype name -> flat arrays (writing)
        self._sizes = {}                        # dtype name -> elements so far (writing)
        self._stored = {}                       # (dtype, bytes) -> offset (writing)

    def put(self, value):
        value = np.asarray(value)
        dtype, flat = value.dtype.name, value.ravel()
        key = (dtype, flat.tobytes())
        if key not in self._stored:
            self._stored[key] = self._sizes.get(dtype, 0)
            self._parts.setdefault(dtype, []).append(flat)
            self._sizes[dtype] = self._stored[key] + flat.size
        return [dtype, self._stored[key], list(value.shape)]

    def packed(self):
        return {dtype: np.concatenate(parts) for dtype, parts in self._parts.items()}

    def get(self, reference):
        dtype, offset, shape = reference
        flat = self.members[dtype]
        size = math.prod(shape)
        if not (isinstance(offset, int) and offset >= 0 and offset + size <= flat.size
                and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ValueError(f"array reference {reference} lies outside the {dtype} member "
                             f"({flat.size} elements)")
        return flat[offset:offset + size].reshape(shape)


def _case_record(case, arrays):
    def put(kind, values):
        return [arrays.put(value) for value in values]

    def call_argument(name, value):
        if isinstance(value, np.ndarray):
            return {"array": put(f"call_kwargs/{name}", [value])[0]}
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, np.ndarray) for v in value):
            return {"arrays": put(f"call_kwargs/{name}", list(value))}
        return value

    call_kwargs = {name: call_argument(name, value) for name, value in case.call_kwargs.items()}
    observed = {name: {"check": entry} if isinstance(entry, dict) else
                {"expected": put(f"observed/{name}/expected", entry[0]),
                 "bounds": put(f"observed/{name}/bounds", [float32_up(b) for b in entry[1]])}
                for name, entry in (case.observed or {}).items()}
    record = {"id": case.id, "params": case.params, "config": case.config,
              "call_kwargs": call_kwargs,
              "inputs": put("inputs", case.inputs), "weights": put("weights", case.weights),
              "expected": put("expected", case.expected),
              "bounds": put("bounds", [float32_up(b) for b in case.bounds]),
              "expected_mask": put("mask", [case.expected_mask])[0]
              if case.expected_mask is not None else None,
              "expected_dtypes": case.expected_dtypes, "check": case.check,
              "seed": case.seed, "oracle": case.oracle,
              "derived_from": case.derived_from}
    if case.fallback_reason:
        record["fallback_reason"] = case.fallback_reason
    if case.oracle_via:
        record["oracle_via"] = case.oracle_via
    if observed:
        record["observed"] = observed
    if case.overflow is not None:
        record["overflow"] = put("overflow", case.overflow)
    if case.cotangent is not None:          # a gradient case (observed["gradients"])
        record["cotangent"] = put("cotangent", case.cotangent)
    return to_json(record)


def float32_up(bound):
    """A bound stored as float32, rounded up so that storing never tightens it."""
    with np.errstate(over="ignore"):
        stored = np.asarray(bound, np.float64).astype(np.float32)
        return np.where(stored < bound, np.nextafter(stored, np.float32(np.inf)), stored)


def write_layer(root, keras_spec, layer, cases):
    """Write one layer's cases; returns the two file names relative to root."""
    folder = Path(root) / keras_spec
    folder.mkdir(parents=True, exist_ok=True)
    arrays = ArrayPack()
    records = [_case_record(c, arrays) for c in cases]
    # one case a line: compact, and still readable with zcat
    text = "".join([f'{{"format": {FORMAT}, "layer": {json.dumps(layer)}, '
                    f'"spec": {json.dumps(keras_spec)}, "cases": [\n',
                    ",\n".join(json.dumps(r, sort_keys=True, separators=(",", ":"),
                                           allow_nan=False) for r in records), "\n]}\n"])
    # mtime=0: the same cases give the same bytes, so the manifest's sha256 is reproducible
    (folder / f"{layer}.json.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    with open(folder / f"{layer}.npz", "wb") as f:
        np.savez_compressed(f, **arrays.packed())
    return [f"{keras_spec}/{layer}.json.gz", f"{keras_spec}/{layer}.npz"]


# Reading --------------------------------------------------------------------------------------

def read_manifest(root):
    path = Path(root) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FixtureError(f"{path}: unreadable manifest ({exc})") from exc
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise FixtureError(f"{path}: not a format {FORMAT} manifest")
    return manifest


def _call_argument(value, arrays):
    """A call argument as stored: {"array": reference}, {"arrays": [references]} or a plain
    value."""
    if isinstance(value, dict) and set(value) == {"array"}:
        return arrays.get(value["array"])
    if isinstance(value, dict) and set(value) == {"arrays"}:
        return [arrays.get(k) for k in value["arrays"]]
    return value


def _case_from_record(record, keras_spec, layer, arrays):
    def get(references):
        return [arrays.get(r) for r in references]

    mask = record.get("expected_mask")
    return Case(id=record["id"], layer=layer, spec=keras_spec, params=record["params"],
                config=record["config"], inputs=get(record["inputs"]),
                weights=get(record["weights"]),
                call_kwargs={name: _call_argument(value, arrays)
                             for name, value in (record.get("call_kwargs") or {}).items()},
                expected=[a.astype(np.float64) for a in get(record["expected"])],
                bounds=[a.astype(np.float64) for a in get(record["bounds"])],
                expected_mask=None if mask is None else arrays.get(mask).astype(bool),
                expected_dtypes=record.get("expected_dtypes"), check=record.get("check"),
                oracle=record.get("oracle"), derived_from=record.get("derived_from"),
                seed=record.get("seed"),
                fallback_reason=record.get("fallback_reason"),
                oracle_via=record.get("oracle_via"),
                overflow=[a.astype(np.float64) for a in get(record["overflow"])]
                if record.get("overflow") else None,
                cotangent=get(record["cotangent"]) if "cotangent" in record else None,
                observed={name: o["check"] if "check" in o else
                          ([a.astype(np.float64) for a in get(o["expected"])],
                           [a.astype(np.float64) for a in get(o["bounds"])])
                          for name, o in record["observed"].items()}
                if record.get("observed") else None)


# The cases read in this process, by the two files' paths and contents (sha256): a pytest
# worker reads the same layers for the golden cases, the known-failures files, the fixture
# checks and the planted-fault predictions, about thirteen times each in a run of README's
# command. Decoded once and shared: each reader gets its own Case objects (a field assigned is
# its own), holding the same arrays, read-only so that writing into one raises instead of
# changing it for every later reader, and the same config and params dicts, not to be changed
# in place. The last READ_KEPT layers read are kept (both Keras specs of the shipped fixtures;
# a test's tampered copy is read under its own path).
_READ = {}
READ_KEPT = 256


def read_layer(root, keras_spec, layer, manifest):
    """The cases of one layer, after checking both files against the manifest's sha256."""
    root = Path(root)
    names = [f"{keras_spec}/{layer}.json.gz", f"{keras_spec}/{layer}.npz"]
    for name in names:
        if name not in manifest["files"]:
            raise FixtureError(f"{name}: not listed in manifest.json")
        if not (root / name).is_file():
            raise FixtureError(f"{name}: missing")
    contents = [(root / name).read_bytes() for name in names]
    for name, content in zip(names, contents):
        if hashlib.sha256(content).hexdigest() != manifest["files"][name]:
            raise FixtureError(f"{name}: sha256 does not match manifest.json (corrupt or tampered)")
    key = (str(root.resolve()), keras_spec, layer, *(manifest["files"][n] for n in names))
    cases = _READ.pop(key, None) or _cases_of(*contents, keras_spec, layer, names[0])
    _READ[key] = cases                  # the most recently read last
    while len(_READ) > READ_KEPT:
        del _READ[next(iter(_READ))]
    return [copy.copy(case) for case in cases]


def _cases_of(text, packed, keras_spec, layer, name):
    """The cases of a layer's two files' contents, their arrays read-only."""
    try:
        doc = json.loads(gzip.decompress(text), object_hook=_non_finite)
        with np.load(io.BytesIO(packed), allow_pickle=False) as npz:
            members = {key: npz[key] for key in npz.files}
        for key, member in members.items():
            if not isinstance(member, np.ndarray):
                raise ValueError(f"member {key!r} is not an array")
            member.flags.writeable = False
        cases = [_case_from_record(r, keras_spec, layer, ArrayPack(members))
                 for r in doc["cases"]]
    except (ValueError, KeyError, TypeError, OSError, EOFError) as exc:
        raise FixtureError(f"{name}: unreadable ({type(exc).__name__}: {exc})") from exc
    for case in cases:
        for array in _arrays_of(case):
            array.flags.writeable = False
    return cases


def _arrays_of(case):
    """Every array a loaded case holds."""
    observed = [a for entry in (case.observed or {}).values() if not isinstance(entry, dict)
                for part in entry for a in part]
    kwargs = [a for v in case.call_kwargs.values()
              for a in (v if isinstance(v, list) else [v]) if isinstance(a, np.ndarray)]
    return [*case.inputs, *case.weights, *case.expected, *case.bounds, *(case.overflow or []),
            *(case.cotangent or []), *observed, *kwargs,
            *([] if case.expected_mask is None else [case.expected_mask])]


def load_all(root, keras_spec, layers=None):
    """(cases, problems) for every layer of `keras_spec` listed in the manifest (or those of
    them in `layers`). A broken file becomes a FixtureProblem; the other layers still load."""
    try:
        manifest = read_manifest(root)
    except FixtureError as exc:
        return [], [FixtureProblem("manifest.json", str(exc))]
    listed = sorted({Path(n).name.split(".")[0] for n in manifest["files"]
                     if n.startswith(f"{keras_spec}/")})
    cases, problems = [], []
    for layer in listed:
        if layers and layer not in layers:
            continue
        try:
            cases += read_layer(root, keras_spec, layer, manifest)
        except FixtureError as exc:
            problems.append(FixtureProblem(f"{keras_spec}/{layer}", str(exc)))
    return cases, problems


def case_ids(root, keras_spec):
    """The id of every case of `keras_spec`'s layers listed in the manifest, from the cases'
    JSON alone (a file that cannot be read gives none: load_all reports it)."""
    try:
        manifest = read_manifest(root)
    except FixtureError:
        return []
    ids = []
    for name in sorted(manifest["files"]):
        if name.startswith(f"{keras_spec}/") and name.endswith(".json.gz"):
            try:
                doc = json.loads(gzip.decompress((Path(root) / name).read_bytes()))
                ids += [record["id"] for record in doc["cases"]]
            except (ValueError, KeyError, TypeError, OSError, EOFError):
                continue
    return ids

