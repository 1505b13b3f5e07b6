"""Layers as forward/backward pairs, in the style of CS231n's ``layers.py``.

Every ``*_forward`` returns ``(out, cache)``; only the matching ``*_backward``
reads the cache. Shapes: ``N`` examples, ``D`` inputs, ``M`` outputs,
``C`` classes. Nothing here changes dtype: float32 in, float32 out.
"""

from __future__ import annotations

import numpy as np

from .activations import get_activation


def affine_forward(x, w, b=None):
    """Fully connected layer ``out = x @ w (+ b)``.

    x: (N, D), w: (D, M), b: (M,) or None (a layer without bias).
    Returns out (N, M) and the cache ``(x, w, has_bias)``.
    """
    out = x @ w
    if b is not None:
        out += b
    return out, (x, w, b is not None)


def affine_backward(dout, cache, need_dx=True):
    """Backward pass of :func:`affine_forward`.

    dout: (N, M) upstream gradient.
    Returns ``dx (N, D)`` (``None`` if ``need_dx`` is false: the first layer of
    a network never needs it), ``dw (D, M)`` and ``db (M,)`` (``None`` for a
    layer without bias).
    """
    x, w, has_bias = cache
    dx = dout @ w.T if need_dx else None
    dw = x.T @ dout
    db = dout.sum(axis=0) if has_bias else None
    return dx, dw, db


def activation_forward(x, act, **settings):
    """Element-wise activation: ``act`` is an activation object, or a name of
    :data:`twolayer.nn.activations.ACTIVATIONS` (with its ``settings``).

    x: any shape. Returns ``out`` (same shape) and the cache ``(x, out, act)``.
    """
    if isinstance(act, str):
        act = get_activation(act, **settings)
    out = act.forward(x)
    return out, (x, out, act)


def activation_backward(dout, cache):
    """Backward pass of :func:`activation_forward`; ``dout`` has the shape of x."""
    x, out, act = cache
    dx = dout.copy()
    act.backward_inplace(dx, x, out)
    return dx


def relu_forward(x):
    """ReLU ``max(0, x)``; x: any shape."""
    return activation_forward(x, "relu")


def relu_backward(dout, cache):
    """Gradient of ReLU: passes ``dout`` where ``x > 0`` (0 at the kink)."""
    return activation_backward(dout, cache)


def sigmoid_forward(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow."""
    return activation_forward(x, "sigmoid")


def sigmoid_backward(dout, cache):
    """Gradient of the sigmoid: ``dout * s * (1 - s)``."""
    return activation_backward(dout, cache)


def tanh_forward(x):
    """Hyperbolic tangent."""
    return activation_forward(x, "tanh")


def tanh_backward(dout, cache):
    """Gradient of tanh: ``dout * (1 - tanh(x)**2)``."""
    return activation_backward(dout, cache)


def leaky_relu_forward(x, alpha=0.01):
    """Leaky ReLU ``x if x > 0 else alpha * x``."""
    return activation_forward(x, "leaky_relu", alpha=alpha)


def leaky_relu_backward(dout, cache):
    """Gradient of the leaky ReLU: ``dout`` where ``x > 0``, ``alpha * dout`` elsewhere."""
    return activation_backward(dout, cache)


def two_layer_forward(x, params, act, keep_cache=True):
    """The two-layer net's scores: affine -> activation ``act`` (an activation object) -> affine.

    x: (N, D); params: ``W1 (D, H)``, ``W2 (H, C)`` and, if the net has biases,
    ``b1 (H,)``, ``b2 (C,)``. Returns the scores (N, C) and the cache that
    :func:`two_layer_backward` reads; with ``keep_cache=False`` the activation is
    computed in place of the pre-activations (no (N, H) array more) and the cache is None.
    """
    h, cache1 = affine_forward(x, params["W1"], params.get("b1"))
    if keep_cache:
        a, cache_act = activation_forward(h, act)
    else:
        a, cache_act = act.forward(h, out=h), None
    scores, cache2 = affine_forward(a, params["W2"], params.get("b2"))
    return scores, (cache1, cache_act, cache2) if keep_cache else None


def two_layer_backward(dscores, cache):
    """Backward pass of :func:`two_layer_forward`: dscores (N, C) -> the gradients of the
    data term, ``{"W1", "b1", "W2", "b2"}`` (the biases' entries None for a net without)."""
    cache1, cache_act, cache2 = cache
    da, dW2, db2 = affine_backward(dscores, cache2)
    dh = activation_backward(da, cache_act)
    _, dW1, db1 = affine_backward(dh, cache1, need_dx=False)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def log_softmax(scores):
    """Row-wise log-softmax by the log-sum-exp trick. scores: (N, C) -> (N, C)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def softmax(scores):
    """Row-wise softmax probabilities, stable for scores of any magnitude. (N, C) -> (N, C)."""
    p = scores - scores.max(axis=1, keepdims=True)
    np.exp(p, out=p)
    p /= p.sum(axis=1, keepdims=True)
    return p


def check_labels(y, num_classes, name="y"):
    """Refuse labels that are not integers in [0, ``num_classes``), naming ``name`` and the fix."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} has dtype {y.dtype}; class labels must be integers in [0, {num_classes}) "
                        f"(e.g. {name}.astype(np.int64))")
    if y.ndim != 1:
        raise ValueError(f"{name} must be a vector of class labels (shape (N,)), got shape {y.shape}")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"{name} holds labels in [{int(y.min())}, {int(y.max())}], but the model has "
                         f"{num_classes} classes: labels must be in [0, {num_classes})")
    return y


def softmax_loss(scores, y):
    """Mean softmax cross-entropy loss and its gradient.

    scores: (N, C) unnormalised class scores; y: (N,) integer labels in [0, C).
    Returns ``loss`` (a Python float, the mean over the N rows) and
    ``dscores`` (N, C) = (softmax(scores) - onehot(y)) / N.

    Scores are shifted by their row maximum before exponentiation, so scores
    of +-1e4 (or any finite value) give a finite loss and gradient.
    """
    n = scores.shape[0]
    if not np.issubdtype(np.asarray(y).dtype, np.integer):
        check_labels(y, scores.shape[1])
    rows = np.arange(n)
    shifted = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    sums = probs.sum(axis=1, keepdims=True)
    log_probs_y = shifted[rows, y] - np.log(sums[:, 0])
    loss = float(-log_probs_y.sum() / n)
    probs /= sums
    probs[rows, y] -= 1
    probs /= n
    return loss, probs
