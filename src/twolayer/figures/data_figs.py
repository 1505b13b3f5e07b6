"""Looking at the data: samples per class, and the spiral's decision boundaries."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..aggregate import ranked, read_table
from ..data.store import load_split, read_attrs
from ..modelio import ModelFile
from .pixels import to_images
from .style import bare_axes

PER_CLASS = 8


def draw_samples(study, data):
    attrs = read_attrs(data)
    classes = attrs["classes"]
    X, y = load_split(data, "train")
    if len(attrs["image_shape"]) < 2:  # feature data: a scatter of the training set
        fig, ax = plt.subplots(figsize=(3.2, 3.0))
        for c in range(len(classes)):
            pts = X[y == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=6, label=classes[c])
        ax.set_aspect("equal")
        ax.legend(frameon=False, title="class", markerscale=2)
        ax.set_title(f"{study}: training data (n={len(y)})")
        return fig
    idx = [np.flatnonzero(y == c)[:PER_CLASS] for c in range(len(classes))]
    imgs = to_images(X[np.concatenate(idx)], data)
    gray = imgs.ndim == 3
    fig, axes = plt.subplots(len(classes), PER_CLASS, figsize=(PER_CLASS * 0.55, len(classes) * 0.55), squeeze=False)
    k = 0
    for c, rows in enumerate(idx):
        for j in range(PER_CLASS):
            ax = axes[c, j]
            bare_axes(ax)
            if j < len(rows):
                ax.imshow(imgs[k], cmap="gray" if gray else None, vmin=0, vmax=1, interpolation="nearest")
                k += 1
        axes[c, 0].set_ylabel(classes[c], rotation=0, ha="right", va="center", fontsize=6)
    fig.suptitle(f"{study}: training samples per class")
    return fig


def _best_by_model(df):
    """The best model of each kind (linear, twolayer), by the winner's rule."""
    order = ranked(df)
    return {kind: g.iloc[0] for kind, g in order.groupby("model", sort=False)}


def draw_boundaries(study, table, data):
    df = read_table(table)
    best = _best_by_model(df)
    X, y = load_split(data, "train")
    kinds = [k for k in ("linear", "twolayer") if k in best] or list(best)
    fig, axes = plt.subplots(1, max(len(kinds), 1), figsize=(3.2 * max(len(kinds), 1), 3.0), squeeze=False)
    lo, hi = X.min(axis=0) - 0.2, X.max(axis=0) + 0.2
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300))
    grid = np.c_[xx.ravel(), yy.ravel()]
    for ax, kind in zip(axes.flat, kinds):
        row = best[kind]
        model = ModelFile(row["model_file"]).build()
        z = model.predict(grid.astype(model.dtype)).reshape(xx.shape)
        ax.contourf(xx, yy, z, levels=np.arange(z.max() + 2) - 0.5, cmap="Spectral", alpha=0.35)
        ax.scatter(X[:, 0], X[:, 1], c=y, s=6, cmap="Spectral", edgecolors="none")
        acc = model.accuracy(X.astype(model.dtype), y)
        ax.set_title(f"{kind}: {row['point']}\ntrain acc {100 * acc:.1f}%, val acc {100 * row['val_acc']:.1f}%", fontsize=7)
        ax.set_aspect("equal")
    if not kinds:
        axes[0, 0].text(0.5, 0.5, "every model diverged", ha="center", va="center")
    fig.suptitle(f"{study}: decision boundaries")
    fig.tight_layout()
    return fig
