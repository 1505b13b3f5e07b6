"""Optimizers: settings fixed at construction, state kept apart.

An optimizer object holds its *settings* (an immutable dataclass, e.g. the
momentum ``mu``) and its *state* (a dict of per-parameter arrays such as
velocities, created on the first update). The learning rate is not a
setting: the schedule passes it to every :meth:`Optimizer.update`.

All updates are in place and keep the parameters' dtype; after the first
call no array of a parameter's size is allocated (scratch space lives in the
state). :func:`make_optimizer` builds one by name, as configs do.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np

from .registry import lookup

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@functools.cache
def _blas_axpy(dtype):
    # imported here, not at the top: a batch-1 training job never needs SciPy (~0.2 s of its start)
    from scipy.linalg import blas

    return blas.get_blas_funcs("axpy", dtype=dtype)


def axpy(alpha, x, y):
    """``y += alpha * x`` in place, without a temporary (BLAS ?axpy on arrays of the same layout)."""
    if y.dtype in FLOATS and x.dtype == y.dtype:
        fn = _blas_axpy(y.dtype)
        if x.flags.c_contiguous and y.flags.c_contiguous:
            fn(x.reshape(-1), y.reshape(-1), a=alpha)
            return y
        if x.flags.f_contiguous and y.flags.f_contiguous:  # Fortran-ordered: the transposes are C-ordered
            fn(x.T.reshape(-1), y.T.reshape(-1), a=alpha)
            return y
    y += alpha * x  # mixed layouts: not produced by this package's kernels
    return y


class Optimizer:
    """Base class. Subclasses define ``name``, ``Settings`` and ``_update``."""

    name = "base"

    @dataclass(frozen=True)
    class Settings:
        pass

    def __init__(self, **settings):
        try:
            self.settings = self.Settings(**settings)
        except TypeError:
            valid = ", ".join(self.Settings.__dataclass_fields__) or "(none)"
            raise ValueError(
                f"optimizer {self.name!r} got settings {sorted(settings)}; its settings are: {valid}"
            ) from None
        self.state = {}

    def reset(self):
        """Forget the state (velocities, moments, step counts)."""
        self.state = {}

    def update(self, params, grads, lr):
        """Update every array of ``params`` in place with ``grads`` at learning rate ``lr``."""
        lr = float(lr)
        for name, w in params.items():
            self._update(name, w, grads[name], lr)

    def _update(self, name, w, g, lr):
        raise NotImplementedError

    def describe(self):
        return {"name": self.name, **asdict(self.settings)}


class SGD(Optimizer):
    """Vanilla SGD: ``w -= lr * g``."""

    name = "sgd"

    def _update(self, name, w, g, lr):
        axpy(-lr, g, w)


class Momentum(Optimizer):
    """SGD with momentum: ``v = mu * v - lr * g; w += v`` (v starts at 0)."""

    name = "momentum"

    @dataclass(frozen=True)
    class Settings:
        mu: float = 0.9

    def _update(self, name, w, g, lr):
        st = self.state.get(name)
        if st is None:
            st = self.state[name] = {"v": np.zeros_like(w)}
        v = st["v"]
        v *= self.settings.mu
        axpy(-lr, g, v)
        axpy(1.0, v, w)


class RMSProp(Optimizer):
    """RMSProp: ``cache = rho*cache + (1-rho)*g**2; w -= lr * g / sqrt(cache + eps)``."""

    name = "rmsprop"

    @dataclass(frozen=True)
    class Settings:
        rho: float = 0.99
        eps: float = 1e-8

    def _update(self, name, w, g, lr):
        st = self.state.get(name)
        if st is None:
            st = self.state[name] = {"cache": np.zeros_like(w), "scratch": np.empty_like(w)}
        cache, tmp = st["cache"], st["scratch"]
        rho, eps = self.settings.rho, self.settings.eps
        np.multiply(g, g, out=tmp)
        cache *= rho
        axpy(1.0 - rho, tmp, cache)
        np.add(cache, eps, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)
        axpy(-lr, tmp, w)


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba; CS231n's ``adam``).

    ``t += 1; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g**2;
    w -= lr * (m / (1-b1**t)) / (sqrt(v / (1-b2**t)) + eps)``.
    """

    name = "adam"

    @dataclass(frozen=True)
    class Settings:
        beta1: float = 0.9
        beta2: float = 0.999
        eps: float = 1e-8

    def _update(self, name, w, g, lr):
        st = self.state.get(name)
        if st is None:
            st = self.state[name] = {
                "t": 0,
                "m": np.zeros_like(w),
                "v": np.zeros_like(w),
                "scratch": np.empty_like(w),
            }
        s = self.settings
        st["t"] += 1
        t = st["t"]
        m, v, tmp = st["m"], st["v"], st["scratch"]
        m *= s.beta1
        axpy(1.0 - s.beta1, g, m)
        np.multiply(g, g, out=tmp)
        v *= s.beta2
        axpy(1.0 - s.beta2, tmp, v)
        # tmp = sqrt(v / (1 - b2^t)) + eps ; then tmp = m / tmp
        np.multiply(v, 1.0 / (1.0 - s.beta2**t), out=tmp)
        np.sqrt(tmp, out=tmp)
        tmp += s.eps
        np.divide(m, tmp, out=tmp)
        axpy(-lr / (1.0 - s.beta1**t), tmp, w)


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, RMSProp, Adam)}


def make_optimizer(name, **settings):
    """Build the optimizer called ``name``; unknown names list the valid ones."""
    return lookup(OPTIMIZERS, name, "optimizer")(**settings)
