"""One look for every figure: print resolution, small type, a shared colour map."""

from __future__ import annotations

import contextlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 300
CMAP = "viridis"
DIVERGED = "#bbbbbb"
RC = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": CMAP,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "path.simplify": True,
    "svg.hashsalt": "twolayer",
}


@contextlib.contextmanager
def style():
    with plt.rc_context(RC):
        yield


def save(fig, path):
    # no timestamp or version in the PNG metadata: the same data give the same file
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def bare_axes(ax):
    """No ticks, no frame: for axes that show an image."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def grid_shape(n, max_cols=10):
    cols = min(n, max_cols)
    rows = -(-n // cols)
    return rows, cols
