"""Training-step kernels: the same mathematics as ``TwoLayerNet.loss`` plus an
update, written so that a step allocates nothing of a weight's size.

Two kernels, both with the interface ``run(X, y, idx, lrs, ...)`` that
performs ``len(lrs)`` consecutive steps in place on the net's parameters:

* :class:`Batch1SGD`: plain SGD on one example per step (the report's
  protocol). The step is memory bound, so it touches W1 as little as
  possible: one ``?gemv`` reads it (forward), one ``?ger`` updates it (the
  rank-1 gradient ``x dz1^T``). Weight decay ``W <- (1 - lr*k) W`` is not a
  pass over W1: W1 is held as ``s * V`` and the decay only scales the
  scalar ``s``; ``V`` is rescaled when ``s`` leaves [1e-3, 1] and
  materialised (``W1 = s * V``) at the end of every ``run``.
* :class:`MinibatchStep`: B examples per step with any optimizer; forward
  and backward are two large GEMMs written into preallocated buffers, the
  L2 gradient is added with ``?axpy``, the input gradient is never formed.

Both record the *data* loss of every step (used for the divergence check)
and, every ``log_every`` steps, the L2 penalty of the weights that step
used, so the training loop can report the full objective.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import blas

from .optim import axpy
from .regularization import l2_coefficient

_GEMV = {np.dtype(np.float32): blas.sgemv, np.dtype(np.float64): blas.dgemv}
_GER = {np.dtype(np.float32): blas.sger, np.dtype(np.float64): blas.dger}


def _vdot(a):
    r = a.reshape(-1)
    return float(np.dot(r, r))


class Batch1SGD:
    """Plain SGD with one example per step for a :class:`~twolayer.net.TwoLayerNet`."""

    def __init__(self, net, reg):
        p = net.params
        dt = net.dtype
        self.net = net
        self.params = p
        self.act = net.act
        self.bias = net.bias
        self.coef = l2_coefficient(net.reg_convention)
        self.reg = float(reg)
        self.k = 2.0 * self.coef * self.reg  # gradient of the penalty is k * W
        self.gemv = _GEMV[dt]
        self.ger = _GER[dt]
        h, c = net.hidden_size, net.output_size
        self.u = np.empty(h, dtype=dt)
        self.z1 = np.empty(h, dtype=dt)
        self.a1 = np.empty(h, dtype=dt)
        self.da1 = np.empty(h, dtype=dt)
        self.z2 = np.empty(c, dtype=dt)

    def penalty(self, s=1.0):
        if self.reg == 0.0:
            return 0.0
        p = self.params
        return self.coef * self.reg * (s * s * _vdot(p["W1"]) + _vdot(p["W2"]))

    def run(self, X, y, idx, lrs, t0=0, log_every=0, data_loss=None, penalty=None):
        """Perform ``len(idx)`` steps on examples ``X[idx[j]]``, labels ``y[idx[j]]``.

        X: (N, D) C-contiguous, the net's dtype; y: (N,) integer labels;
        idx: (n,) example indices; lrs: (n,) learning rates.
        data_loss (n,) receives each step's cross-entropy; penalty (n,)
        receives the L2 penalty at the steps whose 1-based number
        ``t0 + j + 1`` is a multiple of ``log_every``.
        Returns the number of steps done: ``n``, or ``j`` if step ``j``
        produced a non-finite loss (the net is then left as it was after
        step ``j - 1``'s update; step j did not update it).
        """
        p = self.params
        W1T = p["W1"].T  # (H, D), Fortran-ordered view: BLAS reads it without a copy
        W2 = p["W2"]
        W2T = W2.T
        b1 = p.get("b1")
        b2 = p.get("b2")
        gemv, ger, act = self.gemv, self.ger, self.act
        u, z1, a1, da1, z2 = self.u, self.z1, self.a1, self.da1, self.z2
        k = self.k
        s = 1.0
        isfinite = math.isfinite
        log = math.log
        dot = np.dot
        multiply = np.multiply
        idx_list = idx.tolist() if hasattr(idx, "tolist") else list(idx)
        lr_list = lrs.tolist() if hasattr(lrs, "tolist") else list(lrs)
        labels = y
        done = len(idx_list)
        want_penalty = log_every and penalty is not None
        with np.errstate(over="ignore", invalid="ignore"):
            for j, i in enumerate(idx_list):
                if want_penalty and (t0 + j + 1) % log_every == 0:
                    penalty[j] = self.penalty(s)
                x = X[i]
                c = labels[i]
                lr = lr_list[j]
                # forward: z1 = s * (V^T x) + b1, a1 = act(z1), z2 = a1 W2 + b2
                gemv(s, W1T, x, y=u, overwrite_y=1)
                if b1 is not None:
                    np.add(u, b1, out=z1)
                    act.forward(z1, out=a1)
                    zz = z1
                else:
                    act.forward(u, out=a1)
                    zz = u
                dot(a1, W2, out=z2)
                if b2 is not None:
                    z2 += b2
                # softmax cross-entropy, stable: shift by the max
                m = z2.max()
                zc = float(z2[c] - m)
                z2 -= m
                np.exp(z2, out=z2)
                total = float(z2.sum())
                loss = log(total) - zc
                if not isfinite(loss):
                    done = j
                    break
                if data_loss is not None:
                    data_loss[j] = loss
                z2 *= 1.0 / total
                z2[c] -= 1.0  # z2 now holds dL/dz2
                # backward into the hidden layer (with the weights before the update)
                dot(W2, z2, out=da1)
                act.backward_inplace(da1, zz, a1)  # da1 now holds dL/dz1
                # update W2 and biases: W2 <- (1 - lr k) W2 - lr a1 dz2^T
                if k:
                    W2 *= 1.0 - lr * k
                ger(-lr, z2, a1, a=W2T, overwrite_a=1)
                if b2 is not None:
                    b2 -= lr * z2
                if b1 is not None:
                    b1 -= lr * da1
                # update W1 = s V: decay scales s, the gradient goes into V
                if k:
                    s *= 1.0 - lr * k
                    if not 1e-3 < s <= 1.0:
                        multiply(W1T, s, out=W1T)
                        s = 1.0
                ger(-lr / s, da1, x, a=W1T, overwrite_a=1)
        if s != 1.0:
            multiply(W1T, s, out=W1T)
        return done


class MinibatchStep:
    """Loss and gradients for a fixed batch size, into preallocated buffers.

    Works for :class:`~twolayer.net.TwoLayerNet`; any optimizer applies the
    update. ``grads`` has the keys of ``net.params``.
    """

    def __init__(self, net, batch_size, reg):
        p = net.params
        dt = net.dtype
        b, h, c = int(batch_size), net.hidden_size, net.output_size
        self.net = net
        self.params = p
        self.act = net.act
        self.bias = net.bias
        self.batch_size = b
        self.coef = l2_coefficient(net.reg_convention)
        self.reg = float(reg)
        self.k = 2.0 * self.coef * self.reg
        self.rows = np.arange(b)
        self.z1 = np.empty((b, h), dtype=dt)
        self.a1 = np.empty((b, h), dtype=dt)
        self.da1 = np.empty((b, h), dtype=dt)
        self.z2 = np.empty((b, c), dtype=dt)
        self.xbuf = None  # (B, D) gather buffer, allocated on first sampled batch
        self.grads = {name: np.empty_like(v) for name, v in p.items()}

    def penalty(self):
        if self.reg == 0.0:
            return 0.0
        return self.coef * self.reg * (_vdot(self.params["W1"]) + _vdot(self.params["W2"]))

    def loss_and_grads(self, Xb, yb):
        """Mean data loss of the batch (float) and the gradients of the full objective."""
        p, g = self.params, self.grads
        z1, a1, da1, z2, rows = self.z1, self.a1, self.da1, self.z2, self.rows
        np.matmul(Xb, p["W1"], out=z1)
        if self.bias:
            z1 += p["b1"]
        self.act.forward(z1, out=a1)
        np.matmul(a1, p["W2"], out=z2)
        if self.bias:
            z2 += p["b2"]
        z2 -= z2.max(axis=1, keepdims=True)
        zy = z2[rows, yb]
        np.exp(z2, out=z2)
        sums = z2.sum(axis=1)
        n = self.batch_size
        loss = float(np.log(sums).sum(dtype=np.float64) - zy.sum(dtype=np.float64)) / n
        z2 /= sums[:, None]
        z2[rows, yb] -= 1.0
        z2 *= 1.0 / n  # dL/dscores
        np.matmul(a1.T, z2, out=g["W2"])
        np.matmul(z2, p["W2"].T, out=da1)
        self.act.backward_inplace(da1, z1, a1)
        np.matmul(Xb.T, da1, out=g["W1"])
        if self.bias:
            z2.sum(axis=0, out=g["b2"])
            da1.sum(axis=0, out=g["b1"])
        if self.k:
            axpy(self.k, p["W1"], g["W1"])
            axpy(self.k, p["W2"], g["W2"])
        return loss, g

    def run(self, X, y, idx, lrs, optimizer, t0=0, log_every=0, data_loss=None, penalty=None):
        """Perform ``len(lrs)`` steps; ``idx`` is (n, B) indices, or None for the full batch.

        Same contract as :meth:`Batch1SGD.run`; returns the number of steps done.
        """
        p = self.params
        done = len(lrs)
        with np.errstate(over="ignore", invalid="ignore"):
            for j, lr in enumerate(lrs.tolist()):
                if log_every and penalty is not None and (t0 + j + 1) % log_every == 0:
                    penalty[j] = self.penalty()
                if idx is None:
                    Xb, yb = X, y
                else:
                    rows = idx[j]
                    if self.xbuf is None:
                        self.xbuf = np.empty((self.batch_size, X.shape[1]), dtype=X.dtype)
                    Xb = np.take(X, rows, axis=0, out=self.xbuf)
                    yb = y[rows]
                loss, grads = self.loss_and_grads(Xb, yb)
                if not math.isfinite(loss):
                    done = j
                    break
                if data_loss is not None:
                    data_loss[j] = loss
                optimizer.update(p, grads, lr)
        return done


class ReferenceStep:
    """Any model with ``loss(X, y, reg)`` (e.g. the linear classifier): the reference path."""

    def __init__(self, model, reg):
        self.model = model
        self.reg = float(reg)
        self.coef = l2_coefficient(model.reg_convention)

    def penalty(self):
        if self.reg == 0.0:
            return 0.0
        return self.coef * self.reg * sum(_vdot(self.model.params[n]) for n in self.model.weight_names)

    def run(self, X, y, idx, lrs, optimizer, t0=0, log_every=0, data_loss=None, penalty=None):
        done = len(lrs)
        with np.errstate(over="ignore", invalid="ignore"):
            for j, lr in enumerate(lrs.tolist()):
                pen = self.penalty()
                if log_every and penalty is not None and (t0 + j + 1) % log_every == 0:
                    penalty[j] = pen
                if idx is None:
                    Xb, yb = X, y
                else:
                    Xb, yb = X[idx[j]], y[idx[j]]
                loss, grads = self.model.loss(Xb, yb, reg=self.reg)
                loss -= pen
                if not math.isfinite(loss):
                    done = j
                    break
                if data_loss is not None:
                    data_loss[j] = loss
                optimizer.update(self.model.params, grads, lr)
        return done
