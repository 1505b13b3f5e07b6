"""The winner's training curves: loss per logged step, train/val accuracy per evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import StrMethodFormatter

from ...run.modelio import ModelFile
from ...render.labels import winner_text
from .style import title


def draw_curves(study, winner):
    w = json.loads(Path(winner).read_text())
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.0, 2.8), layout="constrained")
    if w.get("point") is None:
        for ax in (ax1, ax2):
            ax.text(0.5, 0.5, "no winner: every model diverged", ha="center", va="center", transform=ax.transAxes)
            ax.axis("off")
        title(fig, f"{study}: training curves")
        return fig
    mf = ModelFile(w["model_file"])
    h = mf.history
    ax1.plot(h["loss_steps"], h["loss"], lw=0.8, color="C0")
    ax1.set_xlabel("training step")
    ax1.set_ylabel("training loss (cross-entropy + L2)")
    if np.all(h["loss"] > 0) and h["loss"].max() / max(h["loss"].min(), 1e-12) > 20:
        ax1.set_yscale("log")
    ax1.set_title("loss")
    ax2.plot(h["eval_steps"], 100 * h["train_acc"], marker="o", ms=3, lw=1, label="training set")
    ax2.plot(h["eval_steps"], 100 * h["val_acc"], marker="s", ms=3, lw=1, label="validation set")
    ax2.set_xlabel("training step")
    ax2.set_ylabel("accuracy (%)")
    ax2.set_title("accuracy")
    ax2.legend(frameon=False)
    for ax in (ax1, ax2):
        ax.set_xlim(left=0)
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))  # 60,000 rather than 6e4
    title(fig, f"{study}: training curves of the winner\n{winner_text(w)}")
    return fig
