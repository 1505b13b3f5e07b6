"""One table per study, and its winner.

:func:`build_table` joins every job's metrics record with its Snakemake
benchmark file into a pandas DataFrame, one row per grid point, sorted by
point name (so the table does not depend on the order jobs finished).

Columns: ``study, point`` and the hyperparameters (``model, activation,
hidden, init, optimizer, batch_size, lr, reg, seed, steps_planned,
n_params``); the outcome (``status`` "ok"/"diverged", ``diverged_step``,
``steps``, ``train_acc``, ``val_acc``, ``final_loss``, ``best_val_acc``);
and the measured cost (``seconds``, ``train_seconds``, ``eval_seconds``,
``load_seconds``, ``peak_rss_mb`` from the job itself, ``bench_s`` and
``bench_max_rss_mb`` from the benchmark file). Accuracies of diverged
models are empty cells, never NaN-as-a-number nor 0.

The measured-cost columns (:data:`RUNTIME_COLUMNS`) are the only ones that
differ between two runs of the same config.

:func:`pick_winner`: the highest validation accuracy among models that did
not diverge; ties go to the model with fewer parameters, then to the
alphabetically first point name. Deterministic whatever the job order.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...atomic import atomic_path, write_json
from ...errors import InputError
from ...integrity import RECORD_FIELD, read_record
from ..plan.axes import AXES
from ..plan.axes import columns as axis_columns

OUTCOME_COLUMNS = ["status", "diverged_step", "steps", "train_acc", "val_acc", "final_loss", "best_val_acc"]
RUNTIME_COLUMNS = ["seconds", "train_seconds", "eval_seconds", "load_seconds", "peak_rss_mb", "bench_s", "bench_max_rss_mb"]


def hyper_columns():
    """The grid axes' columns (twolayer.study.plan.axes), then the model size."""
    return [*axis_columns(), "n_params"]


def table_columns():
    return ["study", "point", *hyper_columns(), *OUTCOME_COLUMNS, *RUNTIME_COLUMNS, "model_file"]


# A model's replicate (absent for a single run): its index, the sources it drew anew, and its set
# ("study": the study's replicates; "source": one source alone, for the variance by source).
MODEL_COLUMNS = ["replicate", "vary", "replicate_set"]
# What a study with replicates adds to its table, per point (the study's set: replicate 0 and its
# replicates). val_acc, train_acc and final_loss are then means over the replicates that did not diverge.
REPLICATE_COLUMNS = ["replicates", "replicates_ok", "val_acc_run0", "val_acc_std", "val_acc_ci_low", "val_acc_ci_high"]


def int_columns():
    return [*(a.column for a in AXES.values() if a.type is int), "n_params", "diverged_step", "steps"]


TIE_BREAK = "highest val_acc among non-diverged models; ties: fewer parameters, then point name"


def read_benchmark(path):
    """(seconds, max_rss MB) of a Snakemake benchmark TSV; (None, None) if absent or empty."""
    if path is None or not Path(path).exists():
        return None, None
    df = pd.read_csv(path, sep="\t")
    if df.empty:
        return None, None
    return float(df["s"].iloc[-1]), float(df["max_rss"].iloc[-1])




def build_table(metrics_files, benchmark_files=None):
    """The study table from the jobs' metrics records (and benchmark files, same order)."""
    benchmark_files = list(benchmark_files or [None] * len(metrics_files))
    if len(benchmark_files) != len(metrics_files):
        raise InputError("give one benchmark file per metrics file (or none)")
    rows = []
    for mf, bf in zip(metrics_files, benchmark_files):
        rec = read_record(mf, "metrics record")  # verified against its SHA-256
        rec.pop(RECORD_FIELD)
        bench_s, bench_rss = read_benchmark(bf)
        rec["bench_s"] = bench_s
        rec["bench_max_rss_mb"] = bench_rss
        rec["model_file"] = str(Path(mf).with_name("model.h5"))
        rows.append(rec)
    df = pd.DataFrame(rows)
    replicated = "replicate" in df and df["replicate"].notna().any()
    cols = table_columns() + (MODEL_COLUMNS if replicated else [])
    for col in cols:
        if col not in df:
            df[col] = None
    if replicated:
        df["replicate"] = pd.to_numeric(df["replicate"]).fillna(0).astype(int)
    keys = ["point", "replicate", "vary"] if replicated else ["point"]
    df = df[cols].sort_values(keys, kind="stable", na_position="first").reset_index(drop=True)
    for col in ("train_acc", "val_acc", "final_loss", "best_val_acc", "lr", "reg"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    for col in int_columns():
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    diverged = df["status"] != "ok"
    df.loc[diverged, ["train_acc", "val_acc", "final_loss"]] = pd.NA
    return df


def point_table(models):
    """One row per grid point from the models' table (:func:`build_table`).

    A single run per point: the models' table itself. With replicates: each point's row is its
    replicate 0 (hyperparameters, model file, cost), with val_acc, train_acc and final_loss the
    means over the study's replicates that did not diverge, and :data:`REPLICATE_COLUMNS`."""
    from .statistics import summarize

    if "replicate" not in models:
        return models
    study_set = models[models["replicate_set"].isna() | (models["replicate_set"] == "study")]
    rows = []
    for _, group in study_set.groupby("point", sort=True):
        base = group[group["replicate"] == 0]
        row = (base.iloc[0] if len(base) else group.iloc[0]).copy()
        ok = group[group["status"] == "ok"]
        stats = summarize(ok["val_acc"].astype(float).to_numpy()) if len(ok) else None
        row["status"] = "ok" if len(ok) else "diverged"
        for col in ("val_acc", "train_acc", "final_loss"):
            row[col] = ok[col].astype(float).mean() if len(ok) else pd.NA
        row["replicates"] = len(group)
        row["replicates_ok"] = len(ok)
        row["val_acc_run0"] = base["val_acc"].iloc[0] if len(base) else pd.NA
        for col, key in (("val_acc_std", "std"), ("val_acc_ci_low", "ci_low"), ("val_acc_ci_high", "ci_high")):
            row[col] = stats[key] if stats else pd.NA
        rows.append(row)
    out = pd.DataFrame(rows)[table_columns() + REPLICATE_COLUMNS].reset_index(drop=True)
    for col in int_columns():
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    return out


def ranked(df):
    """The points that did not diverge, best first: the winner's rule (see TIE_BREAK). With
    replicates, only the points with the most replicates compete (a refined grid: its top points)."""
    ok = df[(df["status"] == "ok") & df["val_acc"].notna()]
    if "replicates" in ok and len(ok):
        ok = ok[ok["replicates"] == ok["replicates"].max()]
    order = ok.assign(_neg=-ok["val_acc"]).sort_values(["_neg", "n_params", "point"], kind="stable")
    return order.drop(columns="_neg")


def pick_winner(df):
    """The winning row (a Series), or None if every model diverged."""
    order = ranked(df)
    return None if order.empty else order.iloc[0]


def write_table(df, path):
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g")


def read_table(path):
    df = pd.read_csv(path, dtype={"point": str, "status": str})
    for col in int_columns():
        if col in df:
            df[col] = df[col].astype("Int64")
    return df


def _plain(v):
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def winner_record(df, study, models=None):
    row = pick_winner(df)
    n_ok = int((df["status"] == "ok").sum())
    rec = {"study": study, "tie_break": TIE_BREAK, "models": int(len(df)), "models_ok": n_ok, "models_diverged": int(len(df) - n_ok)}
    if row is None:
        rec.update(point=None, reason="every model diverged")
        return rec
    rec.update(
        point=row["point"],
        model_file=row["model_file"],
        val_acc=_plain(row["val_acc"]),
        train_acc=_plain(row["train_acc"]),
        hyperparameters={c: _plain(row[c]) for c in hyper_columns()},
    )
    if models is not None and "replicates" in df:
        mine = models[(models["point"] == row["point"]) & (models["status"] == "ok")
                      & (models["replicate_set"].isna() | (models["replicate_set"] == "study"))]
        rec.update({c: _plain(row[c]) for c in REPLICATE_COLUMNS})
        rec["tie_break"] = "highest mean val_acc among the points with the most replicates; " + TIE_BREAK.split("; ", 1)[1]
        rec["replicate_model_files"] = mine["model_file"].tolist()  # each is tested once (rule evaluate)
    return rec


def aggregate(study, metrics_files, benchmark_files, table_out, winner_out, replicates_out=None):
    models = build_table(metrics_files, benchmark_files)
    df = point_table(models)
    write_table(df, table_out)
    if replicates_out is not None:
        write_table(models, replicates_out)
    rec = winner_record(df, study, models)
    write_json(winner_out, rec)
    return df, rec


def select_top(study, metrics_files, top, out):
    """The grid's ``top`` best points and its winner (by the winner's rule): what a refine stage replicates."""
    df = point_table(build_table(metrics_files))
    order = ranked(df)
    rec = {"study": study, "top": order["point"].head(int(top)).tolist(),
           "grid_winner": None if order.empty else order["point"].iloc[0], "rule": TIE_BREAK}
    write_json(out, rec)
    return rec
