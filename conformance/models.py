"""`--model`: a user's model, layer by layer. Each layer instance of the model (nested models
walked into; a shared layer once per distinct input shape) becomes cases built the way the
golden fixtures are: the layer's own complete get_config() and get_weights(), its real input
shapes (the batch and any other None dimension filled), inputs drawn in each input regime its
spec lists (and, given the model's own inputs, the activations the layer really receives),
expected values and bounds from the reference (conformance/cases.py with_expected), each case
run on the oracle of the model's Keras (tf.keras for a Keras 3 model, tf_keras for a .h5 one)
to vouch for it. The cases are written as a fixture set (conformance/fixtures.py) with a
`model.json` listing the model's layers in order, so the candidate run replays them like any
golden case and an engine team can replay them without TensorFlow.

    pytest -n auto --model my_model.keras --candidate keras-jax
    pytest -n auto --model keras.applications.MobileNetV2 --model-input-size 96
    python -m conformance.models keras.applications.MobileNetV2 --out DIR   # the fixtures only
"""
import argparse
import importlib
import inspect
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from conformance import specs
from conformance.case import Case
from conformance.cases import seed_of, with_expected
from conformance.fixtures import (FixtureError, _versions, read_manifest, write_layer,
                                  write_manifest)
from conformance.regimes import Regime

BATCH = 2                 # the batch of every case
FILL = 8                  # any other None dimension of an input shape
DEFAULT_INPUT_SIZE = 96   # a keras.applications model's height and width
LISTING = "model.json"
RECORDED = "recorded"     # the regime of a case whose inputs are the layer's real activations
APPLICATIONS = ("keras.applications.", "tf_keras.applications.")


@dataclass
class ModelLayer:
    """One layer instance of the model (once per distinct input shape): its name as the model
    names it ("outer/inner" inside a nested model), its class, its input shapes (batch
    filled), and either the ids of its cases or why it has none."""
    name: str
    layer: str
    shapes: list
    status: str = "cases"         # or "no spec", "outside the scope", "error"
    message: str = ""
    cases: list = field(default_factory=list)
    oracle: dict = field(default_factory=dict)   # case id -> why the oracle did not vouch


# Loading --------------------------------------------------------------------------------------

def load(source, input_size=DEFAULT_INPUT_SIZE, objects=()):
    """(keras module, keras spec, model) for a saved model (.keras: Keras 3 through tf.keras;
    .h5: tf_keras) or a keras.applications / tf_keras.applications name, built with
    weights=None at input_size x input_size. `objects`: modules to import first, where the
    model's custom classes are registered (keras.saving.register_keras_serializable)."""
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for module in objects:
        importlib.import_module(module)
    keras2 = source.startswith("tf_keras.") or source.endswith(".h5")
    if keras2:
        import tf_keras as keras
    else:
        import tensorflow as tf
        keras = tf.keras
    if source.startswith(APPLICATIONS):
        name = source.rsplit(".", 1)[-1]
        builder = getattr(keras.applications, name, None)
        if builder is None:
            raise ValueError(f"{source}: no such application in "
                             f"{'tf_keras' if keras2 else 'keras'}.applications")
        model = builder(weights=None, **({} if input_size is None else
                                         {"input_shape": (input_size, input_size, 3)}))
    else:
        if not Path(source).is_file():
            raise ValueError(f"{source}: no such model file (a .keras or .h5 file, or a "
                             f"keras.applications name)")
        model = keras.models.load_model(source, compile=False)
    return keras, "keras2" if keras2 else "keras3", model


def applications(keras2=False):
    """The names of every keras.applications (or tf_keras.applications) model builder."""
    if keras2:
        import tf_keras as keras
    else:
        import keras
    return sorted(n for n in dir(keras.applications) if n[0].isupper())


def walk(model, prefix=""):
    """(name, layer, input shapes) of every layer instance of `model` in the model's order:
    a nested model's layers in its place, a layer called on several shapes once per shape."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.__class__.__name__ in (
                "Functional", "Sequential", "Model"):
            yield from walk(layer, f"{prefix}{layer.name}/")
            continue
        seen = []
        for node in _nodes(layer):
            shapes = [tuple(t.shape) for t in node]
            if shapes not in seen:
                seen.append(shapes)
                yield f"{prefix}{layer.name}", layer, shapes


def _nodes(layer):
    """The input tensors of each call of `layer` in the model (an InputLayer's: its output)."""
    if layer.__class__.__name__ == "InputLayer":
        return [[layer.output]]
    nodes = [_call_tensors(n) for n in layer._inbound_nodes]
    return [n for n in nodes if n] or [_as_list(layer.input)]


def _call_tensors(node):
    """A call's tensors: its positional arguments where there are several (MultiHeadAttention
    called as mha(x, x) gets x twice, which the node's flattened input_tensors holds once),
    else its input tensors (a merge's list; tf_keras's single tensor)."""
    arguments = getattr(node, "arguments", None)          # Keras 3
    args = getattr(arguments, "args", None) or getattr(node, "call_args", None) or ()
    if len(args) > 1 and all(hasattr(a, "shape") for a in args):
        return list(args)
    return _as_list(node.input_tensors)


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def real_config(layer):
    """The layer's complete get_config() as plain JSON values: tuples as lists, NumPy scalars
    and arrays (tf_keras's ReLU keeps max_value as a 0-d array) as numbers and lists, anything else as its text."""
    return json.loads(json.dumps(layer.get_config(), default=_plain))


def _plain(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return str(value)


def filled(shape):
    """A model's input shape with its batch BATCH and its other None dimensions FILL."""
    return tuple(BATCH if i == 0 else FILL if d is None else int(d) for i, d in enumerate(shape))


# Cases ----------------------------------------------------------------------------------------

def layer_cases(model_name, keras_spec, entry, layer, recorded=None):
    """The cases of one model layer: one per regime its spec lists (not `long`: its shapes are
    the spec's own), and one of its real inputs where `recorded` holds them."""
    spec = specs.SPECS[entry.layer]
    config = real_config(layer)
    weights = [np.asarray(w) for w in layer.get_weights()]
    regimes = [r for r in spec.domains.get("regime", ("unit",)) if r != "long"]
    cases = []
    for regime in regimes + ([RECORDED] if recorded is not None else []):
        case_id = f"{entry.name}:{regime}"
        seed = seed_of(f"{keras_spec}/{model_name}/{case_id}")
        if regime == RECORDED:
            inputs = [np.asarray(x, np.float32) if np.asarray(x).dtype.kind == "f"
                      else np.asarray(x) for x in recorded]
        else:
            inputs = draw_inputs(spec, config, entry.shapes, layer,
                                 Regime(regime, np.random.default_rng(seed)))
        inputs, call_kwargs = call_arguments(layer, inputs)
        case = Case(id=case_id, layer=entry.layer, spec=keras_spec,
                    params={"model_layer": entry.name, "regime": regime}, config=config,
                    inputs=inputs, weights=weights, call_kwargs=call_kwargs, seed=seed)
        cases.append(with_expected(spec, case))
    return cases


def call_arguments(layer, arrays):
    """(the case's inputs, its call arguments) from the arrays of a call's tensors: a layer
    whose call takes them as separate arguments (MultiHeadAttention's query, value, key) gets
    the first as its input and the others by name, as its spec's cases hold them; a layer
    whose call takes one argument (a merge's list of inputs) gets them all as inputs."""
    names = list(inspect.signature(layer.call).parameters)
    if len(arrays) < 2 or len(names) < 2 or names[0] == "inputs":
        return list(arrays), {}
    return list(arrays[:1]), dict(zip(names[1:], arrays[1:]))


def draw_inputs(spec, config, shapes, layer, regime):
    """Inputs of the layer's real shapes in `regime`: the spec's own rules where it has them
    (integer indices within an Embedding's table), else the regime's plain draws."""
    dtypes = [getattr(t, "dtype", "float32") for t in _nodes(layer)[0]]
    if spec.inputs:
        try:
            drawn = spec.inputs(config, shapes, regime)
            if len(drawn) == len(shapes):       # not a rule for the first tensor only
                return drawn
        except (KeyError, TypeError, ValueError):
            pass                      # a rule written for the spec's own configs: plain draws
    inputs = []
    for shape, dtype in zip(shapes, dtypes):
        if "int" in str(dtype):
            high = int(config.get("input_dim") or config.get("num_tokens") or 10)
            inputs.append(regime.rng.integers(0, high, shape).astype(str(dtype).split(".")[-1]))
        else:
            inputs.append(regime.values(shape))
    return inputs


def recorded_inputs(keras, model, data):
    """{layer name: its input arrays} from running the model on the user's data (an .npz whose
    arrays are the model's inputs, by name or in order); a nested model's layers are not
    recorded (their tensors are not the outer model's)."""
    arrays = [data[t.name.split(":")[0]] if t.name.split(":")[0] in data.files
              else data[data.files[i]] for i, t in enumerate(model.inputs)]
    taps, names = [], []
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer" or hasattr(layer, "layers"):
            continue
        try:
            tensors = _as_list(layer.input)
        except (AttributeError, ValueError, RuntimeError):
            continue                  # a shared layer: several inputs, none recorded
        taps += tensors
        names.append((layer.name, len(tensors)))
    outputs = keras.Model(model.inputs, taps)(arrays if len(arrays) > 1 else arrays[0])
    outputs, found, at = _as_list(outputs), {}, 0
    for name, n in names:
        found[name] = [np.asarray(o)[:BATCH] for o in outputs[at:at + n]]
        at += n
    return found


def build(source, root, input_size=DEFAULT_INPUT_SIZE, inputs=None, objects=(), oracle=True,
          out=sys.stdout):
    """Write the model's cases as a fixture set in `root` with its listing (model.json);
    returns the listing."""
    from conformance.oracles import Oracles
    keras, keras_spec, model = load(source, input_size, objects)
    recorded = recorded_inputs(keras, model, np.load(inputs)) if inputs else {}
    oracles = Oracles() if oracle else None
    entries, by_layer = [], {}
    for name, layer, shapes in walk(model):
        entry = ModelLayer(name, layer.__class__.__name__, [list(filled(s)) for s in shapes])
        entries.append(entry)
        if entry.layer not in specs.SPECS or keras_spec not in specs.SPECS[entry.layer].keras_specs:
            entry.status = "no spec"
            entry.message = (f"{entry.layer} ({type(layer).__module__}) has no spec in the "
                             f"suite: neither the reference nor the candidate is run on it")
            continue
        try:
            cases = layer_cases(model.name, keras_spec, entry, layer,
                                recorded.get(name) if len(recorded.get(name, ())) ==
                                len(shapes) else None)
        except Exception as exc:  # noqa: BLE001 - the layer's row says what went wrong
            entry.status, entry.message = "error", f"{type(exc).__name__}: {exc}"
            continue
        scoped = [c for c in cases if not c.out_of_scope]
        if not scoped:
            entry.status, entry.message = "outside the scope", cases[0].out_of_scope
            continue
        for case in scoped:
            if oracles is not None:
                case.oracle, why = oracles.vouch(specs.SPECS[entry.layer], case, keras_spec)
                if case.oracle is None:
                    entry.oracle[case.id] = why
            entry.cases.append(case.id)
        by_layer.setdefault(entry.layer, []).extend(scoped)
        print(f"{entry.name} ({entry.layer}): {len(scoped)} cases"
              + (f", {len(entry.oracle)} not vouched by the oracle" if entry.oracle else ""),
              file=out)
    root = Path(root)
    files = [f for layer, cases in sorted(by_layer.items())
             for f in write_layer(root, keras_spec, layer, cases)]
    write_manifest(root, files, _versions(oracles) if oracles else {}, [])
    if oracles is not None:
        oracles.close()
    listing = {"model": model.name, "source": source, "spec": keras_spec,
               "input_size": input_size if source.startswith(APPLICATIONS) else None,
               "inputs": str(inputs) if inputs else None,
               "layers": [vars(e) for e in entries]}
    (root / LISTING).write_text(json.dumps(listing, indent=1) + "\n")
    return listing


def read_listing(root):
    path = Path(root) / LISTING
    try:
        listing = json.loads(path.read_text())
        read_manifest(root)
    except (OSError, ValueError, FixtureError) as exc:
        raise FixtureError(f"{path}: not a model's fixture set ({exc})") from exc
    return listing


# The report's section -------------------------------------------------------------------------

def section(listing, results):
    """The matrix's "model" section: the model's layers in its order, each with a status
    (passed: every case vouched for by the oracle and passed by the candidate; failing; error;
    not vouched: the oracle disagrees with the reference on some case; known divergence: a
    case the spec or the known-failures file expects the candidate to fail, and it does;
    skipped; no spec; outside the scope), its worst error/bound ratio, the first problem and
    its rerun command; and the counts of each status."""
    rows = []
    for entry in listing["layers"]:
        row = {"name": entry["name"], "layer": entry["layer"], "input_shapes": entry["shapes"],
               "status": entry["status"], "message": entry["message"]}
        if entry["status"] == "cases":
            row.update(_judged(entry, [results[i] for i in entry["cases"] if i in results]))
        rows.append(row)
    summary = {}
    for row in rows:
        summary[row["status"]] = summary.get(row["status"], 0) + 1
    return {"name": listing["model"], "source": listing["source"], "spec": listing["spec"],
            "summary": summary, "layers": rows}


def _judged(entry, results):
    statuses = [r["status"] for r in results]
    ratios = [r["error_ratio"] for r in results if r.get("error_ratio") is not None]
    bad = [r for r in results if r["status"] in ("failed", "error")]
    row = {"cases": len(results), "worst_ratio": max(ratios) if ratios else None}
    if not results:
        return {**row, "status": "error", "message": "no case of this layer ran"}
    if bad:
        worst = bad[0]
        return {**row, "status": "failing" if worst["status"] == "failed" else "error",
                "message": _first_line(worst["message"]), "rerun": worst.get("rerun"),
                "case": worst["id"]}
    if entry["oracle"]:
        case_id, why = next(iter(entry["oracle"].items()))
        return {**row, "status": "not vouched", "case": case_id,
                "message": f"the oracle did not vouch for {case_id}: {' '.join(why.split())[:300]}"}
    known = [r for r in results if r["status"] == "xfailed"]
    if known:
        return {**row, "status": "known divergence", "case": known[0]["id"],
                "message": _first_line(known[0]["message"]) or "a known divergence"}
    if all(s == "skipped" for s in statuses):
        return {**row, "status": "skipped", "message": _first_line(results[0]["message"])}
    return {**row, "status": "passed", "message": ""}


def summary_lines(model):
    """The model section as lines for the terminal: the counts, then each layer that needs
    a look (failing, error, not vouched) with its rerun command, then the classes without a
    spec."""
    lines = [f"{len(model['layers'])} layer instances: " + ", ".join(
        f"{n} {status}" for status, n in sorted(model["summary"].items()))]
    for row in model["layers"]:
        if row["status"] in ("failing", "error", "not vouched"):
            lines.append(f"{row['status'].upper()}: {row['name']} ({row['layer']}): "
                         f"{row['message']}")
            if row.get("rerun"):
                lines.append(f"    rerun: {row['rerun']}")
    no_spec = sorted({row["layer"] for row in model["layers"] if row["status"] == "no spec"})
    if no_spec:
        lines.append(f"no spec: {', '.join(no_spec)}")
    return lines


def _first_line(message):
    lines = [l for l in (message or "").splitlines() if l.strip() and not l.startswith("rerun")]
    return re.sub(r"\s+", " ", " ".join(lines[1:3] if len(lines) > 1 else lines))[:400]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m conformance.models",
                                     description="Write a model's cases as a fixture set.")
    parser.add_argument("model", help="a .keras or .h5 file, or keras.applications.<Name>")
    parser.add_argument("--out", required=True, help="the fixture set's folder")
    parser.add_argument("--input-size", type=int, default=DEFAULT_INPUT_SIZE)
    parser.add_argument("--inputs", default=None, help="an .npz of the model's inputs")
    parser.add_argument("--objects", action="append", default=[],
                        help="a module registering the model's custom classes (repeatable)")
    parser.add_argument("--no-oracle", action="store_true")
    args = parser.parse_args(argv)
    listing = build(args.model, args.out, args.input_size, args.inputs, args.objects,
                    oracle=not args.no_oracle)
    counts = {}
    for entry in listing["layers"]:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    print(f"{len(listing['layers'])} layer instances: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
