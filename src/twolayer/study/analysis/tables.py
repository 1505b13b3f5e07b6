r"""The source documents' tables, regenerated from a study's results.

* ``table1``: the hyperparameters tested (the report's Table 1);
* ``table2``: the top-5 models by validation accuracy (the report's Table 2);
* ``listing``: every model with its train and validation accuracy, sorted by
  hyperparameters (the CS231n notebook's printout);
* ``test``: the winner and its test accuracy.

Each is written as CSV, Markdown and LaTeX. Accuracies are percentages with
two decimals; a diverged model shows "diverged", never a number.

The LaTeX (``.tex``) is paper-ready: its first line names the packages it
needs (``% requires \usepackage{booktabs}``; the listing, a ``longtable``
that breaks across pages, also needs ``longtable``); rules are booktabs',
numeric columns are right-aligned, 1e-06 is set as $10^{-6}$ and 5e-05 as
$5 \times 10^{-5}$, the L2 strength is headed $\lambda$; the table carries
``\label{tab:<study>-<table>}`` and a caption in words (the dataset's name,
never the study id). ``\input`` it where the table goes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from ...errors import InputError
from .aggregate import pick_winner, ranked, read_table
from ..plan.axes import AXES
from ..render import Table, write

TABLES = ("table1", "table2", "listing", "test")
VAL_MEAN_STD = "Accuracy (Val Set, %, mean ± std)"
TEST_MEAN_CI = "Accuracy (Test Set, %, mean ± 95% CI)"


def _axis_values(df, axis):
    col = AXES[axis].column
    vals = [v for v in df[col].dropna().unique()]
    return sorted(vals, key=lambda v: (isinstance(v, str), v))


def axis_kinds(axes):
    """{label: kind} of the hyperparameter columns: numbers, or text (activation, model)."""
    return {AXES[a].label: "text" if AXES[a].type is str else "number" for a in axes}


def hp_frame(rows, axes):
    """A column per axis, the rows' hyperparameters (their values; missing: none)."""
    return pd.DataFrame({AXES[a].label: list(rows[AXES[a].column]) for a in axes}).reset_index(drop=True)


def table1(df, axes, test=None):
    rows = [{"Hyperparameter": AXES[a].label, "Values": _axis_values(df, a)} for a in axes]
    rows.append({"Hyperparameter": "Models trained", "Values": [len(df)]})
    return Table(pd.DataFrame(rows, columns=["Hyperparameter", "Values"]), kinds={"Values": "numbers"},
                 rules_before=(len(rows) - 1,))


def table2(df, axes, test=None, k=5):
    """The top k points. With replicates: the points with the most replicates first (a refined
    grid: its refined points), each with the mean ± std over its replicates, then the others."""
    kinds = axis_kinds(axes)
    if "replicates" not in df:
        top = ranked(df).head(k)
        out = hp_frame(top, axes)
        out["Accuracy (Val Set, %)"] = list(top["val_acc"])
        return Table(out, kinds={**kinds, "Accuracy (Val Set, %)": "percent"})
    ok = df[(df["status"] == "ok") & df["val_acc"].notna()]
    top = ok.assign(_r=-ok["replicates"], _v=-ok["val_acc"]).sort_values(["_r", "_v", "n_params", "point"], kind="stable").head(k)
    out = hp_frame(top, axes)
    out[VAL_MEAN_STD] = [(m, s) if n > 1 else m for m, s, n in zip(top["val_acc"], top["val_acc_std"], top["replicates"])]
    out["Replicates"] = list(top["replicates"])
    return Table(out, kinds={**kinds, VAL_MEAN_STD: "plus_minus", "Replicates": "count"})


def listing(df, axes, test=None):
    cols = [AXES[a].column for a in axes]
    rows = df.sort_values(cols, kind="stable")
    out = hp_frame(rows, axes)
    out["Train accuracy (%)"] = list(rows["train_acc"])
    out["Val accuracy (%)"] = list(rows["val_acc"])
    out["Status"] = [s if s == "ok" else f"diverged at step {int(d)}" if not pd.isna(d) else s for s, d in zip(rows["status"], rows["diverged_step"])]
    return Table(out, kinds={**axis_kinds(axes), "Train accuracy (%)": "percent", "Val accuracy (%)": "percent"}, long=True,
                 groups={"Accuracy (%)": {"Train accuracy (%)": "Train", "Val accuracy (%)": "Validation"}})


def test_table(df, axes, test=None):
    win = pick_winner(df)
    if win is None or test is None or test.get("accuracy") is None:
        return Table(pd.DataFrame([{"Result": "no winner (every model diverged)"}]))
    out = hp_frame(pd.DataFrame([win]), axes)
    kinds = {**axis_kinds(axes), "Accuracy (Val Set, %)": "percent", "Accuracy (Test Set, %)": "percent", "Test examples": "count"}
    out["Accuracy (Val Set, %)"] = [win["val_acc"]]
    out["Accuracy (Test Set, %)"] = [test["accuracy"]]
    out["Test examples"] = [test["n"]]
    rep = test.get("replicates")
    if rep and rep.get("n", 0) > 1:  # the single run above is the paper's; each replicate tested once
        out["Accuracy (Val Set, %)"] = [win.get("val_acc_run0", win["val_acc"])]
        out[VAL_MEAN_STD] = [(win["val_acc"], win["val_acc_std"])]
        out[TEST_MEAN_CI] = [(rep["mean"], rep["ci_high"] - rep["mean"])]
        out["Replicates"] = [rep["n"]]
        kinds.update({VAL_MEAN_STD: "plus_minus", TEST_MEAN_CI: "plus_minus", "Replicates": "count"})
    return Table(out, kinds=kinds)


BUILDERS = {"table1": table1, "table2": table2, "listing": listing, "test": test_table}


CAPTIONS = {
    "table1": "Hyperparameters tested",
    "table2": "Top-5 models by validation accuracy",
    "listing": "Every model: train and validation accuracy",
    "test": "The winner on the test set",
}
# The LaTeX captions, in plain words: no study ids; "{on}" is " on <dataset>" or nothing.
TEX_CAPTIONS = {
    "table1": "Hyperparameters tested{on}.",
    "table2": "Top {k} models by validation accuracy{on}.",
    "listing": "Every model trained{on}, with its training and validation accuracy, sorted by hyperparameters.",
    "test": "The model with the best validation accuracy, and its accuracy on the test set{of}.",
}
# Datasets in words, for captions; other datasets use their description up to the first " (".
DATASET_WORDS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "spiral": "the spiral data"}
_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def dataset_words(dataset):
    """The dataset's name in words (e.g. "Fashion-MNIST"), or None if unknown."""
    if not dataset:
        return None
    if dataset in DATASET_WORDS:
        return DATASET_WORDS[dataset]
    try:
        from ...data.sources import builtin_specs

        desc = builtin_specs().get(dataset, {}).get("description")
    except Exception:  # noqa: BLE001 - a caption is never worth a failure
        desc = None
    return desc.split(" (")[0].strip() if desc else None


def _dataset_of(test):
    """The dataset named by test.json's data file (``results/data/<dataset>/<recipe>.h5``), or None."""
    data_file = (test or {}).get("data_file")
    parts = Path(data_file).parts if data_file else ()
    return parts[-2] if len(parts) >= 3 and parts[-3] == "data" else None


def tex_caption(name, out, dataset=None):
    """The LaTeX caption of table ``name`` (``out``: its rows), in words, without ids."""
    words = dataset_words(dataset)
    on, of = (f" on {words}", f" of {words}") if words else ("", "")
    k = len(out)
    if name == "table2" and "Replicates" in out.columns:
        return (f"Top {_NUMBER_WORDS[k] if k < len(_NUMBER_WORDS) else k} models{on}: the points with the most "
                "replicates first, by their mean validation accuracy (mean ± standard deviation over the "
                "replicates), then the others by their single run.")
    if name == "test" and "Replicates" in out.columns:
        return (f"The model with the best mean validation accuracy over its replicates, and its accuracy on the test "
                f"set{of}: its single run, and the mean ± 95% confidence half-width over its replicates.")
    if name == "table2" and k < 5:
        if k == 0:
            return f"No model ranked by validation accuracy{on}: every model diverged."
        if k == 1:
            return f"The only model that did not diverge{on}, with its validation accuracy."
        return f"The {_NUMBER_WORDS[k]} models that did not diverge{on}, by validation accuracy."
    if name == "test" and list(out.columns) == ["Result"]:
        return f"No test-set result{on}: every model diverged."
    return TEX_CAPTIONS[name].format(on=on, of=of, k=_NUMBER_WORDS[k] if k < len(_NUMBER_WORDS) else str(k))


def write_tables(name, study, table_csv, axes, out_prefix, test_json=None, dataset=None):
    """Write ``<out_prefix>.csv``, ``.md`` and ``.tex`` of table ``name``; returns its cells.

    The LaTeX is labelled ``tab:<study>-<name>`` (see
    :func:`twolayer.study.render.latex.tex_label`); its caption names the
    dataset in words: ``dataset`` or, if not given, the one test.json's data
    file belongs to.
    """
    if name not in BUILDERS:
        raise InputError(f"unknown table {name!r}; tables are: {', '.join(TABLES)}")
    df = read_table(table_csv)
    test = json.loads(Path(test_json).read_text()) if test_json else None
    table = BUILDERS[name](df, list(axes), test=test)
    table = replace(table, title=f"{study}: {CAPTIONS[name]}", label=f"tab:{study}-{name}",
                    caption=tex_caption(name, table.frame, dataset or _dataset_of(test)))
    write(table, out_prefix)
    return table.cells()
