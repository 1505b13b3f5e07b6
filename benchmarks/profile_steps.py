"""Where the time goes: per-phase breakdowns behind the targets of docs/performance.md.

    python benchmarks/profile_steps.py

1. a training job's fixed cost: interpreter start and imports (fresh processes),
   loading the dataset file, saving the model;
2. one epoch of CIFAR-shaped data: the two GEMMs of a step, the row gather, the rest;
3. the batch-1 step: the block's gather and GEMMs (amortised), the per-step work of either loop,
   and the flop bound.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (one BLAS thread)
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def median_of(fn, repeats=7):
    return statistics.median(fn() for _ in range(repeats))


_FIRST_CALL = """
import numpy as np, twolayer.cli, twolayer.study.run.runner
from twolayer import TwoLayerNet
from twolayer.nn.kernels import Batch1SGD
net = TwoLayerNet(784, 20, 10, activation="sigmoid", bias=False, init="report", dtype=np.float32, seed=0)
X = np.zeros((4, 784), np.float32)
Batch1SGD(net, 1e-5).run(X, np.zeros(4, np.uint8), np.arange(4), np.full(4, 0.01))
"""


# what a job did before the loop's machine code was stored (twolayer.nn.native): import Numba and have
# its dispatcher load block_steps from Numba's cache, by calling it on zeros
_NUMBA_FIRST_CALL = """
import numpy as np, twolayer.cli, twolayer.study.run.runner
from twolayer.nn.batch1_loop import block_steps
dt, kb, h, c, z = np.float32, 2, 3, 2, np.zeros
block_steps(z((kb, h), dt), z((kb, kb), dt), z((kb, h), dt), z(kb, dt), z((c, h), dt), z(h, dt), z(c, dt),
            False, 0, 0.0, z(kb, np.int64), z(kb), 0.0, np.array([1.0, 0.0]), z(1, dt),
            z(kb), z(kb), 0, 0, False, 0.0, z(h, dt), z(h, dt), z(c, dt))
"""


def job_fixed_cost():
    def proc(code):
        def run():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})
            return time.perf_counter() - t0

        return median_of(run)

    bare = proc("pass")
    imports = {
        "numpy": proc("import numpy"),
        "numpy + h5py": proc("import numpy, h5py"),
        "numpy + h5py + scipy.linalg": proc("import numpy, h5py, scipy.linalg.blas"),
        "the training job (twolayer.cli + runner)": proc("import twolayer.cli, twolayer.study.run.runner"),
        "+ the compiled loop mapped from its stored object (llvmlite) and run": proc(_FIRST_CALL),
        "for comparison, the job's imports + Numba's import": proc(
            "import twolayer.cli, twolayer.study.run.runner, twolayer.nn.batch1_loop"),
        "for comparison, the same + Numba loading the loop from its own cache": proc(_NUMBA_FIRST_CALL),
    }
    from twolayer.data.prepare import prepare_dataset
    from twolayer.data.preprocess import get_recipe
    from twolayer.data.sources import get_source
    from twolayer.data.store import load_split

    out = {"python -c pass": bare, **imports}
    fm = Path("/usr/share/datasets/fashion-mnist")
    if fm.is_dir():
        from twolayer.data.fetch import fetch_dataset

        with tempfile.TemporaryDirectory() as tmp:
            src = get_source("fashion_mnist")
            fetch_dataset(src, Path(tmp) / "raw", log=open(os.devnull, "w"))
            data = Path(tmp) / "fm.h5"
            prepare_dataset(src, "report", get_recipe("report"), Path(tmp) / "raw", data, log=open(os.devnull, "w"))
            out["load train + val (55,000 + 5,000 x 784 float32)"] = median_of(
                lambda: (lambda t0: (load_split(data, "train"), load_split(data, "val"), time.perf_counter() - t0)[2])(time.perf_counter())
            )
    return out


def epoch_phases(N=49000, D=3072, H=100, B=200, steps=245):
    from twolayer import TwoLayerNet
    from twolayer.nn.kernels import MinibatchStep
    from twolayer.nn.optim import make_optimizer
    from twolayer.nn.sampling import make_sampler

    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D)).astype(np.float32)
    y = rng.integers(0, 10, N).astype(np.uint8)
    net = TwoLayerNet(D, H, 10, init="xavier", dtype=np.float32, seed=0)
    k = MinibatchStep(net, B, 1e-4)
    opt = make_optimizer("momentum", mu=0.9)
    idx = make_sampler("epochs", N, B, np.random.default_rng(1)).take(steps)
    W1 = net.params["W1"]
    Xb = np.empty((B, D), np.float32)
    Z = np.empty((B, H), np.float32)
    G = np.empty((D, H), np.float32, order="F")
    dz = rng.standard_normal((B, H)).astype(np.float32)

    def timed(f):
        def run():
            t0 = time.perf_counter()
            for i in range(steps):
                f(i)
            return time.perf_counter() - t0

        return median_of(run, 3)

    whole = median_of(lambda: (lambda t0: (k.run(X, y, idx, np.full(steps, 1e-3), opt), time.perf_counter() - t0)[1])(time.perf_counter()), 3)
    gather = timed(lambda i: np.take(X, idx[i], axis=0, out=Xb, mode="clip"))
    fwd = timed(lambda i: np.matmul(Xb, W1, out=Z))
    bwd = timed(lambda i: np.matmul(dz.T, Xb, out=G.T))
    return {"epoch (245 steps)": whole, "row gather": gather, "forward GEMM": fwd, "weight-gradient GEMM": bwd,
            "everything else": whole - gather - fwd - bwd}


def batch1_phases(H=275, steps=20000, n=55000, block=64):
    from twolayer import TwoLayerNet
    from twolayer.nn.kernels import Batch1SGD

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 784)).astype(np.float32)
    y = rng.integers(0, 10, n).astype(np.uint8)
    idx = rng.integers(0, n, steps)
    lrs = np.full(steps, 0.01)
    out = {}
    for loop in Batch1SGD.LOOPS:
        net = TwoLayerNet(784, H, 10, activation="sigmoid", bias=False, init="report", dtype=np.float32, seed=0)
        k = Batch1SGD(net, 1e-5, block=block, loop=loop)
        k.run(X, y, idx[:2000], lrs[:2000])
        out[f"step, {loop} loop (H={H}, sigmoid)"] = median_of(
            lambda: (lambda t0: (k.run(X, y, idx, lrs), time.perf_counter() - t0)[1])(time.perf_counter()), 3) / steps
    V = np.asfortranarray(net.params["W1"])
    Xb = X[:block].copy()
    Z = np.empty((block, H), np.float32)
    G = np.empty((block, block), np.float32)
    Dm = (1e-9 * rng.standard_normal((block, H))).astype(np.float32)  # V barely moves
    A = rng.standard_normal((200, 784)).astype(np.float32)
    O = np.empty((200, H), np.float32)

    def per_step(fn, reps=300):
        return per_block_step(fn, block, reps)

    out["row gather"] = per_step(lambda: np.take(X, idx[:block], axis=0, out=Xb, mode="clip"))
    out["forward GEMM Z = Xb V"] = per_step(lambda: np.matmul(Xb, V, out=Z))
    out["Gram matrix Xb Xb^T"] = per_step(lambda: np.matmul(Xb, Xb.T, out=G))
    UT = np.empty((H, 784), np.float32)
    Vflat, UTflat = V.reshape(-1, order="F"), UT.reshape(-1)

    def update():  # as Batch1SGD.run: NumPy's GEMM into V's layout, then one subtraction
        np.matmul(Dm.T, Xb, out=UT)
        np.subtract(Vflat, UTflat, out=Vflat)

    out["update GEMM V -= Xb^T D (GEMM + subtraction)"] = per_step(update)
    out["  of which the subtraction (SciPy's ?gemm accumulates instead)"] = per_step(
        lambda: np.subtract(Vflat, UTflat, out=Vflat))
    blocks = (out["row gather"] + out["forward GEMM Z = Xb V"] + out["Gram matrix Xb Xb^T"]
              + out["update GEMM V -= Xb^T D (GEMM + subtraction)"])
    for loop in Batch1SGD.LOOPS:
        out[f"per-step work, {loop} loop (step - the block's four calls)"] = out[f"step, {loop} loop (H={H}, sigmoid)"] - blocks
    out.update(loop_alone(H, block))
    # per_step divides by the block: one product's time is per_step * block, over its 200 rows
    out["flop bound: 4 D H at the sgemm rate of 200 x 784 @ 784 x H"] = 2 * per_step(lambda: np.matmul(A, V, out=O), 100) * block / 200
    return out


def per_block_step(fn, block, reps):
    """Seconds per step of ``fn``, one call of which does a block's work: the median of 5 runs of ``reps`` calls."""
    def run():
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - t0) / reps / block

    return median_of(run, 5)


def loop_alone(H, block, C=10, D=784, reps=300):
    """The compiled loop's work on one block, timed on its own (its data warm in cache), per step."""
    from twolayer.nn.activations import ACTIVATION_CODES
    from twolayer.nn.native import block_steps_c

    fn = block_steps_c(np.float32)
    rng = np.random.default_rng(0)
    X = (0.1 * rng.standard_normal((block, D))).astype(np.float32)
    V = (0.05 * rng.standard_normal((D, H))).astype(np.float32)
    Z0, G = X @ V, X @ X.T
    W2T0 = (0.05 * rng.standard_normal((C, H))).astype(np.float32)
    bufs = {n: np.zeros(shape, dt) for n, shape, dt in (
        ("Z", Z0.shape, np.float32), ("Dm", (block, H), np.float32), ("cv", block, np.float32),
        ("W2T", W2T0.shape, np.float32), ("b1", H, np.float32), ("b2", C, np.float32), ("state", 2, np.float64),
        ("cast", 1, np.float32), ("dl", block, np.float64), ("pen", block, np.float64), ("z1", H, np.float32),
        ("a1", H, np.float32), ("z2", C, np.float32))}
    labels, lrs = (np.arange(block) % C).astype(np.int64), np.full(block, 1e-3)
    p = {n: a.ctypes.data for n, a in bufs.items()}
    out = {}
    for act in ("relu", "sigmoid"):
        def reset():
            bufs["Z"][...] = Z0
            bufs["W2T"][...] = W2T0
            bufs["state"][...] = (1.0, 0.0)

        def call():
            reset()
            fn(p["Z"], G.ctypes.data, p["Dm"], p["cv"], p["W2T"], p["b1"], p["b2"], labels.ctypes.data,
               lrs.ctypes.data, p["state"], p["cast"], p["dl"], p["pen"], p["z1"], p["a1"], p["z2"],
               block, H, C, block, 0, ACTIVATION_CODES[act], 0, 0, 0, 0.0, 2e-5, 0.0)

        out[f"the compiled loop alone, one block in cache ({act})"] = (
            per_block_step(call, block, reps) - per_block_step(reset, block, reps))
    return out


def main():
    for title, fn, unit, scale in (
        ("A training job's fixed cost (medians of fresh processes)", job_fixed_cost, "s", 1),
        ("One epoch of CIFAR-shaped data, by phase", epoch_phases, "s", 1),
        ("The batch-1 step, by phase", batch1_phases, "µs", 1e6),
    ):
        print(f"\n{title}")
        for k, v in fn().items():
            print(f"  {k:55s} {v * scale:8.3f} {unit}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
