"""Model kinds by name: what a config's ``model.kind`` and a model file's ``kind`` mean."""

from __future__ import annotations

from .linear import LinearSoftmax
from .net import TwoLayerNet

MODELS = {cls.kind: cls for cls in (TwoLayerNet, LinearSoftmax)}


def get_model(kind):
    """The model class called ``kind``; raises ``ValueError`` listing the valid names."""
    try:
        return MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; valid kinds are: {', '.join(MODELS)}") from None
