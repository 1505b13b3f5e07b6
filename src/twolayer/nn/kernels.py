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
    COMPILED = "block_steps"  # the compiled loop's name in twolayer.nn.native.LOOPS

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
        self._working_copies(d, h, kb, dt)
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
            from .native import LOOPS, loop_c

            self._steps_c = loop_c(dt, self.COMPILED)  # a C function of raw pointers: see _compiled_steps
            # the dtype each pointer argument points to, from the loop's one list of arguments
            kinds = {"w": dt, "i": np.dtype(np.int64), "j": np.dtype(np.int32), "d": np.dtype(np.float64)}
            self._arg_dtypes = {name: kinds[kind] for name, kind in LOOPS[self.COMPILED] if kind in kinds}
            self.act_code = ACTIVATION_CODES[self.act.name]
            self.alpha = float(getattr(self.act, "alpha", 0.0))
            self.no_b1, self.no_b2 = np.zeros(h, dtype=dt), np.zeros(c, dtype=dt)
            self._ptrs = None

    def _working_copies(self, d, h, kb, dt):
        self.V = np.empty((d, h), dtype=dt, order="F")  # W1's working copy
        self.UT = np.empty((h, d), dtype=dt)  # a block's update of V, transposed (V's memory layout)
        self.Xb = np.empty((kb, d), dtype=dt)  # the block's examples
        self.Z = np.empty((kb, h), dtype=dt)  # their pre-activations under the block's starting V
        self.G = np.empty(kb * kb, dtype=dt)  # their Gram matrix (reshaped per block)

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
        fixed = {"W2T": self.W2T, "b1": p["b1"] if bias else self.no_b1, "b2": p["b2"] if bias else self.no_b2,
                 "state": self.state, "cast": self.cast, "z1": self.z1, "a1": self.a1, "z2": self.z2,
                 **self._loop_arrays()}
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

    def _loop_arrays(self):
        """The arrays only this kernel's compiled loop reads and writes, by argument name."""
        return {"Z": self.Z, "G": self.G, "Dm": self.Dm, "cv": self.cv}

    def _compiled_steps(self, zb, G, kb, j, s, P, X, labels, idx, lrs, t0, log_every, track, data_loss, penalty):
        """The block's steps through the compiled loop; returns (pending steps, s, finite)."""
        ptr, bias = self._ptrs
        state = self.state
        state[0], state[1] = s, P
        at = 8 * j  # the run's step j in the float64 and int64 per-step arrays
        r = self._steps_c(
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
        gemv, bdot = self.gemv, self.bdot
        Dm, cv, w, z1 = self.Dm, self.cv, self.w, self.z1
        b1 = self.params.get("b1")
        W2flat = self.W2T.reshape(-1)
        k, creg = self.k, self.coef * self.reg
        m, finite = kb, True
        for t in range(kb):
            c = labels[idx[j + t]]
            lr = float(lrs[j + t])
            # z1 = s * V_t^T x_t (+ b1), V_t = V - sum_{k<t} c_k x_k d_k^T
            u = zb[t]
            if t:
                np.multiply(cv[:t], G[t, :t], out=w[:t])
                gemv(-1.0, Dm[:t].T, w[:t], beta=1.0, y=u, overwrite_y=1)
            self.scal(s, u)
            if b1 is not None:
                np.add(u, b1, out=z1)
                zz = z1
            else:
                zz = u
            loss, total = self._head_forward(zz, c)
            if not math.isfinite(loss):
                m, finite = t, False
                break
            data_loss[j + t] = loss
            if log_every and not (t0 + j + t + 1) % log_every:
                penalty[j + t] = creg * (P + bdot(W2flat, W2flat)) if track else 0.0
            d = Dm[t]
            self._head_backward(zz, c, total, lr, d)
            if track:
                decay = 1.0 - lr * k
                P = decay * decay * P - 2.0 * lr * decay * bdot(u, d) + lr * lr * float(G[t, t]) * bdot(d, d)
            # W1 = s V: the decay scales s; the update x d^T / s waits in the block
            if k:
                s *= 1.0 - lr * k
            cv[t] = lr / s
            if not 1e-3 < s <= 1.0:  # rescale V: end the block here
                m = t + 1
                break
        np.multiply(Dm[:m], cv[:m, None], out=Dm[:m])
        return m, s, finite

    def _head_forward(self, zz, c):
        """From the hidden pre-activation ``zz`` (H,) to the loss of label ``c``: a1, the scores and the
        softmax cross-entropy shifted by the max score. Returns ``(loss, total)``; z2 then holds
        ``exp(score - max)``, whose sum is ``total``. (The compiled loops' ``head_forward``.)"""
        a1, z2, W2T, b2 = self.a1, self.z2, self.W2T, self.params.get("b2")
        self.act.forward(zz, out=a1)
        np.dot(W2T, a1, out=z2)
        if b2 is not None:
            z2 += b2
        zl = z2.tolist()
        mx = max(zl)
        self.axpy(self.ones, z2, a=-mx)
        np.exp(z2, out=z2)
        total = self.asum(z2)
        return math.log(total) - (zl[c] - mx), total

    def _head_backward(self, zz, c, total, lr, d):
        """After :meth:`_head_forward`: z2 becomes dL/dscores, ``d`` (H,) dL/dz1 (with the weights before
        the update); then ``W2 <- (1 - lr k) W2 - lr a1 dz2^T`` and the biases' steps."""
        p, a1, z2, W2T, scal, axpy = self.params, self.a1, self.z2, self.W2T, self.scal, self.axpy
        b1, b2 = p.get("b1"), p.get("b2")
        scal(1.0 / total, z2)
        z2[c] -= 1.0  # z2 now holds dL/dz2
        np.dot(z2, W2T, out=d)
        self.act.backward_inplace(d, zz, a1)  # d now holds dL/dz1
        if self.k:
            scal(1.0 - lr * self.k, W2T.reshape(-1))
        self.ger(-lr, a1, z2, a=W2T.T, overwrite_a=1)
        if b2 is not None:
            axpy(z2, b2, a=-lr)
        if b1 is not None:
            axpy(d, b1, a=-lr)


class Foreground:
    """Where each example of a dataset differs from a background: ``X[i] = background + e_i``
    with ``e_i`` zero outside ``indices[indptr[i]:indptr[i + 1]]`` (increasing feature indices).

    background (D,): the input of a blank image (the normalisation's image of pixel 0: one value
    for the report's standardisation, a vector for a per-pixel one); indptr (N + 1,) int64,
    indices (nnz,) int32. :func:`twolayer.data.preprocess.find_foreground` builds them;
    the prepared HDF5 stores them with the training split."""

    def __init__(self, background, indptr, indices):
        self.background = np.ascontiguousarray(background).reshape(-1)
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(indices, dtype=np.int32)
        n, d = self.indptr.size - 1, self.background.size
        if n < 0 or self.indptr[0] != 0 or self.indptr[-1] != self.indices.size or np.any(np.diff(self.indptr) < 0):
            raise ValueError("Foreground: indptr must rise from 0 to the number of indices")
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= d):
            raise ValueError(f"Foreground: indices must lie in [0, {d})")

    @property
    def shape(self):
        return (self.indptr.size - 1, self.background.size)

    @property
    def fraction(self):
        """The share of features in the foreground, over every example."""
        n, d = self.shape
        return self.indices.size / max(n * d, 1)

    def check(self, X):
        """Refuse ``X`` unless it is the (N, D) these indices were found in (shape only: the caller
        vouches for the values; :func:`twolayer.study.run.runner.job_kernel` reads both from one file)."""
        if X.shape != self.shape:
            raise ValueError(f"the foreground indices are of a ({self.shape[0]}, {self.shape[1]}) dataset, "
                             f"not of X {X.shape}")


class Batch1Sparse(Batch1SGD):
    """Plain SGD with one example per step on inputs ``x = b + e`` with a fixed background ``b``
    and a sparse foreground ``e`` (:class:`Foreground`): exactly sequential SGD, with the
    arithmetic of W1 proportional to the foreground.

    W1 is held as ``s (V + b r^T)``, with ``q = b^T V`` kept up to date:

    * forward, ``x^T W1 = s (q + e^T V + (b^T x) r)``: only the foreground rows of V are read;
    * update, ``W1' = (1 - lr k) W1 - lr (b + e) d^T``: the decay scales ``s`` (as in
      :class:`Batch1SGD`), ``e d^T / s'`` goes into the foreground rows of V, the background's
      rank-1 part into the lazy offset ``r -= (lr / s') d``, and ``q -= (lr / s') (b^T e) d``;

    so a step costs ~4 nnz(e) H flops for W1 instead of 4 D H, plus the per-step work on H- and
    C-sized vectors (which the dense kernel has too). Every ``fold_every`` steps (at step
    numbers that are its multiples) and at the end of :meth:`run`, ``r`` is folded into V and
    ``q`` computed afresh, one O(D H) pass, which bounds what rounding the lazy offset and the
    sums can gather in float32 (tests/nn/test_sparse.py: 240,000 steps against float64).

    ``loop="compiled"``: :func:`twolayer.nn.batch1_loop.sparse_steps` through
    :mod:`twolayer.nn.native`; ``loop="numpy"``: :meth:`_sparse_numpy`, its readable specification.
    During :meth:`run` V is a C-ordered working copy (its rows are what a step reads and writes).
    """

    COMPILED = "sparse_steps"
    FOLD_EVERY = 1024

    def __init__(self, net, reg, foreground, loop="compiled", fold_every=FOLD_EVERY):
        if foreground.background.size != net.input_size:
            raise ValueError(f"the foreground's background has {foreground.background.size} features, "
                             f"the net's input {net.input_size}")
        super().__init__(net, reg, block=1, loop=loop)
        self.fg = foreground
        self.fold_every = int(fold_every)
        dt, h = net.dtype, net.hidden_size
        self.bg = np.ascontiguousarray(foreground.background, dtype=dt)
        self.bb = float(np.dot(self.bg.astype(np.float64), self.bg.astype(np.float64)))
        self.q, self.r, self.u, self.d = (np.empty(h, dtype=dt) for _ in range(4))
        self.ev = np.empty(net.input_size, dtype=dt)

    def _working_copies(self, d, h, kb, dt):
        self.V = np.empty((d, h), dtype=dt)  # W1's working copy, C-ordered: a step reads and writes rows

    def _loop_arrays(self):
        return {"V": self.V, "q": self.q, "r": self.r, "bg": self.bg, "indptr": self.fg.indptr,
                "indices": self.fg.indices, "u": self.u, "d": self.d, "ev": self.ev}

    def run(self, X, y, idx, lrs, optimizer=None, t0=0, log_every=0, data_loss=None, penalty=None):
        """Same contract as :meth:`Batch1SGD.run`; ``X`` must be the dataset the foreground is of."""
        if optimizer is not None and optimizer.name != SGD.name:
            raise ValueError(f"Batch1Sparse is plain SGD; got optimizer {optimizer.describe()}")
        self.fg.check(X)
        p = self.params
        W1, W2 = p["W1"], p["W2"]
        V, q, r, bg = self.V, self.q, self.r, self.bg
        V[...] = W1
        self.W2T[...] = W2.T
        np.matmul(bg, V, out=q)
        r[...] = 0
        idx = np.ascontiguousarray(idx, dtype=np.int64).reshape(-1)
        n = idx.size
        lrs = np.ascontiguousarray(lrs, dtype=np.float64).reshape(-1)
        if data_loss is None:
            data_loss = np.empty(n)
        log_every = int(log_every) if log_every and penalty is not None else 0
        track = bool(log_every) and self.reg != 0.0
        P = _vdot(V) if track else 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            if self.loop == "compiled":
                done, s = self._compiled_sparse(X, y, idx, lrs, t0, log_every, track, P, data_loss, penalty)
            else:
                done, s = self._sparse_numpy(X, y, idx, lrs, t0, log_every, track, P, data_loss, penalty)
            self._fold()  # W1 = s V
            if s != 1.0:
                V *= s
        W1[...] = V
        W2[...] = self.W2T.T
        return done

    def _fold(self):
        """``V += b r^T``, ``r = 0``, ``q = b^T V`` afresh: W1 = s (V + b r^T) unchanged (the compiled
        loop's ``fold_background``)."""
        self.V += self.bg[:, None] * self.r
        self.r[...] = 0
        np.matmul(self.bg, self.V, out=self.q)

    def _compiled_sparse(self, X, y, idx, lrs, t0, log_every, track, P, data_loss, penalty):
        n = idx.size
        labels = np.asarray(y)[idx].astype(np.int64)
        ptr, bias = self._pointers(labels, lrs, data_loss, penalty, n)
        if X.dtype != self.V.dtype or not X.flags.c_contiguous:
            raise ValueError(f"Batch1Sparse: X must be a C-contiguous {self.V.dtype.name} array")
        self.state[0], self.state[1] = 1.0, P
        (N, D), H, C = X.shape, self.V.shape[1], self.W2T.shape[0]
        res = self._steps_c(
            ptr["V"], ptr["q"], ptr["r"], ptr["bg"], X.ctypes.data, ptr["indptr"], ptr["indices"], idx.ctypes.data,
            ptr["W2T"], ptr["b1"], ptr["b2"], ptr["labels"], ptr["lrs"], ptr["state"], ptr["cast"],
            ptr["data_loss"], ptr["penalty"] if log_every else ptr["data_loss"], ptr["u"], ptr["z1"], ptr["a1"],
            ptr["z2"], ptr["d"], ptr["ev"], n, N, D, H, C, self.fg.indices.size, bias, self.act_code, t0,
            log_every, track, self.fold_every, self.alpha, self.k, self.coef * self.reg, self.bb,
        )
        return (res if res >= 0 else -1 - res), float(self.state[0])

    def _sparse_numpy(self, X, y, idx, lrs, t0, log_every, track, P, data_loss, penalty):
        """The steps in NumPy: the specification of :func:`twolayer.nn.batch1_loop.sparse_steps`.
        Returns (steps done, the scale s of W1 = s (V + b r^T))."""
        V, q, r, bg, bb, d, b1 = self.V, self.q, self.r, self.bg, self.bb, self.d, self.params.get("b1")
        indptr, indices = self.fg.indptr, self.fg.indices
        W2flat = self.W2T.reshape(-1)
        k, creg, dt = self.k, self.coef * self.reg, V.dtype
        s = 1.0
        labels = np.asarray(y)
        for t, (i, lr) in enumerate(zip(idx.tolist(), lrs.tolist())):
            f = indices[indptr[i] : indptr[i + 1]]
            x = X[i]
            e = x[f] - bg[f]  # the foreground: x = b + e
            be = float(np.dot(e, bg[f]))  # b^T e
            # the pre-activation x^T W1 = s (q + e^T V + (b^T x) r), without b1
            pre = (s * (q + e @ V[f] + dt.type(bb + be) * r)).astype(dt)
            zz = pre + b1 if b1 is not None else pre
            c = int(labels[i])
            loss, total = self._head_forward(zz, c)
            if not math.isfinite(loss):
                return t, s
            data_loss[t] = loss
            if log_every and not (t0 + t + 1) % log_every:
                penalty[t] = creg * (P + float(np.dot(W2flat, W2flat))) if track else 0.0
            self._head_backward(zz, c, total, lr, d)
            decay = 1.0 - lr * k
            if track:  # ||W1'||^2 from ||W1||^2, the pre-activation and ||x||^2 = ||b||^2 + ||x_f||^2 - ||b_f||^2
                xsq = bb + float(np.dot(x[f], x[f]) - np.dot(bg[f], bg[f]))
                P = decay * decay * P - 2.0 * lr * decay * float(np.dot(pre, d)) + lr * lr * xsq * float(np.dot(d, d))
            s *= decay
            cv = lr / s
            V[f] -= (cv * np.outer(e, d)).astype(dt)  # e d^T into the foreground rows
            r -= dt.type(cv) * d  # b d^T into the lazy offset
            q -= dt.type(cv * be) * d  # and q = b^T V follows
            if not 1e-3 < s <= 1.0:
                V *= dt.type(s)
                r *= dt.type(s)
                q *= dt.type(s)
                s = 1.0
            if self.fold_every and not (t0 + t + 1) % self.fold_every:
                self._fold()
                if track:
                    P = s * s * _vdot(V)
        return idx.size, s


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


KERNELS = {"batch1_sgd": Batch1SGD, "batch1_sparse": Batch1Sparse, "minibatch": MinibatchStep,
           "reference": ReferenceStep}


def load_compiled_loop(dtype, kernel="batch1_sgd"):
    """Load the compiled loop of the batch-1 ``kernel`` (a name :func:`kernel_name` gives) for ``dtype`` (:mod:`twolayer.nn.native`: its
    machine code from the disk cache, compiled on the very first run). A training job does
    this before it trains, so that the cost (~0.03 s; a few seconds the first time on a
    machine) counts as the job's start, not as its first steps."""
    from .native import loop_c

    loop_c(dtype, KERNELS[kernel].COMPILED)


#: the batch-1 kernel for inputs with a background runs when at most this share of the features is
#: foreground: below it, a step costs less than the dense kernel's (measured side by side:
#: ``python benchmarks/run.py --only sparse_step``, docs/performance.md)
SPARSE_BELOW = 0.25


def kernel_name(kind, batch_size, optimizer, foreground_fraction=None):
    """The kernel that trains a model of ``kind`` with ``batch_size`` (None: full batch) and
    ``optimizer`` (its settings, e.g. ``{"name": "sgd"}``); ``foreground_fraction``: the share of
    the training inputs' features that differ from their background (None: no background, or the
    sparse path turned off), which makes batch-1 SGD take :class:`Batch1Sparse` at or below
    :data:`SPARSE_BELOW`."""
    if kind != "twolayer":
        return "reference"
    plain_sgd = optimizer.get("name", SGD.name) == SGD.name and len(optimizer) <= 1
    if batch_size == 1 and plain_sgd:
        sparse = foreground_fraction is not None and 0 <= foreground_fraction <= SPARSE_BELOW
        return "batch1_sparse" if sparse else "batch1_sgd"
    return "minibatch"


def make_kernel(model, batch_size, n_train, reg, optimizer, foreground=None):
    """The kernel :func:`kernel_name` picks, built for ``model`` (a full batch is ``n_train`` rows);
    ``foreground``: the training inputs' :class:`Foreground`, or None."""
    name = kernel_name(model.kind, batch_size, optimizer, None if foreground is None else foreground.fraction)
    if name == "batch1_sparse":
        return Batch1Sparse(model, reg, foreground), name
    if name == "batch1_sgd":
        return Batch1SGD(model, reg), name
    if name == "minibatch":
        return MinibatchStep(model, n_train if batch_size is None else batch_size, reg), name
    return ReferenceStep(model, reg), name
