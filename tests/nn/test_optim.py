"""Optimizers, schedules and samplers against values worked out by hand."""

import numpy as np
import pytest

from twolayer.nn.optim import OPTIMIZERS, make_optimizer
from twolayer.nn.sampling import make_sampler
from twolayer.nn.schedules import make_schedule

G1 = np.array([0.5, 0.25])
G2 = np.array([-1.0, 0.5])


def two_steps(name, lr=0.1, dtype=np.float64, **settings):
    opt = make_optimizer(name, **settings)
    w = np.array([1.0, -2.0], dtype=dtype)
    params = {"w": w}
    opt.update(params, {"w": G1.astype(dtype)}, lr)
    after1 = w.copy()
    opt.update(params, {"w": G2.astype(dtype)}, lr)
    assert params["w"] is w, "updates must be in place"
    return opt, after1, w


def test_sgd_two_steps():
    _, w1, w2 = two_steps("sgd")
    assert np.allclose(w1, [1.0 - 0.05, -2.0 - 0.025], rtol=0, atol=1e-15)
    assert np.allclose(w2, [0.95 + 0.1, -2.025 - 0.05], rtol=0, atol=1e-15)


def test_momentum_two_steps():
    opt, w1, w2 = two_steps("momentum", mu=0.9)
    # v1 = -0.1 g1 = [-0.05, -0.025]; v2 = 0.9 v1 - 0.1 g2 = [0.055, -0.0725]
    assert np.allclose(w1, [0.95, -2.025], rtol=0, atol=1e-15)
    assert np.allclose(w2, [0.95 + 0.055, -2.025 - 0.0725], rtol=0, atol=1e-15)
    assert np.allclose(opt.state["w"]["v"], [0.055, -0.0725], rtol=0, atol=1e-15)


def test_rmsprop_two_steps():
    _, w1, w2 = two_steps("rmsprop")  # rho 0.99, eps 1e-8 by default
    c1 = np.array([0.01 * 0.25, 0.01 * 0.0625])  # [0.0025, 0.000625]
    assert np.allclose(w1, [1.0 - 0.1 * 0.5 / np.sqrt(0.0025 + 1e-8), -2.0 - 0.1 * 0.25 / np.sqrt(0.000625 + 1e-8)], rtol=0, atol=1e-14)
    c2 = 0.99 * c1 + 0.01 * np.array([1.0, 0.25])  # [0.012475, 0.00311875]
    assert np.allclose(c2, [0.012475, 0.00311875], rtol=0, atol=1e-15)
    expected = w1 - 0.1 * G2 / np.sqrt(np.array([0.012475, 0.00311875]) + 1e-8)
    assert np.allclose(w2, expected, rtol=0, atol=1e-14)
    assert w1 == pytest.approx([0.0, -3.0], abs=1e-5)  # |update| = lr when cache = (1-rho) g^2


def test_adam_two_steps():
    _, w1, w2 = two_steps("adam")  # beta1 0.9, beta2 0.999, eps 1e-8
    # step 1: m_hat = g1, v_hat = g1^2, so the update is lr * sign(g1) (up to eps)
    assert w1 == pytest.approx([0.9, -2.1], abs=1e-7)
    m2 = np.array([-0.055, 0.0725])  # 0.9*0.1*g1 + 0.1*g2
    v2 = np.array([0.00124975, 0.0003124375])  # 0.999*0.001*g1^2 + 0.001*g2^2
    step = 0.1 * (m2 / 0.19) / (np.sqrt(v2 / (1 - 0.999**2)) + 1e-8)
    assert np.allclose(w2, w1 - step, rtol=0, atol=1e-12)
    assert w2 == pytest.approx([0.936610, -2.196518], abs=1e-6)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_keep_float32(name):
    opt, _, w = two_steps(name, dtype=np.float32)
    assert w.dtype == np.float32
    for st in opt.state.values():
        for v in st.values():
            if isinstance(v, np.ndarray):
                assert v.dtype == np.float32


def test_settings_are_apart_from_state():
    opt = make_optimizer("momentum", mu=0.5)
    assert opt.state == {}
    with pytest.raises(Exception):
        opt.settings.mu = 0.1  # frozen
    opt.update({"w": np.ones(2)}, {"w": np.ones(2)}, 0.1)
    assert set(opt.state) == {"w"} and opt.settings.mu == 0.5
    opt.reset()
    assert opt.state == {}


def test_unknown_optimizer_and_setting():
    with pytest.raises(ValueError, match="valid optimizers are: adam, momentum, rmsprop, sgd"):
        make_optimizer("adagrad")
    with pytest.raises(ValueError, match="its settings are: mu"):
        make_optimizer("momentum", rho=0.9)


def test_schedules():
    assert make_schedule(0.5)(12345) == 0.5
    step = make_schedule(1.0, {"name": "step", "decay": 0.5, "every": 10})
    assert [step(t) for t in (0, 9, 10, 19, 20)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    expo = make_schedule(0.05, {"name": "exponential", "gamma": 0.9, "decay_steps": 10_000})
    assert expo(0) == 0.05
    assert expo(10_000) == pytest.approx(0.045, rel=1e-15)
    assert expo(5_000) == pytest.approx(0.05 * 0.9**0.5, rel=1e-15)
    assert expo(240_000) == pytest.approx(0.05 * 0.9**24, rel=1e-14)
    stair = make_schedule(1.0, {"name": "exponential", "gamma": 0.5, "decay_steps": 4, "staircase": True})
    assert [stair(t) for t in (0, 3, 4, 8)] == [1.0, 1.0, 0.5, 0.25]
    for sched in (step, expo, stair):
        blk = sched.block(3, 50)
        assert np.allclose(blk, [sched(t) for t in range(3, 53)], rtol=1e-14)
    with pytest.raises(ValueError, match="valid schedules are: constant, exponential, step"):
        make_schedule(0.1, {"name": "cosine"})
    with pytest.raises(ValueError, match="its settings are: gamma, decay_steps, staircase"):
        make_schedule(0.1, {"name": "exponential", "decay": 0.9})


def test_samplers():
    rng = np.random.default_rng(0)
    wr = make_sampler("with_replacement", 10, 4, rng)
    a = wr.take(3)
    assert a.shape == (3, 4) and a.min() >= 0 and a.max() < 10
    # the stream does not depend on how it is sliced
    s1 = make_sampler("with_replacement", 50, 2, np.random.default_rng(5))
    s2 = make_sampler("with_replacement", 50, 2, np.random.default_rng(5))
    assert np.array_equal(np.vstack([s1.take(7), s1.take(9000)]), s2.take(9007))
    ep = make_sampler("epochs", 10, 3, np.random.default_rng(1))
    flat = ep.take(10).ravel()  # 30 indices = exactly 3 epochs
    for e in range(3):
        assert sorted(flat[10 * e : 10 * (e + 1)]) == list(range(10))
    assert make_sampler("full", 10, None, rng).take(5) is None
    with pytest.raises(ValueError, match="valid samplings are"):
        make_sampler("stratified", 10, 2, rng)
