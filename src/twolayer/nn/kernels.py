"""Training-step kernels: the same mathematics as ``TwoLayerNet.loss`` plus an
update, written so that a step allocates nothing of a weight's size.

Three kernels, one interface: ``kernel.run(X, y, idx, lrs, optimizer, t0,
log_every, data_loss, penalty)`` performs ``len(lrs)`` consecutive steps in
place on the model's parameters and returns how many it did, and
``kernel.penalty()`` is the L2 penalty of the current weights.
:func:`make_kernel` picks one by :func:`kernel_name`, the one decision, which
:mod:`twolayer.study.plan.resources` also uses to estimate a job's time:

* :class:`Batch1SGD`: plain SGD on one example per step (the report's
  protocol). Per step, a forward ``?gemv`` and a rank-1 ``?ger`` update
  would each stream all of W1 through memory; instead the rank-1 updates
  are delayed over blocks of steps and applied as one GEMM, which keeps
  the arithmetic of sequential SGD while touching W1 a fraction as often.
  Weight decay is folded into a scalar scale of W1.
* :class:`MinibatchStep`: B examples per step (or the full batch) with any
  optimizer; forward and backward are large GEMMs written into preallocated
  buffers, the L2 gradient is added with ``?axpy``, the input gradient is
  never formed.
* :class:`ReferenceStep`: any other model (the linear softmax), through its
  ``loss(X, y, reg)``.

All record the *data* loss of every step (used for the divergence check)
and, every ``log_every`` steps, the L2 penalty of the weights that step
used, so the training loop can report the full objective.
"""

from __future__ import annotations

import math

import numpy as np

from .optim import SGD, axpy
from .regularization import l2_coefficient


def _vdot(a):
    r = a.reshape(-1)
    return float(np.dot(r, r))


class Batch1SGD:
    """Plain SGD with one example per step for a :class:`~twolayer.nn.net.TwoLayerNet`.

    Exactly sequential SGD, computed with the rank-1 updates of W1 *delayed*
    over blocks of ``block`` steps (as blocked LU factorisations delay theirs):

    * at the start of a block, one GEMM gives the hidden pre-activations of
      all its examples under the block's starting weights, ``Z = Xb V``, and
      one more their Gram matrix ``G = Xb Xb^T``;
    * step t of the block corrects its row for the updates of steps k < t
      that are still pending: ``z_t = s (Z[t] - sum_k c_k G[t, k] d_k)``,
      with ``d_k`` the hidden-layer gradient of step k and ``c_k`` its scaled
      step size: a (t x H) matrix-vector product;
    * at the end of the block one rank-``block`` GEMM applies them all,
      ``V -= Xb^T (c * D)``.

    W1 (D x H) therefore crosses the memory ~3/``block`` times per step
    instead of 3 times (a per-step ``?gemv`` plus ``?ger``), and the step's
    cost is the block GEMMs' arithmetic, 4 D H flops, plus the per-step work
    on H- and C-sized vectors. W2 and the biases, 1% of the bytes, are
    updated every step.

    Weight decay ``W <- (1 - lr*k) W`` is not a pass over W1 either: W1 is
    held as ``s * V`` and the decay only scales the scalar ``s`` (``V`` is
    rescaled when ``s`` leaves (1e-3, 1]).

    The per-step work runs in one of two loops with the same arithmetic:
    ``loop="compiled"`` (the default), :func:`twolayer.nn.batch1_loop.block_steps`
    compiled by Numba and loaded as stored machine code (:mod:`twolayer.nn.native`),
    1.3-2.1 us a step at H = 275 (ReLU-sigmoid, timed alone); ``loop="numpy"``,
    :meth:`_steps_numpy`, the readable specification: ~20 BLAS calls and ufuncs a
    step, 10-19 us (``benchmarks/notes.md``).

    During :meth:`run` V is a Fortran-ordered working copy of W1 and ``W2T`` a
    C-ordered copy of W2 transposed, copied back into ``net.params`` at the end.
    """

    LOOPS = ("compiled", "numpy")

    def __init__(self, net, reg, block=64, loop="compiled"):
        p = net.params
        dt = net.dtype
        self.params = p
        self.act = net.act
        self.coef = l2_coefficient(net.reg_convention)
        self.reg = float(reg)
        self.k = 2.0 * self.coef * self.reg  # gradient of the penalty is k * W
        self.block = int(block)
        if self.block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        if loop not in self.LOOPS:
            raise ValueError(f"unknown loop {loop!r}; valid loops are: {', '.join(self.LOOPS)}")
        self.loop = loop
        d, h, c, kb = net.input_size, net.hidden_size, net.output_size, self.block
        self.V = np.empty((d, h), dtype=dt, order="F")  # W1's working copy
        self.UT = np.empty((h, d), dtype=dt)  # a block's update of V, transposed (V's memory layout)
        self.Xb = np.empty((kb, d), dtype=dt)  # the block's examples
        self.Z = np.empty((kb, h), dtype=dt)  # their pre-activations under the block's starting V
        self.G = np.empty(kb * kb, dtype=dt)  # their Gram matrix (reshaped per block)
        self.Dm = np.empty((kb, h), dtype=dt)  # the hidden-layer gradients of the block's steps
        self.cv = np.empty(kb, dtype=dt)  # their scaled step sizes lr_k / s_{k+1}
        self.w = np.empty(kb, dtype=dt)
        self.z1 = np.empty(h, dtype=dt)
        self.a1 = np.empty(h, dtype=dt)
        self.z2 = np.empty(c, dtype=dt)
        self.ones = np.ones(c, dtype=dt)
        self.W2T = np.empty((c, h), dtype=dt)  # W2's working copy, transposed, C-ordered
        self.cast = np.empty(1, dtype=dt)
        self.state = np.empty(2)  # [s, P] between the compiled loop's calls
        self._labels, self._labels_of = None, None
        if loop == "numpy":
            # SciPy's BLAS on preallocated vectors, imported here: a training job runs the
            # compiled loop and does not spend ~0.2 s of its start importing scipy.linalg
            from scipy.linalg import blas

            self.gemv, self.ger, self.scal, self.axpy, self.asum, self.bdot = blas.get_blas_funcs(
                ("gemv", "ger", "scal", "axpy", "asum", "dot"), dtype=dt
            )
        else:
            from .activations import ACTIVATION_CODES
            from .native import ARGS, block_steps_c

            self._block_steps = block_steps_c(dt)  # a C function of raw pointers: see _compiled_steps
            # the dtype each pointer argument points to, from the loop's one list of arguments
            kinds = {"w": dt, "i": np.dtype(np.int64), "d": np.dtype(np.float64)}
            self._arg_dtypes = {name: kinds[kind] for name, kind in ARGS if kind in kinds}
            self.act_code = ACTIVATION_CODES[self.act.name]
            self.alpha = float(getattr(self.act, "alpha", 0.0))
            self.no_b1, self.no_b2 = np.zeros(h, dtype=dt), np.zeros(c, dtype=dt)
            self._ptrs = None

    def penalty(self, s=1.0, V=None, W2=None):
        """The L2 penalty; during a run W1 is ``s * V`` (with no update pending)."""
        if self.reg == 0.0:
            return 0.0
        W1 = self.params["W1"] if V is None else V
        W2 = self.params["W2"] if W2 is None else W2
        return self.coef * self.reg * (s * s * _vdot(W1) + _vdot(W2))

    def run(self, X, y, idx, lrs, optimizer=None, t0=0, log_every=0, data_loss=None, penalty=None):
        """Perform ``len(idx)`` steps on examples ``X[idx[j]]``, labels ``y[idx[j]]``.

        X: (N, D) C-contiguous, the net's dtype; y: (N,) integer labels;
        idx: (n,) or (n, 1) example indices; lrs: (n,) learning rates.
        optimizer: this kernel is plain SGD; any other optimizer is refused
        (:func:`kernel_name` never picks it then).
        data_loss (n,) receives each step's cross-entropy; penalty (n,)
        receives the L2 penalty at the steps whose 1-based number
        ``t0 + j + 1`` is a multiple of ``log_every``.
        Returns the number of steps done: ``n``, or ``j`` if step ``j``
        produced a non-finite loss (the net is then left as it was after
        step ``j - 1``'s update; step j did not update it).
        """
        if optimizer is not None and optimizer.name != SGD.name:
            raise ValueError(f"Batch1SGD is plain SGD; got optimizer {optimizer.describe()}")
        p = self.params
        W1, W2 = p["W1"], p["W2"]
        V, Xb, Dm, W2T = self.V, self.Xb, self.Dm, self.W2T
        V[...] = W1
        W2T[...] = W2.T
        Vflat = V.reshape(-1, order="F")
        UT = self.UT
        UTflat = UT.reshape(-1)
        idx = np.asarray(idx).reshape(-1)
        n = idx.size
        lrs = np.ascontiguousarray(lrs, dtype=np.float64).reshape(-1)
        if data_loss is None:
            data_loss = np.empty(n)
        if self.loop == "compiled":
            steps = self._compiled_steps
            labels = np.asarray(y)[idx].astype(np.int64)
            self._ptrs = self._pointers(labels, lrs, data_loss, penalty, n)
        else:
            steps = self._steps_numpy
            if self._labels_of is not y:  # the label array as a list, converted once per dataset
                self._labels, self._labels_of = np.asarray(y).tolist(), y
            labels = self._labels
        want_pen = bool(log_every) and penalty is not None
        # Logging the penalty more often than once a block (CS231n's per-step loss history):
        # rather than end a block at every logged step (a pass over W1 each), follow
        # P = ||W1||^2 through the block's updates, W1' = (1 - lr k) W1 - lr x d^T:
        #   P' = (1 - lr k)^2 P - 2 lr (1 - lr k) (x^T W1) d + lr^2 ||x||^2 ||d||^2,
        # where x^T W1 is the step's pre-activation and ||x||^2 the Gram diagonal: O(H) a step.
        # P is computed exactly at every block start. Logging once a block or less often
        # ends blocks at the logged steps and computes the penalty there directly.
        in_block = want_pen and log_every < self.block
        track = in_block and self.reg != 0.0
        s = 1.0
        done = n
        j = 0
        with np.errstate(over="ignore", invalid="ignore"):
            while j < n:
                kb = min(self.block, n - j)
                P = s * s * _vdot(V) if track else 0.0
                if want_pen and not in_block:
                    # a block ends before the next step whose penalty is logged (V must be flushed there)
                    first = (-(t0 + j + 1)) % log_every  # offset of the next logged step from j
                    if first == 0:
                        penalty[j] = self.penalty(s, V, W2T)
                        first = log_every
                    kb = min(kb, first)
                xb = Xb[:kb]
                np.take(X, idx[j : j + kb], axis=0, out=xb, mode="clip")
                zb = self.Z[:kb]
                np.matmul(xb, V, out=zb)
                G = self.G[: kb * kb].reshape(kb, kb)
                np.matmul(xb, xb.T, out=G)
                m, s, finite = steps(zb, G, kb, j, s, P, X, labels, idx, lrs, t0, log_every if in_block else 0,
                                     track, data_loss, penalty)
                if m:  # V -= Xb^T (c * D): the rank-m update, cv already folded into Dm
                    # (NumPy's GEMM into UT, V's layout, then one subtraction: the bits of a ?gemm
                    # accumulating into V, without SciPy; benchmarks/notes.md)
                    np.matmul(Dm[:m].T, Xb[:m], out=UT)
                    np.subtract(Vflat, UTflat, out=Vflat)
                if not 1e-3 < s <= 1.0:
                    np.multiply(Vflat, s, out=Vflat)
                    s = 1.0
                j += m
                if not finite:
                    done = j
                    break
        if s != 1.0:
            np.multiply(Vflat, s, out=Vflat)
        W1[...] = V
        W2[...] = W2T.T
        return done

    def _pointers(self, labels, lrs, data_loss, penalty, n):
        """The addresses the compiled loop is called with during one run (it reads and writes
        through them: every array must be C-contiguous, of the loop's dtype, and hold ``n``
        steps' entries)."""
        p = self.params
        bias = "b1" in p
        fixed = {"Z": self.Z, "G": self.G, "Dm": self.Dm, "cv": self.cv, "W2T": self.W2T,
                 "b1": p["b1"] if bias else self.no_b1, "b2": p["b2"] if bias else self.no_b2,
                 "state": self.state, "cast": self.cast, "z1": self.z1, "a1": self.a1, "z2": self.z2}
        per_step = {"labels": labels, "lrs": lrs, "data_loss": data_loss}
        if penalty is not None:
            per_step["penalty"] = penalty
        for name, a in {**fixed, **per_step}.items():
            want = self._arg_dtypes[name]
            if a.dtype != want or not a.flags.c_contiguous or (name in per_step and a.size < n):
                raise ValueError(f"Batch1SGD: {name} must be a C-contiguous {np.dtype(want).name} array"
                                 + (f" of at least {n} entries" if name in per_step else ""))
        ptr = {name: a.ctypes.data for name, a in {**fixed, **per_step}.items()}
        return ptr, bias

    def _compiled_steps(self, zb, G, kb, j, s, P, X, labels, idx, lrs, t0, log_every, track, data_loss, penalty):
        """The block's steps through the compiled loop; returns (pending steps, s, finite)."""
        ptr, bias = self._ptrs
        state = self.state
        state[0], state[1] = s, P
        at = 8 * j  # the run's step j in the float64 and int64 per-step arrays
        r = self._block_steps(
            ptr["Z"], ptr["G"], ptr["Dm"], ptr["cv"], ptr["W2T"], ptr["b1"], ptr["b2"],
            ptr["labels"] + at, ptr["lrs"] + at, ptr["state"], ptr["cast"], ptr["data_loss"] + at,
            (ptr["penalty"] if log_every else ptr["data_loss"]) + at, ptr["z1"], ptr["a1"], ptr["z2"],
            kb, self.Z.shape[1], self.W2T.shape[0], self.block, bias, self.act_code, t0 + j, log_every, track,
            self.alpha, self.k, self.coef * self.reg,
        )
        return (r, float(state[0]), True) if r >= 0 else (-1 - r, float(state[0]), False)

    def _steps_numpy(self, zb, G, kb, j, s, P, X, labels, idx, lrs, t0, log_every, track, data_loss, penalty):
        """The block's steps in NumPy and BLAS calls: the specification of the compiled loop.

        zb (kb, H): the block's pre-activations, G (kb, kb) their Gram matrix; steps
        j..j+kb-1 of the run. Returns (steps whose
        updates are pending, the scale s of W1 = s V, whether every loss was finite);
        on return Dm[:m] holds the pending steps' gradients times their scaled step sizes.
        """
        p = self.params
        b1, b2 = p.get("b1"), p.get("b2")
        gemv, ger, scal, axpy, asum, bdot, act = self.gemv, self.ger, self.scal, self.axpy, self.asum, self.bdot, self.act
        Dm, cv, w, z1, a1, z2, ones = self.Dm, self.cv, self.w, self.z1, self.a1, self.z2, self.ones
        W2T = self.W2T
        W2 = W2T.T  # (H, C), Fortran-ordered view
        W2flat = W2T.reshape(-1)
        k, creg, dot, log = self.k, self.coef * self.reg, np.dot, math.log
        m, finite = kb, True
        for t in range(kb):
            c = labels[idx[j + t]]
            lr = float(lrs[j + t])
            # z1 = s * V_t^T x_t (+ b1), V_t = V - sum_{k<t} c_k x_k d_k^T
            u = zb[t]
            if t:
                np.multiply(cv[:t], G[t, :t], out=w[:t])
                gemv(-1.0, Dm[:t].T, w[:t], beta=1.0, y=u, overwrite_y=1)
            scal(s, u)
            if b1 is not None:
                np.add(u, b1, out=z1)
                zz = z1
            else:
                zz = u
            act.forward(zz, out=a1)
            dot(W2T, a1, out=z2)
            if b2 is not None:
                z2 += b2
            # softmax cross-entropy, shifted by the max score
            zl = z2.tolist()
            mx = max(zl)
            axpy(ones, z2, a=-mx)
            np.exp(z2, out=z2)
            total = asum(z2)
            loss = log(total) - (zl[c] - mx)
            if not math.isfinite(loss):
                m, finite = t, False
                break
            data_loss[j + t] = loss
            if log_every and not (t0 + j + t + 1) % log_every:
                penalty[j + t] = creg * (P + bdot(W2flat, W2flat)) if track else 0.0
            scal(1.0 / total, z2)
            z2[c] -= 1.0  # z2 now holds dL/dz2
            # backward into the hidden layer, with the weights before the update
            d = Dm[t]
            dot(z2, W2T, out=d)
            act.backward_inplace(d, zz, a1)  # d now holds dL/dz1
            if track:
                decay = 1.0 - lr * k
                P = decay * decay * P - 2.0 * lr * decay * bdot(u, d) + lr * lr * float(G[t, t]) * bdot(d, d)
            # W2 <- (1 - lr k) W2 - lr a1 dz2^T ; biases
            if k:
                scal(1.0 - lr * k, W2flat)
            ger(-lr, a1, z2, a=W2, overwrite_a=1)
            if b2 is not None:
                axpy(z2, b2, a=-lr)
            if b1 is not None:
                axpy(d, b1, a=-lr)
            # W1 = s V: the decay scales s; the update x d^T / s waits in the block
            if k:
                s *= 1.0 - lr * k
            cv[t] = lr / s
            if not 1e-3 < s <= 1.0:  # rescale V: end the block here
                m = t + 1
                break
        np.multiply(Dm[:m], cv[:m, None], out=Dm[:m])
        return m, s, finite


class MinibatchStep:
    """Loss and gradients for a fixed batch size, into preallocated buffers.

    Works for :class:`~twolayer.nn.net.TwoLayerNet`; any optimizer applies the
    update. ``grads`` has the keys of ``net.params``.

    W1, its gradient (and so the optimizer's state) are held in Fortran
    order: the weight gradient is then computed as ``dz1^T X`` into a
    C-ordered (H, D) view, a GEMM shape ~7% faster here than ``X^T dz1``
    into (D, H), with no transposing copy. (The net's ``W1`` is replaced by
    a Fortran-ordered copy when the kernel is built; its values and shape
    are unchanged.)
    """

    def __init__(self, net, batch_size, reg):
        p = net.params
        if not p["W1"].flags.f_contiguous:
            p["W1"] = np.asfortranarray(p["W1"])
        dt = net.dtype
        b, h, c = int(batch_size), net.hidden_size, net.output_size
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
        np.matmul(da1.T, Xb, out=g["W1"].T)  # (H, D) C-ordered view of the Fortran-ordered (D, H)
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
                    # mode="clip" (the indices are valid): with the default "raise", take buffers its output
                    Xb = np.take(X, rows, axis=0, out=self.xbuf, mode="clip")
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


KERNELS = {"batch1_sgd": Batch1SGD, "minibatch": MinibatchStep, "reference": ReferenceStep}


def load_compiled_loop(dtype):
    """Load the batch-1 kernel's compiled loop for ``dtype`` (:mod:`twolayer.nn.native`: its
    machine code from the disk cache, compiled on the very first run). A training job does
    this before it trains, so that the cost (~0.03 s; a few seconds the first time on a
    machine) counts as the job's start, not as its first steps."""
    from .native import block_steps_c

    block_steps_c(dtype)


def kernel_name(kind, batch_size, optimizer):
    """The kernel that trains a model of ``kind`` with ``batch_size`` (None: full batch) and
    ``optimizer`` (its settings, e.g. ``{"name": "sgd"}``)."""
    if kind != "twolayer":
        return "reference"
    plain_sgd = optimizer.get("name", SGD.name) == SGD.name and len(optimizer) <= 1
    return "batch1_sgd" if batch_size == 1 and plain_sgd else "minibatch"


def make_kernel(model, batch_size, n_train, reg, optimizer):
    """The kernel :func:`kernel_name` picks, built for ``model`` (a full batch is ``n_train`` rows)."""
    name = kernel_name(model.kind, batch_size, optimizer)
    if name == "batch1_sgd":
        return Batch1SGD(model, reg), name
    if name == "minibatch":
        return MinibatchStep(model, n_train if batch_size is None else batch_size, reg), name
    return ReferenceStep(model, reg), name
