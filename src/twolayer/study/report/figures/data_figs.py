"""Looking at the data: samples per class, and the spiral's decision boundaries."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ....data.store import load_split, read_attrs
from ...analysis.aggregate import ranked, read_table
from ...run.modelio import ModelFile
from ...render.labels import describe, varying_axes
from .pixels import to_images
from .style import SMALL, class_colors, image_grid, title

PER_CLASS = 8
GRID_POINTS = 300  # boundary grid resolution per axis
MARGIN = 0.2  # beyond the data, in feature units


def class_label(name):
    """Legend text of a class: "class 0" for bare numbers, else the class name."""
    return f"class {name}" if str(name).isdigit() else str(name)


def _class_legend(fig_or_ax, classes, **kw):
    colors = class_colors(len(classes))
    handles = [Line2D([], [], ls="", marker="o", ms=5, mfc=colors[c], mec="white", mew=0.4, label=class_label(classes[c]))
               for c in range(len(classes))]
    return fig_or_ax.legend(handles=handles, frameon=False, **kw)


def draw_samples(study, data):
    attrs = read_attrs(data)
    classes = attrs["classes"]
    X, y = load_split(data, "train")
    if len(attrs["image_shape"]) < 2:  # feature data: a scatter of the training set
        fig, ax = plt.subplots(figsize=(3.6, 3.0), layout="constrained")
        colors = class_colors(len(classes))
        for c in range(len(classes)):
            pts = X[y == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=9, color=colors[c], edgecolors="white", linewidths=0.3)
        ax.set_aspect("equal")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        _class_legend(ax, classes, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        title(fig, f"{study}: training data (n = {len(y):,})")
        return fig
    idx = [np.flatnonzero(y == c)[:PER_CLASS] for c in range(len(classes))]
    imgs = to_images(X[np.concatenate(idx)], data)
    gray = imgs.ndim == 3
    label_w = max(len(str(c)) for c in classes) * 0.56 * SMALL / 72 + 0.12
    fig, axes = image_grid(len(classes), PER_CLASS, 0.55, f"{study}: the first {PER_CLASS} training examples of each class",
                           left=label_w)
    k = 0
    for c, rows in enumerate(idx):
        for j in range(PER_CLASS):
            if j < len(rows):
                axes[c, j].imshow(imgs[k], cmap="gray" if gray else None, vmin=0, vmax=1, interpolation="nearest")
                k += 1
        axes[c, 0].set_ylabel(classes[c], rotation=0, ha="right", va="center", fontsize=SMALL)
    return fig


def _best_by_model(df):
    """The best model of each kind (linear, twolayer), by the winner's rule."""
    order = ranked(df)
    return {kind: g.iloc[0] for kind, g in order.groupby("model", sort=False)}


@dataclass
class BoundaryPanel:
    kind: str  # "linear" or "twolayer"
    point: str
    title: str  # e.g. "Two-layer net (100 hidden units, λ = 10⁻³)\ntraining accuracy 98.7%, validation 98.3%"
    xx: np.ndarray  # (n, n) grid coordinates
    yy: np.ndarray
    z: np.ndarray  # (n, n) the predicted class at each grid point
    train_acc: float
    val_acc: float


def boundary_grid(X, n=GRID_POINTS, margin=MARGIN):
    """The (n, n) mesh covering the data plus ``margin``, and its points as rows (n*n, 2)."""
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    return xx, yy, np.c_[xx.ravel(), yy.ravel()]


def boundary_title(row, table_varying, train_acc):
    """Readable panel title: the model and the hyperparameters the study varies, then its accuracies."""
    axes = ["model"] + [a for a in ("activation", "hidden", "lr", "reg") if a in table_varying or a == "reg"]
    return f"{describe(row, axes)}\ntraining accuracy {100 * train_acc:.1f}%, validation {100 * float(row['val_acc']):.1f}%"


def boundary_panels(df, X, y, n=GRID_POINTS):
    """One panel per model kind (linear first): its best model's predicted class over a grid."""
    best = _best_by_model(df)
    kinds = [k for k in ("linear", "twolayer") if k in best] + [k for k in best if k not in ("linear", "twolayer")]
    varying = varying_axes(df)
    xx, yy, pts = boundary_grid(X, n)
    panels = []
    for kind in kinds:
        row = best[kind]
        model = ModelFile(row["model_file"]).build()
        z = np.asarray(model.predict(pts.astype(model.dtype))).reshape(xx.shape)
        acc = float(model.accuracy(X.astype(model.dtype), y))
        panels.append(BoundaryPanel(kind, row["point"], boundary_title(row, varying, acc), xx, yy, z, acc, float(row["val_acc"])))
    return panels


def draw_boundaries(study, table, data):
    df = read_table(table)
    classes = read_attrs(data)["classes"]
    X, y = load_split(data, "train")
    panels = boundary_panels(df, X, y)
    k = max(len(panels), 1)
    fig, axes = plt.subplots(1, k, figsize=(3.3 * k + 0.9, 3.6), squeeze=False, layout="constrained",
                             sharex=True, sharey=True)
    colors = class_colors(len(classes))
    cmap = ListedColormap(colors)
    for ax, p in zip(axes.flat, panels):
        extent = (p.xx.min(), p.xx.max(), p.yy.min(), p.yy.max())
        ax.imshow(p.z, extent=extent, origin="lower", cmap=cmap, vmin=-0.5, vmax=len(classes) - 0.5,
                  alpha=0.3, interpolation="nearest", aspect="equal")
        ax.scatter(X[:, 0], X[:, 1], c=[colors[c] for c in y], s=9, edgecolors="white", linewidths=0.3)
        ax.set_title(p.title)
        ax.set_xlabel("x₁")
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.yaxis.set_major_locator(MaxNLocator(5))
    axes[0, 0].set_ylabel("x₂")
    if not panels:
        axes[0, 0].text(0.5, 0.5, "every model diverged", ha="center", va="center", transform=axes[0, 0].transAxes)
        axes[0, 0].axis("off")
    else:
        _class_legend(fig, classes, loc="outside right center", title="training data")
    title(fig, f"{study}: decision boundaries of the best model of each kind (shaded: predicted class)")
    return fig
