"""The winner's replay (the report's figure 2): the whole-set loss is ``net.loss`` without the
regulariser, and a monitor watches 51 points without changing a bit of the weights.
"""

import numpy as np
import pytest

from twolayer.nn.net import TwoLayerNet
from twolayer.nn.train import TrainSettings, train_model
from twolayer.study.plan.jobspec import block_every
from twolayer.study.run.trace import full_set_stats


def _train(monitor, steps=3000):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 30)).astype(np.float32)
    y = rng.integers(0, 5, 400)
    net = TwoLayerNet(30, 16, 5, std=None, init="report", bias=False, rng=np.random.default_rng(4),
                      activation="sigmoid", dtype=np.float32)
    s = TrainSettings(steps=steps, lr=0.05, reg=1e-5, batch_size=1, sampling="with_replacement",
                      schedule={"name": "exponential", "gamma": 0.9, "decay_steps": 1000}, log_every=100,
                      eval_every=700, eval_train_subset=100)
    train_model(net, X, y, X[:50], y[:50], s, seed=5, monitor=monitor, block_every=block_every(steps))
    return net


def test_full_set_stats_is_net_loss_without_the_regulariser():
    rng = np.random.default_rng(2)
    net = TwoLayerNet(20, 7, 4, std=0.5, rng=rng, activation="sigmoid", dtype=np.float64)
    X = rng.normal(size=(1000, 20))
    y = rng.integers(0, 4, 1000)
    loss, acc = full_set_stats(net, X, y, chunk=96)  # chunks that do not divide the set
    ref_loss, _ = net.loss(X, y, reg=0.0)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert acc == pytest.approx(np.mean(net.scores(X).argmax(1) == y))


def test_a_monitor_sees_51_points_and_leaves_the_weights_bit_identical():
    seen = []
    watched = _train(lambda step, m: seen.append((step, m.params["W1"].copy())))
    plain = _train(None)
    for k in plain.params:
        np.testing.assert_array_equal(watched.params[k], plain.params[k])
    every = block_every(3000)
    assert [s for s, _ in seen] == list(range(every, 3001, every))  # 50 points; the replay adds step 0
    np.testing.assert_array_equal(seen[-1][1], plain.params["W1"])


def test_a_monitor_needs_the_block_ends_of_the_run_it_watches():
    net = TwoLayerNet(3, 4, 2, rng=np.random.default_rng(0))
    X, y = np.zeros((4, 3)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="give block_every"):
        train_model(net, X, y, X, y, TrainSettings(steps=4, lr=0.1, batch_size=1), monitor=lambda s, m: None)
    with pytest.raises(ValueError, match="positive integer"):
        train_model(net, X, y, X, y, TrainSettings(steps=4, lr=0.1, batch_size=1), block_every=0.5)


# ---------------------------------------------------------------- Fashion-MNIST with its own statistics
