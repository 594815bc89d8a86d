"""The finite-difference check behind tests/test_reference_backward*.py: the reference's
analytic VJPs against float64 central differences of its forward pass, with Richardson
extrapolation.

For a case (arrays, config) and a cotangent u, f(arrays) = sum(u * forward(*arrays, **config))
(a forward returning a list: one cotangent per array, the sums added). Each element of each
array is moved by +-H and +-H/2: D(h) = (f(a + h) - f(a - h)) / 2h, the estimate
R = (4 D(H/2) - D(H)) / 3, and the error estimate |D(H/2) - D(H)| / 3, the error of D(H/2),
which bounds R's smaller O(H^4) error. Per gradient array, relative to its largest element:
the error estimate must stay below RICHARDSON_TOL and the analytic VJP within TOL of R.

Cases keep MARGIN (>> H) away from the points where the derivative is not defined.

first_twins: the gradient twins of a layer's first covering cases, the cases the tests of the
suite's own gradient bounds (conformance/backward/) walk.
"""
import numpy as np

from conformance import backward
from conformance.cases import fixture_cases
from conformance.specs import get as get_spec

H = 2e-5
MARGIN = 1e-2
TOL = 1e-7
RICHARDSON_TOL = 1e-8


def numeric_vjp(f, arrays):
    """Per array: (R, error estimate), elementwise, the steps made exact in float64."""
    found = []
    for i, a in enumerate(arrays):
        d = {}
        for h in (H, H / 2):
            grad = np.zeros_like(a)
            for idx in np.ndindex(a.shape):
                plus, minus = a.copy(), a.copy()
                plus[idx] += h
                minus[idx] -= h
                moved = [arrays[:i] + [p] + arrays[i + 1:] for p in (plus, minus)]
                grad[idx] = (f(*moved[0]) - f(*moved[1])) / (plus[idx] - minus[idx])
            d[h] = grad
        found.append(((4 * d[H / 2] - d[H]) / 3, np.abs(d[H / 2] - d[H]) / 3))
    return found


def assert_vjp(forward, vjp, arrays, config, seed=0):
    """The analytic vjp(*arrays, u=u, **config) against numeric_vjp of sum(u * forward). A
    forward returning a list (a recurrent layer's [output, *states]) gets a list u, one
    cotangent per array, and f adds their sums."""
    arrays = [np.asarray(a, np.float64) for a in arrays]
    y = forward(*arrays, **config)
    several = isinstance(y, (list, tuple))
    rng = np.random.default_rng(seed)
    us = [rng.standard_normal(np.shape(o)) for o in (y if several else [y])]
    u = us if several else us[0]
    got = vjp(*arrays, u=u, **config)
    assert len(got) == len(arrays), f"{len(got)} gradients for {len(arrays)} arrays"

    def f(*moved):
        y = forward(*moved, **config)
        return sum(np.sum(w * o) for w, o in zip(us, y if several else [y]))
    numeric = numeric_vjp(f, arrays)
    largest = max(max(np.abs(r).max(), np.abs(g).max()) for g, (r, _) in zip(got, numeric))
    for n, (g, a, (expected, error)) in enumerate(zip(got, arrays, numeric)):
        assert g.shape == a.shape and g.dtype == np.float64, f"gradient {n}: {g.shape} {g.dtype}"
        scale = max(np.abs(expected).max(), np.abs(g).max(), 1e-2 * largest, 1e-300)
        assert error.max() <= RICHARDSON_TOL * scale, \
            f"gradient {n}: Richardson error estimate {error.max() / scale:.2e} (relative)"
        worst = np.unravel_index(np.argmax(np.abs(g - expected)), g.shape)
        assert np.abs(g - expected).max() <= TOL * scale, (
            f"{vjp.__name__} {config}: gradient {n} at {worst}: finite differences "
            f"{expected[worst]!r}, analytic {g[worst]!r} (scale {scale:.3g}, tol {TOL})")


def draw_away(rng, shape, distance, low=-1.5, high=1.5):
    """Uniform values redrawn until distance(x) >= MARGIN everywhere."""
    x = rng.uniform(low, high, shape)
    while np.any(bad := distance(x) < MARGIN):
        x = np.where(bad, rng.uniform(low, high, shape), x)
    return x


def distinct(rng, shape):
    """Values at least 0.02 apart (no ties, by construction): a shuffled ramp, jittered."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) + rng.uniform(-0.3, 0.3, n)) * 0.05 - n * 0.025).reshape(shape)


def first_twins(layer, count, seed):
    """The gradient twins (cotangents drawn from `seed`) of the first `count` covering cases
    of `layer`, in each Keras spec it has, where the case takes a gradient."""
    spec = get_spec(layer)
    found = [backward.gradient_twin(case, seed) for keras_spec in spec.keras_specs
             for case in fixture_cases(spec, keras_spec, count)
             if backward.takes_gradient(case)]
    assert found
    return found
