"""Where a sparse batch-1 step's time goes: its W1 loops alone, per foreground row.

    python benchmarks/sparse_phases.py

The forward gather (``u += e_f V[f]``, four rows at a time) and the update's scatter
(``V[f] -= w_f d``) of :func:`twolayer.nn.batch1_loop.sparse_steps`, written out alone with the
same Numba flags on a float32 V of 784 x 275 (in L2), for 152 foreground rows (MNIST's 19.3%)
and 390 (Fashion-MNIST's 49.8%); the reads of the foreground values from random rows of a
60,000-row X; and the dense flop bound's time per row of W1 (4 H flops at the sgemm rate),
round-robin in one process. Prints a Markdown table.
"""

from __future__ import annotations

import time

import common  # noqa: F401  (one BLAS thread)
import numpy as np
from numba import njit

F = dict(nogil=True, boundscheck=False, error_model="numpy", fastmath={"reassoc", "contract"})


@njit(**F)
def gather(V, idxs, e, u, reps):
    H, nf = V.shape[1], idxs.shape[1]
    for t in range(reps):
        ind = idxs[t % idxs.shape[0]]
        for h in range(H):
            u[h] = 0
        p = 0
        while p + 4 <= nf:
            v0, v1, v2, v3 = V[ind[p]], V[ind[p + 1]], V[ind[p + 2]], V[ind[p + 3]]
            e0, e1, e2, e3 = e[p], e[p + 1], e[p + 2], e[p + 3]
            for h in range(H):
                u[h] += (e0 * v0[h] + e1 * v1[h]) + (e2 * v2[h] + e3 * v3[h])
            p += 4


@njit(**F)
def scatter(V, idxs, e, d, reps):
    H, nf = V.shape[1], idxs.shape[1]
    for t in range(reps):
        ind = idxs[t % idxs.shape[0]]
        for p in range(nf):
            row = V[ind[p]]
            w = e[p]
            for h in range(H):
                row[h] -= w * d[h]


@njit(**F)
def xread(X, rows, indptr, indices, bg, ev, reps):
    acc = 0.0
    for t in range(reps):
        i = rows[t]
        lo, nf = indptr[i], indptr[i + 1] - indptr[i]
        x = X[i]
        for p in range(nf):
            f = indices[lo + p]
            ev[p] = x[f] - bg[f]
            acc += ev[p] * bg[f]
    return acc


def main(H=275, D=784, reps=20000, repeats=5):
    rng = np.random.default_rng(0)
    V = rng.standard_normal((D, H)).astype(np.float32)
    d = rng.standard_normal(H).astype(np.float32)
    u = np.zeros(H, np.float32)
    X = rng.standard_normal((60000, D)).astype(np.float32)
    bg = np.full(D, -0.8, np.float32)
    ev = np.empty(D, np.float32)
    variants = {}
    for nf in (152, 390):
        idxs = np.sort(np.array([rng.choice(D, nf, replace=False) for _ in range(100)]), axis=1).astype(np.int32)
        e = (rng.standard_normal(nf) * 1e-6).astype(np.float32)
        mask = rng.random((60000, D)) < nf / D
        indptr = np.r_[0, np.cumsum(mask.sum(1))].astype(np.int64)
        indices = np.nonzero(mask)[1].astype(np.int32)
        rows = rng.integers(0, 60000, reps)
        gather(V, idxs, e, u, 10), scatter(V, idxs, e, d, 10), xread(X, rows, indptr, indices, bg, ev, 10)

        def timed(f, *args, nf=nf):
            def run():
                t0 = time.perf_counter()
                f(*args, reps)
                return (time.perf_counter() - t0) / reps
            return run

        variants[f"forward gather, {nf} rows"] = timed(gather, V, idxs, e, u)
        variants[f"update scatter, {nf} rows"] = timed(scatter, V, idxs, e, d)
        variants[f"foreground values from X, {nf} rows"] = timed(xread, X, rows, indptr, indices, bg, ev)
    A = rng.standard_normal((200, D)).astype(np.float32)
    Z = np.empty((200, H), np.float32)

    def bound():
        t0 = time.perf_counter()
        for _ in range(50):
            np.matmul(A, V, out=Z)
        return 2 * (time.perf_counter() - t0) / 50 / 200

    variants["dense flop bound, 784 rows"] = bound
    res = common.interleaved(variants, repeats)
    print("| loop | µs per step | ns per row |\n|---|---|---|")
    for name, r in res.items():
        rows_n = int(name.rsplit(", ", 1)[1].split()[0])
        print(f"| {name} | {r.cell(2)} | {r.median / rows_n * 1e9:.1f} |")


if __name__ == "__main__":
    main()
