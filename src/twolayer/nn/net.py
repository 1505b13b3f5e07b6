"""The two-layer network: affine -> activation -> affine -> softmax.

``TwoLayerNet`` keeps CS231n's surface (``params``, ``loss``, ``predict``,
``train``) so notebooks port unchanged, and adds the settings the studies
vary: activation, optional biases, named initialisation, L2 convention and
dtype. ``loss`` is the reference implementation (built from
:mod:`twolayer.nn.layers`); the training loop uses the allocation-free kernels
of :mod:`twolayer.nn.kernels`, which the tests compare against it.
"""

from __future__ import annotations

import numpy as np

from .activations import get_activation
from .classifier import Classifier, positive_sizes
from .init import init_weights
from .layers import softmax_loss, two_layer_backward, two_layer_forward
from .regularization import l2_grad_scale, l2_penalty


class TwoLayerNet(Classifier):
    """Two-layer fully connected classifier.

    Parameters (shapes): ``W1 (D, H)``, ``b1 (H,)``, ``W2 (H, C)``, ``b2 (C,)``;
    the biases are absent when ``bias=False`` (the report's models).

    input_size, hidden_size, output_size: D, H, C.
    std: scale of the ``cs231n`` initialisation (ignored by the others).
    activation: a name from :data:`twolayer.nn.activations.ACTIVATIONS`.
    init: a name from :data:`twolayer.nn.init.INITIALISERS`.
    reg_convention: ``"full"`` (reg*sum W^2) or ``"half"`` (0.5*reg*sum W^2).
    dtype: float64 (default, for gradient checks) or float32 (fast training).
    rng / seed: where the initial weights come from; ``RandomState(0)`` gives
    the CS231n notebooks' weights exactly. Without either, seed 0.
    """

    def __init__(
        self,
        input_size,
        hidden_size,
        output_size,
        std=1e-4,
        *,
        activation="relu",
        activation_settings=None,
        **settings,
    ):
        sizes = positive_sizes(input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        self.input_size, self.hidden_size, self.output_size = sizes.values()
        self.activation = activation
        self.activation_settings = dict(activation_settings or {})
        self.act = get_activation(activation, **self.activation_settings)
        dt, gen = self._settle(std, settings)
        w1 = init_weights(self.init, gen, self.input_size, self.hidden_size, std=std)
        w2 = init_weights(self.init, gen, self.hidden_size, self.output_size, std=std)
        self.params = {"W1": np.ascontiguousarray(w1, dtype=dt)}
        if self.bias:
            self.params["b1"] = np.zeros(self.hidden_size, dtype=dt)
        self.params["W2"] = np.ascontiguousarray(w2, dtype=dt)
        if self.bias:
            self.params["b2"] = np.zeros(self.output_size, dtype=dt)

    # -- description -------------------------------------------------------
    kind = "twolayer"
    weight_names = ("W1", "W2")
    SIZES = ("input_size", "hidden_size", "output_size")
    SETTINGS = ("activation", "activation_settings", *Classifier.SETTINGS)

    @classmethod
    def sizes_from_params(cls, params):
        (d, h), c = np.shape(params["W1"]), np.shape(params["W2"])[1]
        return d, h, c

    # -- forward / backward (reference implementation) ---------------------
    def scores(self, X):
        """Class scores (N, C) for inputs X (N, D)."""
        return two_layer_forward(X, self.params, self.act, keep_cache=False)[0]

    def loss(self, X, y=None, reg=0.0):
        """CS231n's ``loss``: scores if ``y`` is None, else ``(loss, grads)``.

        X: (N, D); y: (N,) integer labels. The loss is the mean softmax
        cross-entropy plus the L2 penalty on W1 and W2 in this net's
        convention; ``grads`` has the keys of ``params``.
        """
        p = self.params
        if y is None:
            return self.scores(X)
        scores, cache = two_layer_forward(X, p, self.act)
        data_loss, dscores = softmax_loss(scores, y)
        loss = data_loss + l2_penalty((p["W1"], p["W2"]), reg, self.reg_convention)
        grads = two_layer_backward(dscores, cache)
        k = l2_grad_scale(reg, self.reg_convention)
        if k:
            grads["W1"] += k * p["W1"]
            grads["W2"] += k * p["W2"]
        return loss, {name: grads[name] for name in p}

    # -- CS231n training surface -------------------------------------------
    def train(
        self,
        X,
        y,
        X_val,
        y_val,
        learning_rate=1e-3,
        learning_rate_decay=0.95,
        reg=5e-6,
        num_iters=100,
        batch_size=200,
        verbose=False,
        seed=0,
    ):
        """CS231n's ``train``: SGD on minibatches drawn with replacement.

        The learning rate is multiplied by ``learning_rate_decay`` at the end
        of every epoch (``max(N / batch_size, 1)`` iterations), when the
        train and validation accuracies are recorded. Returns a dict with
        ``loss_history``, ``train_acc_history`` and ``val_acc_history``;
        the full :class:`twolayer.nn.train.History` is under ``"history"``.
        """
        from .train import TrainSettings, train_model

        steps_per_epoch = max(X.shape[0] // batch_size, 1)
        settings = TrainSettings(
            steps=num_iters,
            lr=learning_rate,
            reg=reg,
            batch_size=batch_size,
            sampling="with_replacement",
            schedule={"name": "step", "decay": learning_rate_decay, "every": steps_per_epoch},
            eval_every=steps_per_epoch,
            log_every=1,
            verbose_every=100 if verbose else 0,
        )
        hist = train_model(self, X, y, X_val, y_val, settings, seed=seed)
        return {**hist.as_cs231n(), "history": hist}
