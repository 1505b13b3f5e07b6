"""One look for every figure: print resolution, one set of type sizes, shared colours.

Type sizes are in points at the saved size (300 dpi, no rescaling): every
figure's title is :data:`TITLE_SIZE`, panel titles :data:`PANEL_TITLE_SIZE`,
and nothing is smaller than :data:`SMALL` (tick labels, legends, cell
annotations). Drawers never pass their own ``fontsize``; they use these.
"""

from __future__ import annotations

import contextlib
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

DPI = 300
CMAP = "viridis"
DIVERGED = "#bbbbbb"  # heat-map cells of models that diverged: grey, hatched
NOT_RUN = "#efefef"  # heat-map cells of grid points absent from the table: light grey, "n/a"

TITLE_SIZE = 9  # every figure's title (fig.suptitle through :func:`title`)
PANEL_TITLE_SIZE = 8  # the title of one panel of a figure
LABEL_SIZE = 8  # axis labels, colour-bar labels
SMALL = 7  # tick labels, legends, annotations: the smallest type anywhere
ANNOTATION_SIZE = SMALL

# class colours (a qualitative palette, the same in every figure of a study)
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

RC = {
    "font.size": LABEL_SIZE,
    "axes.titlesize": PANEL_TITLE_SIZE,
    "axes.labelsize": LABEL_SIZE,
    "xtick.labelsize": SMALL,
    "ytick.labelsize": SMALL,
    "legend.fontsize": SMALL,
    "legend.title_fontsize": SMALL,
    "figure.titlesize": TITLE_SIZE,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": CMAP,
    "hatch.color": "white",
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
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


def wrap(text, width_in, size=TITLE_SIZE):
    """``text`` broken into lines that fit ``width_in`` inches at ``size`` points (existing breaks kept)."""
    chars = max(20, int(width_in * 72 / (0.56 * size)))
    return "\n".join(textwrap.fill(line, chars, break_on_hyphens=False) for line in str(text).split("\n"))


def title(fig, text):
    """The figure's title: above every panel and colour bar, at :data:`TITLE_SIZE`, wrapped to the figure's width."""
    return fig.suptitle(wrap(text, fig.get_figwidth()), fontsize=TITLE_SIZE)


def image_grid(rows, cols, size, heading, *, left=0.05, captions=False, gap=0.06):
    """A figure of ``rows`` x ``cols`` square image axes of ``size`` inches, margins in inches.

    ``left``: room for row labels; ``captions``: room above every image for a
    one-line panel title; the figure's title ``heading`` sits just above, so
    there is no gap between it and the images whatever the number of rows.
    """
    right, bottom = 0.05, 0.05
    cap = 0.2 if captions else 0.0
    width = left + cols * size + (cols - 1) * gap + right
    text = wrap(heading, width)
    top = 0.1 + 0.17 * (text.count("\n") + 1)
    height = top + cap + rows * size + (rows - 1) * (gap + cap) + bottom
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - (top + cap) / height, wspace=gap / size, hspace=(gap + cap) / size)
    fig.suptitle(text, fontsize=TITLE_SIZE, y=1 - 0.05 / height, va="top")
    for ax in axes.flat:
        bare_axes(ax)
    return fig, axes


def class_colors(n):
    """``n`` class colours (cycled beyond 10)."""
    return [CLASS_COLORS[i % len(CLASS_COLORS)] for i in range(n)]


def text_color(rgb):
    """Black or white, whichever reads better on a background of colour ``rgb``."""
    r, g, b = to_rgb(rgb)
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white"


def bare_axes(ax):
    """No ticks, no frame: for axes that show an image."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def grid_shape(n, max_cols=10):
    cols = max(1, min(n, max_cols))
    rows = -(-n // cols)
    return rows, cols
