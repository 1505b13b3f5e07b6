"""What every classifier here shares: parameters by name, chunked prediction,
the settings that rebuild it, dtypes and random generators.

Subclasses set ``kind`` (the name a config uses), ``weight_names`` (the
penalised parameters) and ``SIZES`` (the constructor's size arguments), and
implement ``scores(X)`` (N, D) -> (N, C), ``loss(X, y, reg)`` and
``param_shapes()``. Prediction and accuracy run over ``X`` in row chunks, so
evaluating 60,000 examples never materialises more than ``chunk_size`` rows of
hidden activations at once.
"""

from __future__ import annotations

import inspect

import numpy as np

from .regularization import l2_coefficient

DEFAULT_CHUNK = 4096
DTYPES = {"float32": np.float32, "float64": np.float64}
#: the keyword settings every model's constructor takes, with their defaults (one place: each
#: constructor takes them as ``**settings`` and shows them in its signature)
MODEL_SETTINGS = {"bias": True, "init": "cs231n", "reg_convention": "full", "dtype": np.float64, "rng": None,
                  "seed": None}


def resolve_dtype(dtype):
    """np.float32 / np.float64 from a dtype or its name; anything else is refused."""
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; valid dtypes are: {', '.join(DTYPES)}")
        return np.dtype(DTYPES[dtype])
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def make_rng(rng=None, seed=None):
    """A random generator from an explicit ``rng`` or ``seed`` (default seed 0, never global state)."""
    if rng is not None:
        return rng
    return np.random.default_rng(0 if seed is None else seed)


def positive_sizes(**sizes):
    """The sizes as ints; a size that is not a positive integer is refused, by name."""
    for name, value in sizes.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return {name: int(value) for name, value in sizes.items()}


class Classifier:
    """Base class: ``params`` is a dict of named arrays, updated in place by training."""

    params: dict
    kind: str = ""  # the model's name in configs and model files
    SIZES: tuple = ()  # the constructor's positional size arguments, by attribute name
    SETTINGS: tuple = ("bias", "init", "std", "reg_convention")  # keyword settings that rebuild it

    def describe(self):
        """The settings that rebuild this model (stored in model files): kind, sizes, settings, dtype."""
        out = {"kind": self.kind}
        out.update({name: getattr(self, name) for name in (*self.SIZES, *self.SETTINGS)})
        out["dtype"] = str(self.dtype)
        return out

    @classmethod
    def from_params(cls, params, **settings):
        """A model holding copies of the given arrays; sizes are read from their shapes."""
        shapes = cls.sizes_from_params(params)
        settings.setdefault("bias", any(name.startswith("b") for name in params))
        settings.setdefault("dtype", np.asarray(next(iter(params.values()))).dtype)
        model = cls(*shapes, **settings)
        model.set_params(**{k: v for k, v in params.items() if k in model.params})
        return model

    @classmethod
    def sizes_from_params(cls, params):
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs):
        """A model's signature shows :data:`MODEL_SETTINGS` in place of its ``**settings``."""
        super().__init_subclass__(**kwargs)
        own = list(inspect.signature(cls.__init__).parameters.values())[1:]
        if own and own[-1].kind is inspect.Parameter.VAR_KEYWORD:
            shared = [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in MODEL_SETTINGS.items()]
            cls.__signature__ = inspect.Signature(own[:-1] + shared)

    def _settle(self, std, settings):
        """Record the settings every model has (:data:`MODEL_SETTINGS`, the L2 convention's name
        checked) and return the weights' dtype and the generator they are drawn from."""
        unknown = set(settings) - set(MODEL_SETTINGS)
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        s = {**MODEL_SETTINGS, **settings}
        l2_coefficient(s["reg_convention"])
        self.bias, self.init, self.std, self.reg_convention = bool(s["bias"]), s["init"], std, s["reg_convention"]
        return resolve_dtype(s["dtype"]), make_rng(s["rng"], s["seed"])

    @property
    def num_classes(self):
        return self.output_size

    @property
    def dtype(self):
        return next(iter(self.params.values())).dtype

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
