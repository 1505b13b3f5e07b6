"""The per-step work of :class:`~twolayer.nn.kernels.Batch1SGD` (:func:`block_steps`) and of
:class:`~twolayer.nn.kernels.Batch1Sparse` (:func:`sparse_steps`), compiled by Numba. Both run a
step from its pre-activation on through one function, :func:`head_step` (the output layer,
:func:`head_forward` and :func:`head_backward`, and the records).

In :func:`block_steps`, one call performs the steps of one block of the delayed-update kernel: for each
step t, correct the pre-activation row ``Z[t]`` for the block's pending updates,
run the network forward and backward on H- and C-sized vectors, update W2 and
the biases, and store the hidden-layer gradient ``Dm[t]`` for the block's
closing GEMM. The two block GEMMs stay outside (NumPy's BLAS).

It is the same arithmetic, in the same order of steps, as the NumPy loop
``Batch1SGD._steps_numpy`` (the readable specification, twenty-odd BLAS calls
and ufuncs a step); this is that loop fused into plain loops over H and C, so a
step's work costs 1.3-2.1 us instead of 10-19 us of calls (H = 275; benchmarks/notes.md).
The tests hold both to the reference per-step SGD at 1e-10 in float64, and to each other.

The activations are not written again here: :func:`_activation_chains` has Numba compile each
activation's element formulas (``value`` and ``grad`` in :mod:`twolayer.nn.activations`, which the
NumPy paths apply to arrays) into one branch per activation of the registry, taken by its code;
the constants they read are built in the weights' dtype, so float32 stays float32.

Training runs it behind a C signature (:func:`c_adapter`): :mod:`twolayer.nn.native`
has Numba compile that adapter once per machine and stores its machine code, which
every later process maps without importing Numba
(:func:`twolayer.nn.kernels.load_compiled_loop`). The compiled code is fixed for a
machine, so results are bit-identical across processes, ``--cores`` and reruns; the
``reassoc``/``contract`` fast-math flags let the length-H dot products use SIMD
lanes (they change rounding, not the mathematics) and keep IEEE infinities and
NaNs, which the divergence check relies on.
"""

from __future__ import annotations

import math

from numba import carray, cfunc, njit, types

from .activations import ACTIVATION_CODES, ACTIVATIONS, EXP_MAX, Constants
from .cache import loop_sources_digest, use_checked_numba_cache

# Numba's cache (pickles) only in a directory only you can write, one per version of the loop's
# sources: its own check of freshness reads this file only, not the formulas in activations.py
use_checked_numba_cache(loop_sources_digest())

_ELEMENT = dict(nogil=True, boundscheck=False, error_model="numpy")  # no Python error paths in the loop


def _activation_chains():
    """``(hidden_forward, hidden_backward)``, compiled: one branch per activation of
    :data:`~twolayer.nn.activations.ACTIVATIONS`, taken when ``act`` is its code
    (:data:`~twolayer.nn.activations.ACTIVATION_CODES`), applying that activation's element
    formulas over the H hidden units: ``a1 = value(z1)``, then ``d *= grad(z1, a1)``.
    Generated from the registry, so the loop knows every activation and the formulas are its."""
    ns = {}
    fwd = ["def hidden_forward(act, z1, a1, c):"]
    bwd = ["def hidden_backward(act, z1, a1, d, c):"]
    for name, code in ACTIVATION_CODES.items():
        ns[f"value_{code}"] = njit(**_ELEMENT)(ACTIVATIONS[name].value)
        ns[f"grad_{code}"] = njit(**_ELEMENT)(ACTIVATIONS[name].grad)
        branch = f"    {'el' if code else ''}if act == {code}:  # {name}"
        fwd += [branch, "        for h in range(z1.shape[0]):", f"            a1[h] = value_{code}(z1[h], c)"]
        bwd += [branch, "        for h in range(z1.shape[0]):", f"            d[h] *= grad_{code}(z1[h], a1[h], c)"]
    exec(compile("\n".join(fwd + bwd) + "\n", "<twolayer.nn.batch1_loop activation chains>", "exec"), ns)
    return njit(**_ELEMENT)(ns["hidden_forward"]), njit(**_ELEMENT)(ns["hidden_backward"])


hidden_forward, hidden_backward = _activation_chains()

# act: the activation's code, :data:`twolayer.nn.activations.ACTIVATION_CODES`

# state: float64 [s, P]: W1 = s * V (block_steps) or s * (V + bg r^T) (sparse_steps), and
# P = ||W1||^2 when it is tracked through the steps
# cast: a 1-element array of the weights' dtype, used to round float64 scalars to it

_LOOP = dict(nogil=True, boundscheck=False, error_model="numpy", fastmath={"reassoc", "contract"})


@njit(**_LOOP)
def weight_constants(cast, alpha):  # pragma: no cover (compiled)
    """:class:`~twolayer.nn.activations.Constants` in the weights' dtype (``cast``'s), so that float32 stays float32."""
    cast[0] = 0.0
    zero = cast[0]
    cast[0] = 1.0
    one = cast[0]
    cast[0] = alpha
    alpha = cast[0]
    cast[0] = EXP_MAX
    return Constants(zero, one, alpha, cast[0])


@njit(**_LOOP)
def head_forward(act, z1, a1, z2, W2T, b2, bias, consts, c):  # pragma: no cover (compiled)
    """The step from the hidden pre-activation ``z1`` (H,) to the loss of label ``c``:
    ``a1 = act(z1)``, the scores, and the softmax cross-entropy shifted by the max score.
    Returns ``(loss, total)``; z2 (C,) then holds ``exp(score - max)``, whose sum is ``total``."""
    H = z1.shape[0]
    C = W2T.shape[0]
    hidden_forward(act, z1, a1, consts)
    for j in range(C):
        w = W2T[j]
        acc = b2[j] if bias else consts.zero
        for h in range(H):
            acc += w[h] * a1[h]
        z2[j] = acc
    mx = z2[0]
    for j in range(1, C):
        if z2[j] > mx:
            mx = z2[j]
    zc = z2[c]
    total = 0.0
    for j in range(C):
        e = math.exp(z2[j] - mx)
        z2[j] = e
        total += e
    return math.log(total) - (zc - mx), total


@njit(**_LOOP)
def head_backward(act, z1, a1, z2, d, W2T, b1, b2, bias, consts, c, total, lr_d, decay_d):  # pragma: no cover
    """After :func:`head_forward`: z2 becomes dL/dscores and ``d`` (H,) dL/dz1 (with the weights
    before the update); then ``W2 <- decay W2 - lr a1 dz2^T`` and the biases' steps
    (``lr_d``, ``decay_d``: the step size and the decay in the weights' dtype)."""
    H = z1.shape[0]
    C = W2T.shape[0]
    inv = 1.0 / total
    for j in range(C):
        z2[j] *= inv
    z2[c] -= consts.one  # z2 now holds dL/dz2
    for h in range(H):
        d[h] = consts.zero
    for j in range(C):
        w = W2T[j]
        e = z2[j]
        for h in range(H):
            d[h] += w[h] * e
    hidden_backward(act, z1, a1, d, consts)
    for j in range(C):
        w = W2T[j]
        e = lr_d * z2[j]
        for h in range(H):
            w[h] = decay_d * w[h] - e * a1[h]
    if bias:
        for j in range(C):
            b2[j] -= lr_d * z2[j]
        for h in range(H):
            b1[h] -= lr_d * d[h]


@njit(**_LOOP)
def squared_norm(W2T):  # pragma: no cover (compiled)
    acc = 0.0
    for j in range(W2T.shape[0]):
        for h in range(W2T.shape[1]):
            acc += W2T[j, h] * W2T[j, h]
    return acc


@njit(**_LOOP)
def head_step(act, u, z1, a1, z2, d, W2T, b1, b2, bias, consts, c, lr, k, cast, data_loss, penalty, t, step0,
              log_every, track, creg, P, xx):  # pragma: no cover (compiled)
    """A step from its pre-activation ``u = x^T W1`` (H,) on: ``z1 = u (+ b1)``, :func:`head_forward`,
    the loss recorded in ``data_loss[t]`` (and the penalty ``creg (P + ||W2||^2)`` at a logged step),
    :func:`head_backward` into ``d``, and, when ``track``, ``P = ||W1||^2`` carried through the update
    ``W1' = (1 - lr k) W1 - lr x d^T`` (``xx = ||x||^2``). Returns ``(finite, P)``; a step whose loss is
    not finite changes nothing."""
    H = u.shape[0]
    for h in range(H):
        z1[h] = u[h] + b1[h] if bias else u[h]
    loss, total = head_forward(act, z1, a1, z2, W2T, b2, bias, consts, c)
    if not math.isfinite(loss):
        return False, P
    data_loss[t] = loss
    if log_every and (step0 + t + 1) % log_every == 0:
        penalty[t] = creg * (P + squared_norm(W2T)) if track else 0.0
    decay = 1.0 - lr * k
    cast[0] = decay
    decay_d = cast[0]
    cast[0] = lr
    lr_d = cast[0]
    head_backward(act, z1, a1, z2, d, W2T, b1, b2, bias, consts, c, total, lr_d, decay_d)
    if track:
        ud = 0.0
        dd = 0.0
        for h in range(H):
            ud += u[h] * d[h]
            dd += d[h] * d[h]
        P = decay * decay * P - 2.0 * lr * decay * ud + lr * lr * xx * dd
    return True, P


@njit(cache=True, **_LOOP)
def block_steps(Z, G, Dm, cv, W2T, b1, b2, bias, act, alpha, labels, lrs, k, state, cast,
                data_loss, penalty, step0, log_every, track, creg, z1, a1, z2):  # pragma: no cover (compiled)
    """Steps 0..kb-1 of a block, in place; returns (steps whose updates are pending, finite).

    Z (kb, H): the block's pre-activations under its starting V, corrected in place
    (row t ends as ``x_t^T W1`` at step t, without b1); G (kb, kb): the block's Gram
    matrix; Dm (>= kb, H) receives in its first rows the hidden-layer gradients, scaled by ``cv`` on return,
    ready for ``V -= Xb^T Dm``; cv (>= kb,): lr_t / s_{t+1}; W2T (C, H) C-ordered: W2
    transposed; b1 (H,), b2 (C,): used if ``bias``; labels (kb,) int64, lrs (kb,)
    float64; k: the L2 gradient coefficient (gradient k W); data_loss (kb,) receives
    each step's cross-entropy; penalty (kb,) the L2 penalty at steps whose number
    ``step0 + t + 1`` is a multiple of ``log_every`` (0: none): ``creg (P + ||W2||^2)``
    when ``track``, else 0. Stops after a step that takes s out of (1e-3, 1] (V must
    be rescaled), or before the update of a step whose loss is not finite.
    The arrays of float64 (lrs, state, data_loss, penalty) and the labels must be
    contiguous and writable: other types compile another version.
    """
    kb, H = Z.shape
    s = state[0]
    P = state[1]
    consts = weight_constants(cast, alpha)
    m = kb
    finite = True
    for t in range(kb):
        c = labels[t]
        lr = lrs[t]
        u = Z[t]
        g = G[t]
        # z = s (Z[t] - sum_{q<t} cv_q G[t, q] Dm[q]), four rows of Dm at a time
        q = 0
        while q + 4 <= t:
            w0, w1, w2, w3 = cv[q] * g[q], cv[q + 1] * g[q + 1], cv[q + 2] * g[q + 2], cv[q + 3] * g[q + 3]
            d0, d1, d2, d3 = Dm[q], Dm[q + 1], Dm[q + 2], Dm[q + 3]
            for h in range(H):
                u[h] -= (w0 * d0[h] + w1 * d1[h]) + (w2 * d2[h] + w3 * d3[h])
            q += 4
        while q < t:
            wq = cv[q] * g[q]
            dq = Dm[q]
            for h in range(H):
                u[h] -= wq * dq[h]
            q += 1
        cast[0] = s
        sd = cast[0]
        for h in range(H):
            u[h] = sd * u[h]
        finite, P = head_step(act, u, z1, a1, z2, Dm[t], W2T, b1, b2, bias, consts, c, lr, k, cast, data_loss,
                              penalty, t, step0, log_every, track, creg, P, g[t])
        if not finite:
            m = t
            break
        # W1 = s V: the decay scales s; the update x d^T / s waits in the block
        s *= 1.0 - lr * k
        cv[t] = lr / s
        if not 1e-3 < s <= 1.0:  # V must be rescaled: end the block here
            m = t + 1
            break
    for t in range(m):
        f = cv[t]
        d = Dm[t]
        for h in range(H):
            d[h] *= f
    state[0] = s
    state[1] = P
    return m, finite


@njit(**_LOOP)
def fold_background(V, q, r, bg):  # pragma: no cover (compiled)
    """``V += bg r^T``, ``r = 0``, then ``q = bg^T V`` computed afresh: W1 = s (V + bg r^T) unchanged."""
    D, H = V.shape
    for h in range(H):
        q[h] = 0.0
    for f in range(D):
        row = V[f]
        b = bg[f]
        if b != 0.0:
            for h in range(H):
                row[h] += b * r[h]
            for h in range(H):
                q[h] += b * row[h]
    for h in range(H):
        r[h] = 0.0


@njit(cache=True, **_LOOP)
def sparse_steps(V, q, r, bg, X, indptr, indices, rows, W2T, b1, b2, bias, act, alpha, labels, lrs, k, state,
                 cast, data_loss, penalty, step0, log_every, track, creg, fold_every, bb, u, z1, a1, z2, d,
                 ev):  # pragma: no cover (compiled)
    """Steps 0..n-1 of SGD with one example per step on inputs ``x = bg + e``, ``e`` sparse; in place.
    Returns (steps done, finite).

    W1 = s (V + bg r^T), q = bg^T V (kept up to date, so ``x^T V = q + e^T V``):
    V (D, H) C-ordered, q (H,), r (H,), bg (D,) the background, bb = bg^T bg (float64).
    X (N, D) the examples; the foreground of example i (the features where it differs
    from bg) is ``indices[indptr[i]:indptr[i + 1]]`` (int32, increasing); rows (n,) int64: the
    example of each step; labels, lrs, data_loss, penalty, state, cast and the rest as for
    :func:`block_steps`. u, z1, a1, d (H,), z2 (C,), ev (D,): scratch. A step costs
    O(foreground x H) for W1: its forward reads only the foreground rows of V, its update
    ``W1 -= lr x d^T`` writes only them, the background's part ``bg (lr d)^T`` going into r
    and q in O(H). At every step whose number ``step0 + t + 1`` is a multiple of
    ``fold_every`` (0: never), r is folded into V and q computed afresh (an O(D H) pass),
    which bounds the rounding the lazy offset and the sums can gather; so does rescaling V
    when s leaves (1e-3, 1]. Stops before the update of a step whose loss is not finite.
    """
    n = rows.shape[0]
    H = V.shape[1]
    s = state[0]
    P = state[1]
    consts = weight_constants(cast, alpha)
    done = n
    finite = True
    for t in range(n):
        i = rows[t]
        lo = indptr[i]
        nf = indptr[i + 1] - lo
        x = X[i]
        c = labels[t]
        lr = lrs[t]
        # u = q + sum_f e_f V[f] over the foreground, four rows of V at a time; be = bg^T e
        for h in range(H):
            u[h] = q[h]
        be = 0.0
        xsq = 0.0  # ||x||^2 - ||bg||^2, for the tracked penalty
        p = 0
        while p + 4 <= nf:
            f0, f1, f2, f3 = indices[lo + p], indices[lo + p + 1], indices[lo + p + 2], indices[lo + p + 3]
            e0, e1, e2, e3 = x[f0] - bg[f0], x[f1] - bg[f1], x[f2] - bg[f2], x[f3] - bg[f3]
            ev[p], ev[p + 1], ev[p + 2], ev[p + 3] = e0, e1, e2, e3
            v0, v1, v2, v3 = V[f0], V[f1], V[f2], V[f3]
            for h in range(H):
                u[h] += (e0 * v0[h] + e1 * v1[h]) + (e2 * v2[h] + e3 * v3[h])
            p += 4
        while p < nf:
            f0 = indices[lo + p]
            e0 = x[f0] - bg[f0]
            ev[p] = e0
            v0 = V[f0]
            for h in range(H):
                u[h] += e0 * v0[h]
            p += 1
        for p in range(nf):
            f0 = indices[lo + p]
            be += ev[p] * bg[f0]
            if track:
                xsq += x[f0] * x[f0] - bg[f0] * bg[f0]
        # the pre-activation x^T W1 = s (x^T V + (x^T bg) r), without b1
        cast[0] = bb + be
        xb = cast[0]
        cast[0] = s
        sd = cast[0]
        for h in range(H):
            u[h] = sd * (u[h] + xb * r[h])
        finite, P = head_step(act, u, z1, a1, z2, d, W2T, b1, b2, bias, consts, c, lr, k, cast, data_loss, penalty,
                              t, step0, log_every, track, creg, P, bb + xsq)
        if not finite:
            done = t
            break
        # W1' = decay W1 - lr (bg + e) d^T: the decay scales s; e d^T goes into the foreground
        # rows of V, bg d^T into r, and q = bg^T V follows V's change
        s *= 1.0 - lr * k
        cast[0] = lr / s
        cvd = cast[0]
        for p in range(nf):
            row = V[indices[lo + p]]
            w = cvd * ev[p]
            for h in range(H):
                row[h] -= w * d[h]
        cast[0] = (lr / s) * be
        cvbe = cast[0]
        for h in range(H):
            r[h] -= cvd * d[h]
            q[h] -= cvbe * d[h]
        if not 1e-3 < s <= 1.0:  # W1 = s (V + bg r^T): rescale V, r and q
            cast[0] = s
            sd = cast[0]
            for f in range(V.shape[0]):
                row = V[f]
                for h in range(H):
                    row[h] *= sd
            for h in range(H):
                r[h] *= sd
                q[h] *= sd
            s = 1.0
        if fold_every and (step0 + t + 1) % fold_every == 0:
            fold_background(V, q, r, bg)
            if track:
                P = s * s * squared_norm(V)
    state[0] = s
    state[1] = P
    return done, finite


def _adapter(Z, G, Dm, cv, W2T, b1, b2, labels, lrs, state, cast, data_loss, penalty, z1, a1, z2,
             kb, H, C, ldd, bias, act, step0, log_every, track, alpha, k, creg):  # pragma: no cover (compiled)
    """:func:`block_steps` on raw pointers (the C signature of :data:`twolayer.nn.native.ARGS`); returns the
    steps done, or ``-1 - steps`` when a step's loss was not finite."""
    m, finite = block_steps(
        carray(Z, (kb, H)), carray(G, (kb, kb)), carray(Dm, (ldd, H)), carray(cv, (ldd,)), carray(W2T, (C, H)),
        carray(b1, (H,)), carray(b2, (C,)), bias != 0, act, alpha, carray(labels, (kb,)), carray(lrs, (kb,)), k,
        carray(state, (2,)), carray(cast, (1,)), carray(data_loss, (kb,)), carray(penalty, (kb,)), step0,
        log_every, track != 0, creg, carray(z1, (H,)), carray(a1, (H,)), carray(z2, (C,)),
    )
    return m if finite else -1 - m


def _sparse_adapter(V, q, r, bg, X, indptr, indices, rows, W2T, b1, b2, labels, lrs, state, cast, data_loss,
                    penalty, u, z1, a1, z2, d, ev, n, N, D, H, C, nnz, bias, act, step0, log_every, track,
                    fold_every, alpha, k, creg, bb):  # pragma: no cover (compiled)
    """:func:`sparse_steps` on raw pointers (the C signature of :data:`twolayer.nn.native.SPARSE_ARGS`); returns
    the steps done, or ``-1 - steps`` when a step's loss was not finite."""
    m, finite = sparse_steps(
        carray(V, (D, H)), carray(q, (H,)), carray(r, (H,)), carray(bg, (D,)), carray(X, (N, D)),
        carray(indptr, (N + 1,)), carray(indices, (nnz,)), carray(rows, (n,)), carray(W2T, (C, H)),
        carray(b1, (H,)), carray(b2, (C,)), bias != 0, act, alpha, carray(labels, (n,)), carray(lrs, (n,)), k,
        carray(state, (2,)), carray(cast, (1,)), carray(data_loss, (n,)), carray(penalty, (n,)), step0, log_every,
        track != 0, creg, fold_every, bb, carray(u, (H,)), carray(z1, (H,)), carray(a1, (H,)), carray(z2, (C,)),
        carray(d, (H,)), carray(ev, (D,)),
    )
    return m if finite else -1 - m


#: the loops compiled behind a C signature, by name: their adapters
ADAPTERS = {"block_steps": _adapter, "sparse_steps": _sparse_adapter}


def c_adapter(dtype, args, loop="block_steps"):
    """The loop ``loop`` (:data:`ADAPTERS`) compiled behind a C signature, for weights of ``dtype``
    ("float32" or "float64"): a Numba ``cfunc`` whose arguments are ``args`` (name, kind), as
    :data:`twolayer.nn.native.LOOPS` lists them; :mod:`twolayer.nn.native` stores its machine code."""
    import inspect

    adapter = ADAPTERS[loop]
    names = tuple(inspect.signature(adapter).parameters)
    if names != tuple(n for n, _ in args):
        raise ValueError(f"the adapter's arguments {names} are not those of ARGS {tuple(n for n, _ in args)}")
    w = types.CPointer(getattr(types, dtype))
    kinds = {"w": w, "i": types.CPointer(types.int64), "j": types.CPointer(types.int32),
             "d": types.CPointer(types.float64), "n": types.int64, "f": types.float64}
    sig = types.int64(*(kinds[kind] for _, kind in args))
    return cfunc(sig, nopython=True, error_model="numpy", boundscheck=False)(adapter)
