"""The paper side by side: the report's figures as it drew them, the winner's replay, the
Fashion-MNIST recipe with its own statistics, and the scorecard of published numbers.

Every array is checked against an independent computation: scikit-learn's PCA, the
reshaped columns of W2, ``net.loss`` on the whole set, NumPy's mean and std; the
scorecard against hand-made results with known differences.
"""

import copy
import json

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import REPO

from twolayer.data.preprocess import get_recipe, normalise
from twolayer.errors import InputError
from twolayer.integrity import seal
from twolayer.nn.net import TwoLayerNet
from twolayer.nn.train import TrainSettings, train_model
from twolayer.study.plan.jobspec import block_every
from twolayer.study.report.figures.report_figs import report_pca, w2_images, w2_shape
from twolayer.study.render.csv import write_csv
from twolayer.study.render.latex import latex
from twolayer.study.analysis.scorecard import (
    MEASURES,
    load_published,
    read_scorecard,
    score,
    scorecard_table,
)
from twolayer.study.run.trace import full_set_stats

PUBLISHED = REPO / "config" / "published.yaml"


# ---------------------------------------------------------------- the report's figures 3 and 4


def test_report_pca_is_sklearn_pca_with_pixels_as_samples():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    W1 = rng.normal(size=(784, 40)) @ np.diag(np.linspace(3, 0.5, 40))  # distinct variances
    T, ratio = report_pca(W1, k=10)
    ref = PCA(10, svd_solver="full").fit(W1)
    want = ref.transform(W1)
    # scikit-learn >= 1.5 fixes a component's sign by V, the report's scikit-learn (2022) by U
    signs = np.sign(np.sum(want * T, axis=0))
    np.testing.assert_allclose(T, want * signs, atol=1e-9)
    np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, rtol=1e-9)
    assert T.shape == (784, 10)  # ten 28x28 images


def test_report_pca_equals_the_eigenvectors_of_the_hidden_units_covariance():
    rng = np.random.default_rng(1)
    W1 = rng.normal(size=(300, 25)) * np.linspace(2, 1, 25)
    T, _ = report_pca(W1, k=5)
    Wc = W1 - W1.mean(axis=0)
    vals, vecs = np.linalg.eigh(Wc.T @ Wc)
    direct = Wc @ vecs[:, ::-1][:, :5]
    signs = np.sign(np.sum(direct * T, axis=0))  # the sign of a component is a convention
    np.testing.assert_allclose(T, direct * signs, atol=1e-9)
    # the report's convention (scikit-learn's svd_flip): each column's largest |value| is positive
    assert np.all(T[np.abs(T).argmax(axis=0), np.arange(5)] > 0)


def test_w2_images_are_the_columns_of_w2_cut_to_16x17():
    W2 = np.arange(275 * 10, dtype=np.float64).reshape(275, 10)
    imgs = w2_images(W2, w2_shape(275))
    assert imgs.shape == (10, 16, 17)
    for c in range(10):
        np.testing.assert_array_equal(imgs[c].ravel(), W2[:272, c])  # the last three entries dropped
        assert imgs[c][0, 1] == W2[1, c] and imgs[c][1, 0] == W2[17, c]  # row by row
    assert w2_shape(100) == (10, 10)
    with pytest.raises(ValueError, match="needs 272"):
        w2_images(W2[:100], (16, 17))


# ---------------------------------------------------------------- the report's figure 2: the replay


def test_full_set_stats_is_net_loss_without_the_regulariser():
    rng = np.random.default_rng(2)
    net = TwoLayerNet(20, 7, 4, std=0.5, rng=rng, activation="sigmoid", dtype=np.float64)
    X = rng.normal(size=(1000, 20))
    y = rng.integers(0, 4, 1000)
    loss, acc = full_set_stats(net, X, y, chunk=96)  # chunks that do not divide the set
    ref_loss, _ = net.loss(X, y, reg=0.0)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert acc == pytest.approx(np.mean(net.scores(X).argmax(1) == y))


def _train(monitor, steps=3000):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 30)).astype(np.float32)
    y = rng.integers(0, 5, 400)
    net = TwoLayerNet(30, 16, 5, std=None, init="report", bias=False, rng=np.random.default_rng(4),
                      activation="sigmoid", dtype=np.float32)
    s = TrainSettings(steps=steps, lr=0.05, reg=1e-5, batch_size=1, sampling="with_replacement",
                      schedule={"name": "exponential", "gamma": 0.9, "decay_steps": 1000}, log_every=100,
                      eval_every=700, eval_train_subset=100)
    train_model(net, X, y, X[:50], y[:50], s, seed=5, monitor=monitor, block_every=block_every(steps))
    return net


def test_a_monitor_sees_51_points_and_leaves_the_weights_bit_identical():
    seen = []
    watched = _train(lambda step, m: seen.append((step, m.params["W1"].copy())))
    plain = _train(None)
    for k in plain.params:
        np.testing.assert_array_equal(watched.params[k], plain.params[k])
    every = block_every(3000)
    assert [s for s, _ in seen] == list(range(every, 3001, every))  # 50 points; the replay adds step 0
    np.testing.assert_array_equal(seen[-1][1], plain.params["W1"])



def test_a_monitor_needs_the_block_ends_of_the_run_it_watches():
    net = TwoLayerNet(3, 4, 2, rng=np.random.default_rng(0))
    X, y = np.zeros((4, 3)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="give block_every"):
        train_model(net, X, y, X, y, TrainSettings(steps=4, lr=0.1, batch_size=1), monitor=lambda s, m: None)
    with pytest.raises(ValueError, match="positive integer"):
        train_model(net, X, y, X, y, TrainSettings(steps=4, lr=0.1, batch_size=1), block_every=0.5)

# ---------------------------------------------------------------- Fashion-MNIST with its own statistics


def test_standardise_train_fits_the_training_split_only_and_records_it():
    rng = np.random.default_rng(6)
    train = rng.integers(0, 256, (500, 49)).astype(np.uint8)
    other = np.full((20, 49), 255, dtype=np.uint8)  # validation and test must not move the constants
    recipe = get_recipe("report_fitted")
    assert recipe["split"] == get_recipe("report")["split"]
    out, consts = normalise({"train": (train, np.zeros(500)), "val": (other, np.zeros(20))}, recipe["normalise"])
    pix = train.astype(np.float64) / 255.0
    assert consts["mean_scalar"] == pytest.approx(pix.mean(), rel=1e-12)
    assert consts["std_scalar"] == pytest.approx(pix.std(), rel=1e-12)
    Xtr = out["train"][0].astype(np.float64)
    assert abs(Xtr.mean()) < 1e-6 and Xtr.std() == pytest.approx(1.0, abs=1e-6)  # N(0, 1), as the report asks
    np.testing.assert_allclose(out["val"][0], (1.0 - pix.mean()) / pix.std(), rtol=1e-6)


def test_fashion_mnist_studies_use_their_own_statistics_and_mnist_keeps_the_reports():
    for name in ("config.yaml", "demo.yaml"):
        studies = yaml.safe_load((REPO / "config" / name).read_text())["studies"]
        for study in studies.values():
            if study["dataset"] == "fashion_mnist":
                assert study["recipe"] == "report_fitted", name
            if study["dataset"] == "mnist":
                assert study["recipe"] == "report", name


# ---------------------------------------------------------------- the scorecard


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

    from test_tables_latex import compile_tex

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
