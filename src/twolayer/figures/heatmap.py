"""Validation accuracy over the grid, and the winner's test confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..aggregate import read_table
from .style import CMAP, DIVERGED

FACET_AXES = ("model", "activation", "hidden", "init", "optimizer", "batch_size", "seed", "steps_planned")


SHORT = {"activation": "act", "hidden": "h", "optimizer": "opt", "batch_size": "bs", "steps_planned": "steps"}


def _label(v):
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _facet_title(facets, key):
    parts = [f"{SHORT.get(a, a)}={_label(v)}" for a, v in zip(facets, key) if not pd.isna(v)]
    return "\n".join(parts)


def draw_heatmap(study, table):
    """One panel per combination of the non-(lr, reg) axes; cells: lr (rows) x reg (columns)."""
    df = read_table(table)
    facets = [a for a in FACET_AXES if df[a].nunique(dropna=True) > 1]
    groups = list(df.groupby(facets, dropna=False, sort=True)) if facets else [((), df)]
    lrs = sorted(df["lr"].dropna().unique())
    regs = sorted(df["reg"].dropna().unique())
    ok = df[df["status"] == "ok"]["val_acc"].dropna()
    vmin, vmax = (100 * ok.min(), 100 * ok.max()) if len(ok) else (0.0, 100.0)
    if vmax - vmin < 1e-9:
        vmin -= 0.5
        vmax += 0.5
    n = len(groups)
    cols = min(n, 7)
    rows = -(-n // cols)
    cell = 0.32
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(max(2.6, 0.8 + cols * (0.7 + cell * len(regs))), rows * (1.1 + max(cell * len(lrs), 0.6))),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    im = None
    for ax, (key, g) in zip(axes.flat, groups):
        key = key if isinstance(key, tuple) else (key,)
        grid = np.full((len(lrs), len(regs)), np.nan)
        div = np.zeros_like(grid, dtype=bool)
        for _, r in g.iterrows():
            i, j = lrs.index(r["lr"]), regs.index(r["reg"])
            if r["status"] == "ok" and not np.isnan(r["val_acc"]):
                grid[i, j] = 100 * r["val_acc"]
            else:
                div[i, j] = True
        ax.set_facecolor("white")
        im = ax.imshow(np.ma.masked_invalid(grid), cmap=CMAP, vmin=vmin, vmax=vmax, aspect="auto", origin="lower")
        for i, j in zip(*np.nonzero(div)):
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=DIVERGED, hatch="///", edgecolor="white", lw=0))
            ax.text(j, i, "div", ha="center", va="center", fontsize=5, color="black")
        if grid.size <= 80:
            for i, j in zip(*np.nonzero(~np.isnan(grid))):
                ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=5,
                        color="white" if grid[i, j] < (vmin + vmax) / 2 else "black")
        ax.set_title(_facet_title(facets, key) or study, fontsize=6)
        ax.set_xticks(range(len(regs)), [_label(v) for v in regs], rotation=90)
        ax.set_yticks(range(len(lrs)), [_label(v) for v in lrs])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    for ax in axes[-1, :]:
        ax.set_xlabel("L2 strength (reg)")
    for ax in axes[:, 0]:
        ax.set_ylabel("step size (lr)")
    if im is not None:
        cb = fig.colorbar(im, ax=axes, shrink=0.8)
        cb.set_label("validation accuracy (%)")
    n_div = int((df["status"] != "ok").sum())
    fig.suptitle(f"{study}: validation accuracy" + (f" ({n_div} diverged: grey, hatched)" if n_div else ""))
    return fig


def draw_confusion(study, test):
    rec = json.loads(Path(test).read_text())
    if rec.get("accuracy") is None:
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.text(0.5, 0.5, "no winner to test", ha="center", va="center")
        ax.axis("off")
        return fig
    cm = np.array(rec["confusion_matrix"], dtype=float)
    classes = rec["classes"]
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    c = len(classes)
    fig, ax = plt.subplots(figsize=(1.6 + 0.38 * c, 1.4 + 0.38 * c), layout="constrained")
    im = ax.imshow(100 * rates, cmap="Blues", vmin=0, vmax=100)
    if c <= 12:
        for i in range(c):
            for j in range(c):
                if cm[i, j]:
                    ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=5,
                            color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(c), classes, rotation=90)
    ax.set_yticks(range(c), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(im, ax=ax, shrink=0.8).set_label("% of the true class")
    ax.set_title(f"{study}: test accuracy {100 * rec['accuracy']:.2f}% (n={rec['n']})")
    return fig
