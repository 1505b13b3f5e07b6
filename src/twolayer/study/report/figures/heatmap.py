"""Validation accuracy over the grid, and the winner's test confusion matrix.

The heat map's layout follows the study's grid (:func:`heatmap_data`):

* cell columns: the L2 strength λ if the grid varies it, else the step size η;
* cell rows: η if both vary, one panel per combination of the other varying
  axes (activation, hidden size, ...); otherwise one panel whose rows are those
  combinations ("configurations": e.g. the spiral's linear softmax and two-layer
  nets of each hidden size).

Every cell is one of: the model's validation accuracy (annotated, in %),
"diverged" (grey, hatched, "div."), or "not run" (light grey, "n/a"): the
combination is absent from the table, because the grid does not contain it
(the spiral's linear model at a λ only the two-layer nets use) or its job has
not finished.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.patches import Patch, Rectangle

from ...analysis.aggregate import read_table
from ...plan.axes import AXES
from ...render.labels import (
    axis_name,
    describe,
    fixed_axes,
    fmt_numbers,
    missing,
    varying_axes,
    winner_text,
)
from .style import (
    ANNOTATION_SIZE,
    CMAP,
    DIVERGED,
    NOT_RUN,
    PANEL_TITLE_SIZE,
    SMALL,
    text_color,
    title,
)

CELL_W = 0.42  # inches per heat-map cell: room for "100.0" at ANNOTATION_SIZE
CELL_H = 0.3
CONFUSION_CELL = 0.36



@dataclass
class HeatPanel:
    """One panel: arrays of shape (rows, cols), row/col as in :class:`HeatmapData`."""

    title: str
    acc: np.ndarray  # validation accuracy in %, NaN where there is none
    diverged: np.ndarray  # bool: the model diverged
    not_run: np.ndarray  # bool: no model in the table for this cell
    points: np.ndarray  # the point name of each cell (None where not run)


@dataclass
class HeatmapData:
    row_axis: str | None  # "lr", or None: the rows are configurations of ``config_axes``
    col_axis: str | None  # "reg", "lr", or None (one column)
    facet_axes: list  # one panel per combination of these
    config_axes: list  # rows of the single panel, when row_axis is None
    row_labels: list  # tick labels, top to bottom
    col_labels: list
    row_title: str
    col_title: str
    panels: list
    positions: list  # (panel row, panel col) of each panel
    shape: tuple  # panel rows, panel cols
    fixed: dict = field(default_factory=dict)
    vmin: float = 0.0
    vmax: float = 100.0


def _sort_key(key):
    return tuple((1, 0) if missing(v) else (0, v) for v in key)


def _combos(df, axes):
    """The distinct value tuples of ``axes`` in the table, sorted (empty values last)."""
    if not axes:
        return [()]
    seen = {}
    for vals in df[axes].itertuples(index=False, name=None):
        key = tuple(None if missing(v) else v for v in vals)
        seen.setdefault(key, None)
    return sorted(seen, key=_sort_key)


def _key(row, axes):
    return tuple(None if missing(row[a]) else row[a] for a in axes)


def _config_label(values, axes, width=26):
    """The label of a combination of axis values; longer than ``width`` characters, on two
    lines: the model kind, then its settings in brackets."""
    text = describe(values, axes)
    head, sep, rest = text.partition(" (")
    return f"{head}\n({rest}" if sep and len(text) > width else text


def _panel_layout(keys, facets, max_cols=4):
    """Panel positions (row, col) and the layout's shape, at most ``max_cols`` panels a row.

    With two or more facet axes, each value of the first one (e.g. the activation)
    starts a new row of panels, wrapped every ``max_cols`` (so a column holds one
    hidden size throughout); with one, the panels are simply wrapped.
    """
    n = len(keys)
    groups = [list(g) for _, g in itertools.groupby(keys, key=lambda k: k[0])] if len(facets) >= 2 else [list(keys)]
    cols = min(max_cols, max(len(g) for g in groups)) if n else 1
    pos, row = {}, 0
    for g in groups:
        for j, k in enumerate(g):
            pos[k] = (row + j // cols, j % cols)
        row += -(-len(g) // cols)
    return [pos[k] for k in keys], (max(row, 1), max(cols, 1))


def heatmap_data(df):
    """The heat map's arrays from a study table (see the module docstring for the layout)."""
    varying = varying_axes(df)
    col = "reg" if "reg" in varying else "lr" if "lr" in varying else None
    row = "lr" if col == "reg" and "lr" in varying else None
    others = [a for a in varying if a not in (row, col)]
    facets = others if row is not None else []
    configs = others if row is None else []

    col_vals = sorted(df[col].dropna().unique()) if col else [None]
    if row is not None:
        row_keys = [(v,) for v in sorted(df[row].dropna().unique(), reverse=True)]  # largest η on top
        row_labels = fmt_numbers([k[0] for k in row_keys])
        row_title = axis_name(row)
    else:
        row_keys = _combos(df, configs)
        row_labels = [_config_label(dict(zip(configs, k)), configs) for k in row_keys]
        row_title = ""
    row_axes = [row] if row is not None else configs
    panel_keys = _combos(df, facets)
    positions, shape = _panel_layout(panel_keys, facets)

    R, C = len(row_keys), len(col_vals)
    panels = {}
    for pk in panel_keys:
        panels[pk] = HeatPanel(
            title=_config_label(dict(zip(facets, pk)), facets) if facets else "",
            acc=np.full((R, C), np.nan),
            diverged=np.zeros((R, C), dtype=bool),
            not_run=np.ones((R, C), dtype=bool),
            points=np.full((R, C), None, dtype=object),
        )
    row_index = {k: i for i, k in enumerate(row_keys)}
    col_index = {v: j for j, v in enumerate(col_vals)}
    for _, r in df.iterrows():
        p = panels[_key(r, facets)]
        i = row_index[_key(r, row_axes)]
        j = col_index[r[col]] if col else 0
        ok = r["status"] == "ok" and not missing(r["val_acc"])
        acc = 100 * float(r["val_acc"]) if ok else np.nan
        if not p.not_run[i, j] and not (ok and (np.isnan(p.acc[i, j]) or acc > p.acc[i, j])):
            continue  # two models in one cell (not from a config grid): keep the best
        p.not_run[i, j] = False
        p.acc[i, j] = acc
        p.diverged[i, j] = not ok
        p.points[i, j] = r["point"]

    ok = df.loc[df["status"] == "ok", "val_acc"].dropna()
    vmin, vmax = (100 * float(ok.min()), 100 * float(ok.max())) if len(ok) else (0.0, 100.0)
    if vmax - vmin < 1e-9:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    return HeatmapData(
        row_axis=row,
        col_axis=col,
        facet_axes=facets,
        config_axes=configs,
        row_labels=row_labels,
        col_labels=fmt_numbers(col_vals) if col else [""],
        row_title=row_title,
        col_title=axis_name(col) if col else "",
        panels=[panels[k] for k in panel_keys],
        positions=positions,
        shape=shape,
        fixed=fixed_axes(df),
        vmin=vmin,
        vmax=vmax,
    )


def _text_width(labels, size=SMALL):
    """Rough width in inches of the widest line of ``labels`` at ``size`` points."""
    lines = [ln for lab in labels for ln in str(lab).split("\n")] or [""]
    return max(len(ln) for ln in lines) * 0.56 * size / 72


def draw_heatmap(study, table):
    """Validation accuracy of every model of the table; layout from :func:`heatmap_data`."""
    df = read_table(table)
    hd = heatmap_data(df)
    R, C = len(hd.row_labels), len(hd.col_labels)
    prow, pcol = hd.shape
    two_line_rows = any("\n" in lab for lab in hd.row_labels)
    cell_h = CELL_H + (0.12 if two_line_rows else 0)
    rotate = _text_width(hd.col_labels) > CELL_W - 0.05
    panel_w = max(C * CELL_W, _text_width([p.title for p in hd.panels], PANEL_TITLE_SIZE)) + 0.15
    title_lines = max((p.title.count("\n") + 1 for p in hd.panels if p.title), default=0)
    panel_h = R * cell_h + 0.16 * title_lines + 0.15
    ylab_w = _text_width(hd.row_labels) + (0.35 if hd.row_title else 0.1)
    xlab_h = (_text_width(hd.col_labels) if rotate else 0.15) + 0.35
    width = max(4.2, pcol * panel_w + ylab_w + 1.0)
    height = prow * panel_h + xlab_h + 0.9
    fig, axes = plt.subplots(prow, pcol, figsize=(width, height), squeeze=False, layout="constrained")
    norm = Normalize(hd.vmin, hd.vmax)
    cmap = plt.get_cmap(CMAP)
    used = set(hd.positions)
    im = None
    for panel, (pi, pj) in zip(hd.panels, hd.positions):
        ax = axes[pi, pj]
        im = ax.imshow(np.ma.masked_invalid(panel.acc), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
        for i in range(R):
            for j in range(C):
                if panel.not_run[i, j]:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=NOT_RUN, edgecolor="none"))
                    ax.text(j, i, "n/a", ha="center", va="center", fontsize=ANNOTATION_SIZE, color="#666666")
                elif panel.diverged[i, j]:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=DIVERGED, hatch="///", edgecolor="none"))
                    ax.text(j, i, "div.", ha="center", va="center", fontsize=ANNOTATION_SIZE, color="black",
                            bbox=dict(boxstyle="square,pad=0.1", facecolor=DIVERGED, edgecolor="none"))
                else:
                    v = panel.acc[i, j]
                    ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=ANNOTATION_SIZE,
                            color=text_color(cmap(norm(v))))
        ax.set_xlim(-0.5, C - 0.5)
        ax.set_ylim(R - 0.5, -0.5)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.tick_params(length=0)
        if panel.title:
            ax.set_title(panel.title)
        below = (pi + 1, pj) in used
        ax.set_xticks(range(C), hd.col_labels, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                      rotation_mode="anchor")
        if hd.col_title and not below:
            ax.set_xlabel(hd.col_title)
        ax.set_yticks(range(R), hd.row_labels if pj == 0 else [""] * R)
        if pj == 0 and hd.row_title:
            ax.set_ylabel(hd.row_title)
    for pi in range(prow):
        for pj in range(pcol):
            if (pi, pj) not in used:
                axes[pi, pj].axis("off")
    if im is not None:
        cb = fig.colorbar(im, ax=axes, shrink=min(1.0, max(0.5, 2.0 / height)), aspect=15)
        cb.set_label("validation accuracy (%)")
    handles = []
    if any(p.diverged.any() for p in hd.panels):
        handles.append(Patch(facecolor=DIVERGED, hatch="///", edgecolor="white", label="div.: diverged (no accuracy)"))
    if any(p.not_run.any() for p in hd.panels):
        handles.append(Patch(facecolor=NOT_RUN, edgecolor="#999999", lw=0.5, label="n/a: not run (not in the grid, or not finished)"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False, handlelength=1.5)
    title(fig, heatmap_title(study, hd, replicates=df["replicates"] if "replicates" in df else None))
    return fig


def heatmap_title(study, hd, replicates=None):
    shown = [a.column for a in AXES.values() if a.headline and a.column in hd.fixed]
    fixed = describe(hd.fixed, shown) if shown else ""
    text = f"{study}: validation accuracy (%) of every model"
    if replicates is not None and replicates.max() > 1:  # the table's val_acc is then a mean over replicates
        lo, hi = int(replicates.min()), int(replicates.max())
        text = f"{study}: mean validation accuracy (%) over {lo if lo == hi else f'{lo} to {hi}'} replicates per point"
    return f"{text}\nAll models: {fixed}" if fixed else text


@dataclass
class ConfusionData:
    classes: list
    counts: np.ndarray  # (true, predicted) counts
    rates: np.ndarray  # share of the true class, in %
    accuracy: float
    n: int


def confusion_data(rec):
    """The confusion matrix of a test.json record: counts and row-normalised rates (%)."""
    cm = np.array(rec["confusion_matrix"], dtype=float)
    rates = 100 * cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    return ConfusionData(list(rec["classes"]), cm, rates, float(rec["accuracy"]), int(rec["n"]))


def draw_confusion(study, test):
    rec = json.loads(Path(test).read_text())
    if rec.get("accuracy") is None:
        fig, ax = plt.subplots(figsize=(3, 1.2), layout="constrained")
        ax.text(0.5, 0.5, "no winner to test: every model diverged", ha="center", va="center")
        ax.axis("off")
        title(fig, f"{study}: test confusion matrix")
        return fig
    cd = confusion_data(rec)
    c = len(cd.classes)
    label_w = _text_width(cd.classes)
    side = max(1.4, CONFUSION_CELL * c)
    fig, ax = plt.subplots(figsize=(side + label_w + 1.5, side + label_w + 1.1), layout="constrained")
    cmap = plt.get_cmap("Blues")
    im = ax.imshow(cd.rates, cmap=cmap, vmin=0, vmax=100, interpolation="nearest")
    if c <= 20:
        for i in range(c):
            for j in range(c):
                if cd.counts[i, j]:
                    ax.text(j, i, f"{int(cd.counts[i, j])}", ha="center", va="center", fontsize=ANNOTATION_SIZE,
                            color=text_color(cmap(cd.rates[i, j] / 100)))
    rotate = _text_width(cd.classes) > CONFUSION_CELL
    ax.set_xticks(range(c), cd.classes, rotation=90 if rotate else 0)
    ax.set_yticks(range(c), cd.classes)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(im, ax=ax, shrink=0.8, aspect=15).set_label("% of the true class")
    title(fig, f"{study}: test accuracy {100 * cd.accuracy:.1f}% (n = {cd.n:,})\n{winner_text(rec)}")
    return fig
