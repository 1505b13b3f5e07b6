"""TwoLayerNet and LinearSoftmax: the CS231n toy check, gradients, initialisations."""

import numpy as np
import pytest

from twolayer import LinearSoftmax, TwoLayerNet
from twolayer.nn.gradcheck import (
    check_model_gradients,
    relative_error,
    sparse_grad_check,
)
from twolayer.nn.init import INITIALISERS

# The published table of 001_... (CS231n two-layer notebook, toy model)
CORRECT_SCORES = np.array(
    [
        [-0.81233741, -1.27654624, -0.70335995],
        [-0.17129677, -1.18803311, -0.47310444],
        [-0.51590475, -1.01354314, -0.8504215],
        [-0.15419291, -0.48629638, -0.52901952],
        [-0.00618733, -0.12435261, -0.15226949],
    ]
)


def toy():
    net = TwoLayerNet(4, 10, 3, std=1e-1, rng=np.random.RandomState(0))
    X = 10 * np.random.RandomState(1).randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    return net, X, y


def test_cs231n_toy_scores_match_published_table():
    net, X, _ = toy()
    scores = net.loss(X)
    assert np.max(np.abs(scores - CORRECT_SCORES)) < 1e-7


def test_cs231n_toy_loss_matches_published_value():
    net, X, y = toy()
    loss, _ = net.loss(X, y, reg=0.05)
    assert abs(loss - 1.30378789133) < 1e-10


def test_half_convention_halves_only_the_penalty():
    net, X, y = toy()
    full, _ = net.loss(X, y, reg=0.05)
    data, _ = net.loss(X, y, reg=0.0)
    net.reg_convention = "half"
    half, _ = net.loss(X, y, reg=0.05)
    assert half - data == pytest.approx((full - data) / 2, rel=1e-12)


def rejection_sample_away_from_kink(net, rng, rows, margin=0.05):
    out = []
    while len(out) < rows:
        x = rng.standard_normal(net.input_size)
        h = x @ net.params["W1"] + (net.params["b1"] if net.bias else 0)
        if np.min(np.abs(h)) > margin:
            out.append(x)
    return np.array(out)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "leaky_relu"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("convention", ["full", "half"])
def test_whole_net_gradients(activation, bias, convention):
    rng = np.random.default_rng(7)
    net = TwoLayerNet(6, 8, 4, activation=activation, bias=bias, init="xavier", reg_convention=convention, seed=5)
    if bias:
        net.params["b1"][:] = rng.standard_normal(8) * 0.1
        net.params["b2"][:] = rng.standard_normal(4) * 0.1
    # inputs whose hidden pre-activations all stay 0.05 or more away from the kink at 0
    X = rejection_sample_away_from_kink(net, rng, rows=7)
    y = rng.integers(0, 4, 7)
    errors = check_model_gradients(net, X, y, reg=0.3, order=4)
    assert set(errors) == set(net.params)
    assert max(errors.values()) < 1e-7, errors


def test_toy_gradients_match_published_magnitudes():
    net, X, y = toy()
    errors = check_model_gradients(net, X, y, reg=0.05)
    assert max(errors.values()) < 1e-7
    # the published W1 error was 3.561318e-09: our gradients agree just as well
    assert errors["W1"] == pytest.approx(3.561318e-09, rel=1e-3)


def test_sparse_grad_check_on_a_larger_net():
    rng = np.random.default_rng(8)
    net = TwoLayerNet(50, 30, 10, activation="sigmoid", init="he", seed=1)
    X = rng.standard_normal((20, 50))
    y = rng.integers(0, 10, 20)
    _, grads = net.loss(X, y, reg=0.1)
    errs = sparse_grad_check(lambda: net.loss(X, y, reg=0.1)[0], net.params["W1"], grads["W1"], num_checks=20)
    assert max(errs) < 1e-7


@pytest.mark.parametrize("bias", [True, False])
def test_linear_softmax_gradients(bias):
    rng = np.random.default_rng(9)
    model = LinearSoftmax(5, 3, bias=bias, seed=2)
    X = rng.standard_normal((9, 5))
    y = rng.integers(0, 3, 9)
    errors = check_model_gradients(model, X, y, reg=0.2, order=4)
    assert max(errors.values()) < 1e-7


def test_biases_are_never_penalised():
    net, X, y = toy()
    _, g0 = net.loss(X, y, reg=0.0)
    _, g1 = net.loss(X, y, reg=10.0)
    assert np.array_equal(g0["b1"], g1["b1"]) and np.array_equal(g0["b2"], g1["b2"])
    assert relative_error(g1["W2"] - g0["W2"], 2 * 10.0 * net.params["W2"]) < 1e-12


def test_initialisations_have_their_documented_scale():
    d, h = 400, 300
    draws = {name: TwoLayerNet(d, h, 10, init=name, seed=3).params["W1"] for name in INITIALISERS}
    assert draws["cs231n"].std() == pytest.approx(1e-4, rel=0.02)
    assert draws["report"].std() == pytest.approx(1 / np.sqrt(h), rel=0.02)
    assert draws["he"].std() == pytest.approx(np.sqrt(2 / d), rel=0.02)
    assert draws["xavier"].std() == pytest.approx(np.sqrt(2 / (d + h)), rel=0.02)
    net = TwoLayerNet(d, h, 10, init="cs231n", std=0.5, seed=3)
    assert net.params["W1"].std() == pytest.approx(0.5, rel=0.02)
    assert np.array_equal(net.params["b1"], np.zeros(h))


def test_initialisation_is_seeded_and_dtype_independent():
    a = TwoLayerNet(20, 10, 3, init="report", seed=11, dtype=np.float64)
    b = TwoLayerNet(20, 10, 3, init="report", seed=11, dtype=np.float32)
    c = TwoLayerNet(20, 10, 3, init="report", seed=12)
    assert np.array_equal(a.params["W1"].astype(np.float32), b.params["W1"])
    assert b.params["W1"].dtype == np.float32
    assert not np.array_equal(a.params["W1"], c.params["W1"])


def test_unknown_names_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="valid ones are: cs231n, he, report, xavier"):
        TwoLayerNet(3, 2, 2, init="lecun")
    with pytest.raises(ValueError, match="valid conventions are: full, half"):
        TwoLayerNet(3, 2, 2, reg_convention="double")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        TwoLayerNet(3, 0, 2)


def test_params_can_be_set_from_arrays():
    net, X, _ = toy()
    clone = TwoLayerNet.from_params(net.params)
    assert np.array_equal(clone.loss(X), net.loss(X))
    with pytest.raises(ValueError, match=r"W1 must have shape \(4, 10\)"):
        clone.set_params(W1=np.zeros((3, 3)))
    with pytest.raises(KeyError, match="unknown parameter"):
        clone.set_params(W3=np.zeros(1))


def test_predict_and_accuracy_are_chunked_consistently():
    rng = np.random.default_rng(10)
    net = TwoLayerNet(12, 9, 4, init="he", seed=4)
    X = rng.standard_normal((1001, 12))
    y = rng.integers(0, 4, 1001)
    full = net.loss(X).argmax(axis=1)
    assert np.array_equal(net.predict(X, chunk_size=64), full)
    assert net.accuracy(X, y, chunk_size=100) == pytest.approx(np.mean(full == y))
    cm = net.confusion_matrix(X, y)
    assert cm.sum() == 1001 and np.trace(cm) == np.sum(full == y)


def test_data_the_model_cannot_take_gets_an_error_that_says_what_to_do():
    net = TwoLayerNet(4, 5, 3, dtype=np.float64, seed=0)
    X = np.random.default_rng(0).standard_normal((10, 4))
    y = np.arange(10) % 3
    with pytest.raises(TypeError, match=r"y has dtype float64; class labels must be integers in \[0, 3\) \(e.g. y.astype\(np.int64\)\)"):
        net.loss(X, y.astype(float))
    with pytest.raises(TypeError, match=r"class labels must be integers"):
        net.train(X, y.astype(float), X, y, num_iters=5, batch_size=2)
    with pytest.raises(ValueError, match=r"y_val holds labels in \[1, 3\], but the model has 3 classes"):
        net.train(X, y, X, y + 1, num_iters=5, batch_size=2)
    # a float32 array given to a float64 net: the advice names the array's dtype, not the model's
    with pytest.raises(TypeError, match=r"X has dtype float32 but the model is float64; convert the data "
                                        r"\(e.g. X.astype\(np.float64\)\) or build the model with dtype=np.float32"):
        net.train(X.astype(np.float32), y, X, y, num_iters=5, batch_size=2)
