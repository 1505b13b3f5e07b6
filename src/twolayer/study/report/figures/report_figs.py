"""The report's figures 2 to 4 as the report (``002_...``) drew them, beside this project's own.

* ``curves_report`` (its Fig. 2): loss on the whole training set and on the validation set,
  without the regulariser, and train/validation accuracy, at 51 points over training
  (from the winner's replay, :mod:`twolayer.study.run.trace`);
* ``w1_pca_report`` (its Fig. 3): the report's PCA, ``PCA(10).fit_transform(W1)`` with the
  784 pixels as the samples and the hidden units as the features: a (784, 10) array, read as
  ten 28x28 images, and a close-up of the first (its Fig. 3(b));
* ``w2_report`` (its Fig. 4): each column of W2 (one per class), its first 272 of 275
  entries as a 16x17 image.

The arrays come from functions (:func:`report_pca`, :func:`w2_images`) that the tests
check against independent computations; the drawing only shows them.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import StrMethodFormatter

from ....data.store import read_attrs
from ...run.trace import read_trace
from ...render.labels import winner_text
from .pixels import normalise_each
from .style import title
from .weights import _empty, _first_layer, _winner_model, class_image_figure


def report_pca(W1, k=10):
    """``sklearn.decomposition.PCA(k).fit_transform(W1)``: rows (pixels) are the samples.

    W1: (D, H). The columns are centred (each hidden unit's mean over the pixels), the
    centred matrix is projected on its top-k right singular vectors, and each component's
    sign follows the ``svd_flip`` of the report's scikit-learn (2022: the largest |value| of
    each column of U is positive; scikit-learn 1.5 and later decide by V, which may invert an
    image's contrast, nothing else). Returns ``(T, ratio)``: T (D, k), the share of variance of each component."""
    W = np.asarray(W1, dtype=np.float64)
    Wc = W - W.mean(axis=0)
    U, s, _ = np.linalg.svd(Wc, full_matrices=False)
    signs = np.sign(U[np.abs(U).argmax(axis=0), np.arange(U.shape[1])])
    signs[signs == 0] = 1.0
    T = U[:, :k] * s[:k] * signs[:k]
    return T, s[:k] ** 2 / np.sum(s**2)


def w2_images(W2, shape=(16, 17)):
    """W2 (H, C) -> C images of ``shape``: column c's first rows*cols entries, row by row
    (the report: 275 entries, the last three dropped, as 16x17)."""
    W2 = np.asarray(W2, dtype=np.float64)
    n = shape[0] * shape[1]
    if W2.shape[0] < n:
        raise ValueError(f"W2 has {W2.shape[0]} rows; a {shape[0]}x{shape[1]} image needs {n}")
    return W2[:n].T.reshape(-1, *shape)


def w2_shape(hidden):
    """The report's 16x17 for 275 hidden units; for others, the most square rows x cols <= hidden."""
    rows = int(np.floor(np.sqrt(hidden)))
    cols = hidden // rows
    return (16, 17) if hidden == 275 else (rows, cols)


def draw_curves_report(study, trace, winner):
    tr = read_trace(trace)
    w = json.loads(Path(winner).read_text())
    if not tr.get("point"):
        return _empty(study, "no winner: every model diverged")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.0, 2.8), layout="constrained")
    steps = tr["step"]
    ax1.plot(steps, tr["train_loss"], lw=1, marker="o", ms=2, label=f"training set ({tr['n_train']:,})")
    ax1.plot(steps, tr["val_loss"], lw=1, marker="s", ms=2, label=f"validation set ({tr['n_val']:,})")
    ax1.set_ylabel("cross-entropy (no regulariser)")
    ax1.set_title("loss")
    ax2.plot(steps, 100 * tr["train_acc"], lw=1, marker="o", ms=2, label="training set")
    ax2.plot(steps, 100 * tr["val_acc"], lw=1, marker="s", ms=2, label="validation set")
    ax2.set_ylabel("accuracy (%)")
    ax2.set_title("accuracy")
    for ax in (ax1, ax2):
        ax.set_xlabel("training step")
        ax.set_xlim(left=0)
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.legend(frameon=False)
    title(fig, f"{study}: the winner on the whole sets, as the report's Fig. 2 ({len(steps)} points)\n{winner_text(w)}")
    return fig


def draw_w1_pca_report(study, winner, data):
    mf, w = _winner_model(winner)
    if mf is None:
        return _empty(study, "no winner: every model diverged")
    shape = tuple(read_attrs(data)["image_shape"])
    W1 = _first_layer(mf)
    k = min(10, *W1.shape)  # a net with fewer than 10 hidden units has fewer components
    T, ratio = report_pca(W1, k=k)
    imgs = normalise_each(T.T.reshape(-1, *shape))
    fig = plt.figure(figsize=(8.0, 3.6), layout="constrained")
    grid, close = fig.subfigures(1, 2, width_ratios=[5, 2.2])
    axes = grid.subplots(2, 5)
    for i, ax in enumerate(axes.flat):
        if i >= k:
            ax.axis("off")
            continue
        ax.imshow(imgs[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"PC{i + 1} ({100 * ratio[i]:.1f}%)", pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
    grid.suptitle(f"(a) PCA({k}).fit_transform(W1), pixels as samples")
    ax = close.subplots()
    ax.imshow(imgs[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    close.suptitle("(b) close-up of PC1")
    title(fig, f"{study}: W1 of the winner by the report's PCA (its Fig. 3)\n{winner_text(w)}")
    return fig


def draw_w2_report(study, winner, data):
    def images(params, attrs):
        W2 = params["W2"]
        shape = w2_shape(W2.shape[0])
        kept = shape[0] * shape[1]
        which = f"all {kept}" if kept == W2.shape[0] else f"its first {kept} of {W2.shape[0]}"
        return (w2_images(W2, shape), f"each column of W2 (one per class) as a {shape[0]}x{shape[1]} image "
                f"({which} entries), as the report's Fig. 4")

    return class_image_figure(study, winner, data, images)
