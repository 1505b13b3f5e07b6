"""The study's table and winner, and the winner tested once, on a trained spiral study (tests/study/conftest.py).
"""

import numpy as np
import pandas as pd
import pytest

from twolayer.data.store import load_split
from twolayer.study.analysis.aggregate import (
    RUNTIME_COLUMNS,
    build_table,
    pick_winner,
    read_table,
    winner_record,
)
from twolayer.study.analysis.evaluate import evaluate_winner
from twolayer.study.run.modelio import ModelFile
from twolayer.study.analysis.tables import write_tables


def test_winner_tie_break_is_deterministic():
    df = pd.DataFrame({
        "point": ["b", "a", "c", "d"],
        "status": ["ok", "ok", "ok", "diverged"],
        "val_acc": [0.9, 0.9, 0.9, np.nan],
        "n_params": pd.array([100, 100, 50, 1], dtype="Int64"),
    })
    assert pick_winner(df)["point"] == "c"  # fewest parameters among the tied
    assert pick_winner(df[df["point"] != "c"])["point"] == "a"  # then the point name
    assert pick_winner(df.iloc[::-1])["point"] == "c"  # whatever the row order
    assert pick_winner(df[df["status"] == "diverged"]) is None


def test_table_round_trip_and_runtime_columns(spiral_study, tmp_path):
    _, _, metrics = spiral_study
    df = build_table(metrics)
    from twolayer.study.analysis.aggregate import write_table

    write_table(df, tmp_path / "t.csv")
    back = read_table(tmp_path / "t.csv")
    assert list(back["point"]) == sorted(back["point"])
    assert set(RUNTIME_COLUMNS) <= set(back.columns)
    assert back.loc[back["status"] == "diverged", "val_acc"].isna().all()
    rec = winner_record(back, "s")
    assert rec["point"] == "model~twolayer/h~20/lr~1.0/reg~0.001" and rec["models_diverged"] == 1


def test_evaluate_and_tables(spiral_study, tmp_path):
    tmp, data, metrics = spiral_study
    from twolayer.study.analysis.aggregate import aggregate

    aggregate("s", metrics, None, tmp_path / "table.csv", tmp_path / "winner.json")
    rec = evaluate_winner(tmp_path / "winner.json", data, tmp_path / "test.json")
    X, y = load_split(data, "test", dtype=np.float64)
    assert rec["accuracy"] == pytest.approx(np.mean(ModelFile(rec["model_file"]).build().predict(X) == y))
    assert rec["n"] == len(y) and len(rec["per_class_accuracy"]) == 3
    axes = ["model", "hidden", "lr", "reg"]
    t2 = write_tables("table2", "s", tmp_path / "table.csv", axes, tmp_path / "t2", test_json=tmp_path / "test.json")
    assert len(t2) == 2 and "diverged" not in t2.to_string()  # diverged models are not ranked
    listing = write_tables("listing", "s", tmp_path / "table.csv", axes, tmp_path / "ls")
    assert listing["Status"].str.startswith("diverged at step").sum() == 1
    assert (listing["Val accuracy (%)"] == "diverged").sum() == 1
    test = write_tables("test", "s", tmp_path / "table.csv", axes, tmp_path / "te", test_json=tmp_path / "test.json")
    assert test["Accuracy (Test Set, %)"].iloc[0] == f"{100 * rec['accuracy']:.2f}"
    assert (tmp_path / "te.md").read_text().startswith("**s: The winner on the test set**")
    tex = (tmp_path / "te.tex").read_text()
    assert "\\toprule" in tex and "Accuracy (Test Set, \\%)" in tex
