"""Element-wise activations, looked up by name: each formula written once.

Each activation is a class with two element formulas, the one definition of its
arithmetic that every path uses:

* ``value(z, c)``: the activation at ``z``;
* ``grad(z, a, c)``: its derivative at ``z``, given ``a = value(z, c)`` (which
  some derivatives, sigmoid and tanh, are cheaper to compute from);

``c`` holds the constants in the arithmetic's dtype (:class:`Constants`: ``zero``,
``one``, the leaky ReLU's ``alpha`` and ``exp_max``), so that float32 stays float32.
The formulas use only arithmetic operators and NumPy ufuncs, so the same
expression runs on NumPy arrays (here: ``c`` holds 0-d arrays) and on scalars in
the batch-1 kernel's compiled loop (:mod:`twolayer.nn.batch1_loop` has Numba
compile them, one branch per activation of :data:`ACTIVATIONS`, with the code
:data:`ACTIVATION_CODES`; there ``c`` holds scalars of the weights' dtype).

An instance (:func:`get_activation`) applies them to arrays:

* ``forward(z, out=None)``: the activation of ``z`` (any shape), optionally
  written into ``out`` (which may be ``z``);
* ``backward_inplace(dout, z, a)``: multiplies ``dout`` in place by the
  derivative at ``z``; ``a`` is the forward output.

The name -> activation table :data:`ACTIVATIONS` is what configs refer to.
The derivative of ReLU at exactly 0 is taken as 0 (CS231n; the report's
``1{x >= 0}`` differs only on a set of measure zero).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from .registry import lookup

#: the constants of the formulas, in the dtype of the arithmetic
Constants = namedtuple("Constants", "zero one alpha exp_max")
#: the largest argument a formula passes to exp: e^80 ~ 5.5e34 is finite in float32 (whose exp overflows past 88.7)
EXP_MAX = 80.0


class Activation:
    """Applies a subclass's element formulas ``value`` and ``grad`` to arrays."""

    name = ""
    alpha = 0.0  # the leaky ReLU's slope below 0; the other formulas do not read it

    def constants(self, dtype):
        """:class:`Constants` as 0-d arrays of ``dtype`` (NumPy ufuncs take them faster than
        Python scalars, and they keep float32 float32); made once per dtype."""
        cache = self.__dict__.setdefault("_constants", {})
        c = cache.get(dtype)
        if c is None:
            c = cache[dtype] = Constants(*(np.full((), v, dtype=dtype) for v in (0.0, 1.0, self.alpha, EXP_MAX)))
        return c

    def forward(self, z, out=None):
        a = self.value(z, self.constants(z.dtype))
        if out is None:
            return a
        np.copyto(out, a)
        return out

    def backward_inplace(self, dout, z, a):
        np.multiply(dout, self.grad(z, a, self.constants(dout.dtype)), out=dout)


class ReLU(Activation):
    name = "relu"

    @staticmethod
    def value(z, c):
        return np.maximum(z, c.zero)  # NaN kept

    @staticmethod
    def grad(z, a, c):
        return np.sign(a)  # a = max(z, 0): 1 where z > 0, 0 elsewhere (at the kink too)


class Sigmoid(Activation):
    """Logistic sigmoid ``1 / (1 + exp(-z))``, with the argument of exp capped at ``exp_max`` (80):
    exp never overflows (it would for z < -88.7 in float32), and below z = -80, where the sigmoid
    is under 2e-35, it is 1/(1 + e^80) ~ 1.8e-35 (an absolute error under 2e-35); elsewhere the
    formula is exact to rounding, relatively, in both tails."""

    name = "sigmoid"

    @staticmethod
    def value(z, c):
        return c.one / (c.one + np.exp(np.minimum(-z, c.exp_max)))

    @staticmethod
    def grad(z, a, c):
        return a - a * a  # s (1 - s)


class Tanh(Activation):
    name = "tanh"

    @staticmethod
    def value(z, c):
        return np.tanh(z)

    @staticmethod
    def grad(z, a, c):
        return c.one - a * a


class LeakyReLU(Activation):
    """``z`` for z > 0, ``alpha * z`` elsewhere (0 <= alpha < 1)."""

    name = "leaky_relu"

    def __init__(self, alpha=0.01):
        if not 0 <= alpha < 1:
            raise ValueError(f"leaky_relu alpha must be in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)

    @staticmethod
    def value(z, c):
        return np.maximum(z, z * c.alpha)  # max(z, alpha z) is z for z > 0 and alpha z otherwise when alpha < 1

    @staticmethod
    def grad(z, a, c):
        return np.maximum(np.sign(z), c.alpha)  # 1 for z > 0; max(0 or -1, alpha) = alpha elsewhere


ACTIVATIONS = {cls.name: cls for cls in (ReLU, Sigmoid, Tanh, LeakyReLU)}

#: the activation's code in the compiled loop (its argument ``act``): its place in :data:`ACTIVATIONS`
ACTIVATION_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}


def get_activation(name, **settings):
    """Return the activation called ``name``; raises ``ValueError`` listing the valid names."""
    return lookup(ACTIVATIONS, name, "activation")(**settings)
