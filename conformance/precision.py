"""The arithmetic a candidate declares it computes in, and what the tolerance model takes from
it (README, "Declared precision").

A candidate may declare `precision` (an attribute, like `spec`; `--precision` overrides it):

- float32 (the default): every operation rounds its result to float32 (u = 2^-24), on the
  case's inputs and weights as they are (float32 numbers).
- tf32: float32, except that the two operands of every product inside a matmul or a
  convolution are first rounded to TF32's 10-bit significand (u = 2^-11), as NVIDIA's tensor
  cores do under TensorFlow's, JAX's ("high" matmul precision) and torch's TF32 modes; sums
  still in float32.
- bfloat16, float16: Keras's dtype policy of that name: the inputs and the weights are stored in
  that format (rounded on entry, to nearest even), and so is every intermediate result
  (u = 2^-8, 2^-11); float16's range ends at 65504 and its normal numbers at 2^-14, so a value
  beyond the one overflows and one below the other may flush to zero. The layer's float
  outputs are in that format.
- mixed_bfloat16, mixed_float16: Keras's mixed policies: the variables are float32 but the
  layer computes in bfloat16 / float16 (its inputs and weights are cast on entry), so a forward
  pass is judged as under bfloat16 / float16.
- float16-weights: the weights alone are stored in float16 (rounded on entry) and everything
  is computed in float32: a LiteRT model converted with float16 weights, which LiteRT's CPU
  kernels widen to float32 before computing.

The ground floor: NumPy only.
"""
from dataclasses import dataclass

import numpy as np

F32_MAX = float(np.finfo(np.float32).max)
F16_MAX = float(np.finfo(np.float16).max)
# bfloat16's largest finite value: float32's exponent range, 8 significant bits
BF16_MAX = float(np.float32(2.0 ** 127 * (2.0 - 2.0 ** -7)))


@dataclass(frozen=True)
class Precision:
    """name; u: unit roundoff of every operation's result; operands: that of a matmul's or
    convolution's operands before they are multiplied (0: not rounded beyond u's format);
    storage: the format the inputs and weights are rounded to on entry (None: float32);
    weights: the format the weights alone are rounded to; output: the dtype of the layer's
    float outputs; tiny: the smallest normal number of the storage format (below it a result
    may flush to zero); largest: its largest finite number (beyond it, overflow)."""
    name: str
    u: float
    operands: float = 0.0
    storage: str = None
    weights: str = None
    output: str = "float32"
    tiny: float = 2.0 ** -126
    largest: float = F32_MAX

    @property
    def overflow(self):
        """The rounding threshold of the storage format: an exact value at or beyond it rounds
        to infinity. The largest finite number is 2^emax (2 - 2u); half an ulp above it is
        2^emax (2 - u) (float32's 2^128 - 2^103, float16's 65520)."""
        return self.largest / (2.0 - 2.0 * self.u) * (2.0 - self.u)

    def rounded(self, array, role):
        """`array` (a case's input or weight: role "input" or "weight") as the candidate holds
        it: rounded to the storage format (or, for a weight, the weights' format); arrays of
        other dtypes (masks, indices) as they are."""
        fmt = self.storage or (self.weights if role == "weight" else None)
        array = np.asarray(array)
        if fmt is None or array.dtype.kind != "f":
            return array
        return round_to(array, fmt)


# float32's significand bits a format drops (it keeps float32's exponent range)
_DROPPED = {"bfloat16": 16, "tf32": 13}


def round_to(array, fmt):
    """float32 `array` rounded to nearest even in "bfloat16", "tf32" or "float16", back as
    float32."""
    x = np.asarray(array, np.float32)
    if fmt == "float16":
        with np.errstate(over="ignore"):
            return x.astype(np.float16).astype(np.float32)
    if fmt not in _DROPPED:
        raise ValueError(f"unknown format {fmt!r}")
    drop = _DROPPED[fmt]
    bits = x.view(np.uint32).astype(np.uint64)
    half = (1 << (drop - 1)) - 1
    kept = (bits + half + ((bits >> drop) & 1)) >> drop       # round half to even
    out = (kept << drop).astype(np.uint32).view(np.float32)
    return np.where(np.isnan(x), x, out)


FLOAT32 = Precision("float32", 2.0 ** -24)
PRECISIONS = {p.name: p for p in (
    FLOAT32,
    Precision("tf32", 2.0 ** -24, operands=2.0 ** -11),
    Precision("bfloat16", 2.0 ** -8, storage="bfloat16", output="bfloat16", largest=BF16_MAX),
    Precision("float16", 2.0 ** -11, storage="float16", output="float16", tiny=2.0 ** -14,
              largest=F16_MAX),
    Precision("mixed_bfloat16", 2.0 ** -8, storage="bfloat16", output="bfloat16",
              largest=BF16_MAX),
    Precision("mixed_float16", 2.0 ** -11, storage="float16", output="float16",
              tiny=2.0 ** -14, largest=F16_MAX),
    Precision("float16-weights", 2.0 ** -24, weights="float16"),
)}


def get(name):
    """The Precision named `name` (ValueError naming the known ones otherwise)."""
    if isinstance(name, Precision):
        return name
    try:
        return PRECISIONS[name or "float32"]
    except KeyError:
        raise ValueError(f"unknown precision {name!r}: use one of "
                         f"{', '.join(PRECISIONS)}") from None
