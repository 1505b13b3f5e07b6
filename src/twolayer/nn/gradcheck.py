"""Numerical gradients by centred differences, for checking backward passes.

* :func:`numerical_gradient`: dF/dx for a scalar function F, every entry;
* :func:`numerical_gradient_array`: the gradient of ``sum(f(x) * dout)`` for
  an array-valued f, i.e. what a layer's backward should return for ``dout``;
* :func:`sparse_grad_check`: a few random entries of a large array;
* :func:`relative_error`: CS231n's max relative error.

The functions perturb ``x`` in place and restore it exactly. Use float64:
with ``h = 1e-5`` the classic stencil's error is ~1e-11 absolute (rounding
eps/h dominates), which is a relative 1e-6 on a gradient entry of 1e-5;
the five-point stencil (``order=4``, ``h = 1e-3``) brings it to ~1e-13.
In float32 the rounding error alone is ~1e-2: no gradient check means
anything there.
"""

from __future__ import annotations

import numpy as np


def relative_error(x, y):
    """``max |x - y| / max(1e-8, |x| + |y|)`` over all entries (CS231n's definition)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


_STENCILS = {
    # order: (offsets, weights, denominator in units of h, default h)
    2: ((1, -1), (1.0, -1.0), 2.0, 1e-5),
    4: ((2, 1, -1, -2), (-1.0, 8.0, -8.0, 1.0), 12.0, 1e-3),
}


def _stencil(order, h):
    try:
        offsets, weights, denom, default_h = _STENCILS[order]
    except KeyError:
        raise ValueError(f"order must be 2 or 4, got {order!r}") from None
    return offsets, weights, denom, default_h if h is None else h


def _centred(g, x, h, order):
    """dg/dx for the scalar function ``g()`` (which reads ``x``), entry by entry."""
    offsets, weights, denom, h = _stencil(order, h)
    grad = np.zeros_like(x, dtype=np.float64)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        acc = 0.0
        for off, wgt in zip(offsets, weights):
            x[ix] = old + off * h
            acc += wgt * g()
        x[ix] = old
        grad[ix] = acc / (denom * h)
    return grad


def numerical_gradient(f, x, h=None, order=2):
    """Centred-difference gradient of the scalar function ``f()`` with respect to array ``x``.

    ``f`` takes no argument and reads ``x`` (which is modified in place
    during the call and restored). ``order=2`` is CS231n's
    ``(f(x+h) - f(x-h)) / 2h`` with h = 1e-5; ``order=4`` is the five-point
    centred stencil with h = 1e-3, whose error (~1e-13 absolute here) is
    small enough to check entries of size 1e-5 to a relative 1e-7. With
    order 4 keep inputs 0.01 or more away from kinks such as ReLU's.
    """
    return _centred(lambda: float(f()), x, h, order)


def numerical_gradient_array(f, x, dout, h=None, order=2):
    """Gradient of ``sum(f(x) * dout)`` with respect to ``x``, by centred differences.

    ``f(x)`` returns an array the shape of ``dout``; see :func:`numerical_gradient` for ``order``.
    """
    return _centred(lambda: float(np.sum(np.asarray(f(x), dtype=np.float64) * dout)), x, h, order)


def sparse_grad_check(f, x, analytic_grad, num_checks=10, h=1e-5, rng=None):
    """Relative errors at ``num_checks`` random entries of ``x`` (a list of floats).

    f: scalar function of no argument reading ``x``; analytic_grad: same shape as x.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    errors = []
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(m)) for m in x.shape)
        old = x[ix]
        x[ix] = old + h
        fp = float(f())
        x[ix] = old - h
        fm = float(f())
        x[ix] = old
        num = (fp - fm) / (2 * h)
        errors.append(relative_error(num, analytic_grad[ix]))
    return errors


def check_model_gradients(model, X, y, reg, h=None, order=2):
    """Relative error of every parameter's analytic gradient against centred differences.

    Returns ``{name: relative_error}``. ``model`` must be float64.
    """
    _, grads = model.loss(X, y, reg=reg)
    out = {}
    for name, p in model.params.items():
        num = numerical_gradient(lambda: model.loss(X, y, reg=reg)[0], p, h=h, order=order)
        out[name] = relative_error(num, grads[name])
    return out
