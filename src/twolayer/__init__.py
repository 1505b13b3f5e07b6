"""twolayer: a reproducible study of two-layer neural networks in NumPy.

Importing the package is cheap: the names below are loaded on first use
(PEP 562), so ``twolayer`` CLI commands can limit BLAS threads before NumPy
is imported.
"""

__version__ = "0.1.0"

_LAZY = {
    "TwoLayerNet": "twolayer.nn.net",
    "LinearSoftmax": "twolayer.nn.linear",
    "TrainSettings": "twolayer.nn.train",
    "History": "twolayer.nn.train",
    "train_model": "twolayer.nn.train",
    "make_optimizer": "twolayer.nn.optim",
    "make_schedule": "twolayer.nn.schedules",
    "relative_error": "twolayer.nn.gradcheck",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'twolayer' has no attribute {name!r}")
