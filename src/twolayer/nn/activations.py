"""Element-wise activations, looked up by name.

Each activation is a small object with

* ``forward(z, out=None)``: the activation of ``z`` (any shape), optionally
  written into a preallocated ``out`` (the batch-1 training step does this to
  avoid allocating per step);
* ``backward_inplace(dout, z, a, tmp=None)``: multiplies ``dout`` in place
  by the derivative at ``z``; ``a`` is the forward output, which some
  derivatives (sigmoid, tanh) are cheaper to compute from; ``tmp``, an
  array like ``a``, lets it run without allocating.

The name -> activation table :data:`ACTIVATIONS` is what configs refer to.
The derivative of ReLU at exactly 0 is taken as 0 (CS231n; the report's
``1{x >= 0}`` differs only on a set of measure zero).
"""

from __future__ import annotations

import numpy as np


class _Constants:
    """0-d arrays of a dtype: NumPy ufuncs take them faster than Python scalars, and keep float32."""

    def __init__(self, **values):
        self.values = values
        self.cache = {}

    def __call__(self, dtype):
        c = self.cache.get(dtype)
        if c is None:
            c = self.cache[dtype] = {k: np.full((), v, dtype=dtype) for k, v in self.values.items()}
        return c


class ReLU:
    name = "relu"
    _const = _Constants(zero=0.0)

    def forward(self, z, out=None):
        return np.maximum(z, self._const(z.dtype)["zero"], out=out)

    def backward_inplace(self, dout, z, a, tmp=None):
        if tmp is None:
            np.multiply(dout, z > 0, out=dout)
        else:  # a = max(z, 0), so sign(a) is 1 where z > 0 and 0 elsewhere
            np.sign(a, out=tmp)
            np.multiply(dout, tmp, out=dout)


class Sigmoid:
    """Logistic sigmoid, as ``0.5 + 0.5 * tanh(z / 2)``: the same function, but tanh
    never overflows (``exp(-z)`` does for z < -88 in float32) and is a fast ufunc."""

    name = "sigmoid"
    _const = _Constants(half=0.5)

    def forward(self, z, out=None):
        half = self._const(z.dtype)["half"]
        out = np.multiply(z, half, out=out)
        np.tanh(out, out=out)
        np.multiply(out, half, out=out)
        np.add(out, half, out=out)
        return out

    def backward_inplace(self, dout, z, a, tmp=None):
        if tmp is None:
            tmp = np.empty_like(a)
        np.multiply(a, a, out=tmp)
        np.subtract(a, tmp, out=tmp)  # s(1 - s) = s - s^2
        np.multiply(dout, tmp, out=dout)


class Tanh:
    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def backward_inplace(self, dout, z, a, tmp=None):
        if tmp is None:
            tmp = np.empty_like(a)
        np.multiply(a, a, out=tmp)
        np.subtract(1.0, tmp, out=tmp)
        np.multiply(dout, tmp, out=dout)


class LeakyReLU:
    name = "leaky_relu"

    def __init__(self, alpha=0.01):
        if not 0 <= alpha < 1:
            raise ValueError(f"leaky_relu alpha must be in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, z, out=None):
        # max(z, alpha*z) equals z for z > 0 and alpha*z otherwise when alpha < 1.
        scaled = z * self.alpha
        return np.maximum(z, scaled, out=out)

    def backward_inplace(self, dout, z, a, tmp=None):
        dout *= np.where(z > 0, 1, self.alpha).astype(dout.dtype, copy=False)


ACTIVATIONS = {
    "relu": ReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "leaky_relu": LeakyReLU,
}


def get_activation(name, **settings):
    """Return the activation called ``name``; raises ``ValueError`` listing the valid names."""
    try:
        cls = ACTIVATIONS[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; valid activations are: {valid}") from None
    return cls(**settings)
