"""Linear softmax classifier, the baseline of the spiral case study and of CS231n.

Built from the same layers as the two-layer net: affine -> softmax.
"""

from __future__ import annotations

import numpy as np

from .classifier import Classifier, positive_sizes
from .init import init_weights
from .layers import affine_backward, affine_forward, softmax_loss
from .regularization import l2_grad_scale, l2_penalty


class LinearSoftmax(Classifier):
    """Parameters ``W (D, C)`` and ``b (C,)``; scores ``X @ W + b``.

    The settings and their defaults are :class:`~twolayer.nn.net.TwoLayerNet`'s
    (std: scale of the ``cs231n`` initialisation; the case study uses 0.01 and
    the ``half`` L2 convention).
    """

    kind = "linear"
    weight_names = ("W",)
    SIZES = ("input_size", "output_size")

    def __init__(self, input_size, output_size, std=1e-4, **settings):
        sizes = positive_sizes(input_size=input_size, output_size=output_size)
        self.input_size, self.output_size = sizes["input_size"], sizes["output_size"]
        dt, gen = self._settle(std, settings)
        w = init_weights(self.init, gen, self.input_size, self.output_size, std=std)
        self.params = {"W": np.ascontiguousarray(w, dtype=dt)}
        if self.bias:
            self.params["b"] = np.zeros(self.output_size, dtype=dt)

    @classmethod
    def sizes_from_params(cls, params):
        return np.shape(params["W"])

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
