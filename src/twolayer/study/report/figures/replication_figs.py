"""What replicates show: the winner's certainty (``certainty``) and the expected best validation
accuracy for a budget of trials (``expected_max``). The arrays come from
:mod:`twolayer.study.analysis.replication`, tested against independent computations."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ...analysis.aggregate import read_table
from ...analysis.replication import expected_max_frame, point_labels, single_runs
from .style import title


def draw_certainty(study, certainty, table):
    df = pd.read_csv(certainty, dtype={"point": str})
    if df.empty:
        fig, ax = plt.subplots(figsize=(3, 1.2), layout="constrained")
        ax.text(0.5, 0.5, "no winner: every model diverged", ha="center", va="center")
        ax.axis("off")
        return fig
    t = read_table(table)
    from ...plan.axes import AXES

    labels = point_labels(t, [AXES[a].column for a in AXES if AXES[a].column in t and t[AXES[a].column].nunique() > 1])
    n = len(df)
    fig, ax = plt.subplots(figsize=(7.0, 0.42 * n + 1.3), layout="constrained")
    y = np.arange(n)[::-1]
    mean, lo, hi = 100 * df["mean"], 100 * df["ci_low"], 100 * df["ci_high"]
    colors = ["#0f766e" if v == "winner" else "#b91c1c" if v == "winner better" else "#64748b" for v in df["verdict"]]
    for yi, m, a, b, c in zip(y, mean, lo, hi, colors):
        if not (pd.isna(a) or pd.isna(b)):
            ax.plot([a, b], [yi, yi], color=c, lw=2)
        ax.plot([m], [yi], "o", color=c, ms=5)
    ax.set_yticks(y, [labels.get(p, p) for p in df["point"]])
    ax.set_xlabel("validation accuracy (%): mean and 95% t interval over replicates")
    right = []
    for p, pl, ph, v in zip(df["p_winner_better"], df["p_low"], df["p_high"], df["verdict"]):
        right.append("winner" if v == "winner" else f"P(winner better) {p:.2f} [{pl:.2f}, {ph:.2f}]")
    sec = ax.secondary_yaxis("right")
    sec.set_yticks(y, right)
    sec.tick_params(length=0)
    reps = int(df["replicates"].max())
    title(fig, f"{study}: how sure is the winner? {reps} replicates per point\n"
               "red: the winner is better (P ≥ 0.75, interval above 0.5); grey: cannot be told apart")
    return fig


def draw_expected_max(study, table):
    df = expected_max_frame(read_table(table))
    fig, ax = plt.subplots(figsize=(5.0, 3.0), layout="constrained")
    k, m, s = df["k"], 100 * df["expected_max_val_acc"], 100 * df["std"]
    runs = 100 * single_runs(read_table(table))
    # the band is clipped to what the grid reached: a maximum lies between its worst and best single run
    ax.fill_between(k, np.maximum(m - s, runs.min()), np.minimum(m + s, runs.max()), color="#0f766e", alpha=0.2, lw=0,
                    label="± one standard deviation")
    ax.plot(k, m, color="#0f766e", lw=1.5, label="expected best")
    ax.set_xlabel("k: grid points drawn at random, with replacement")
    ax.set_ylabel("best validation accuracy (%)")
    ax.set_xlim(1, max(int(k.max()), 2))
    if k.max() > 20:
        ax.set_xscale("log")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, loc="lower right")
    title(fig, f"{study}: expected best validation accuracy of k trials\n"
               f"(Dodge et al. 2019, from the grid's {len(df)} single runs)")
    return fig
