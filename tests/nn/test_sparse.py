"""The batch-1 kernel for inputs with a background (Batch1Sparse) against the reference SGD step."""

import numpy as np
import pytest

from twolayer import TrainSettings, TwoLayerNet, train_model
from twolayer.data.preprocess import find_foreground
from twolayer.nn.kernels import SPARSE_BELOW, Batch1SGD, Batch1Sparse, Foreground, kernel_name

from test_train import reference_sgd  # tests/nn/test_train.py

N, D = 40, 30


def images(rng, background, share=0.3, dtype=np.float64):
    """Rows equal to ``background`` outside a random foreground; row 0 has no foreground, row 1 is all
    foreground. Returns (X, Foreground), the foreground found by a direct comparison."""
    mask = rng.random((N, D)) < share
    mask[0], mask[1] = False, True
    X = np.where(mask, rng.standard_normal((N, D)), background).astype(dtype)
    rows = [np.flatnonzero(m) for m in mask]
    indptr = np.r_[0, np.cumsum([r.size for r in rows])]
    return X, Foreground(np.broadcast_to(background, (D,)).astype(dtype), indptr, np.concatenate(rows))


BACKGROUNDS = {"constant": -0.4242, "offset vector": np.linspace(-1.3, 0.7, D)}


@pytest.mark.parametrize("loop", Batch1Sparse.LOOPS)
@pytest.mark.parametrize("background", sorted(BACKGROUNDS))
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "leaky_relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_the_sparse_kernel_is_sequential_sgd(activation, bias, background, loop):
    """Every step as the reference step computes it (net.loss and its gradients), at 1e-10 in float64:
    the lazy scale renormalised (s crosses 1e-3), the lazy offset folded every 37 steps, the penalty
    followed through every step; the steps include a row with no foreground and one with no background."""
    rng = np.random.default_rng(5)
    X, fg = images(rng, BACKGROUNDS[background])
    y = rng.integers(0, 5, N)
    kw = dict(activation=activation, bias=bias, init="report", seed=3)
    fast, ref = TwoLayerNet(D, 9, 5, **kw), TwoLayerNet(D, 9, 5, **kw)
    n = 500
    idx = rng.integers(0, N, n)
    idx[:4] = [0, 1, 0, 1]
    lrs = 0.3 * 0.99 ** np.arange(n)
    reg = 0.5
    assert np.prod(1 - lrs * 2 * reg) < 1e-6
    data_loss, penalty = np.full(n, np.nan), np.full(n, np.nan)
    kernel = Batch1Sparse(fast, reg, fg, loop=loop, fold_every=37)
    assert kernel.run(X, y, idx, lrs, log_every=1, data_loss=data_loss, penalty=penalty) == n
    ref_losses = reference_sgd(ref, X, y, idx, lrs, reg)
    for k in ref.params:
        assert np.allclose(fast.params[k], ref.params[k], rtol=1e-10, atol=1e-12), k
    assert np.allclose(data_loss + penalty, ref_losses, rtol=1e-10)


@pytest.mark.parametrize("loop", Batch1Sparse.LOOPS)
@pytest.mark.parametrize("log_every, t0", [(0, 0), (7, 3), (100, 0)])
def test_the_sparse_kernel_logs_the_penalty_at_the_logged_steps(log_every, t0, loop):
    rng = np.random.default_rng(6)
    X, fg = images(rng, BACKGROUNDS["offset vector"])
    y = rng.integers(0, 5, N)
    kw = dict(activation="sigmoid", bias=True, init="report", seed=4)
    fast, ref = TwoLayerNet(D, 9, 5, **kw), TwoLayerNet(D, 9, 5, **kw)
    n, reg = 300, 0.01
    idx, lrs = rng.integers(0, N, n), np.full(n, 0.1)
    data_loss, penalty = np.full(n, np.nan), np.full(n, np.nan)
    Batch1Sparse(fast, reg, fg, loop=loop).run(X, y, idx, lrs, t0=t0, log_every=log_every, data_loss=data_loss,
                                                penalty=penalty)
    ref_losses = np.array(reference_sgd(ref, X, y, idx, lrs, reg))
    logged = np.flatnonzero(~np.isnan(penalty))
    want = [j for j in range(n) if log_every and (t0 + j + 1) % log_every == 0]
    assert list(logged) == want
    assert np.allclose(data_loss[logged] + penalty[logged], ref_losses[logged], rtol=1e-10)
    for k in ref.params:
        assert np.allclose(fast.params[k], ref.params[k], rtol=1e-10, atol=1e-12), k


@pytest.mark.parametrize("loop", Batch1Sparse.LOOPS)
def test_the_sparse_kernel_stops_before_a_step_whose_loss_is_not_finite(loop):
    """A step whose loss overflows is not applied: the net is as the reference left it one step before."""
    rng = np.random.default_rng(7)
    X, fg = images(rng, -0.5)
    y = rng.integers(0, 5, N)
    kw = dict(activation="relu", bias=True, init="report", seed=5)
    fast, ref = TwoLayerNet(D, 9, 5, **kw), TwoLayerNet(D, 9, 5, **kw)
    n = 60
    idx = rng.integers(0, N, n)
    lrs = np.full(n, 0.05)
    lrs[20:] = 1e30  # step 21's update blows the weights up: step 22's loss is not finite
    data_loss = np.full(n, np.nan)
    done = Batch1Sparse(fast, 0.0, fg, loop=loop).run(X, y, idx, lrs, data_loss=data_loss)
    assert 20 < done < n
    with np.errstate(all="ignore"):
        reference_sgd(ref, X, y, idx[:done], lrs[:done], 0.0)
    for k in ref.params:
        assert np.allclose(fast.params[k], ref.params[k], rtol=1e-10, atol=1e-12, equal_nan=True), k
    assert np.isfinite(data_loss[:done]).all()


@pytest.mark.parametrize("activation, bias", [("sigmoid", False), ("relu", True)])
def test_compiled_and_numpy_sparse_loops_agree_and_float32_is_deterministic(activation, bias):
    rng = np.random.default_rng(8)
    X, fg = images(rng, BACKGROUNDS["constant"], dtype=np.float32)
    y = rng.integers(0, 5, N)
    idx, lrs = rng.integers(0, N, 2000), np.full(2000, 0.05)
    out = {}
    for loop in ("compiled", "numpy", "compiled"):
        net = TwoLayerNet(D, 16, 5, activation=activation, bias=bias, init="report", dtype=np.float32, seed=1)
        Batch1Sparse(net, 1e-3, fg, loop=loop, fold_every=100).run(X, y, idx, lrs)
        out.setdefault(loop, []).append(net.params)
    a, b = out["compiled"]
    for k in a:
        assert a[k].dtype == np.float32
        assert np.array_equal(a[k], b[k]), k  # the same bits on a rerun
        assert np.allclose(a[k], out["numpy"][0][k], rtol=1e-3, atol=1e-5), k


def test_float32_stays_accurate_over_the_reports_240000_steps():
    """The lazy scale, the lazy offset and the column sums gather no rounding of their own: over
    240,000 float32 steps on inputs with a background (the report's protocol, at a small size), the
    sparse kernel ends as close to the float64 SGD as the dense float32 kernel does."""
    rng = np.random.default_rng(9)
    n_rows, d, steps = 500, 64, 240_000
    mask = rng.random((n_rows, d)) < 0.2
    bg = np.float32(-0.4242)
    X64 = np.where(mask, rng.random((n_rows, d)) * 3.0, bg).astype(np.float32).astype(np.float64)
    y = (X64[:, : d // 2].sum(axis=1) > X64[:, d // 2 :].sum(axis=1)).astype(np.int64) + 2 * (X64[:, 0] > bg)
    ptr, ind = find_foreground(X64, np.full(d, bg))
    idx = rng.integers(0, n_rows, steps)
    lrs = 0.01 * 0.9 ** (np.arange(steps) // 10_000)
    kw = dict(activation="sigmoid", bias=False, init="report", seed=2)
    runs = {}
    for name, dtype, make in [
        ("float64", np.float64, lambda net: Batch1SGD(net, 1e-5)),
        ("dense float32", np.float32, lambda net: Batch1SGD(net, 1e-5)),
        ("sparse float32", np.float32, lambda net: Batch1Sparse(net, 1e-5, Foreground(np.full(d, bg, dtype=np.float32), ptr, ind))),
    ]:
        net = TwoLayerNet(d, 16, 4, dtype=dtype, **kw)
        make(net).run(X64.astype(dtype), y, idx, lrs)
        runs[name] = net.params
    exact = runs["float64"]

    def error(params):
        return max(float(np.max(np.abs(params[k] - exact[k])) / np.max(np.abs(exact[k]))) for k in exact)

    dense, sparse = error(runs["dense float32"]), error(runs["sparse float32"])
    assert sparse < 1e-2  # float32 keeps 2-3 digits of 240,000 steps of SGD (8.5e-4 here)
    assert sparse <= 3 * dense + 1e-6, (sparse, dense)


def test_the_kernel_choice_follows_the_foreground_share():
    sgd = {"name": "sgd"}
    assert kernel_name("twolayer", 1, sgd, SPARSE_BELOW) == "batch1_sparse"
    assert kernel_name("twolayer", 1, sgd, 0.0) == "batch1_sparse"
    assert kernel_name("twolayer", 1, sgd, SPARSE_BELOW + 0.01) == "batch1_sgd"
    assert kernel_name("twolayer", 1, sgd, None) == "batch1_sgd"
    assert kernel_name("twolayer", 8, sgd, 0.0) == "minibatch"
    assert kernel_name("twolayer", 1, {"name": "momentum", "mu": 0.9}, 0.0) == "minibatch"
    assert kernel_name("linear", 1, sgd, 0.0) == "reference"


@pytest.mark.parametrize("share, sparse_inputs, kernel", [(0.1, True, "batch1_sparse"), (0.1, False, "batch1_sgd"),
                                                          (0.9, True, "batch1_sgd")])
def test_training_takes_the_sparse_kernel_when_the_foreground_is_small(share, sparse_inputs, kernel):
    """train_model with a foreground: the kernel it recorded, and the same SGD whichever it took."""
    rng = np.random.default_rng(10)
    X, fg = images(rng, -0.4, share=share)
    y = rng.integers(0, 5, N)
    settings = TrainSettings(steps=200, lr=0.05, reg=1e-3, batch_size=1, log_every=10, eval_every=50,
                             sparse_inputs=sparse_inputs)
    nets = [TwoLayerNet(D, 9, 5, init="report", seed=1) for _ in range(2)]
    h = train_model(nets[0], X, y, X, y, settings, seed=4, foreground=fg)
    h_dense = train_model(nets[1], X, y, X, y, settings, seed=4)
    assert h.settings["kernel"] == kernel and h_dense.settings["kernel"] == "batch1_sgd"
    for k in nets[0].params:
        assert np.allclose(nets[0].params[k], nets[1].params[k], rtol=1e-10, atol=1e-12), k
    assert np.allclose(h.loss, h_dense.loss, rtol=1e-10)


def test_a_foreground_of_other_data_is_refused():
    rng = np.random.default_rng(11)
    X, fg = images(rng, -0.4)
    net = TwoLayerNet(D, 9, 5, init="report", seed=1)
    with pytest.raises(ValueError, match=r"foreground indices are of a \(40, 30\) dataset"):
        Batch1Sparse(net, 0.0, fg).run(X[:10], np.zeros(10, dtype=int), [0], [0.1])
    with pytest.raises(ValueError, match="indptr must rise"):
        Foreground(np.zeros(D), [0, 5, 3], np.zeros(3))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 30\)"):
        Foreground(np.zeros(D), [0, 1], [30])


def test_find_foreground_is_where_rows_differ_from_the_background():
    rng = np.random.default_rng(12)
    bg = np.linspace(-1, 1, 50).astype(np.float32)
    X = np.where(rng.random((300, 50)) < 0.3, rng.standard_normal((300, 50)), bg).astype(np.float32)
    X[7] = bg
    indptr, indices = find_foreground(X, bg, rows=64)  # several blocks of rows
    assert indices.dtype == np.uint16 and indptr[0] == 0 and indptr[-1] == indices.size
    for i in range(300):
        assert np.array_equal(indices[indptr[i] : indptr[i + 1]], np.flatnonzero(X[i] != bg)), i
    assert indptr[8] == indptr[7]


def test_a_monitor_leaves_the_sparse_kernels_weights_bit_identical():
    """The winner's replay watches the sparse kernel at block_every's points, as it does the dense one:
    a watched float32 run ends on the bits of the unwatched run."""
    from twolayer.study.plan.jobspec import block_every

    rng = np.random.default_rng(13)
    X, fg = images(rng, np.float32(-0.42), share=0.2, dtype=np.float32)
    y = rng.integers(0, 5, N)
    settings = TrainSettings(steps=3000, lr=0.05, reg=1e-5, batch_size=1, log_every=100, eval_every=700,
                             eval_train_subset=20)
    runs, seen = [], []
    for monitor in (None, lambda step, m: seen.append(step)):
        net = TwoLayerNet(D, 16, 5, init="report", bias=False, activation="sigmoid", dtype=np.float32, seed=2)
        h = train_model(net, X, y, X, y, settings, seed=5, monitor=monitor, block_every=block_every(3000),
                        foreground=fg)
        assert h.settings["kernel"] == "batch1_sparse"
        runs.append(net.params)
    assert len(seen) == 50
    for k in runs[0]:
        np.testing.assert_array_equal(runs[0][k], runs[1][k])
