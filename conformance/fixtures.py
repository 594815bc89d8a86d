"""The golden fixture store: generate, write, read, verify.

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

Each case records the oracle that vouched for it: tf.keras (keras3) or tf_keras (keras2) where
they run the case and agree with the reference; where TensorFlow refuses the case (it raises:
channels_first convolutions without oneDNN, for one) or the spec lists a known divergence of
TensorFlow's, the first of FALLBACK_ORACLES that agrees (Keras 3 on JAX, then on torch), and
the case's "fallback_reason" says why (TensorFlow's own message). A case no oracle vouches for
is not written. An oracle that cannot run a layer at all (tf_keras's CuDNN layers without a
GPU) runs the spec's oracle_equivalent instead, the same computation on a layer it can run,
and the case's "oracle_via" says which and why.

Regenerate with:  python -m conformance.fixtures generate
Check with:       python -m conformance.fixtures verify
"""
import argparse
import copy
import dataclasses
import gzip
import hashlib
import io
import json
import math
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conformance import specs
from conformance.case import KERAS_SPECS, Case
from conformance.cases import fixture_cases, with_expected
from conformance.compare import compare
from conformance.oracles import FALLBACK_ORACLES, ORACLES, Oracles

FORMAT = 2
FULL_CONFIG_CASES = 3     # per layer and spec: cases whose config is a real get_config()


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
                 "bounds": put(f"observed/{name}/bounds", [_float32_up(b) for b in entry[1]])}
                for name, entry in (case.observed or {}).items()}
    record = {"id": case.id, "params": case.params, "config": case.config,
              "call_kwargs": call_kwargs,
              "inputs": put("inputs", case.inputs), "weights": put("weights", case.weights),
              "expected": put("expected", case.expected),
              "bounds": put("bounds", [_float32_up(b) for b in case.bounds]),
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


def _float32_up(bound):
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


def write_manifest(root, files, versions, rejected):
    manifest = {
        "format": FORMAT,
        "generated_by": "python -m conformance.fixtures generate",
        "seeds": "seed of a case = first 4 bytes, little-endian, of sha256('<spec>/<case id>'), "
                 "or of sha256('<spec>/<case id>/redraw <k>') for its k-th draw after one "
                 "whose float32 result was undetermined; numpy.random.default_rng(seed) "
                 "draws its shapes, inputs and weights",
        "versions": versions,
        "oracles": {**ORACLES, "fallbacks": list(FALLBACK_ORACLES)},
        "rejected_by_oracle": rejected,
        "files": {name: sha256(Path(root) / name) for name in sorted(files)},
    }
    (Path(root) / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


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


# Generating -----------------------------------------------------------------------------------

def _versions(oracles):
    return {"python": platform.python_version(), "numpy": np.__version__,
            **oracles.versions()}


def full_config_case(spec, case, config):
    """`case` again, with its config replaced by `config` (the oracle's complete get_config()
    of the layer the compact config builds), and its expected values computed from that."""
    full = dataclasses.replace(case, id=case.id.replace(f"{spec.layer}-", f"{spec.layer}-full-"),
                               params={**case.params, "config": "full"}, config=config,
                               derived_from=case.id, oracle=None, oracle_via=None)
    return with_expected(spec, full)


def _full_config_sources(cases):
    """Which cases get a full-config twin: FULL_CONFIG_CASES of them, evenly spread."""
    if not cases:
        return []
    step = max(1, len(cases) // FULL_CONFIG_CASES)
    return cases[::step][:FULL_CONFIG_CASES]


def generate(root, layers=None, keras_specs=KERAS_SPECS, oracle=True, out=sys.stdout):
    """Write the fixtures of `layers` (all by default). With oracle=True each case is run on
    tf.keras (keras3) or tf_keras (keras2), or a fallback oracle where the spec lists a known
    TensorFlow divergence (the class Oracles); a case no oracle vouches for is not written and
    is listed in the manifest's rejected_by_oracle. Each layer also gets FULL_CONFIG_CASES
    cases whose config is the primary oracle's complete get_config() (oracle=True only)."""
    root = Path(root)
    oracles = Oracles() if oracle else None
    files, rejected = [], []
    for layer, spec in specs.SPECS.items():
        if layers and layer not in layers:
            continue
        for keras_spec in spec.keras_specs:
            if keras_spec not in keras_specs:
                continue
            kept = []
            for case in fixture_cases(spec, keras_spec):
                if oracle:
                    case.oracle, why = oracles.vouch(spec, case, keras_spec)
                    if case.oracle is None:
                        rejected.append({"id": case.id, "spec": keras_spec,
                                         "oracle": ORACLES[keras_spec], "params": case.params,
                                         "message": why})
                        print(f"NOT WRITTEN {keras_spec}/{case.id} {case.params}: {why}", file=out)
                        continue
                kept.append(case)
            if oracle:
                kept += _full_config_cases(spec, kept, keras_spec, oracles, rejected, out)
            files += write_layer(root, keras_spec, layer, kept)
            print(f"{keras_spec}/{layer}: {len(kept)} cases", file=out)
    if layers:   # keep the other layers' entries
        old = read_manifest(root)
        files = sorted(set(files) | set(old["files"]))
        rejected = [r for r in old.get("rejected_by_oracle", []) if
                    r["id"].split("-", 1)[0] not in layers] + rejected
    versions = (_versions(oracles) if oracle else read_manifest(root).get("versions", {}))
    write_manifest(root, files, versions, rejected)
    if oracles:
        oracles.close()
    return rejected


def _full_config_cases(spec, cases, keras_spec, oracles, rejected, out):
    primary = ORACLES[keras_spec]
    made = []
    for source in _full_config_sources([c for c in cases if c.oracle == primary
                                        and "contract" not in c.params]):
        config = oracles.get(primary).call("full_config", source)
        case = full_config_case(spec, source, config)
        case.oracle, why = oracles.vouch(spec, case, keras_spec)
        if case.oracle is None:
            rejected.append({"id": case.id, "spec": keras_spec, "oracle": primary,
                             "params": case.params, "message": why})
            print(f"NOT WRITTEN {keras_spec}/{case.id}: {why}", file=out)
            continue
        made.append(case)
    return made


def same_call_kwargs(a, b):
    """Whether two cases call the layer with the same keyword arguments (arrays included)."""
    def same(x, y):
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            x, y = np.asarray(x), np.asarray(y)
            return x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
        if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            return len(x) == len(y) and all(same(u, v) for u, v in zip(x, y))
        return x == y
    return set(a.call_kwargs) == set(b.call_kwargs) and all(
        same(a.call_kwargs[k], b.call_kwargs[k]) for k in a.call_kwargs)


def verify(root, out=sys.stdout, layers=None):
    """Re-derive every case from its seed: inputs, weights and configs must be identical and
    the stored expected values within bound of the reference's. A full-config case must hold
    its source case's inputs and weights, and the reference must give the same values from
    its complete config as from the compact one. Returns the problems (of `layers` only, if
    given)."""
    problems = []
    for keras_spec in KERAS_SPECS:
        stored, broken = load_all(root, keras_spec, layers)
        problems += [f"{p.file}: {p.message}" for p in broken]
        fresh = {}
        for layer in sorted({c.layer for c in stored}):
            fresh.update({c.id: c for c in fixture_cases(specs.get(layer), keras_spec)})
        for case in stored:
            new = fresh.get(case.derived_from or case.id)
            if new is None:
                problems.append(f"{keras_spec}/{case.id}: the spec no longer makes this case")
                continue
            if case.derived_from:
                new = full_config_case(specs.get(case.layer), new, case.config)
            same = (case.config == new.config and case.params == new.params and
                    case.check == new.check and same_call_kwargs(case, new) and
                    len(case.cotangent or []) == len(new.cotangent or []) and
                    all(np.array_equal(a, b, equal_nan=a.dtype.kind == "f") and
                        a.dtype == b.dtype for a, b in
                        zip(case.inputs + case.weights + (case.cotangent or []),
                            new.inputs + new.weights + (new.cotangent or []))))
            if not same:
                problems.append(f"{keras_spec}/{case.id}: inputs, weights or config differ")
                continue
            if case.derived_from and not all(
                    np.array_equal(a, b, equal_nan=True) for a, b in
                    zip(new.expected or [], fresh[case.derived_from].expected or [])):
                problems.append(f"{keras_spec}/{case.id}: the reference gives other values "
                                f"from the complete config than from the compact one")
                continue
            checks = {n: e for n, e in (case.observed or {}).items() if isinstance(e, dict)}
            if any(e != (new.observed or {}).get(n) for n, e in checks.items()):
                problems.append(f"{keras_spec}/{case.id}: a statistical check moved")
                continue
            outcome = compare(new.expected, case.bounds, case.expected)
            for name, entry in (case.observed or {}).items():
                if name in checks:
                    continue
                if outcome.status == "passed":
                    outcome = compare((new.observed or {}).get(name, ([],))[0], entry[1],
                                      entry[0])
            if outcome.status != "passed":
                problems.append(f"{keras_spec}/{case.id}: expected values moved: {outcome.message}")
    for p in problems:
        print(p, file=out)
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m conformance.fixtures",
                                     description="Generate or verify the golden fixtures.")
    parser.add_argument("command", choices=["generate", "verify"])
    parser.add_argument("--root", default=str(default_root()))
    parser.add_argument("--layers", nargs="*", help="only these layers (generate)")
    parser.add_argument("--no-oracle", action="store_true",
                        help="skip the tf.keras/tf_keras cross-check (not for committed fixtures)")
    args = parser.parse_args(argv)
    if args.command == "generate":
        generate(args.root, args.layers, oracle=not args.no_oracle)
        return 0
    problems = verify(args.root)
    print(f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
