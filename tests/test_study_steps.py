"""The steps a study is made of, each on its own: train one point, aggregate, evaluate, tables."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from twolayer.data.prepare import prepare_dataset
from twolayer.data.preprocess import get_recipe
from twolayer.data.sources import get_source
from twolayer.data.store import DataFileError
from twolayer.study.analysis.aggregate import (
    RUNTIME_COLUMNS,
    build_table,
    pick_winner,
    read_table,
    winner_record,
)
from twolayer.study.plan.config import validate
from twolayer.study.analysis.evaluate import evaluate_winner
from twolayer.study.run.modelio import ModelFile
from twolayer.study.run.runner import run_job
from twolayer.study.render.latex import to_latex
from twolayer.study.render.markdown import to_markdown
from twolayer.study.analysis.tables import write_tables

CONFIG = {
    "studies": {
        "s": {
            "dataset": "spiral",
            "recipe": "spiral",
            "model": {"std": 0.01, "reg_convention": "half", "dtype": "float64"},
            "training": {"batch_size": None, "sampling": "full", "steps": 300, "eval_every": 100, "log_every": 10},
            "grid": [{"model": ["linear"], "lr": [1.0], "reg": [1.0e-3]},
                     {"model": ["twolayer"], "hidden": [20], "lr": [1.0, 1.0e6], "reg": [1.0e-3]}],
        }
    }
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A trained spiral study (one model diverges), without Snakemake."""
    tmp = tmp_path_factory.mktemp("study")
    plan = validate(CONFIG)
    st = plan.study("s")
    data = tmp / "spiral.h5"
    prepare_dataset(get_source("spiral"), "spiral", get_recipe("spiral"), None, data)
    metrics = []
    for p in st.points:
        out = tmp / "models" / p.id
        run_job(st.spec(p.id), data, out / "model.h5", out / "metrics.json")
        metrics.append(out / "metrics.json")
    return tmp, data, metrics


def test_a_job_writes_a_complete_model_file(study):
    tmp, data, metrics = study
    rec = json.loads(metrics[1].read_text())  # twolayer, lr 1.0
    mf = ModelFile(tmp / "models" / rec["point"] / "model.h5")
    assert mf.status == "ok" and set(mf.params) == {"W1", "b1", "W2", "b2"}
    assert mf.spec["values"] == {"model": "twolayer", "hidden": 20, "lr": 1.0, "reg": 0.001}
    assert mf.attrs["seeds"]["root"] == 0 and mf.attrs["package_version"]
    with h5py.File(data) as f:
        assert mf.attrs["data_fingerprint"] == f.attrs["fingerprint"]
    assert list(mf.history["eval_steps"]) == [100, 200, 300]
    net = mf.build()
    assert rec["val_acc"] == pytest.approx(net.accuracy(*_split(data, "val")))


def _split(data, name):
    from twolayer.data.store import load_split

    X, y = load_split(data, name, dtype=np.float64)
    return X, y


def test_diverged_model_has_no_accuracy_anywhere(study):
    _, _, metrics = study
    df = build_table(metrics)
    div = df[df["status"] == "diverged"]
    assert len(div) == 1 and div["lr"].iloc[0] == 1e6  # weight decay factor 1 - lr*reg = -999 per step
    assert div[["train_acc", "val_acc", "final_loss"]].isna().all(axis=None)
    assert div["diverged_step"].iloc[0] >= 1
    assert df.loc[df["status"] == "ok", "val_acc"].notna().all()


def test_training_never_reads_the_test_split(study, tmp_path):
    _, data, _ = study
    stripped = tmp_path / "no_test.h5"
    stripped.write_bytes(data.read_bytes())
    with h5py.File(stripped, "a") as f:
        del f["test"]
    plan = validate(CONFIG)
    spec = plan.study("s").spec("model~linear/lr~1.0/reg~0.001")
    rec = run_job(spec, stripped, tmp_path / "m.h5", tmp_path / "m.json")
    assert rec["status"] == "ok"
    (tmp_path / "w.json").write_text(json.dumps({"study": "s", "point": spec["point"], "model_file": str(tmp_path / "m.h5")}))
    with pytest.raises(DataFileError, match="has no 'test' split"):
        evaluate_winner(tmp_path / "w.json", stripped, tmp_path / "t.json")


def test_a_data_file_of_another_recipe_is_refused_before_training(study, tmp_path):
    _, data, _ = study
    plan = validate(CONFIG)
    spec = plan.study("s").spec("model~linear/lr~1.0/reg~0.001")
    spec["recipe"] = "report"
    with pytest.raises(DataFileError, match="provenance mismatch: it was made with recipe 'spiral', expected 'report'"):
        run_job(spec, data, tmp_path / "m.h5", tmp_path / "m.json")
    assert not (tmp_path / "m.h5").exists() and not (tmp_path / "m.json").exists()


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


def test_table_round_trip_and_runtime_columns(study, tmp_path):
    _, _, metrics = study
    df = build_table(metrics)
    from twolayer.study.analysis.aggregate import write_table

    write_table(df, tmp_path / "t.csv")
    back = read_table(tmp_path / "t.csv")
    assert list(back["point"]) == sorted(back["point"])
    assert set(RUNTIME_COLUMNS) <= set(back.columns)
    assert back.loc[back["status"] == "diverged", "val_acc"].isna().all()
    rec = winner_record(back, "s")
    assert rec["point"] == "model~twolayer/h~20/lr~1.0/reg~0.001" and rec["models_diverged"] == 1


def test_evaluate_and_tables(study, tmp_path):
    tmp, data, metrics = study
    from twolayer.study.analysis.aggregate import aggregate

    aggregate("s", metrics, None, tmp_path / "table.csv", tmp_path / "winner.json")
    rec = evaluate_winner(tmp_path / "winner.json", data, tmp_path / "test.json")
    X, y = _split(data, "test")
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


def test_markdown_and_latex_escape():
    df = pd.DataFrame({"a|b": ["x_y", "50%"]})
    assert to_markdown(df).splitlines()[0] == "| a|b |"
    assert "x\\_y" in to_latex(df) and "50\\%" in to_latex(df)
