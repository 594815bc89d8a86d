"""What one expected element admits (README, "What a value means at the edges"): the ratio of
a candidate's error to its bound, element by element, with the rules for NaN, infinities,
overflow and values below 2^-126. The floor below compare.py, so that the specs can predict
where an answer fails without importing the judge.

- |got - expected| <= bound;
- NaN where the reference gives NaN, and only there;
- the infinity the reference gives, of the same sign;
- overflow: the infinity of the expected value's sign where expected + bound reaches
  float32's rounding threshold (2^128 - 2^103): the correctly rounded float32 answer;
- a sum that overflows part way (its terms' magnitudes add up beyond float32's range, its
  value does not): the case's `overflow` value for the element (the infinity of the sum's
  sign through what follows it), beside the value within bound;
- below float32's smallest normal, 2^-126, every value counts as zero: where |expected| is
  that small, any |got| that small passes (TensorFlow's CPU kernels and most GPU paths flush
  subnormal results to zero and compare subnormal inputs as zero).
"""
import numpy as np

from conformance.tolerance import overflow_threshold, tiny


def as_numbers(array):
    """The array as float64, or None when its dtype holds no numbers. Any numeric dtype
    counts: ints, bools, floats of every width, and NumPy extension types such as
    ml_dtypes' bfloat16 (complex numbers do not: no Keras layer here returns them)."""
    array = np.asarray(array)
    if array.dtype.kind in "OUSMmc" or array.dtype.names is not None:
        return None
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError):
        return None


def error_ratio(expected, bound, got, overflow_value=None):
    """|got - expected| / bound per element: 0 where both error and bound are 0, inf where the
    bound is 0 and the error is not, and inf where got is NaN and expected is not; 0 where got
    is the element's overflow value (a sum that overflows part way)."""
    expected = np.asarray(expected, np.float64)
    got = as_numbers(got)
    bound = np.broadcast_to(np.asarray(bound, np.float64), expected.shape)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        err = np.abs(got - expected)
        ratio = np.where(err == 0, 0.0, err / bound)
        same_nan = np.isnan(expected) & np.isnan(got)
        same_inf = np.isinf(expected) & (got == expected)
        overflow = (np.isinf(got) & (np.sign(got) == np.sign(expected))
                    & (np.abs(expected) + bound >= overflow_threshold()))
        flushed = (np.abs(got) < tiny()) & (np.abs(expected) < tiny())
        if overflow_value is not None:
            overflow_value = np.asarray(overflow_value, np.float64)
            overflow |= np.isfinite(expected) & (
                (got == overflow_value) | (np.isnan(got) & np.isnan(overflow_value)))
    ratio = np.where(same_nan | same_inf | overflow | flushed, 0.0, ratio)
    return np.where(np.isnan(ratio), np.inf, ratio)
