"""What replicates say about a study: how sure the winner is, the variance by source, and the
expected best validation accuracy for a budget of k trials.

Reads what rule aggregate wrote (``table.csv``: one row per point, means over replicates;
``replicates.csv``: one row per model; ``winner.json``) and writes the first two of these into
``results/<study>/certainty/``:

* ``certainty.{csv,md,tex}``: the winner and every point with as many replicates (a refined
  grid: its top points), each with the mean, std and 95% t interval of its validation
  accuracy, P(winner > point) with its 95% bootstrap interval (Bouthillier et al. 2021),
  and whether the winner is meaningfully better (P >= 0.75 and the interval above 0.5);
* ``variance.{csv,md,tex}``: for the grid's winner (the best single run), the spread of its
  validation accuracy when only the initial weights change, only the order of the examples,
  and both (replicates of the same point);
* the expected maximum validation accuracy of k points drawn at random (with replacement),
  k = 1 .. all, and its standard deviation (Dodge et al. 2019): from the grid's single runs,
  no extra training. The figure ``expected_max`` draws it for every study;
  ``twolayer certainty --expected-max FILE`` writes it as CSV on request (the workflow does not).

The bootstrap's seed is the study's seed (recorded in ``certainty.csv``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ...atomic import atomic_path
from .aggregate import read_table
from .statistics import expected_max_curve, summarize, winner_certainty
from ..render import Table, write

THRESHOLD = 0.75  # Bouthillier et al.: P(A > B) for a meaningful improvement
N_BOOT = 2000


def single_runs(table):
    """Each point's single run (replicate 0): the grid as the paper ran it."""
    col = "val_acc_run0" if "val_acc_run0" in table else "val_acc"
    ok = table[table["status"] == "ok"]
    return ok[col].astype(float).dropna().to_numpy()


def expected_max_frame(table):
    curve = expected_max_curve(single_runs(table))
    return pd.DataFrame({"k": curve["k"], "expected_max_val_acc": curve["mean"], "std": curve["std"]})


def _groups(models, points):
    study_set = models[(models["replicate_set"].isna() | (models["replicate_set"] == "study"))]
    out = {}
    for p in points:
        rows = study_set[study_set["point"] == p]
        out[p] = np.where(rows["status"] == "ok", rows["val_acc"].astype(float), np.nan)
    return out


def certainty_frame(table, models, winner, seed=0):
    """The winner and every point with as many replicates, with P(winner > point)."""
    if winner.get("point") is None:
        return pd.DataFrame(columns=["point"])
    most = table["replicates"].max()
    points = table[(table["replicates"] == most) & (table["status"] == "ok")]["point"].tolist()
    groups = _groups(models, points)
    rows = winner_certainty(groups, winner["point"], threshold=THRESHOLD, n_boot=N_BOOT, seed=seed)
    best = summarize(groups[winner["point"]])
    out = [{"point": winner["point"], "rank": 1, "replicates": best["n"], "mean": best["mean"], "std": best["std"],
            "ci_low": best["ci_low"], "ci_high": best["ci_high"], "p_winner_better": np.nan, "p_low": np.nan,
            "p_high": np.nan, "verdict": "winner"}]
    for i, r in enumerate(rows, start=2):
        s = summarize(groups[r["point"]])
        out.append({"point": r["point"], "rank": i, "replicates": s["n"], "mean": s["mean"], "std": s["std"],
                    "ci_low": s["ci_low"], "ci_high": s["ci_high"], "p_winner_better": r["p_better"],
                    "p_low": r["p_low"], "p_high": r["p_high"],
                    "verdict": "winner better" if r["distinguishable"] else "cannot be told apart"})
    # the printed tables say "worse" and "tie" (their captions say what these mean)
    df = pd.DataFrame(out)
    df["threshold"] = THRESHOLD
    df["bootstrap_rounds"] = N_BOOT
    df["bootstrap_seed"] = seed
    return df


def variance_frame(models, grid_winner):
    """The grid winner's validation accuracy when one source of randomness changes, or both."""
    rows = []
    mine = models[models["point"] == grid_winner]
    base = mine[mine["replicate"] == 0]
    for label, sel in (("initial weights alone", mine["vary"] == "init"), ("example order alone", mine["vary"] == "order"),
                       ("both", mine["replicate_set"] == "study")):
        group = pd.concat([base, mine[sel]])
        vals = np.where(group["status"] == "ok", group["val_acc"].astype(float), np.nan)
        if len(group) < 2:
            continue
        s = summarize(vals)
        finite = vals[~np.isnan(vals)]
        rows.append({"source": label, "models": len(group), "mean": s["mean"], "std": s["std"],
                     "min": finite.min() if finite.size else np.nan, "max": finite.max() if finite.size else np.nan})
    return pd.DataFrame(rows, columns=["source", "models", "mean", "std", "min", "max"])


VAL_MEAN_STD = "Val accuracy (%, mean ± std)"


def certainty_table(df, table, axes, caption):
    """The certainty table as printed: the hyperparameters (a column each, as Table 2), then the
    numbers; its CSV is ``df`` itself."""
    from ..plan.axes import AXES
    from .tables import axis_kinds, hp_frame

    rows = table.set_index("point").loc[df["point"]].reset_index()
    varying = [a for a in axes if rows[AXES[a].column].nunique(dropna=False) > 1]  # the others are the same for all
    out = hp_frame(rows, varying) if varying else pd.DataFrame({"Point": rows["point"]})
    out["Replicates"] = df["replicates"].to_numpy()
    out[VAL_MEAN_STD] = list(zip(df["mean"], df["std"]))
    out["P(winner better) [95% CI]"] = list(zip(df["p_winner_better"], df["p_low"], df["p_high"]))
    out["Verdict"] = df["verdict"].replace({"cannot be told apart": "tie", "winner better": "worse"}).to_numpy()
    kinds = {**axis_kinds(varying), "Replicates": "count", VAL_MEAN_STD: "plus_minus", "P(winner better) [95% CI]": "probability"}
    return Table(out, kinds=kinds, caption=caption, missing="", data=df)


def variance_table(df, caption):
    """The variance table as printed; its CSV is ``df`` itself."""
    out = pd.DataFrame({
        "Source of randomness": df["source"],
        "Models": df["models"],
        VAL_MEAN_STD: list(zip(df["mean"], df["std"])),
        "Range (%)": list(zip(df["min"], df["max"])),
    })
    return Table(out, kinds={"Models": "count", VAL_MEAN_STD: "plus_minus", "Range (%)": "percent_range"}, caption=caption,
                 missing="", data=df)


def point_labels(table, axes):
    from ..render.labels import describe

    out = {}
    for _, row in table.iterrows():
        out[row["point"]] = describe({a: row[a] for a in axes if a in row and not pd.isna(row[a])}, axes)
    return out


CERTAINTY_CAPTION = (
    "How sure is the winner: the points with the most replicates, their mean validation accuracy, and the "
    "probability that the winner beats each (the share of replicate pairs it wins, with a 95% bootstrap interval); "
    "verdict worse: the winner beats it (P at least 0.75, the interval above 0.5); tie: the two cannot be "
    "told apart")


def write_replication(study, table_csv, models_csv, winner_json, out_dir, seed=0, axes=(), refine_json=None):
    """Write the certainty and variance tables (CSV, Markdown, LaTeX) into ``out_dir``."""
    from dataclasses import replace

    from ..plan.axes import AXES

    table = read_table(table_csv)
    models = pd.read_csv(models_csv, dtype={"point": str, "status": str, "vary": str, "replicate_set": str})
    winner = json.loads(Path(winner_json).read_text())
    out = Path(out_dir)
    axes = [a for a in axes if a in AXES and AXES[a].column in table]
    labels = point_labels(table, [AXES[a].column for a in axes])
    cert = certainty_frame(table, models, winner, seed=seed)
    grid_winner = json.loads(Path(refine_json).read_text())["grid_winner"] if refine_json else winner.get("point")
    var = variance_frame(models, grid_winner) if grid_winner else variance_frame(models.iloc[:0], None)
    which = labels.get(grid_winner, grid_winner) if grid_winner else "none"
    for name, shown in (
        ("certainty", certainty_table(cert, table, axes, CERTAINTY_CAPTION)),
        ("variance", variance_table(var, f"The validation accuracy of the grid's single-run winner ({which}) when one "
                                         "source of randomness changes, or both")),
    ):
        write(replace(shown, title=f"{study}: {shown.caption}", caption=shown.caption + ".", label=f"tab:{study}-{name}"),
              out / name)
    return cert, var


def write_expected_max(table_csv, out):
    df = expected_max_frame(read_table(table_csv))
    with atomic_path(out) as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g")
    return df
