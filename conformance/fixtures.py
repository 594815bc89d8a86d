"""The golden fixture store: generate and verify (the files' layout, writing and reading
them: conformance/fixture_format.py).

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
import json
import platform
import sys
from pathlib import Path

import numpy as np

from conformance import specs
from conformance.case import KERAS_SPECS
from conformance.cases import fixture_cases, with_expected
from conformance.compare import compare
from conformance.fixture_format import (
    FORMAT, FixtureError, FixtureProblem, case_ids, default_root, float32_up, from_json,
    load_all, read_layer, read_manifest, sha256, to_json, write_layer,
)
from conformance.oracles import FALLBACK_ORACLES, ORACLES, Oracles

# the store's API: fixture_format's reading and writing, as it was here, and generation
__all__ = ["FixtureError", "FixtureProblem", "case_ids", "default_root", "from_json",
           "generate", "load_all", "read_layer", "read_manifest", "sha256", "to_json",
           "verify", "write_layer", "write_manifest"]
FULL_CONFIG_CASES = 3     # per layer and spec: cases whose config is a real get_config()


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


def same_bounds(stored, new):
    """Whether the stored case's bounds, of its outputs and of each observed value, are the
    regenerated case's rounded up to float32 as the store writes them, each to within one
    float32 step (a bound widened in a fixture, its file re-hashed into the manifest, is
    caught). The step: the reference's float64 sums differ in their last bits from one CPU to
    another (NumPy's and OpenBLAS's SIMD paths), by up to 5e-11 relative where a bound holds
    a sum that cancels (an AMD EPYC with AVX2 against the AVX-512 machines the fixtures were
    written and checked on), and a bound whose float64 value lies that close to a float32
    rounds up to that float32 on one machine and to the next on the other."""
    pairs = [(stored.bounds, new.bounds)] + [
        (entry[1], ((new.observed or {}).get(name) or ([], []))[1])
        for name, entry in (stored.observed or {}).items() if not isinstance(entry, dict)]
    return all(len(a) == len(b) and all(
        x.shape == np.shape(y) and within_a_float32_step(x, float32_up(y))
        for x, y in zip(a, b)) for a, b in pairs)


def within_a_float32_step(stored, rounded):
    """Whether each stored bound is the rounded float32 one or one of its two neighbours."""
    stored, rounded = np.asarray(stored, np.float64), np.asarray(rounded, np.float32)
    step = np.spacing(np.abs(rounded)).astype(np.float64)
    with np.errstate(invalid="ignore"):
        near = np.abs(stored - rounded) <= step
    return bool(np.all((stored == rounded) | near | (np.isnan(stored) & np.isnan(rounded))))


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
            if not same_bounds(case, new):
                problems.append(f"{keras_spec}/{case.id}: the stored bounds are not the "
                                f"reference's (rounded up to float32, as they are stored)")
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
