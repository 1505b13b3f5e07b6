"""Linear softmax classifier, the baseline of the spiral case study and of CS231n.

Built from the same layers as the two-layer net: affine -> softmax.
"""

from __future__ import annotations

import numpy as np

from .classifier import Classifier
from .init import init_weights
from .layers import affine_backward, affine_forward, softmax_loss
from .net import make_rng, resolve_dtype
from .regularization import l2_coefficient, l2_grad_scale, l2_penalty


class LinearSoftmax(Classifier):
    """Parameters ``W (D, C)`` and ``b (C,)``; scores ``X @ W + b``.

    std: scale of the ``cs231n`` initialisation (0.01 in the case study).
    """

    weight_names = ("W",)

    def __init__(
        self,
        input_size,
        output_size,
        std=0.01,
        *,
        bias=True,
        init="cs231n",
        reg_convention="half",
        dtype=np.float64,
        rng=None,
        seed=None,
    ):
        for name, value in (("input_size", input_size), ("output_size", output_size)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.input_size = int(input_size)
        self.output_size = int(output_size)
        self.bias = bool(bias)
        self.init = init
        self.std = std
        l2_coefficient(reg_convention)
        self.reg_convention = reg_convention
        dt = resolve_dtype(dtype)
        w = init_weights(init, make_rng(rng, seed), self.input_size, self.output_size, std=std)
        self.params = {"W": np.ascontiguousarray(w, dtype=dt)}
        if self.bias:
            self.params["b"] = np.zeros(self.output_size, dtype=dt)

    @property
    def num_classes(self):
        return self.output_size

    def describe(self):
        return {
            "kind": "linear",
            "input_size": self.input_size,
            "output_size": self.output_size,
            "bias": self.bias,
            "init": self.init,
            "std": self.std,
            "reg_convention": self.reg_convention,
            "dtype": str(self.dtype),
        }

    @classmethod
    def from_params(cls, params, **settings):
        w = np.asarray(params["W"])
        settings.setdefault("bias", "b" in params)
        settings.setdefault("dtype", w.dtype)
        model = cls(w.shape[0], w.shape[1], **settings)
        model.set_params(**{k: v for k, v in params.items() if k in model.params})
        return model

    def scores(self, X):
        out, _ = affine_forward(X, self.params["W"], self.params.get("b"))
        return out

    def loss(self, X, y=None, reg=0.0):
        """Scores if ``y`` is None, else ``(loss, grads)`` like :meth:`TwoLayerNet.loss`."""
        scores, cache = affine_forward(X, self.params["W"], self.params.get("b"))
        if y is None:
            return scores
        data_loss, dscores = softmax_loss(scores, y)
        loss = data_loss + l2_penalty((self.params["W"],), reg, self.reg_convention)
        _, dW, db = affine_backward(dscores, cache, need_dx=False)
        k = l2_grad_scale(reg, self.reg_convention)
        if k:
            dW += k * self.params["W"]
        grads = {"W": dW}
        if self.bias:
            grads["b"] = db
        return loss, grads
