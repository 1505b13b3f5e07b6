"""The winner's weights as pictures: CS231n's hidden units, the report's figures 3 to 5."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ....data.store import read_attrs
from ...run.modelio import ModelFile
from ...render.labels import winner_text
from .pixels import normalise_each
from .style import grid_shape, image_grid, title


def _winner_model(winner):
    w = json.loads(Path(winner).read_text())
    if w.get("point") is None:
        return None, w
    return ModelFile(w["model_file"]), w


def _two_layer_winner(study, winner):
    """``(model file, winner record, None)``, or ``(None, None, figure saying why)`` when the
    winner has no second layer (no winner at all, or a linear one)."""
    mf, w = _winner_model(winner)
    if mf is None or "W2" not in mf.params:
        return None, None, _empty(study, "no second layer: no winner, or a linear winner")
    return mf, w, None


def _empty(study, msg):
    fig, ax = plt.subplots(figsize=(3, 1.2), layout="constrained")
    ax.text(0.5, 0.5, msg, ha="center", va="center")
    ax.axis("off")
    title(fig, study)
    return fig


def _image_grid(images, heading, titles=None, gray=True, max_cols=10, size=0.6):
    rows, cols = grid_shape(len(images), max_cols)
    fig, axes = image_grid(rows, cols, size, heading, captions=bool(titles))
    for k, ax in enumerate(axes.flat):
        if k < len(images):
            ax.imshow(images[k], cmap="gray" if gray else None, vmin=0, vmax=1, interpolation="nearest")
            if titles:
                ax.set_title(titles[k], pad=2)
        else:
            ax.axis("off")
    return fig


def _first_layer(mf):
    return mf.params["W1"] if "W1" in mf.params else mf.params["W"]


def draw_w1_images(study, winner, data):
    """Every hidden unit's incoming weights as a colour image (CS231n's show_net_weights)."""
    mf, w = _winner_model(winner)
    if mf is None:
        return _empty(study, "no winner: every model diverged")
    shape = tuple(read_attrs(data)["image_shape"])
    imgs = w1_images(_first_layer(mf), shape)
    heading = f"{study}: first-layer weights (W1) of the winner, one image per hidden unit\n{winner_text(w)}"
    return _image_grid(imgs, heading, gray=False, max_cols=int(np.ceil(np.sqrt(len(imgs)))), size=0.4)


def w1_images(W1, shape):
    """W1 (D, H) -> H images of ``shape``, each scaled to [0, 1] on its own."""
    return normalise_each(np.asarray(W1, dtype=np.float64).T.reshape(-1, *shape))


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
        return _empty(study, "no winner: every model diverged")
    shape = tuple(read_attrs(data)["image_shape"])
    comps, var = pca_components(_first_layer(mf).astype(np.float64), k=10)
    imgs = normalise_each(comps.reshape(-1, *shape))
    titles = pca_titles(var)
    heading = f"{study}: first-layer weights (W1) of the winner by PCA: 10 components (share of variance)\n{winner_text(w)}"
    return _image_grid(imgs, heading, titles, max_cols=5, size=1.0)


def pca_titles(var):
    """"PC1 (3.1%)", ...: each component and its share of the variance."""
    return [f"PC{i + 1} ({100 * v:.1f}%)" for i, v in enumerate(var)]


def draw_w2(study, winner, data):
    """Report figure 4: W2 (H, C) as an image, hidden units down, classes across."""
    mf, w, empty = _two_layer_winner(study, winner)
    if empty:
        return empty
    classes = read_attrs(data)["classes"]
    W2 = mf.params["W2"]
    lim = float(np.abs(W2).max()) or 1.0
    fig, ax = plt.subplots(figsize=(0.3 * len(classes) + 1.8, 4.2), layout="constrained")
    im = ax.imshow(W2, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_xticks(range(len(classes)), classes, rotation=90)
    ax.set_xlabel("class")
    ax.set_ylabel("hidden unit")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.colorbar(im, ax=ax, shrink=0.8, aspect=25).set_label("weight (red: positive, blue: negative)")
    title(fig, f"{study}: second-layer weights (W2) of the winner\n{winner_text(w)}")
    return fig


def class_image_figure(study, winner, data, images):
    """One image per class from the winner's weights, in a grid: ``images(params, attrs)`` returns
    the images (C, h, w) and what they are (the title's first line)."""
    mf, w, empty = _two_layer_winner(study, winner)
    if empty:
        return empty
    attrs = read_attrs(data)
    imgs, what = images(mf.params, attrs)
    return _image_grid(normalise_each(imgs), f"{study}: {what}\n{winner_text(w)}", attrs["classes"], max_cols=5, size=1.0)


def draw_templates(study, winner, data):
    """Report figure 5: the class templates W1 @ W2 (D, C), each column as a 28x28 image."""

    def images(params, attrs):
        shape = tuple(attrs["image_shape"])
        return (class_templates(params).T.reshape(-1, *shape),
                "class templates W1 W2 of the winner (bright: pixels that favour the class)")

    return class_image_figure(study, winner, data, images)


def class_templates(params):
    """W1 @ W2 (D, C): each class's linear template, ignoring the nonlinearity and biases."""
    return np.asarray(params["W1"], dtype=np.float64) @ np.asarray(params["W2"], dtype=np.float64)
