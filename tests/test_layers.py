"""Every layer's backward pass against centred differences (float64, rel. error < 1e-7)."""

import numpy as np
import pytest

from twolayer.nn import layers
from twolayer.nn.activations import ACTIVATIONS, get_activation
from twolayer.nn.gradcheck import (
    numerical_gradient,
    numerical_gradient_array,
    relative_error,
)

TOL = 1e-7
ORDER = 4  # five-point centred differences: accurate enough for a 1e-7 bound on small entries


def away_from_kink(rng, shape, margin=0.05):
    """Values with |x| >= margin, so ReLU-like kinks are never crossed by the h=1e-5 probes."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin, x)


@pytest.mark.parametrize("with_bias", [True, False])
def test_affine_backward(with_bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 5))
    w = rng.standard_normal((5, 4))
    b = rng.standard_normal(4) if with_bias else None
    dout = rng.standard_normal((6, 4))
    _, cache = layers.affine_forward(x, w, b)
    dx, dw, db = layers.affine_backward(dout, cache)
    assert relative_error(dx, numerical_gradient_array(lambda v: layers.affine_forward(v, w, b)[0], x, dout, order=ORDER)) < TOL
    assert relative_error(dw, numerical_gradient_array(lambda v: layers.affine_forward(x, v, b)[0], w, dout, order=ORDER)) < TOL
    if with_bias:
        assert relative_error(db, numerical_gradient_array(lambda v: layers.affine_forward(x, w, v)[0], b, dout, order=ORDER)) < TOL
    else:
        assert db is None


def test_affine_backward_skips_input_gradient():
    rng = np.random.default_rng(2)
    _, cache = layers.affine_forward(rng.standard_normal((3, 4)), rng.standard_normal((4, 2)))
    dx, dw, _ = layers.affine_backward(rng.standard_normal((3, 2)), cache, need_dx=False)
    assert dx is None and dw.shape == (4, 2)


PAIRS = {
    "relu": (layers.relu_forward, layers.relu_backward),
    "sigmoid": (layers.sigmoid_forward, layers.sigmoid_backward),
    "tanh": (layers.tanh_forward, layers.tanh_backward),
    "leaky_relu": (layers.leaky_relu_forward, layers.leaky_relu_backward),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_activation_backward(name):
    fwd, bwd = PAIRS[name]
    rng = np.random.default_rng(3)
    # moderate inputs: where tanh/sigmoid saturate (|x| > 5) their derivative is ~1e-7 and
    # finite differences lose it to rounding, whatever the implementation
    x = away_from_kink(rng, (5, 7))
    dout = rng.standard_normal((5, 7))
    _, cache = fwd(x)
    dx = bwd(dout, cache)
    num = numerical_gradient_array(lambda v: fwd(v)[0], x, dout, order=ORDER)
    assert relative_error(dx, num) < TOL


def test_pairs_cover_every_named_activation():
    assert set(PAIRS) == set(ACTIVATIONS)


def test_activation_values():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    assert np.array_equal(get_activation("relu").forward(x), [0, 0, 0, 0.5, 2])
    assert np.allclose(get_activation("sigmoid").forward(x), 1 / (1 + np.exp(-x)))
    assert np.allclose(get_activation("leaky_relu", alpha=0.1).forward(x), [-0.2, -0.05, 0, 0.5, 2])
    assert np.allclose(get_activation("tanh").forward(x), np.tanh(x))


def test_sigmoid_is_stable_at_extremes():
    s = get_activation("sigmoid")
    with np.errstate(all="raise"):
        out = s.forward(np.array([-1e4, -800.0, 800.0, 1e4], dtype=np.float32))
    assert out.dtype == np.float32
    assert np.array_equal(out, [0, 0, 1, 1])


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="valid activations are: leaky_relu, relu, sigmoid, tanh"):
        get_activation("gelu")


def test_softmax_loss_gradient():
    rng = np.random.default_rng(4)
    scores = rng.standard_normal((8, 5)) * 3
    y = rng.integers(0, 5, 8)
    loss, dscores = layers.softmax_loss(scores, y)
    num = numerical_gradient(lambda: layers.softmax_loss(scores, y)[0], scores, order=ORDER)
    assert relative_error(dscores, num) < TOL
    # the definition, computed naively where it is safe
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.log(p[np.arange(8), y]).mean(), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_loss_is_finite_for_huge_scores(dtype):
    scores = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([1, 0, 2])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # exp underflow to 0 is fine
        loss, d = layers.softmax_loss(scores, y)
    assert np.isfinite(loss) and np.isfinite(d).all()
    # row 0: correct class is 2e4 below the max -> loss 2e4; row 1: uniform -> log 3; row 2: log(2) + 2e4
    assert loss == pytest.approx((2e4 + np.log(3) + 2e4 + np.log(2)) / 3, rel=1e-6)
    assert d.dtype == dtype
    p = layers.softmax(scores)
    assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1)
    assert np.allclose(np.exp(layers.log_softmax(scores.astype(np.float64))), p, atol=1e-6)
