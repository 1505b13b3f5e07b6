"""The scorecard of published numbers, against hand-made results with known differences: each
number with its measure, never a study run on other data, files that round-trip and compile.
"""

import copy
import json

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import REPO

from twolayer.errors import InputError
from twolayer.integrity import seal
from twolayer.study.render.csv import write_csv
from twolayer.study.render.latex import latex
from twolayer.study.analysis.scorecard import (
    MEASURES,
    load_published,
    read_scorecard,
    score,
    scorecard_table,
)


PUBLISHED = REPO / "config" / "published.yaml"


# ---------------------------------------------------------------- the report's figures 3 and 4


def _results(tmp_path, rows, winner_point, test_acc, dataset="spiral", recipe="spiral", **extra):
    """A study's results as the workflow writes them: table.csv, winner.json, test.json."""
    df = pd.DataFrame(rows)
    table = tmp_path / "table.csv"
    df.to_csv(table, index=False)
    w = df[df.point == winner_point].iloc[0]
    (tmp_path / "winner.json").write_text(json.dumps({"point": winner_point, "val_acc": float(w.val_acc),
                                                      "train_acc": float(w.train_acc)}))
    (tmp_path / "test.json").write_text(json.dumps({"accuracy": test_acc}))
    return {"dataset": dataset, "recipe": recipe, "published_data": True, "table": str(table),
            "winner": str(tmp_path / "winner.json"), "test": str(tmp_path / "test.json"), **extra}


def _model_with_losses(path, losses):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "twolayer-model"
        f.create_dataset("params/W", data=np.zeros((2, 3)))
        f.create_dataset("history/loss_steps", data=np.arange(1, len(losses) + 1))
        f.create_dataset("history/loss", data=np.asarray(losses, dtype=np.float64))
        seal(f)  # its digests, as save_model writes them: every reader checks them
    return str(path)


PUB = {
    "sources": {"003": "the case study"},
    "studies": {"spiral": {"dataset": "spiral", "recipe": "spiral"}, "mnist_paper": {"dataset": "mnist", "recipe": "report"}},
    "numbers": [
        {"source": "003", "where": "s1", "quantity": "acc", "value": 98, "unit": "%", "study": "spiral",
         "measure": "train_acc", "point": {"model": "twolayer", "hidden": 100}, "tolerance": 1.0, "why": "test"},
        {"source": "003", "where": "s2", "quantity": "val", "value": 90.0, "unit": "%", "study": "spiral",
         "measure": "winner_val_acc", "tolerance": 1.0, "why": "test"},
        {"source": "003", "where": "s3", "quantity": "loss it 1", "value": 0.5, "unit": "", "study": "spiral",
         "measure": "loss", "iteration": 1, "point": {"model": "linear"}, "tolerance": 0.01, "why": "test"},
        {"source": "003", "where": "s4", "quantity": "best", "value": {"model": "twolayer", "hidden": 25}, "unit": "point",
         "study": "spiral", "measure": "winner", "tolerance": 0, "why": "test"},
        {"source": "003", "where": "s5", "quantity": "test", "value": 97.0, "unit": "%", "study": "spiral",
         "measure": "winner_test_acc", "tolerance": 0.5, "why": "test"},
        {"source": "003", "where": "s6", "quantity": "missing point", "value": 1.0, "unit": "%", "study": "spiral",
         "measure": "val_acc", "point": {"model": "twolayer", "hidden": 7}, "tolerance": 0.5, "why": "test"},
        {"source": "003", "where": "s7", "quantity": "mnist", "value": 98.24, "unit": "%", "study": "mnist_paper",
         "measure": "winner_val_acc", "tolerance": 0.4, "why": "test"},
    ],
}


def _spiral_run(tmp_path, **extra):
    model = _model_with_losses(tmp_path / "linear.h5", [1.1, 0.505, 0.4])
    rows = [
        {"point": "lin", "model": "linear", "hidden": None, "status": "ok", "train_acc": 0.5, "val_acc": 0.5,
         "model_file": model},
        {"point": "h25", "model": "twolayer", "hidden": 25, "status": "ok", "train_acc": 0.97, "val_acc": 0.905,
         "model_file": ""},
        {"point": "h100", "model": "twolayer", "hidden": 100, "status": "ok", "train_acc": 0.9866, "val_acc": 0.9,
         "model_file": ""},
    ]
    return _results(tmp_path, rows, "h25", 0.972, **extra)


def test_scorecard_compares_each_number_with_its_measure(tmp_path):
    run = {"studies": {"spiral": _spiral_run(tmp_path)},
           "datasets": {"mnist": {"downloaded": True, "files": ["a.gz", "b.gz"], "dirname": "mnist"}}}
    rows = {r["where"]: r for r in score(PUB, run)}
    assert rows["s1"]["reproduced"] == pytest.approx(98.66) and rows["s1"]["difference"] == pytest.approx(0.66)
    assert rows["s1"]["status"] == "reproduced"
    assert rows["s2"]["reproduced"] == pytest.approx(90.5) and rows["s2"]["status"] == "reproduced"
    assert rows["s3"]["reproduced"] == 0.505  # iteration 1 = the loss logged at step 2
    assert rows["s3"]["status"] == "reproduced"
    assert rows["s4"]["status"] == "reproduced" and rows["s4"]["reproduced"] == {"model": "twolayer", "hidden": 25}
    assert rows["s5"]["difference"] == pytest.approx(0.2) and rows["s5"]["status"] == "reproduced"
    assert rows["s6"]["status"] == "not run" and "no grid point with model twolayer, hidden 7" in rows["s6"]["reason"]
    assert rows["s7"]["status"] == "not run" and "resources/raw/mnist/" in rows["s7"]["reason"]
    # farther than the tolerance: differs
    pub = copy.deepcopy(PUB)
    pub["numbers"][0]["value"] = 97.0
    pub["numbers"][3]["value"] = {"model": "twolayer", "hidden": 100}
    rows = {r["where"]: r for r in score(pub, run)}
    assert rows["s1"]["status"] == "differs" and rows["s1"]["difference"] == pytest.approx(1.66)
    assert rows["s4"]["status"] == "differs"


def test_scorecard_never_compares_a_study_that_ran_on_other_data(tmp_path):
    for extra in ({"recipe": "subset"}, {"published_data": False}):
        run = {"studies": {"spiral": _spiral_run(tmp_path, **extra)}, "datasets": {}}
        rows = score(PUB, run)
        ran = [r for r in rows if r["study"] == "spiral" and r["reproduced"] is not None]
        assert ran and all(r["status"] == "not compared" and r["difference"] is None for r in ran)
        assert all("ran on other data" in r["reason"] for r in ran)


def test_scorecard_loss_needs_every_step_logged(tmp_path):
    run = {"studies": {"spiral": _spiral_run(tmp_path)}, "datasets": {}}
    with h5py.File(tmp_path / "linear.h5", "r+") as f:
        del f["history/loss_steps"]
        f["history/loss_steps"] = np.array([10, 20, 30])
        seal(f)
    row = [r for r in score(PUB, run) if r["where"] == "s3"][0]
    assert row["status"] == "not run" and "log_every: 1" in row["reason"]


def test_scorecard_files_round_trip_and_compile(tmp_path):
    run = {"studies": {"spiral": _spiral_run(tmp_path)}, "datasets": {}}
    rows = score(PUB, run)
    write_csv(scorecard_table(rows), tmp_path / "s.csv")
    back = read_scorecard(tmp_path / "s.csv")
    assert [r["status"] for r in back] == [r["status"] for r in rows]
    assert back[3]["reproduced"] == {"hidden": 25, "model": "twolayer"}
    assert back[0]["difference"] == pytest.approx(rows[0]["difference"])
    tex = latex(scorecard_table(rows))
    assert r"\label{tab:scorecard}" in tex and "98.66" in tex


def test_published_numbers_name_known_measures_studies_and_sources():
    pub = load_published(PUBLISHED)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for n in pub["numbers"]:
        assert n["measure"] in MEASURES
        assert n["study"] in config["studies"], f"{n['study']} is not a study of config/config.yaml"
        study = config["studies"][n["study"]]
        assert (study["dataset"], study["recipe"]) == (pub["studies"][n["study"]]["dataset"], pub["studies"][n["study"]]["recipe"])
        if n["measure"] == "loss":  # the source printed single iterations
            assert study["training"]["log_every"] == 1, n["study"]
    # the published numbers, as printed in the sources
    seeds = {p.name[:3]: p.read_text() for p in (REPO.parent / "shared" / "seeds").glob("*.txt")} if (REPO.parent / "shared" / "seeds").is_dir() else {}
    for n in pub["numbers"]:
        if n["source"] in seeds and n["unit"] in ("%", ""):
            v = n["value"]
            printed = {f"{v}", f"{v:.2f}", f"{v / 100:.3f}", f"{v / 100:.2f}", f"{v:g}", f"{v:.6f}", f"{v / 100:.4f}"}
            assert any(p in seeds[n["source"]] for p in printed), (n["quantity"], v)


def test_published_numbers_are_checked_with_their_key(tmp_path):
    bad = copy.deepcopy(PUB)
    del bad["numbers"][2]["iteration"]
    bad["numbers"][1]["measure"] = "val_accuracy"
    bad["numbers"][0]["why"] = 1
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(InputError) as e:
        load_published(p)
    assert "numbers[0].why" in str(e.value)
    bad["numbers"][0]["why"] = "fine"
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(InputError) as e:
        load_published(p)
    assert "numbers[1].measure: unknown 'val_accuracy'" in str(e.value) and "numbers[2]: measure 'loss' needs 'iteration'" in str(e.value)


def test_scorecard_latex_compiles_with_its_notes(tmp_path):
    import shutil
    import subprocess

    from latex_helpers import compile_tex

    run = {"studies": {"spiral": _spiral_run(tmp_path)},
           "datasets": {"mnist": {"downloaded": True, "files": ["a_b.gz"], "dirname": "mnist"}}}
    tex = tmp_path / "scorecard.tex"
    tex.write_text(latex(scorecard_table(score(PUB, run))))
    out = tmp_path / "build"
    out.mkdir()
    pdf = compile_tex(tex, out)
    if shutil.which("pdftotext"):
        text = " ".join(subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                                       check=True, timeout=120).stdout.split())
        assert "98.66" in text and "+0.66" in text and "reproduced" in text
        assert "not run [1]" in text and "[1] no grid point with model twolayer, hidden 7" in text
        assert "not run [2]" in text and "[2] needs mnist: put a" in text and "snakemake --cores 8" in text
    # every published number (long quantities, λ, §), none run: it still fits the page
    full = tmp_path / "full" / "scorecard.tex"
    full.parent.mkdir()
    datasets = {"mnist": {"downloaded": True, "files": ["train-images-idx3-ubyte.gz"], "dirname": "mnist"},
                "cifar10": {"downloaded": True, "files": ["cifar-10-binary.tar.gz"], "dirname": "cifar10"}}
    full.write_text(latex(scorecard_table(score(load_published(PUBLISHED), {"studies": {}, "datasets": datasets}))))
    compile_tex(full, full.parent)
