"""The two guards every family's gradient bounds pass before a twin is judged:

- near_kink: a derivative is not defined at an activation's kink (relu's 0, hard_sigmoid's
  edges; reference/backward.py `kinks`), and a float32 input within KINK_MARGIN times its
  bound of one may sit on either side: the case is out of scope there, with where it lies;
- replayed: a family that replays the reference's VJP in Bounded arithmetic (the recurrent
  walks: recurrent.py, bidirectional.py, cudnn.py, conv_lstm.py) must reproduce the
  reference's gradients to float64 rounding (its bound is then the bound of the computation
  the expected values come from), and a bound that is not finite judges nothing: OutOfScope.
"""
import numpy as np

import reference.backward as vjps
from conformance import tolerance
from reference.config import OutOfScope

KINK_MARGIN = 4.0          # a z nearer a kink than this many times its bound is not judged


def near_kink(name, spec, z, z_bound, live=True, what="pre-activation"):
    """OutOfScope where some z (where `live`: its gradient may be nonzero) lies within
    KINK_MARGIN times z_bound of a kink of activation `name`; `what` names z in the
    message."""
    for kink in vjps.kinks(name, spec):
        near = live & (np.abs(z - kink) <= KINK_MARGIN * z_bound)
        if np.any(near):
            index = tuple(int(i) for i in np.argwhere(near)[0])
            raise OutOfScope(f"the derivative is not defined near {name}'s kink: the {what} "
                             f"{float(z[index]):.3g} at {index} lies within {KINK_MARGIN:g} "
                             f"times its float32 bound of it")


def replayed(case, grads, values, bounds):
    """(grads, bounds) as float64 arrays, once the replay's `values` are the reference's
    `grads` to rounding and every bound has its gradient's shape; OutOfScope where a bound is
    not finite."""
    assert len(grads) == len(values) == len(bounds), (case.id, len(grads), len(values))
    for value, again, bound in zip(grads, values, bounds):
        assert np.shape(value) == np.shape(bound), (case.id, np.shape(value), np.shape(bound))
        scale = max(1.0, float(np.max(np.abs(value), initial=0.0)))
        assert np.allclose(value, again, rtol=1e-9, atol=1e-12 * scale), case.id
        finite(bound)
    return ([np.asarray(g, np.float64) for g in grads],
            [np.asarray(np.broadcast_to(b, np.shape(g)), np.float64)
             for g, b in zip(grads, bounds)])


def finite(bound):
    """OutOfScope where a gradient's float32 bound is not finite."""
    if not np.all(np.isfinite(bound)):
        raise OutOfScope(f"{tolerance.UNDETERMINED}: a gradient's float32 bound is not finite")
