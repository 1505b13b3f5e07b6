"""Where a sparse batch-1 step's time goes: its W1 loops alone, per foreground row.

    python benchmarks/sparse_phases.py

The forward gather (``u += e_f V[f]``, four rows at a time) and the update's scatter
(``V[f] -= w_f d``) of :func:`twolayer.nn.batch1_loop.sparse_steps`, written out alone with the
same Numba flags on a float32 V of 784 x 275 (in L2), for 152 foreground rows (MNIST's 19.3%)
and 390 (Fashion-MNIST's 49.8%); the reads of the foreground values from random rows of a
60,000-row X; and the dense flop bound's time per row of W1 (4 H flops at the sgemm rate),
round-robin in one process.

Beside them, the loops of the blocked variant that was tried and not kept (docs/performance.md,
"What was tried"): the dense kernel's delayed updates over blocks of 64 steps, with the block's
products formed from the foreground: its foreground gathered by feature (:func:`block_gather`),
the pre-activations ``Z[t] += e_t[f] V[f]`` feature by feature over whole rows
(:func:`block_forward`) or in H-tiles of 64 (:func:`block_forward_tiled`; as views,
:func:`block_forward_views`; with an unsigned index, :func:`block_forward_unsigned`), the Gram matrix
``G[t] += e_t[f] ET[f]`` (:func:`block_gram`) and the update ``V[f] -= e_t[f] D[t]``
(:func:`block_update`), each per step (a block's time / 64). Prints a Markdown table.
"""

from __future__ import annotations

import re
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


PACKED_FMA = re.compile(r"vfn?m(?:add|sub)\w*ps")
KB = 64  # the blocked variant's steps a block


@njit(**F)
def block_gather(X, rows, indptr, indices, bg, be, colptr, colt, colv, ET, reps):
    """A block's foreground by feature (colptr, colt, colv), dense by feature (ET) and ``be = bg^T e``."""
    D = bg.shape[0]
    for b in range(reps):
        for f in range(D + 1):
            colptr[f] = 0
        for t in range(KB):
            i = rows[(b * KB + t) % rows.shape[0]]
            for p in range(indptr[i], indptr[i + 1]):
                colptr[indices[p] + 1] += 1
        for f in range(D):
            colptr[f + 1] += colptr[f]
        for t in range(KB):
            i = rows[(b * KB + t) % rows.shape[0]]
            x = X[i]
            acc = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                f = indices[p]
                e = x[f] - bg[f]
                w = colptr[f]
                colt[w] = t
                colv[w] = e
                colptr[f] = w + 1
                ET[f, t] = e
                acc += e * bg[f]
            be[t] = acc
        for f in range(D, 0, -1):
            colptr[f] = colptr[f - 1]
        colptr[0] = 0


@njit(**F)
def block_forward(V, colptr, colt, colv, Z, reps):
    D, H = V.shape
    for b in range(reps):
        for f in range(D):
            v = V[f]
            for p in range(colptr[f], colptr[f + 1]):
                e = colv[p]
                zt = Z[colt[p]]
                for h in range(H):
                    zt[h] += e * v[h]


@njit(**F)
def block_forward_tiled(V, colptr, colt, colv, Z, reps):
    D, H = V.shape
    for b in range(reps):
        for h0 in range(0, H, 64):
            h1 = min(h0 + 64, H)
            for f in range(D):
                v = V[f]
                for p in range(colptr[f], colptr[f + 1]):
                    e = colv[p]
                    zt = Z[colt[p]]
                    for h in range(h0, h1):
                        zt[h] += e * v[h]


@njit(**F)
def block_forward_views(V, colptr, colt, colv, Z, reps):
    """As :func:`block_forward_tiled`, each tile a view, so that the inner loop's index starts at 0."""
    D, H = V.shape
    for b in range(reps):
        for h0 in range(0, H, 64):
            h1 = min(h0 + 64, H)
            for f in range(D):
                v = V[f, h0:h1]
                for p in range(colptr[f], colptr[f + 1]):
                    e = colv[p]
                    zt = Z[colt[p], h0:h1]
                    for h in range(v.shape[0]):
                        zt[h] += e * v[h]


@njit(**F)
def block_forward_unsigned(V, colptr, colt, colv, Z, reps):
    """As :func:`block_forward_tiled`, the tile's index unsigned, so that Numba emits no wraparound for it."""
    D, H = V.shape
    for b in range(reps):
        for h0 in range(0, H, 64):
            h0u, n = np.uint64(h0), np.uint64(min(64, H - h0))
            for f in range(D):
                v = V[f]
                for p in range(colptr[f], colptr[f + 1]):
                    e = colv[p]
                    zt = Z[colt[p]]
                    for j in range(n):
                        h = h0u + j
                        zt[h] += e * v[h]


@njit(**F)
def block_gram(colptr, colt, colv, ET, G, reps):
    D = ET.shape[0]
    for b in range(reps):
        for f in range(D):
            et = ET[f]
            for p in range(colptr[f], colptr[f + 1]):
                g = G[colt[p]]
                e = colv[p]
                for u in range(KB):
                    g[u] += e * et[u]


@njit(**F)
def block_update(V, colptr, colt, colv, Dm, reps):
    D, H = V.shape
    for b in range(reps):
        for f in range(D):
            v = V[f]
            for p in range(colptr[f], colptr[f + 1]):
                e = colv[p]
                d = Dm[colt[p]]
                for h in range(H):
                    v[h] -= e * d[h]


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

        def timed_block(f, *args, blocks=max(reps // KB, 1)):
            def run():
                t0 = time.perf_counter()
                f(*args, blocks)
                return (time.perf_counter() - t0) / (blocks * KB)
            return run

        variants[f"forward gather, {nf} rows"] = timed(gather, V, idxs, e, u)
        variants[f"update scatter, {nf} rows"] = timed(scatter, V, idxs, e, d)
        variants[f"foreground values from X, {nf} rows"] = timed(xread, X, rows, indptr, indices, bg, ev)
        # the blocked variant, on one block's foreground (its gather on blocks of random rows of X)
        be, colptr = np.empty(KB), np.empty(D + 1, np.int64)
        colt, colv = np.empty(KB * D, np.int64), np.empty(KB * D, np.float32)
        ET, Zb, G = np.zeros((D, KB), np.float32), np.zeros((KB, H), np.float32), np.zeros((KB, KB), np.float32)
        Dm = (rng.standard_normal((KB, H)) * 1e-6).astype(np.float32)
        block_gather(X, rows, indptr, indices, bg, be, colptr, colt, colv, ET, 1)
        loops = {"gather by feature": (block_gather, X, rows, indptr, indices, bg, be, colptr, colt, colv, ET),
                 "forward, whole rows": (block_forward, V, colptr, colt, colv, Zb),
                 "forward, H-tiles of 64": (block_forward_tiled, V, colptr, colt, colv, Zb),
                 "forward, H-tiles of 64 as views": (block_forward_views, V, colptr, colt, colv, Zb),
                 "forward, H-tiles of 64, unsigned index": (block_forward_unsigned, V, colptr, colt, colv, Zb),
                 "Gram matrix": (block_gram, colptr, colt, colv, ET, G),
                 "update, whole rows": (block_update, V, colptr, colt, colv, Dm)}
        for name, (f, *args) in loops.items():
            f(*args, 2)
            variants[f"block of 64: {name}, {nf} rows"] = timed_block(f, *args)
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
    print("\nPacked FMA instructions (``vf(n)madd…ps``, ``vf(n)msub…ps``) in each blocked loop's machine code:\n")
    for f in (block_forward, block_forward_tiled, block_forward_views, block_forward_unsigned, block_gram, block_update):
        asm = "\n".join(f.inspect_asm(sig) for sig in f.signatures)
        print(f"- {f.__name__}: {len(PACKED_FMA.findall(asm))}")


if __name__ == "__main__":
    main()
