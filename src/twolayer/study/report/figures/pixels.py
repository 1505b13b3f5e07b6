"""From stored (normalised, flattened) rows back to images, using the constants in the data file."""

from __future__ import annotations

import numpy as np

from ....data.store import load_preprocess, read_attrs


def to_images(X, data):
    """Rows of X (N, D) -> images in [0, 1] of the dataset's image shape."""
    attrs = read_attrs(data)
    pre = load_preprocess(data)
    norm = attrs.get("normalisation") or {}
    kind = norm.get("kind")
    X = np.asarray(X, dtype=np.float64)
    if kind in ("standardise", "standardise_train"):
        pix = (X * norm["std_scalar"] + norm["mean_scalar"]) * 255.0
    elif kind == "mean_image":
        pix = X + pre["mean"]
    elif kind == "zscore":
        pix = X * pre["std"] + pre["mean"]
    else:
        pix = X
    shape = tuple(attrs["image_shape"])
    return np.clip(pix / 255.0, 0, 1).reshape(-1, *shape)


def normalise_each(images):
    """Scale every image to [0, 1] on its own (for weights, whose scale is arbitrary)."""
    flat = images.reshape(images.shape[0], -1)
    lo = flat.min(axis=1, keepdims=True)
    hi = flat.max(axis=1, keepdims=True)
    return ((flat - lo) / np.maximum(hi - lo, 1e-12)).reshape(images.shape)
