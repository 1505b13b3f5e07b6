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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_formula_is_its_definition(dtype):
    """The element formulas against the textbook definitions, computed independently in float64,
    in the input's dtype: the values to a few ulp relatively (the sigmoid in both tails too)."""
    z = np.linspace(-30, 30, 601).astype(dtype)
    zz = z.astype(np.float64)
    eps = np.finfo(dtype).eps
    definitions = {
        "relu": (np.where(zz > 0, zz, 0.0), np.where(zz > 0, 1.0, 0.0)),
        "sigmoid": (1 / (1 + np.exp(-zz)), np.exp(-zz) / (1 + np.exp(-zz)) ** 2),
        "tanh": (np.tanh(zz), 1 / np.cosh(zz) ** 2),
        "leaky_relu": (np.where(zz > 0, zz, 0.1 * zz), np.where(zz > 0, 1.0, 0.1)),
    }
    assert set(definitions) == set(ACTIVATIONS)
    for name, (value, slope) in definitions.items():
        act = get_activation(name, **({"alpha": 0.1} if name == "leaky_relu" else {}))
        a = act.forward(z)
        d = np.ones_like(z)
        act.backward_inplace(d, z, a)
        assert a.dtype == dtype and d.dtype == dtype
        np.testing.assert_allclose(a, value, rtol=4 * eps, atol=0, err_msg=name)
        # s - s^2 and 1 - t^2 cancel where s, t are near 1: an ulp of 1, absolutely, there
        np.testing.assert_allclose(d, slope, rtol=8 * eps, atol=eps * (name in ("sigmoid", "tanh")), err_msg=name)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("bias", [True, False])
def test_two_layer_backward(name, bias):
    """The reference forward/backward of the two-layer net against centred differences."""
    rng = np.random.default_rng(5)
    params = {"W1": rng.standard_normal((5, 6)), "W2": rng.standard_normal((6, 3))}
    if bias:
        params |= {"b1": rng.standard_normal(6) * 0.1, "b2": rng.standard_normal(3)}
    act = get_activation(name)
    x = rng.standard_normal((4, 5))
    pre = x @ params["W1"] + params.get("b1", 0)
    x = x[np.min(np.abs(pre), axis=1) > 0.05]  # no hidden unit at a kink
    dout = rng.standard_normal((x.shape[0], 3))
    scores, cache = layers.two_layer_forward(x, params, act)
    np.testing.assert_array_equal(scores, layers.two_layer_forward(x, params, act, keep_cache=False)[0])
    grads = layers.two_layer_backward(dout, cache)
    for k, v in params.items():
        num = numerical_gradient_array(lambda _: layers.two_layer_forward(x, params, act)[0], v, dout, order=ORDER)
        np.testing.assert_allclose(grads[k], num, rtol=TOL, atol=1e-10, err_msg=k)  # a dead unit's 0: 1e-13 here
    if not bias:
        assert grads["b1"] is None and grads["b2"] is None


def test_sigmoid_is_stable_at_extremes():
    s = get_activation("sigmoid")
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # exp underflowing to 0 is fine
        out = s.forward(np.array([-1e4, -800.0, -80.0, 800.0, 1e4], dtype=np.float32))
    assert out.dtype == np.float32
    assert np.array_equal(out[3:], [1, 1])
    assert np.allclose(out[:3], 1 / (1 + np.exp(80.0)), rtol=1e-6)  # capped at e^-80: under 2e-35


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
