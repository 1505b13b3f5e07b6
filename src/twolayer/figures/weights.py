"""The winner's weights as pictures: CS231n's hidden units, the report's figures 3 to 5."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..data.store import read_attrs
from ..modelio import ModelFile
from .pixels import normalise_each
from .style import bare_axes, grid_shape


def _winner_model(winner):
    w = json.loads(Path(winner).read_text())
    if w.get("point") is None:
        return None, w
    return ModelFile(w["model_file"]), w


def _empty(msg):
    fig, ax = plt.subplots(figsize=(3, 1.5))
    ax.text(0.5, 0.5, msg, ha="center", va="center")
    ax.axis("off")
    return fig


def _image_grid(images, titles=None, gray=True, suptitle="", max_cols=10, size=0.6):
    rows, cols = grid_shape(len(images), max_cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        bare_axes(ax)
        if k < len(images):
            ax.imshow(images[k], cmap="gray" if gray else None, vmin=0, vmax=1, interpolation="nearest")
            if titles:
                ax.set_title(titles[k], fontsize=5)
    fig.suptitle(suptitle)
    return fig


def _first_layer(mf):
    return mf.params["W1"] if "W1" in mf.params else mf.params["W"]


def draw_w1_images(study, winner, data):
    """Every hidden unit's incoming weights as a colour image (CS231n's show_net_weights)."""
    mf, w = _winner_model(winner)
    if mf is None:
        return _empty("no winner")
    shape = tuple(read_attrs(data)["image_shape"])
    W1 = _first_layer(mf).astype(np.float64)
    imgs = normalise_each(W1.T.reshape(-1, *shape))
    return _image_grid(imgs, gray=False, max_cols=int(np.ceil(np.sqrt(len(imgs)))), size=0.35,
                       suptitle=f"{study}: first-layer weights of {w['point']}")


def pca_components(W1, k=10):
    """The top-k principal directions of the hidden units' weight vectors, (k, D), sign-fixed."""
    U = W1.T - W1.T.mean(axis=0)
    _, s, vt = np.linalg.svd(U, full_matrices=False)
    comps = vt[:k]
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    return comps * signs[:, None], s[:k] ** 2 / np.sum(s**2)


def draw_w1_pca(study, winner, data):
    """Report figure 3: W1 (D, H) reduced by PCA to 10 components, each as a 28x28 image."""
    mf, w = _winner_model(winner)
    if mf is None:
        return _empty("no winner")
    shape = tuple(read_attrs(data)["image_shape"])
    comps, var = pca_components(_first_layer(mf).astype(np.float64), k=10)
    imgs = normalise_each(comps.reshape(-1, *shape))
    titles = [f"PC{i + 1} ({100 * v:.0f}%)" for i, v in enumerate(var)]
    return _image_grid(imgs, titles, suptitle=f"{study}: PCA of W1 ({w['point']})", max_cols=5, size=1.0)


def draw_w2(study, winner, data):
    """Report figure 4: W2 (H, C) as an image, hidden units down, classes across."""
    mf, w = _winner_model(winner)
    if mf is None or "W2" not in mf.params:
        return _empty("no second layer")
    classes = read_attrs(data)["classes"]
    W2 = mf.params["W2"]
    lim = float(np.abs(W2).max()) or 1.0
    fig, ax = plt.subplots(figsize=(3.2, 4.0))
    im = ax.imshow(W2, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_xticks(range(len(classes)), classes, rotation=90)
    ax.set_ylabel("hidden unit")
    fig.colorbar(im, ax=ax, shrink=0.8).set_label("weight")
    ax.set_title(f"{study}: W2 ({w['point']})", fontsize=7)
    return fig


def draw_templates(study, winner, data):
    """Report figure 5: the class templates W1 @ W2 (D, C), each column as a 28x28 image."""
    mf, w = _winner_model(winner)
    if mf is None or "W2" not in mf.params:
        return _empty("no second layer")
    attrs = read_attrs(data)
    shape = tuple(attrs["image_shape"])
    T = mf.params["W1"].astype(np.float64) @ mf.params["W2"].astype(np.float64)
    imgs = normalise_each(T.T.reshape(-1, *shape))
    return _image_grid(imgs, attrs["classes"], suptitle=f"{study}: class templates W1 W2 ({w['point']})", max_cols=5, size=1.0)
