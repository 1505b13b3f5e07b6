"""The source documents' tables, regenerated from a study's results.

* ``table1``: the hyperparameters tested (the report's Table 1);
* ``table2``: the top-5 models by validation accuracy (the report's Table 2);
* ``listing``: every model with its train and validation accuracy, sorted by
  hyperparameters (the CS231n notebook's printout);
* ``test``: the winner and its test accuracy.

Each is written as CSV, Markdown and LaTeX (``booktabs``). Accuracies are
percentages with two decimals; a diverged model shows "diverged", never a
number.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .aggregate import pick_winner, ranked, read_table
from .atomic import atomic_path, write_text

TABLES = ("table1", "table2", "listing", "test")
LABELS = {
    "model": "Model",
    "activation": "Activation",
    "hidden": "Hidden units",
    "init": "Initialisation",
    "optimizer": "Optimizer",
    "batch_size": "Batch size",
    "steps": "Steps",
    "lr": "Step size",
    "reg": "lambda",
    "seed": "Seed",
}
AXIS_COLUMN = {"steps": "steps_planned"}


def _num(v):
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _pct(v):
    return "diverged" if v is None or pd.isna(v) else f"{100 * v:.2f}"


def _axis_values(df, axis):
    col = AXIS_COLUMN.get(axis, axis)
    vals = [v for v in df[col].dropna().unique()]
    return sorted(vals, key=lambda v: (isinstance(v, str), v))


def table1(df, axes, test=None):
    rows = [{"Hyperparameter": LABELS.get(a, a), "Values": ", ".join(_num(v) for v in _axis_values(df, a))} for a in axes]
    rows.append({"Hyperparameter": "Models trained", "Values": str(len(df))})
    return pd.DataFrame(rows)


def _hp_frame(rows, axes):
    out = pd.DataFrame({LABELS.get(a, a): [_num(v) if not pd.isna(v) else "" for v in rows[AXIS_COLUMN.get(a, a)]] for a in axes})
    return out.reset_index(drop=True)


def table2(df, axes, test=None, k=5):
    top = ranked(df).head(k)
    out = _hp_frame(top, axes)
    out["Accuracy (Val Set, %)"] = [_pct(v) for v in top["val_acc"]]
    return out


def listing(df, axes, test=None):
    cols = [AXIS_COLUMN.get(a, a) for a in axes]
    rows = df.sort_values(cols, kind="stable")
    out = _hp_frame(rows, axes)
    out["Train accuracy (%)"] = [_pct(v) for v in rows["train_acc"]]
    out["Val accuracy (%)"] = [_pct(v) for v in rows["val_acc"]]
    out["Status"] = [s if s == "ok" else f"diverged at step {int(d)}" if not pd.isna(d) else s for s, d in zip(rows["status"], rows["diverged_step"])]
    return out


def test_table(df, axes, test=None):
    win = pick_winner(df)
    if win is None or test is None or test.get("accuracy") is None:
        return pd.DataFrame([{"Result": "no winner (every model diverged)"}])
    out = _hp_frame(pd.DataFrame([win]), axes)
    out["Accuracy (Val Set, %)"] = _pct(win["val_acc"])
    out["Accuracy (Test Set, %)"] = _pct(test["accuracy"])
    out["Test examples"] = str(test["n"])
    return out


BUILDERS = {"table1": table1, "table2": table2, "listing": listing, "test": test_table}


def to_markdown(df):
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in r) + " |")
    return "\n".join(lines) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def _tex(s):
    return "".join(_TEX.get(ch, ch) for ch in str(s))


def to_latex(df, caption=None):
    cols = list(df.columns)
    lines = [r"\begin{tabular}{" + "l" * len(cols) + "}", r"\toprule", " & ".join(_tex(c) for c in cols) + r" \\", r"\midrule"]
    for _, r in df.iterrows():
        lines.append(" & ".join(_tex(v) for v in r) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    body = "\n".join(lines)
    if caption:
        body = "\\begin{table}[ht]\n\\centering\n" + body + f"\n\\caption{{{_tex(caption)}}}\n\\end{{table}}"
    return body + "\n"


CAPTIONS = {
    "table1": "Hyperparameters tested",
    "table2": "Top-5 models by validation accuracy",
    "listing": "Every model: train and validation accuracy",
    "test": "The winner on the test set",
}


def write_tables(name, study, table_csv, axes, out_prefix, test_json=None):
    """Write ``<out_prefix>.csv``, ``.md`` and ``.tex`` of table ``name``."""
    if name not in BUILDERS:
        raise ValueError(f"unknown table {name!r}; tables are: {', '.join(TABLES)}")
    df = read_table(table_csv)
    test = json.loads(Path(test_json).read_text()) if test_json else None
    out = BUILDERS[name](df, list(axes), test=test)
    prefix = Path(out_prefix)
    with atomic_path(prefix.with_suffix(".csv")) as tmp:
        out.to_csv(tmp, index=False)
    write_text(prefix.with_suffix(".md"), f"**{study}: {CAPTIONS[name]}**\n\n" + to_markdown(out))
    write_text(prefix.with_suffix(".tex"), to_latex(out, caption=f"{study}: {CAPTIONS[name]}"))
    return out
