"""Named weight initialisations.

Each initialiser draws a (fan_in, fan_out) matrix from ``rng`` in float64
(so that a float32 and a float64 net built from the same seed hold the same
values up to rounding). Biases always start at zero.

``rng`` may be a :class:`numpy.random.Generator` or a legacy
:class:`numpy.random.RandomState`: ``RandomState(0)`` reproduces CS231n's
``np.random.seed(0)`` notebooks draw for draw.
"""

from __future__ import annotations

import math

from .registry import lookup


def _cs231n(rng, fan_in, fan_out, std=1e-4):
    """``std * randn`` (CS231n's TwoLayerNet; default std 1e-4)."""
    return std * rng.standard_normal((fan_in, fan_out))


def _report(rng, fan_in, fan_out, std=None):
    """``randn / sqrt(fan_out)`` (the MNIST report's code)."""
    return rng.standard_normal((fan_in, fan_out)) / math.sqrt(fan_out)


def _he(rng, fan_in, fan_out, std=None):
    """He et al. (2015): ``randn * sqrt(2 / fan_in)``."""
    return rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / fan_in)


def _xavier(rng, fan_in, fan_out, std=None):
    """Glorot & Bengio (2010), normal variant: ``randn * sqrt(2 / (fan_in + fan_out))``."""
    return rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / (fan_in + fan_out))


INITIALISERS = {
    "cs231n": _cs231n,
    "report": _report,
    "he": _he,
    "xavier": _xavier,
}


def init_weights(name, rng, fan_in, fan_out, std=None):
    """Draw a (fan_in, fan_out) float64 weight matrix with the initialiser ``name``."""
    fn = lookup(INITIALISERS, name, "initialisation", plural="ones")
    if name == "cs231n" and std is not None:
        return fn(rng, fan_in, fan_out, std=std)
    return fn(rng, fan_in, fan_out)
