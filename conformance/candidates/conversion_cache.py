"""A per-process cache of converted models, for the candidates that convert a case's layer
before they run it (litert, onnxruntime).

A converted model is reused only by a case that would convert to the same model: the key holds
the engine, the layer, its config as canonical JSON, the shapes and dtypes of the inputs and of
the call's array arguments (a mask, initial states: graph inputs), the call's other arguments
(training=False) and, unless the engine takes the weights as graph inputs, a hash of the
weights' bytes. Every engine here folds the weights into the graph as constants, so the weights
are in every key: the cache never serves one case's weights, or one config's model, to another.
A conversion that fails is cached too (as its exception), so a failing model is not retried.

Set KERAS_CONFORMANCE_CONVERSION_LOG to a file to have each lookup appended to it as one JSON
line: {"engine", "case", "key", "hit", "seconds", "failed"}: how many conversions a run made,
and how long each took.
"""
import hashlib
import json
import os
import re
import time
from collections import OrderedDict

import numpy as np

LOG_ENV = "KERAS_CONFORMANCE_CONVERSION_LOG"


def _digest(array):
    array = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    h.update(array.tobytes())
    return h.hexdigest()


def _canonical(value):
    """JSON for values a config holds besides JSON's own: arrays (by dtype, shape and the
    hash of their bytes), NumPy scalars, tuples."""
    if isinstance(value, np.ndarray):
        return {"__array__": _digest(value)}
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"a config holds {type(value).__name__}, which the cache key cannot hold")


def _describe(value):
    """A call argument as the converted graph sees it: an array is a graph input (its shape
    and dtype), anything else is fixed in the graph (its value)."""
    if isinstance(value, np.ndarray):
        return ["array", list(value.shape), value.dtype.str]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, np.ndarray) for v in value):
        return [_describe(v) for v in value]
    return ["value", json.loads(json.dumps(value, default=_canonical))]


def case_key(engine, case, weights_as_inputs=False):
    """The cache key of `case` converted for `engine` (a string naming the engine and any
    option that changes the converted model)."""
    parts = {
        "engine": engine,
        "layer": case.layer,
        "config": json.dumps(case.config, sort_keys=True, default=_canonical),
        "inputs": [[list(np.shape(x)), np.asarray(x).dtype.str] for x in case.inputs],
        "call": {name: _describe(v) for name, v in sorted(case.call_kwargs.items())},
        "weights": ([[list(np.shape(w)), np.asarray(w).dtype.str] for w in case.weights]
                    if weights_as_inputs else [_digest(np.asarray(w)) for w in case.weights]),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class ConversionCache:
    """A small LRU of key -> converted model (or the exception its conversion raised)."""

    def __init__(self, maxsize=8):
        self.maxsize = maxsize
        self._entries = OrderedDict()
        self.conversions = self.hits = 0

    def get(self, key, convert, engine="", case_id=""):
        """The model cached under `key`, converted by `convert()` on a miss; a conversion that
        raised raises again, the same exception, on every lookup of its key."""
        hit = key in self._entries
        start = time.perf_counter()
        if hit:
            self.hits += 1
            self._entries.move_to_end(key)
            entry = self._entries[key]
        else:
            self.conversions += 1
            try:
                entry = (True, convert())
            except Exception as exc:  # noqa: BLE001 - cached and raised again below
                entry = (False, exc)
            self._entries[key] = entry
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        self._log(engine, case_id, key, hit, time.perf_counter() - start, not entry[0])
        ok, value = entry
        if not ok:
            raise value
        return value

    def __len__(self):
        return len(self._entries)

    def clear(self):
        self._entries.clear()

    @staticmethod
    def _log(engine, case_id, key, hit, seconds, failed):
        path = os.environ.get(LOG_ENV)
        if not path:
            return
        line = json.dumps({"engine": engine, "case": case_id, "key": key[:16], "hit": hit,
                           "seconds": round(seconds, 4), "failed": failed, "pid": os.getpid()})
        with open(path, "a") as f:          # one short write: lines of workers do not mix
            f.write(line + "\n")


CACHE = ConversionCache()         # the process's cache, shared by its candidates


class ConversionFailed(Exception):
    """A converter or exporter raised: the case cannot be converted (an `error` case whose
    message says so), as opposed to a model that converts and computes something else."""

    def __init__(self, message):
        super().__init__(f"conversion failed: {message}")


def converting(what):
    """`what()`, its exception (any) turned into ConversionFailed naming the original: its
    type and first error line, without the converter's traceback, so that the report's
    message ends in "conversion failed: ..." and stays short."""
    try:
        return what()
    except ConversionFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - any converter failure is a conversion failure
        raise ConversionFailed(f"{type(exc).__name__}: {_summary(str(exc))}") from None


def _summary(text):
    """The first error of a converter's message: MLIR's `loc(...): 'tf.Op' op is ...` is cut
    to what follows its location; Keras's "Exception encountered when calling X.call()." is
    followed by the reason on its next line; a long message keeps its head and its tail
    (onnxruntime names the failing attribute at the end)."""
    lines = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines() if line.strip()]
    lines = lines or [""]
    at = next((i for i, line in enumerate(lines) if "error:" in line), 0)
    first = lines[at]
    if "loc(" in first and "): " in first:
        first = first.rsplit("): ", 1)[-1]
    if first.startswith("Exception encountered when calling") and at + 1 < len(lines):
        first = f"{first} {lines[at + 1]}"
    first = " ".join(first.split())
    return first if len(first) <= 600 else f"{first[:300]} ... {first[-300:]}"
