"""The per-step work of :class:`~twolayer.nn.kernels.Batch1SGD`, compiled by Numba.

One call performs the steps of one block of the delayed-update kernel: for each
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

# state: float64 [s, P]: W1 = s * V, and P = ||W1||^2 when it is tracked through the block
# cast: a 1-element array of the weights' dtype, used to round float64 scalars to it


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy", fastmath={"reassoc", "contract"})
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
    C = W2T.shape[0]
    s = state[0]
    P = state[1]
    cast[0] = 0.0
    zero = cast[0]  # constants in the weights' dtype, so that float32 stays float32
    cast[0] = 1.0
    one = cast[0]
    cast[0] = alpha
    alpha = cast[0]
    cast[0] = EXP_MAX
    consts = Constants(zero, one, alpha, cast[0])
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
        for h in range(H):
            z1[h] = u[h] + b1[h] if bias else u[h]
        hidden_forward(act, z1, a1, consts)
        # scores, and the softmax cross-entropy shifted by the max score
        for j in range(C):
            w = W2T[j]
            acc = b2[j] if bias else zero
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
        loss = math.log(total) - (zc - mx)
        if not math.isfinite(loss):
            m = t
            finite = False
            break
        data_loss[t] = loss
        if log_every and (step0 + t + 1) % log_every == 0:
            if track:
                w2sq = 0.0
                for j in range(C):
                    for h in range(H):
                        w2sq += W2T[j, h] * W2T[j, h]
                penalty[t] = creg * (P + w2sq)
            else:
                penalty[t] = 0.0
        inv = 1.0 / total
        for j in range(C):
            z2[j] *= inv
        z2[c] -= one  # z2 now holds dL/dz2
        # backward into the hidden layer, with the weights before the update
        d = Dm[t]
        for h in range(H):
            d[h] = zero
        for j in range(C):
            w = W2T[j]
            e = z2[j]
            for h in range(H):
                d[h] += w[h] * e
        hidden_backward(act, z1, a1, d, consts)
        decay = 1.0 - lr * k
        if track:
            ud = 0.0
            dd = 0.0
            for h in range(H):
                ud += u[h] * d[h]
                dd += d[h] * d[h]
            P = decay * decay * P - 2.0 * lr * decay * ud + lr * lr * g[t] * dd
        # W2 <- (1 - lr k) W2 - lr a1 dz2^T ; biases
        cast[0] = decay
        decay_d = cast[0]
        cast[0] = lr
        lr_d = cast[0]
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
        # W1 = s V: the decay scales s; the update x d^T / s waits in the block
        s *= decay
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


def c_adapter(dtype, args):
    """:func:`block_steps` compiled behind a C signature, for weights of ``dtype`` ("float32" or
    "float64"): a Numba ``cfunc`` whose arguments are ``args`` (name, kind), as
    :data:`twolayer.nn.native.ARGS` lists them; :mod:`twolayer.nn.native` stores its machine code."""
    import inspect

    names = tuple(inspect.signature(_adapter).parameters)
    if names != tuple(n for n, _ in args):
        raise ValueError(f"the adapter's arguments {names} are not those of ARGS {tuple(n for n, _ in args)}")
    w = types.CPointer(getattr(types, dtype))
    kinds = {"w": w, "i": types.CPointer(types.int64), "d": types.CPointer(types.float64), "n": types.int64,
             "f": types.float64}
    sig = types.int64(*(kinds[kind] for _, kind in args))
    return cfunc(sig, nopython=True, error_model="numpy", boundscheck=False)(_adapter)
