"""Kernels against the reference implementation, and the training loop's promises."""

import io

import numpy as np
import pytest

from twolayer import LinearSoftmax, TrainSettings, TwoLayerNet, train_model
from twolayer.data.spiral import make_spiral
from twolayer.nn.kernels import Batch1SGD, MinibatchStep


def reference_sgd(net, X, y, idx, lrs, reg):
    """Plain SGD with the reference loss/gradients: what the kernels must equal."""
    losses = []
    for i, lr in zip(idx, lrs):
        loss, grads = net.loss(X[i : i + 1] if np.ndim(i) == 0 else X[i], y[i : i + 1] if np.ndim(i) == 0 else y[i], reg=reg)
        losses.append(loss)
        for k in net.params:
            net.params[k] -= lr * grads[k]
    return losses


@pytest.mark.parametrize("loop", Batch1SGD.LOOPS)
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "leaky_relu"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("convention", ["full", "half"])
def test_batch1_kernel_equals_reference(activation, bias, convention, loop):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 12))
    y = rng.integers(0, 5, 40)
    kw = dict(activation=activation, bias=bias, init="report", reg_convention=convention, seed=3)
    fast, ref = TwoLayerNet(12, 9, 5, **kw), TwoLayerNet(12, 9, 5, **kw)
    idx = rng.integers(0, 40, 300)
    # decaying rates, and a reg large enough that the lazy scale of W1 is renormalised mid-run
    lrs = 0.3 * 0.99 ** np.arange(300)
    reg = 0.5
    k = 2 * reg * (1.0 if convention == "full" else 0.5)
    assert np.prod(1 - lrs * k) < 1e-6  # the scale s of W1 = s*V crosses 1e-3: V is rescaled
    data_loss = np.full(300, np.nan)
    penalty = np.full(300, np.nan)
    done = Batch1SGD(fast, reg, loop=loop).run(X, y, idx, lrs, log_every=1, data_loss=data_loss, penalty=penalty)
    assert done == 300
    ref_losses = reference_sgd(ref, X, y, idx, lrs, reg)
    for k in ref.params:
        assert np.allclose(fast.params[k], ref.params[k], rtol=1e-10, atol=1e-12), k
    assert np.allclose(data_loss + penalty, ref_losses, rtol=1e-10)


@pytest.mark.parametrize("loop", Batch1SGD.LOOPS)
@pytest.mark.parametrize("block", [1, 5, 32, 64])
@pytest.mark.parametrize("log_every", [0, 7, 100])
@pytest.mark.parametrize("activation, bias", [("sigmoid", True), ("relu", False), ("tanh", True), ("leaky_relu", False)])
def test_blocked_batch1_kernel_equals_sequential_sgd(block, log_every, activation, bias, loop):
    """Delaying the rank-1 updates over blocks changes nothing but rounding."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((50, 12))
    y = rng.integers(0, 5, 50)
    kw = dict(activation=activation, bias=bias, init="report", reg_convention="full", seed=4)
    fast, ref = TwoLayerNet(12, 9, 5, **kw), TwoLayerNet(12, 9, 5, **kw)
    n = 400
    idx = rng.integers(0, 50, n)
    lrs = 0.2 * 0.995 ** np.arange(n)
    reg = 0.3  # the scale of W1 crosses 1e-3 several times: blocks end early there
    assert np.prod(1 - lrs * 2 * reg) < 1e-9
    data_loss = np.full(n, np.nan)
    penalty = np.full(n, np.nan)
    done = Batch1SGD(fast, reg, block=block, loop=loop).run(X, y, idx, lrs, t0=3, log_every=log_every, data_loss=data_loss, penalty=penalty)
    assert done == n
    ref_losses = np.array(reference_sgd(ref, X, y, idx, lrs, reg))
    for k in ref.params:
        assert np.allclose(fast.params[k], ref.params[k], rtol=1e-10, atol=1e-12), k
    logged = np.flatnonzero(~np.isnan(penalty))
    if log_every:
        assert list(logged + 3 + 1) == list(range(log_every, n + 4, log_every))[: len(logged)]
        assert len(logged) == (n + 3) // log_every
        assert np.allclose(data_loss[logged] + penalty[logged], ref_losses[logged], rtol=1e-10)
    else:
        assert logged.size == 0
    assert np.isfinite(data_loss).all()


@pytest.mark.parametrize("loop", Batch1SGD.LOOPS)
def test_blocked_batch1_kernel_stops_mid_block_on_divergence(loop):
    rng = np.random.default_rng(12)
    X = rng.standard_normal((40, 10)) * 5
    y = rng.integers(0, 3, 40)
    net = TwoLayerNet(10, 16, 3, activation="relu", init="he", seed=0)
    ref = TwoLayerNet(10, 16, 3, activation="relu", init="he", seed=0)
    lrs = np.full(500, 1e4)
    lrs[:10] = 1e-3  # ten ordinary steps, then a step size that blows up
    losses = np.full(500, np.nan)
    idx = rng.integers(0, 40, 500)
    done = Batch1SGD(net, 0.0, block=32, loop=loop).run(X, y, idx, lrs, data_loss=losses)
    with np.errstate(all="ignore"):
        ref_losses = np.array(reference_sgd(ref, X, y, idx, lrs, 0.0))
    first = int(np.flatnonzero(~np.isfinite(ref_losses))[0])  # the step whose loss the reference cannot compute
    assert 10 < first < 500 and done == first  # stopped mid-block, at the reference's step
    assert np.isfinite(losses[:done]).all() and np.isnan(losses[done:]).all()


@pytest.mark.parametrize("loop", Batch1SGD.LOOPS)
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "leaky_relu"])
def test_a_nan_weight_stops_training_at_once(activation, loop):
    """A NaN in W1 makes the first loss NaN in both loops (ReLU keeps NaN, as np.maximum does):
    no step is done and nothing is updated."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, 6))
    y = rng.integers(0, 3, 20)
    net = TwoLayerNet(6, 5, 3, activation=activation, init="he", seed=0)
    net.params["W1"][:, 2] = np.nan
    before = {k: v.copy() for k, v in net.params.items()}
    losses = np.full(100, -1.0)
    assert Batch1SGD(net, 1e-3, loop=loop).run(X, y, rng.integers(0, 20, 100), np.full(100, 0.1), data_loss=losses) == 0
    assert (losses == -1.0).all()
    for k, v in before.items():
        np.testing.assert_array_equal(net.params[k], v)


def test_the_compiled_loop_knows_every_activation():
    """The compiled loop's codes are the registry's order (one list of names)."""
    from twolayer.nn.activations import ACTIVATION_CODES, ACTIVATIONS

    assert list(ACTIVATION_CODES) == list(ACTIVATIONS)
    assert list(ACTIVATION_CODES.values()) == list(range(len(ACTIVATIONS)))


def _element_inputs(dtype):
    z = np.concatenate([np.linspace(-12, 12, 241), [0.0, -0.0, 1e-30, -1e-30, -100.0, 100.0, -1e4, 1e4]])
    return z.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_chains_apply_the_registrys_formulas(dtype):
    """For every code, the compiled loop's activation branch computes the registry's formulas
    in the weights' dtype (the same bits, but for libm's tanh and exp against NumPy's);
    a code outside the registry runs no branch at all."""
    from twolayer.nn import batch1_loop
    from twolayer.nn.activations import ACTIVATION_CODES, Constants, get_activation

    z = _element_inputs(dtype)
    eps = np.finfo(dtype).eps
    for name, code in ACTIVATION_CODES.items():
        act = get_activation(name, **({"alpha": 0.1} if name == "leaky_relu" else {}))
        c = act.constants(np.dtype(dtype))._replace(**{k: dtype(v) for k, v in act.constants(np.dtype(dtype))._asdict().items()})
        a1 = np.full_like(z, np.nan)
        batch1_loop.hidden_forward(code, z, a1, c)
        want = act.forward(z)
        assert a1.dtype == dtype
        # libm's exp and tanh against NumPy's own (SIMD) ones: a few ulp apart
        tol = {"rtol": 64 * eps, "atol": eps * 1e-30} if name in ("sigmoid", "tanh") else {"rtol": 0, "atol": 0}
        np.testing.assert_allclose(a1, want, **tol, err_msg=name)
        d = np.linspace(-2, 2, z.size).astype(dtype)
        want_d = d.copy()
        act.backward_inplace(want_d, z, want)
        batch1_loop.hidden_backward(code, z, want, d, c)
        # the same arithmetic on the same a: bit-equal, but that the machine code Numba caches may fuse
        # a product into a subtraction (an FMA: one rounding fewer), which a full suite once showed
        # for sigmoid's a - a*a (1 ulp of the product, which the subtraction's cancellation near a = 1
        # makes large relative to the result; relative to the incoming gradient it stays an ulp)
        fused = 4 * eps * np.abs(np.linspace(-2, 2, z.size).astype(dtype)) if name in ("sigmoid", "tanh") else 0
        assert np.all(np.abs(d - want_d) <= fused), (name, np.max(np.abs(d - want_d)))
    a1 = np.full_like(z, np.nan)
    batch1_loop.hidden_forward(len(ACTIVATION_CODES), z, a1, Constants(*(dtype(v) for v in (0, 1, 0, 80))))
    assert np.isnan(a1).all()


def test_an_activation_added_to_the_registry_is_in_the_compiled_chains(monkeypatch):
    """The chains are generated from the registry: a new activation gets its code and its
    branch, computing its own formulas (here softplus, log(1 + e^z), and its derivative)."""
    from twolayer.nn import activations, batch1_loop

    class Softplus(activations.Activation):
        name = "softplus"

        @staticmethod
        def value(z, c):
            return np.log1p(np.exp(z))

        @staticmethod
        def grad(z, a, c):
            return c.one - np.exp(-a)  # 1 - 1/(1 + e^z) = sigmoid(z)

    registry = {**activations.ACTIVATIONS, "softplus": Softplus}
    monkeypatch.setattr(batch1_loop, "ACTIVATIONS", registry)
    monkeypatch.setattr(batch1_loop, "ACTIVATION_CODES", {n: i for i, n in enumerate(registry)})
    fwd, bwd = batch1_loop._activation_chains()
    z = np.linspace(-5, 5, 11)
    c = activations.Constants(0.0, 1.0, 0.0, 80.0)
    a1, d = np.empty_like(z), np.ones_like(z)
    fwd(len(registry) - 1, z, a1, c)
    bwd(len(registry) - 1, z, a1, d, c)
    np.testing.assert_allclose(a1, np.log(1 + np.exp(z)), rtol=1e-13)  # log(1 + x) loses a few ulp
    np.testing.assert_allclose(d, 1 / (1 + np.exp(-z)), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation, bias", [("sigmoid", False), ("relu", True)])
def test_compiled_and_numpy_loops_agree_and_are_deterministic(dtype, activation, bias):
    """The compiled loop is the NumPy loop's arithmetic (to rounding), and it gives the same bits twice."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 40)).astype(dtype)
    y = rng.integers(0, 10, 300)
    idx = rng.integers(0, 300, 2000)
    lrs = 0.05 * 0.999 ** np.arange(2000)
    nets = {}
    for name, loop in (("numpy", "numpy"), ("compiled", "compiled"), ("again", "compiled")):
        net = TwoLayerNet(40, 30, 10, activation=activation, bias=bias, init="report", dtype=dtype, seed=1)
        losses = np.empty(2000)
        assert Batch1SGD(net, 1e-3, loop=loop).run(X, y, idx, lrs, data_loss=losses) == 2000
        nets[name] = (net.params, losses)
    tol = 1e-12 if dtype == np.float64 else 2e-4
    for k, v in nets["numpy"][0].items():
        assert v.dtype == dtype and nets["compiled"][0][k].dtype == dtype
        assert np.allclose(nets["compiled"][0][k], v, rtol=tol, atol=tol * 1e-2), k
        assert np.array_equal(nets["again"][0][k], nets["compiled"][0][k]), k
    assert np.allclose(nets["compiled"][1], nets["numpy"][1], rtol=tol)
    assert np.array_equal(nets["again"][1], nets["compiled"][1])


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "leaky_relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_minibatch_kernel_equals_reference_gradients(activation, bias):
    rng = np.random.default_rng(1)
    net = TwoLayerNet(15, 11, 4, activation=activation, bias=bias, init="he", seed=2)
    if bias:
        net.params["b1"][:] = rng.standard_normal(11) * 0.1
    X = rng.standard_normal((32, 15))
    y = rng.integers(0, 4, 32)
    step = MinibatchStep(net, 32, reg=0.2)
    loss, grads = step.loss_and_grads(X, y)
    ref_loss, ref_grads = net.loss(X, y, reg=0.2)
    assert loss + step.penalty() == pytest.approx(ref_loss, rel=1e-13)
    for k in net.params:
        assert np.allclose(grads[k], ref_grads[k], rtol=1e-12, atol=1e-14)


def test_training_loop_logs_cs231n_loss_history():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((60, 6))
    y = rng.integers(0, 3, 60)
    net = TwoLayerNet(6, 7, 3, std=0.1, seed=0)
    ref = TwoLayerNet(6, 7, 3, std=0.1, seed=0)
    s = TrainSettings(steps=25, lr=0.1, reg=0.01, batch_size=8, log_every=1, eval_every=10)
    hist = train_model(net, X, y, X, y, s, seed=4)
    # replay the same minibatches (same seed derivation) on the reference path
    from twolayer.nn.sampling import make_sampler

    sample_ss, _ = np.random.SeedSequence(4).spawn(2)
    idx = make_sampler("with_replacement", 60, 8, np.random.default_rng(sample_ss)).take(25)
    ref_losses = reference_sgd(ref, X, y, idx, [0.1] * 25, 0.01)
    assert np.allclose(hist.loss, ref_losses, rtol=1e-12)
    assert list(hist.loss_steps) == list(range(1, 26))
    assert list(hist.eval_steps) == [10, 20, 25]
    for k in net.params:
        assert np.allclose(net.params[k], ref.params[k], rtol=1e-12)


def test_log_every_averages_the_interval():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 4))
    y = rng.integers(0, 2, 30)
    a, b = TwoLayerNet(4, 5, 2, std=0.1, seed=1), TwoLayerNet(4, 5, 2, std=0.1, seed=1)
    every1 = train_model(a, X, y, X, y, TrainSettings(steps=12, lr=0.05, batch_size=1, log_every=1), seed=0)
    every4 = train_model(b, X, y, X, y, TrainSettings(steps=12, lr=0.05, batch_size=1, log_every=4), seed=0)
    assert list(every4.loss_steps) == [4, 8, 12]
    # reg = 0: the logged value is the mean data loss of the interval
    assert np.allclose(every4.loss, every1.loss.reshape(3, 4).mean(axis=1), rtol=1e-12)


def test_overfits_a_small_problem():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((50, 20))
    y = rng.integers(0, 10, 50)
    net = TwoLayerNet(20, 50, 10, init="he", seed=0)
    hist = train_model(net, X, y, X, y, TrainSettings(steps=400, lr=0.5, batch_size=None, sampling="full"), seed=0)
    assert hist.status == "ok"
    assert hist.final_train_acc == 1.0
    assert net.accuracy(X, y) == 1.0


def test_spiral_two_layer_beats_linear():
    X, y = make_spiral(100, 3, seed=0)  # 300 points, as in 003_...
    net = TwoLayerNet(2, 100, 3, std=0.01, init="cs231n", reg_convention="half", seed=0)
    full = dict(batch_size=None, sampling="full", log_every=100)
    h2 = train_model(net, X, y, X, y, TrainSettings(steps=10_000, lr=1.0, reg=1e-3, **full), seed=0)
    lin = LinearSoftmax(2, 3, std=0.01, seed=0)
    h1 = train_model(lin, X, y, X, y, TrainSettings(steps=200, lr=1.0, reg=1e-3, **full), seed=0)
    assert h2.final_train_acc >= 0.97
    assert h1.final_train_acc <= 0.60
    # the case study's converged losses: ~0.245 (two-layer) and ~0.786 (linear)
    assert h2.loss[-1] < 0.3 and 0.7 < h1.loss[-1] < 0.85


@pytest.mark.parametrize("batch_size", [1, 16])
def test_divergence_is_recorded_not_raised(batch_size):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((100, 10)).astype(np.float32) * 3
    y = rng.integers(0, 3, 100)
    net = TwoLayerNet(10, 20, 3, init="he", activation="relu", dtype=np.float32, seed=0)
    s = TrainSettings(steps=500, lr=1e3, batch_size=batch_size, eval_every=50, verbose_every=1)
    log = io.StringIO()
    hist = train_model(net, X, y, X, y, s, seed=0, log=log)
    assert hist.status == "diverged" and hist.diverged
    assert 1 <= hist.diverged_step <= 500 and hist.steps_done < hist.diverged_step
    assert hist.final_train_acc is None and hist.final_val_acc is None
    assert np.isfinite(hist.loss).all() and np.isfinite(hist.train_acc).all() and np.isfinite(hist.val_acc).all()
    assert "diverged at step" in log.getvalue()


def test_float32_training_stays_float32():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((64, 8)).astype(np.float32)
    y = rng.integers(0, 4, 64)
    for batch, opt in ((1, {"name": "sgd"}), (8, {"name": "adam"}), (8, {"name": "momentum", "mu": 0.9})):
        net = TwoLayerNet(8, 6, 4, dtype=np.float32, init="he", seed=0)
        s = TrainSettings(steps=30, lr=0.01, reg=1e-3, batch_size=batch, optimizer=opt)
        hist = train_model(net, X, y, X, y, s, seed=0)
        assert hist.status == "ok"
        assert all(p.dtype == np.float32 for p in net.params.values())
    with pytest.raises(TypeError, match="X has dtype float64 but the model is float32"):
        train_model(net, X.astype(np.float64), y, X, y, s)


def test_same_seed_same_weights_other_seed_other_weights():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((80, 5)).astype(np.float32)
    y = rng.integers(0, 3, 80)

    def run(seed):
        net = TwoLayerNet(5, 8, 3, dtype=np.float32, init="report", seed=1)
        train_model(net, X, y, X, y, TrainSettings(steps=200, lr=0.05, batch_size=1), seed=seed)
        return net.params["W1"]

    assert np.array_equal(run(0), run(0))
    assert not np.array_equal(run(0), run(1))


def test_keep_best_restores_the_best_validation_weights():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((200, 10))
    y = (X[:, 0] > 0).astype(int)
    Xv = rng.standard_normal((100, 10))
    yv = (Xv[:, 0] > 0).astype(int)
    net = TwoLayerNet(10, 20, 2, init="he", seed=0)
    # a learning rate that first learns, then oscillates
    s = TrainSettings(steps=300, lr=3.0, batch_size=20, eval_every=10, keep_best=True)
    hist = train_model(net, X, y, Xv, yv, s, seed=0)
    assert hist.status == "ok"
    assert hist.final_val_acc == pytest.approx(max(hist.val_acc))
    assert hist.final_val_acc >= hist.best_val_acc


def test_cs231n_train_surface():
    X, y = make_spiral(50, 3, seed=1)
    net = TwoLayerNet(2, 30, 3, std=0.1, seed=0)
    stats = net.train(X, y, X, y, learning_rate=0.5, learning_rate_decay=0.95, reg=1e-4, num_iters=150, batch_size=30)
    assert set(stats) >= {"loss_history", "train_acc_history", "val_acc_history"}
    assert len(stats["loss_history"]) == 150
    # evaluations once per epoch (150 / 30 = 5 iterations) and after the last step
    assert len(stats["val_acc_history"]) == 30
    assert stats["loss_history"][-1] < stats["loss_history"][0]
    assert np.mean(net.predict(X) == y) > 0.5


def test_invalid_settings_are_refused():
    X = np.zeros((4, 2))
    y = np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match="lr .step size. must be a positive number"):
        train_model(TwoLayerNet(2, 2, 2), X, y, X, y, TrainSettings(steps=1, lr=-0.1))
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        train_model(TwoLayerNet(2, 2, 2), X, y, X, y, TrainSettings(steps=0, lr=0.1))
