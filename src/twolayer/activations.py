"""Element-wise activations, looked up by name.

Each activation is a small object with

* ``forward(z, out=None)``: the activation of ``z`` (any shape), optionally
  written into a preallocated ``out`` (the batch-1 training step does this to
  avoid allocating per step);
* ``backward_inplace(dout, z, a)``: multiplies ``dout`` in place by the
  derivative at ``z``; ``a`` is the forward output, which some derivatives
  (sigmoid, tanh) are cheaper to compute from.

The name -> activation table :data:`ACTIVATIONS` is what configs refer to.
The derivative of ReLU at exactly 0 is taken as 0 (CS231n; the report's
``1{x >= 0}`` differs only on a set of measure zero).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit


class ReLU:
    name = "relu"

    def forward(self, z, out=None):
        return np.maximum(z, 0, out=out)

    def backward_inplace(self, dout, z, a):
        np.multiply(dout, z > 0, out=dout)


class Sigmoid:
    name = "sigmoid"

    def forward(self, z, out=None):
        # scipy's expit is a ufunc that never overflows (exp(-z) for z << 0 would).
        return expit(z, out=out)

    def backward_inplace(self, dout, z, a):
        dout *= a
        dout *= 1 - a


class Tanh:
    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def backward_inplace(self, dout, z, a):
        dout *= 1 - a * a


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

    def backward_inplace(self, dout, z, a):
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
