"""What every classifier here shares: parameters by name, chunked prediction.

Subclasses implement ``scores(X)`` (N, D) -> (N, C) and ``loss(X, y, reg)``.
Prediction and accuracy run over ``X`` in row chunks, so evaluating 60,000
examples never materialises more than ``chunk_size`` rows of hidden
activations at once.
"""

from __future__ import annotations

import numpy as np

DEFAULT_CHUNK = 4096


class Classifier:
    """Base class: ``params`` is a dict of named arrays, updated in place by training."""

    params: dict

    @property
    def dtype(self):
        return next(iter(self.params.values())).dtype

    @property
    def num_classes(self):
        raise NotImplementedError

    def scores(self, X):
        raise NotImplementedError

    def predict(self, X, chunk_size=DEFAULT_CHUNK):
        """Predicted labels (N,) as int64, computed chunk by chunk."""
        n = X.shape[0]
        out = np.empty(n, dtype=np.int64)
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            out[start:stop] = self.scores(X[start:stop]).argmax(axis=1)
        return out

    def accuracy(self, X, y, chunk_size=DEFAULT_CHUNK):
        """Fraction of rows of X whose predicted label equals y (a Python float)."""
        n = X.shape[0]
        if n == 0:
            raise ValueError("accuracy of an empty set is undefined")
        correct = 0
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            pred = self.scores(X[start:stop]).argmax(axis=1)
            correct += int(np.count_nonzero(pred == y[start:stop]))
        return correct / n

    def confusion_matrix(self, X, y, chunk_size=DEFAULT_CHUNK):
        """(C, C) int64 counts: row = true class, column = predicted class."""
        c = self.num_classes
        cm = np.zeros((c, c), dtype=np.int64)
        pred = self.predict(X, chunk_size=chunk_size)
        np.add.at(cm, (np.asarray(y, dtype=np.int64), pred), 1)
        return cm

    def params_finite(self):
        """True when no parameter holds a NaN or an infinity."""
        return all(bool(np.isfinite(p).all()) for p in self.params.values())

    def copy_params(self):
        return {k: v.copy() for k, v in self.params.items()}

    def set_params(self, **arrays):
        """Copy given arrays into the parameters (same names and shapes; cast to the net's dtype)."""
        for name, value in arrays.items():
            if name not in self.params:
                valid = ", ".join(self.params)
                raise KeyError(f"unknown parameter {name!r}; this model has: {valid}")
            value = np.asarray(value)
            if value.shape != self.params[name].shape:
                raise ValueError(
                    f"parameter {name} must have shape {self.params[name].shape}, got {value.shape}"
                )
            np.copyto(self.params[name], value, casting="same_kind")
        return self
