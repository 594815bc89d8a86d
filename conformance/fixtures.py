"""The golden fixture store: generate, write, read, verify.

Layout (any language can read it):
    manifest.json            format, tool versions, how seeds are derived, sha256 of each file
    <spec>/<Layer>.json      the cases: id, params, config, call_kwargs and, for every array,
                             the key under which <spec>/<Layer>.npz holds it (an array in
                             call_kwargs, such as a mask, is written {"array": key}; a list
                             of them, such as initial_state, {"arrays": [keys]})
    <spec>/<Layer>.npz       the arrays (inputs, weights, expected, bounds, masks): plain
                             numeric .npy members, loaded with allow_pickle=False

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
import dataclasses
import hashlib
import json
import math
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conformance import specs
from conformance.case import KERAS_SPECS, Case
from conformance.cases import fixture_cases, seed_of, with_expected
from conformance.compare import compare, compare_case

FORMAT = 1
ORACLES = {"keras3": "tf.keras", "keras2": "tf_keras"}
FALLBACK_ORACLES = ("keras-jax", "keras-torch")
TF_RUNTIME_ERROR = "tensorflow.python.framework.errors_impl."   # an op's error, not Keras's
FULL_CONFIG_CASES = 3     # per layer and spec: cases whose config is a real get_config()
# TensorFlow as an oracle runs with oneDNN on, whatever the CPU: TF 2.21 turns it off by default
# on CPUs without AVX-512, and then refuses channels_first convolutions and runs some "valid"
# windows longer than their input that its oneDNN kernels refuse. With this, the oracle's
# answers (and the configs it rejects) do not depend on the machine; candidates run as is.
ORACLE_ENV = {"TF_ENABLE_ONEDNN_OPTS": "1"}


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
        if set(value) == {"float"} and value["float"] in ("nan", "inf", "-inf"):
            return float(value["float"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


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

def _case_record(case, arrays):
    def put(kind, values):
        keys = []
        for i, value in enumerate(values):
            key = f"{case.id}/{kind}/{i}"
            arrays[key] = np.asarray(value)
            keys.append(key)
        return keys

    def call_argument(name, value):
        if isinstance(value, np.ndarray):
            return {"array": put(f"call_kwargs/{name}", [value])[0]}
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, np.ndarray) for v in value):
            return {"arrays": put(f"call_kwargs/{name}", list(value))}
        return value

    call_kwargs = {name: call_argument(name, value) for name, value in case.call_kwargs.items()}
    record = {"id": case.id, "params": case.params, "config": case.config,
              "call_kwargs": call_kwargs,
              "inputs": put("inputs", case.inputs), "weights": put("weights", case.weights),
              "expected": put("expected", case.expected),
              "bounds": put("bounds", [_float32_up(b) for b in case.bounds]),
              "expected_mask": put("mask", [case.expected_mask])[0]
              if case.expected_mask is not None else None,
              "expected_dtypes": case.expected_dtypes, "check": case.check,
              "seed": seed_of(f"{case.spec}/{case.id}"), "oracle": case.oracle,
              "derived_from": case.derived_from}
    if case.fallback_reason:
        record["fallback_reason"] = case.fallback_reason
    if case.oracle_via:
        record["oracle_via"] = case.oracle_via
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
    arrays = {}
    records = [_case_record(c, arrays) for c in cases]
    doc = {"format": FORMAT, "layer": layer, "spec": keras_spec, "cases": records}
    (folder / f"{layer}.json").write_text(json.dumps(doc, indent=1, sort_keys=True,
                                                     allow_nan=False) + "\n")
    with open(folder / f"{layer}.npz", "wb") as f:
        np.savez_compressed(f, **arrays)
    return [f"{keras_spec}/{layer}.json", f"{keras_spec}/{layer}.npz"]


def write_manifest(root, files, versions, rejected):
    manifest = {
        "format": FORMAT,
        "generated_by": "python -m conformance.fixtures generate",
        "seeds": "seed of a case = first 4 bytes, little-endian, of sha256('<spec>/<case id>'); "
                 "numpy.random.default_rng(seed) draws its shapes, inputs and weights",
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
    """A call argument as stored: {"array": key}, {"arrays": [keys]} or a plain value."""
    if isinstance(value, dict) and set(value) == {"array"}:
        return arrays[value["array"]]
    if isinstance(value, dict) and set(value) == {"arrays"}:
        return [arrays[k] for k in value["arrays"]]
    return value


def _case_from_record(record, keras_spec, layer, arrays):
    def get(keys):
        return [arrays[k] for k in keys]

    record = from_json(record)
    mask = record.get("expected_mask")
    return Case(id=record["id"], layer=layer, spec=keras_spec, params=record["params"],
                config=record["config"], inputs=get(record["inputs"]),
                weights=get(record["weights"]),
                call_kwargs={name: _call_argument(value, arrays)
                             for name, value in (record.get("call_kwargs") or {}).items()},
                expected=[a.astype(np.float64) for a in get(record["expected"])],
                bounds=[a.astype(np.float64) for a in get(record["bounds"])],
                expected_mask=None if mask is None else arrays[mask].astype(bool),
                expected_dtypes=record.get("expected_dtypes"), check=record.get("check"),
                oracle=record.get("oracle"), derived_from=record.get("derived_from"),
                fallback_reason=record.get("fallback_reason"),
                oracle_via=record.get("oracle_via"))


def read_layer(root, keras_spec, layer, manifest):
    """The cases of one layer, after checking both files against the manifest's sha256."""
    root = Path(root)
    names = [f"{keras_spec}/{layer}.json", f"{keras_spec}/{layer}.npz"]
    for name in names:
        if name not in manifest["files"]:
            raise FixtureError(f"{name}: not listed in manifest.json")
        if not (root / name).is_file():
            raise FixtureError(f"{name}: missing")
        if sha256(root / name) != manifest["files"][name]:
            raise FixtureError(f"{name}: sha256 does not match manifest.json (corrupt or tampered)")
    try:
        doc = json.loads((root / names[0]).read_text())
        with np.load(root / names[1], allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        return [_case_from_record(r, keras_spec, layer, arrays) for r in doc["cases"]]
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise FixtureError(f"{names[0]}: unreadable ({type(exc).__name__}: {exc})") from exc


def load_all(root, keras_spec):
    """(cases, problems) for every layer of `keras_spec` listed in the manifest. A broken file
    becomes a FixtureProblem; the other layers still load."""
    try:
        manifest = read_manifest(root)
    except FixtureError as exc:
        return [], [FixtureProblem("manifest.json", str(exc))]
    layers = sorted({Path(n).stem for n in manifest["files"] if n.startswith(f"{keras_spec}/")})
    cases, problems = [], []
    for layer in layers:
        try:
            cases += read_layer(root, keras_spec, layer, manifest)
        except FixtureError as exc:
            problems.append(FixtureProblem(f"{keras_spec}/{layer}", str(exc)))
    return cases, problems


# Generating -----------------------------------------------------------------------------------

def _versions(oracles):
    return {"python": platform.python_version(), "numpy": np.__version__,
            **oracles.versions()}


class Oracles:
    """The Keras runs that vouch for fixture cases, each in its own process, started on first
    use. A fallback oracle that cannot be loaded (not installed) vouches for nothing."""

    def __init__(self, env=None):
        from conformance.candidates.isolation import IsolatedCandidate
        self._make, self.started = IsolatedCandidate, {}
        self.env = ORACLE_ENV if env is None else env

    def get(self, name):
        if name not in self.started:
            self.started[name] = self._make(name, env=self.env)
        return self.started[name]

    def outcome(self, name, case, spec=None):
        """(the outcome of `case` on the oracle `name`, how it ran): an error outcome if it
        cannot run; how is None, or the oracle_via of the call it ran instead (oracle_case)."""
        from conformance.candidates.isolation import CandidateError
        from conformance.case import Outcome
        try:
            oracle = self.get(name)
            ran, via = oracle_case(oracle, spec, case)
            got = oracle.call("run", ran)
            mask = oracle.call("compute_mask", ran) if case.expected_mask is not None else None
            return compare_case(case, got, mask), via
        except CandidateError as exc:
            text = str(exc)
            message = f"{exc.kind}: {text if len(text) < 2000 else text[-2000:]}"
            return Outcome("error", message), None

    def vouch(self, spec, case, keras_spec):
        """(oracle name, None) for the oracle that vouches for `case`, or (None, why not).
        Where a fallback oracle vouches, case.fallback_reason says why the primary did not;
        where the oracle ran the spec's oracle_equivalent, case.oracle_via says so."""
        primary = ORACLES[keras_spec]
        outcome, case.oracle_via = self.outcome(primary, case, spec)
        if outcome.status == "passed":
            return primary, None
        divergence = spec.divergence_for(primary, case)
        if divergence is not None:
            why = f"{primary}: known divergence ({divergence.reason})"
        elif outcome.message.startswith("raised:") and TF_RUNTIME_ERROR in outcome.message:
            # TensorFlow's kernels refuse the case (Keras accepted the config)
            why = f"{primary} cannot run it: {tensorflow_error(outcome.message)}"
        else:
            return None, f"{primary} disagrees: {outcome.message}"
        tried = [why]
        for fallback in FALLBACK_ORACLES:
            if spec.divergence_for(fallback, case):
                tried.append(f"{fallback}: known divergence")
                continue
            fallback_outcome, case.oracle_via = self.outcome(fallback, case, spec)
            if fallback_outcome.status == "passed":
                case.fallback_reason = why
                return fallback, None
            tried.append(f"{fallback}: {fallback_outcome.message[:300]}")
        case.oracle_via = None
        return None, "no oracle vouches for it: " + "; ".join(tried)

    def versions(self):
        versions = {}
        for candidate in self.started.values():
            if candidate.info:
                versions.update(candidate.info.get("versions") or {})
        return versions

    def close(self):
        for candidate in self.started.values():
            candidate.close()


def oracle_case(oracle, spec, case):
    """(the case `oracle` runs for `case`, how): the case itself and None, or, where the oracle
    does not support the case (its supports() gives the reason) and the spec has an
    oracle_equivalent, that equivalent call and "<how>, since <the oracle's reason>". The
    answer of the equivalent is judged against the case's own expected values."""
    if spec is None or spec.oracle_equivalent is None \
            or "supports" not in oracle.start()["methods"]:
        return case, None
    verdict = oracle.call("supports", case)
    if verdict is True:
        return case, None
    equivalent, how = spec.oracle_equivalent(case)
    return equivalent, f"{how}, since {verdict}"


def tensorflow_error(traceback_text):
    """The error a traceback ends with, as 'UnimplementedError: <TensorFlow's message>': the
    exception's class and the lines after it up to Keras's 'Arguments received' note, without
    terminal colours and TensorFlow's {{function_node ...}} prefix."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", traceback_text)
    found = list(re.finditer(r"^([\w.]+(?:Error|Exception)): (.*)$", text, re.M))
    if not found:
        return text.strip().splitlines()[-1][:300] if text.strip() else text
    last = found[-1]
    rest = re.split(r"(?:Call a|A)rguments received", text[last.end():])[0]
    message = " ".join([last.group(2)] + [l.strip() for l in rest.splitlines() if l.strip()])
    message = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", message)
    message = re.sub(r"layer '[^']*' \(type", "layer (type", message)   # the instance's name
    return f"{last.group(1).rsplit('.', 1)[-1]}: {message}"[:400]


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
    for source in _full_config_sources([c for c in cases if c.oracle == primary]):
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


def verify(root, out=sys.stdout):
    """Re-derive every case from its seed: inputs, weights and configs must be identical and
    the stored expected values within bound of the reference's. A full-config case must hold
    its source case's inputs and weights, and the reference must give the same values from
    its complete config as from the compact one. Returns the problems."""
    problems = []
    for keras_spec in KERAS_SPECS:
        stored, broken = load_all(root, keras_spec)
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
                    all(np.array_equal(a, b, equal_nan=a.dtype.kind == "f") and
                        a.dtype == b.dtype for a, b in
                        zip(case.inputs + case.weights, new.inputs + new.weights)))
            if not same:
                problems.append(f"{keras_spec}/{case.id}: inputs, weights or config differ")
                continue
            if case.derived_from and not all(
                    np.array_equal(a, b, equal_nan=True) for a, b in
                    zip(new.expected or [], fresh[case.derived_from].expected or [])):
                problems.append(f"{keras_spec}/{case.id}: the reference gives other values "
                                f"from the complete config than from the compact one")
                continue
            outcome = compare(new.expected, case.bounds, case.expected)
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
