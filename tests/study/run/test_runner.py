"""One training job on its own, without Snakemake: its model file, a diverged model, the test
split never read, a data file of another recipe refused.
"""

import json

import h5py
import numpy as np
import pytest

from twolayer.data.store import DataFileError, load_split
from twolayer.study.analysis.aggregate import (
    build_table,
)
from twolayer.study.analysis.evaluate import evaluate_winner
from twolayer.study.run.modelio import ModelFile
from twolayer.study.run.runner import run_job


def test_a_job_writes_a_complete_model_file(spiral_study):
    tmp, data, metrics = spiral_study
    rec = json.loads(metrics[1].read_text())  # twolayer, lr 1.0
    mf = ModelFile(tmp / "models" / rec["point"] / "model.h5")
    assert mf.status == "ok" and set(mf.params) == {"W1", "b1", "W2", "b2"}
    assert mf.spec["values"] == {"model": "twolayer", "hidden": 20, "lr": 1.0, "reg": 0.001}
    assert mf.attrs["seeds"]["root"] == 0 and mf.attrs["package_version"]
    with h5py.File(data) as f:
        assert mf.attrs["data_fingerprint"] == f.attrs["fingerprint"]
    assert list(mf.history["eval_steps"]) == [100, 200, 300]
    net = mf.build()
    assert rec["val_acc"] == pytest.approx(net.accuracy(*load_split(data, "val", dtype=np.float64)))


def test_diverged_model_has_no_accuracy_anywhere(spiral_study):
    _, _, metrics = spiral_study
    df = build_table(metrics)
    div = df[df["status"] == "diverged"]
    assert len(div) == 1 and div["lr"].iloc[0] == 1e6  # weight decay factor 1 - lr*reg = -999 per step
    assert div[["train_acc", "val_acc", "final_loss"]].isna().all(axis=None)
    assert div["diverged_step"].iloc[0] >= 1
    assert df.loc[df["status"] == "ok", "val_acc"].notna().all()


def test_training_never_reads_the_test_split(spiral_study, spiral_plan, tmp_path):
    _, data, _ = spiral_study
    stripped = tmp_path / "no_test.h5"
    stripped.write_bytes(data.read_bytes())
    with h5py.File(stripped, "a") as f:
        del f["test"]
    plan = spiral_plan
    spec = plan.study("s").spec("model~linear/lr~1.0/reg~0.001")
    rec = run_job(spec, stripped, tmp_path / "m.h5", tmp_path / "m.json")
    assert rec["status"] == "ok"
    (tmp_path / "w.json").write_text(json.dumps({"study": "s", "point": spec["point"], "model_file": str(tmp_path / "m.h5")}))
    with pytest.raises(DataFileError, match="has no 'test' split"):
        evaluate_winner(tmp_path / "w.json", stripped, tmp_path / "t.json")


def test_a_data_file_of_another_recipe_is_refused_before_training(spiral_study, spiral_plan, tmp_path):
    _, data, _ = spiral_study
    plan = spiral_plan
    spec = plan.study("s").spec("model~linear/lr~1.0/reg~0.001")
    spec["recipe"] = "report"
    with pytest.raises(DataFileError, match="provenance mismatch: it was made with recipe 'spiral', expected 'report'"):
        run_job(spec, data, tmp_path / "m.h5", tmp_path / "m.json")
    assert not (tmp_path / "m.h5").exists() and not (tmp_path / "m.json").exists()
