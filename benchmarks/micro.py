"""Step-level comparisons: batch-1 step, minibatch step, one epoch, evaluation.

Each function returns a dict of results measured side by side in this process
(the published code runs in fresh processes, as it would on its own).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import common  # noqa: F401  (sets the BLAS thread count before NumPy loads)
import numpy as np
from scipy.linalg import blas

from twolayer import TwoLayerNet
from twolayer.nn.kernels import Batch1SGD, MinibatchStep
from twolayer.nn.optim import make_optimizer
from twolayer.nn.sampling import make_sampler

HERE = Path(__file__).parent
D_MNIST, C = 784, 10


def _torch():
    try:
        import torch

        torch.set_num_threads(1)
        return torch
    except ImportError:
        return None


# -- batch 1 ----------------------------------------------------------------------------
def batch1(hidden=(150, 275, 300), activations=("sigmoid", "relu"), repeats=5, steps=20000, n=55000):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, D_MNIST)).astype(np.float32)
    y = rng.integers(0, C, n).astype(np.uint8)
    torch = _torch()
    out = {}
    for H in hidden:
        for act in activations:
            net = TwoLayerNet(D_MNIST, H, C, activation=act, bias=False, init="report", dtype=np.float32, seed=0)
            idx = rng.integers(0, n, steps)
            lrs = np.full(steps, 0.01)

            def timed(kernel):
                kernel.run(X, y, idx[:2000], lrs[:2000])  # warm-up (and the compiled loop's load)

                def run():
                    t0 = time.perf_counter()
                    kernel.run(X, y, idx, lrs)
                    return (time.perf_counter() - t0) / steps

                return run

            variants = {
                "twolayer": timed(Batch1SGD(net, 1e-5)),
                "NumPy loop": timed(Batch1SGD(net, 1e-5, loop="numpy")),
                "flop bound": _flop_bound(rng, H),
            }
            if torch is not None:
                variants["torch_hand"] = _torch_hand_batch1(torch, X, y, H, act, rng)
                variants["torch_autograd"] = _torch_autograd_batch1(torch, X, y, H, act, rng)
            variants["published"] = lambda H=H, act=act: _published(H, act)
            res = common.interleaved(variants, repeats)
            out[f"{act}/H={H}"] = res
    return out


def _flop_bound(rng, H, rows=200, reps=50):
    """The time of a step's 4 D H flops at the single-thread sgemm rate of a (rows x D) @ (D x H)
    float32 product, measured beside the steps: 2 x that product's time / rows."""
    A = rng.standard_normal((rows, D_MNIST)).astype(np.float32)
    B = rng.standard_normal((D_MNIST, H)).astype(np.float32)
    out = np.empty((rows, H), dtype=np.float32)
    np.matmul(A, B, out=out)

    def run():
        t0 = time.perf_counter()
        for _ in range(reps):
            np.matmul(A, B, out=out)
        return 2 * (time.perf_counter() - t0) / reps / rows

    return run


def _published(H, act, steps=3000):
    r = subprocess.run(
        [sys.executable, str(HERE / "published_step.py"), "--hidden", str(H), "--activation", act, "--steps", str(steps)],
        capture_output=True, text=True, check=True, env={**os.environ},
    )
    return json.loads(r.stdout)["us_per_step"] * 1e-6


def _torch_hand_batch1(torch, X, y, H, act, rng, steps=5000):
    """The same step written by hand with PyTorch tensor ops (in-place updates, no autograd)."""
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    W1 = torch.randn(D_MNIST, H) / H**0.5
    W2 = torch.randn(H, C) / C**0.5
    lam, lr = 1e-5, 0.01
    idx = rng.integers(0, X.shape[0], steps).tolist()

    def step(i):
        x = Xt[i]
        z1 = x @ W1
        a1 = torch.sigmoid(z1) if act == "sigmoid" else torch.relu(z1)
        p = torch.softmax(a1 @ W2, 0)
        p[yt[i]] -= 1
        da1 = W2 @ p
        dz1 = da1 * a1 * (1 - a1) if act == "sigmoid" else da1 * (z1 > 0)
        W2.mul_(1 - 2 * lr * lam).addr_(a1, p, alpha=-lr)
        W1.mul_(1 - 2 * lr * lam).addr_(x, dz1, alpha=-lr)

    for i in idx[:500]:
        step(i)
    return lambda: common.per_call(lambda j: step(idx[j]), steps)


def _torch_autograd_batch1(torch, X, y, H, act, rng, steps=3000):
    """What a PyTorch user writes: nn.Sequential, CrossEntropyLoss, backward(), optim.SGD."""
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    nn = torch.nn
    model = nn.Sequential(nn.Linear(D_MNIST, H, bias=False), nn.Sigmoid() if act == "sigmoid" else nn.ReLU(), nn.Linear(H, C, bias=False))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, weight_decay=2e-5)
    lossf = nn.CrossEntropyLoss()
    idx = rng.integers(0, X.shape[0], steps).tolist()

    def step(i):
        opt.zero_grad()
        lossf(model(Xt[i : i + 1]), yt[i : i + 1]).backward()
        opt.step()

    for i in idx[:300]:
        step(i)
    return lambda: common.per_call(lambda j: step(idx[j]), steps)


def bandwidth(H=275, repeats=5, calls=20000):
    """In-cache streaming rates on a W1-sized float32 buffer, and the step's own BLAS calls."""
    rng = np.random.default_rng(1)
    W = rng.random((D_MNIST, H), dtype=np.float32)
    W2 = rng.random((D_MNIST, H), dtype=np.float32)
    B = np.empty_like(W)
    Wf, W2f = W.reshape(-1), W2.reshape(-1)
    nb = W.nbytes
    V = np.asfortranarray(W)
    x = rng.random(D_MNIST, dtype=np.float32)
    d = rng.random(H, dtype=np.float32)
    u = np.empty(H, dtype=np.float32)
    kernels = {
        # name: (fn, bytes moved per call)
        "copy (read + write)": (lambda i: np.copyto(B, W), 2 * nb),
        # alpha != 1: OpenBLAS returns at once for sscal(1.0, x)
        "scale (read + write, sscal)": (lambda i: blas.sscal(1.0 - 1e-7 * ((i & 1) * 2 - 1), Wf), 2 * nb),
        "axpy (2 reads + write, saxpy)": (lambda i: blas.saxpy(W2f, Wf, a=1e-12), 3 * nb),
        "asum (read, sasum)": (lambda i: blas.sasum(Wf), nb),
        "step's sgemv (read W1)": (lambda i: blas.sgemv(1.0, V, x, trans=1, y=u, overwrite_y=1), nb),
        "step's sger (read + write W1)": (lambda i: blas.sger(-1e-12, x, d, a=V, overwrite_a=1), 2 * nb),
    }
    variants = {k: (lambda f=f: common.per_call(f, calls, warmup=200)) for k, (f, _) in kernels.items()}
    res = common.interleaved(variants, repeats)
    rates = {k: kernels[k][1] / res[k].median / 1e9 for k in kernels}
    return {"W1_bytes": nb, "results": res, "GBps": rates}


# -- minibatch --------------------------------------------------------------------------
def minibatch(hidden=(100, 1000), B=200, D=3072, repeats=5, steps=20):
    rng = np.random.default_rng(2)
    n = 5000
    X = rng.standard_normal((n, D)).astype(np.float32)
    y = rng.integers(0, C, n).astype(np.uint8)
    torch = _torch()
    out = {}
    for H in hidden:
        net = TwoLayerNet(D, H, C, init="he", dtype=np.float32, seed=0)
        kernel = MinibatchStep(net, B, 0.1)
        opt = make_optimizer("momentum", mu=0.9)
        idx = rng.integers(0, n, (steps, B))
        lrs = np.full(steps, 1e-4)
        kernel.run(X, y, idx[:2], lrs[:2], opt)
        A = X[:B].copy()
        W = net.params["W1"].copy()
        Z = np.empty((B, H), dtype=np.float32)

        def ours():
            t0 = time.perf_counter()
            kernel.run(X, y, idx, lrs, opt)
            return (time.perf_counter() - t0) / steps

        def sgemm():  # the forward GEMM's shape alone: the machine's single-thread rate
            return common.per_call(lambda i: np.matmul(A, W, out=Z), steps * 2, warmup=2)

        variants = {"twolayer": ours, "sgemm (B×D @ D×H)": sgemm}
        if torch is not None:
            variants["torch_hand"] = _torch_minibatch(torch, X, y, H, B, D, rng, steps)
        res = common.interleaved(variants, repeats)
        flops = 2 * B * D * H * 2 + 2 * B * H * C * 3  # forward + weight gradient of layer 1; layer 2
        out[f"H={H}"] = {
            "results": res,
            "step_flops": flops,
            "step_GFLOPs": flops / res["twolayer"].median / 1e9,
            "sgemm_GFLOPs": 2 * B * D * H / res["sgemm (B×D @ D×H)"].median / 1e9,
        }
    return out


def _torch_minibatch(torch, X, y, H, B, D, rng, steps):
    """The minibatch step with momentum written by hand in PyTorch (no autograd overhead)."""
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    W1 = torch.randn(D, H) * (2 / D) ** 0.5
    b1 = torch.zeros(H)
    W2 = torch.randn(H, C) * (2 / H) ** 0.5
    b2 = torch.zeros(C)
    params = [W1, b1, W2, b2]
    vel = [torch.zeros_like(p) for p in params]
    reg, lr = 0.1, 1e-4
    idx = torch.from_numpy(rng.integers(0, X.shape[0], (steps, B)))
    rows = torch.arange(B)

    def step(ix):
        xb, yb = Xt[ix], yt[ix]
        z1 = torch.addmm(b1, xb, W1)
        a1 = torch.relu(z1)
        p = torch.softmax(torch.addmm(b2, a1, W2), 1)
        p[rows, yb] -= 1
        p /= B
        gW2, gb2 = a1.T @ p, p.sum(0)
        da1 = (p @ W2.T) * (z1 > 0)
        gW1, gb1 = xb.T @ da1, da1.sum(0)
        gW1.add_(W1, alpha=2 * reg)
        gW2.add_(W2, alpha=2 * reg)
        for P, G, V in zip(params, (gW1, gb1, gW2, gb2), vel):
            V.mul_(0.9).add_(G, alpha=-lr)
            P.add_(V)

    step(idx[0])

    def run():
        t0 = time.perf_counter()
        for i in range(steps):
            step(idx[i])
        return (time.perf_counter() - t0) / steps

    return run


# -- one epoch vs scikit-learn -------------------------------------------------------------
def epoch(repeats=3, N=49000, D=3072, H=100, B=200):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((N, D)).astype(np.float32)
    y = rng.integers(0, C, N).astype(np.uint8)
    steps = N // B
    variants = {}

    def ours():
        net = TwoLayerNet(D, H, C, init="xavier", dtype=np.float32, seed=0)
        kernel = MinibatchStep(net, B, 1e-4)
        opt = make_optimizer("momentum", mu=0.9)
        sampler = make_sampler("epochs", N, B, np.random.default_rng(1))
        t0 = time.perf_counter()
        kernel.run(X, y, sampler.take(steps), np.full(steps, 1e-3), opt)
        return time.perf_counter() - t0

    variants["twolayer"] = ours
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        from threadpoolctl import threadpool_limits

        def sk():
            m = MLPClassifier(hidden_layer_sizes=(H,), solver="sgd", batch_size=B, max_iter=1, learning_rate_init=1e-3,
                              momentum=0.9, nesterovs_momentum=False, alpha=1e-4, shuffle=True, random_state=0,
                              tol=0.0, n_iter_no_change=10**9)
            with warnings.catch_warnings(), threadpool_limits(1):
                warnings.simplefilter("ignore", ConvergenceWarning)
                t0 = time.perf_counter()
                m.fit(X, y)
                return time.perf_counter() - t0

        variants["sklearn MLPClassifier(sgd)"] = sk
    except ImportError:
        pass
    return common.interleaved(variants, repeats)


# -- evaluation ------------------------------------------------------------------------------
def evaluation(repeats=5, H=275, n=10000):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((n, D_MNIST)).astype(np.float32)
    y = rng.integers(0, C, n)
    out = {}
    for act in ("sigmoid", "relu"):
        net = TwoLayerNet(D_MNIST, H, C, activation=act, bias=False, init="report", dtype=np.float32, seed=0)
        net.accuracy(X, y)
        out[act] = common.interleaved({"accuracy on 10,000": lambda net=net: common.per_call(lambda i: net.accuracy(X, y), 3)}, repeats)
    return out


# -- the CS231n training surface ------------------------------------------------------------
def cs231n_surface(repeats=5, H=275, steps=40000, n=10000):
    """``net.train(batch_size=1, ...)`` (CS231n's surface: a loss logged every step, the rate
    decayed every epoch) against ``train_model`` on the same settings, and against
    ``train_model`` with the report's logging (every 100 steps): seconds per step,
    evaluations included. Each call trains a fresh net from the same initial weights."""
    from twolayer import TrainSettings, train_model

    rng = np.random.default_rng(5)
    X = rng.standard_normal((n, D_MNIST)).astype(np.float32)
    y = rng.integers(0, C, n).astype(np.uint8)
    Xv = rng.standard_normal((1000, D_MNIST)).astype(np.float32)
    yv = rng.integers(0, C, 1000).astype(np.uint8)
    lr, reg, decay = 1e-3, 1e-5, 0.95
    same = TrainSettings(steps=steps, lr=lr, reg=reg, batch_size=1, sampling="with_replacement",
                         schedule={"name": "step", "decay": decay, "every": n}, optimizer={"name": "sgd"},
                         eval_every=n, log_every=1)
    report_logging = TrainSettings(**{**same.__dict__, "log_every": 100})

    def net():
        return TwoLayerNet(D_MNIST, H, C, std=1e-4, init="cs231n", reg_convention="full", dtype=np.float32, seed=0)

    def timed(fn):
        def run():
            m = net()
            t0 = time.perf_counter()
            fn(m)
            return (time.perf_counter() - t0) / steps
        return run

    variants = {
        "net.train (CS231n surface)": timed(lambda m: m.train(X, y, Xv, yv, learning_rate=lr, learning_rate_decay=decay,
                                                              reg=reg, num_iters=steps, batch_size=1)),
        "train_model, same settings": timed(lambda m: train_model(m, X, y, Xv, yv, same)),
        "train_model, loss logged every 100 steps": timed(lambda m: train_model(m, X, y, Xv, yv, report_logging)),
    }
    timed(lambda m: train_model(m, X, y, Xv, yv, TrainSettings(**{**same.__dict__, "steps": 2000})))()  # warm-up
    return common.interleaved(variants, repeats)


# -- batch 1 on images with a background (the sparse kernel) ---------------------------
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
MNIST_BACKGROUND = 0.807  # MNIST's share of 0 pixels (docs/performance.md)


def image_rows(background_share=None):
    """Fashion-MNIST's 60,000 training images as the report standardises them (``standardise_train``),
    with their background and foreground; ``background_share``: first set the dimmest pixels to 0 so
    that this share of all pixels is background (MNIST-sparse rows: 0.807); 1: every row the blank
    image's input (no foreground at all). Returns (X, Foreground)."""
    from twolayer.data.idx import read_idx_gz
    from twolayer.data.preprocess import find_foreground, normaliser
    from twolayer.nn.kernels import Foreground

    raw = read_idx_gz(FASHION).reshape(60000, -1)
    blank = background_share == 1  # standardised as the images come, then every row set to the background
    if background_share is not None and not blank:
        cut = np.sort(raw, axis=None)[int(background_share * raw.size)]
        raw = np.where(raw > cut, raw, 0).astype(np.uint8)
    f, _ = normaliser({"kind": "standardise_train"}, raw)
    X = np.empty(raw.shape, dtype=np.float32)
    for s in range(0, raw.shape[0], 8192):
        X[s : s + 8192] = f(raw[s : s + 8192])
    bg = f(np.zeros((1, raw.shape[1]), dtype=raw.dtype))[0]
    if blank:
        X[:] = bg
    return X, Foreground(bg, *find_foreground(X, bg))


def sparse_step(hidden=275, activations=("sigmoid", "relu"), repeats=5, steps=20000):
    """µs per batch-1 step on image rows with a background: the dense kernel, the sparse kernel, the
    dense flop bound, PyTorch's hand-written step and a jitted JAX loop, round-robin in one process."""
    from twolayer.nn.kernels import Batch1Sparse

    rng = np.random.default_rng(0)
    torch, jax = _torch(), _jax()
    out = {}
    for rows, share in (("Fashion-MNIST", None), ("MNIST-sparse", MNIST_BACKGROUND)):
        X, fg = image_rows(share)
        y = rng.integers(0, C, X.shape[0]).astype(np.uint8)
        out[rows] = {"foreground": fg.fraction, "results": {}}
        for act in activations:
            net = TwoLayerNet(D_MNIST, hidden, C, activation=act, bias=False, init="report", dtype=np.float32, seed=0)
            idx = rng.integers(0, X.shape[0], steps)
            lrs = np.full(steps, 0.01)
            variants = {
                "twolayer sparse kernel": _timed_kernel(Batch1Sparse(net, 1e-5, fg), X, y, idx, lrs),
                "twolayer dense kernel": _timed_kernel(Batch1SGD(net, 1e-5), X, y, idx, lrs),
                "dense flop bound": _flop_bound(rng, hidden),
            }
            if torch is not None:
                variants["PyTorch, hand-written step"] = _torch_hand_batch1(torch, X, y, hidden, act, rng)
            if jax is not None:
                variants["JAX, jitted lax.fori_loop"] = _jax_batch1(jax, X, y, hidden, act, rng)
            out[rows]["results"][act] = common.interleaved(variants, repeats)
    return out


def sparse_break_even(hidden=275, shares=(1.0, 0.9, 0.8, 0.75, 0.7, 0.6, 0.5), repeats=5, steps=20000):
    """The sparse and the dense kernel's step against the share of background pixels (Fashion-MNIST
    thresholded to it; 0.5: as it comes; 1.0: no foreground, the sparse step's cost without any W1
    work), sigmoid: where the one kernel-choice function switches."""
    from twolayer.nn.kernels import Batch1Sparse

    rng = np.random.default_rng(1)
    out = {}
    for share in shares:
        X, fg = image_rows(None if share == 0.5 else share)
        y = rng.integers(0, C, X.shape[0]).astype(np.uint8)
        net = TwoLayerNet(D_MNIST, hidden, C, activation="sigmoid", bias=False, init="report", dtype=np.float32, seed=0)
        idx = rng.integers(0, X.shape[0], steps)
        lrs = np.full(steps, 0.01)
        res = common.interleaved({"sparse": _timed_kernel(Batch1Sparse(net, 1e-5, fg), X, y, idx, lrs),
                                  "dense": _timed_kernel(Batch1SGD(net, 1e-5), X, y, idx, lrs)}, repeats)
        out[f"{fg.fraction:.3f}"] = res
    return out


def _timed_kernel(kernel, X, y, idx, lrs):
    kernel.run(X, y, idx[:2000], lrs[:2000])  # warm-up (and the compiled loop's load)
    steps = idx.size

    def run():
        t0 = time.perf_counter()
        kernel.run(X, y, idx, lrs)
        return (time.perf_counter() - t0) / steps

    return run


def _jax():
    try:
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
        import jax

        jax.config.update("jax_platform_name", "cpu")
        return jax
    except ImportError:
        return None


def _jax_batch1(jax, X, y, H, act, rng, steps=5000):
    """The same step in JAX: one jitted ``lax.fori_loop`` over the steps (the weights carried, updated
    functionally), X on the device; one call per measurement, compiled before."""
    jnp = jax.numpy
    Xj, yj = jnp.asarray(X), jnp.asarray(y.astype(np.int32))
    W1 = jnp.asarray(np.random.default_rng(1).standard_normal((D_MNIST, H)).astype(np.float32) / H**0.5)
    W2 = jnp.asarray(np.random.default_rng(2).standard_normal((H, C)).astype(np.float32) / C**0.5)
    lam, lr = 1e-5, 0.01
    idx = jnp.asarray(rng.integers(0, X.shape[0], steps).astype(np.int32))

    def step(i, w):
        W1, W2 = w
        x = Xj[idx[i]]
        z1 = x @ W1
        a1 = jax.nn.sigmoid(z1) if act == "sigmoid" else jax.nn.relu(z1)
        p = jax.nn.softmax(a1 @ W2).at[yj[idx[i]]].add(-1.0)
        da1 = W2 @ p
        dz1 = da1 * a1 * (1 - a1) if act == "sigmoid" else da1 * (z1 > 0)
        decay = 1 - 2 * lr * lam
        return decay * W1 - lr * jnp.outer(x, dz1), decay * W2 - lr * jnp.outer(a1, p)

    run = jax.jit(lambda w: jax.lax.fori_loop(0, steps, step, w))
    jax.block_until_ready(run((W1, W2)))

    def timed():
        t0 = time.perf_counter()
        jax.block_until_ready(run((W1, W2)))
        return (time.perf_counter() - t0) / steps

    return timed
