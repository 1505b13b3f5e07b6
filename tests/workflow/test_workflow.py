"""The real snakemake, end to end, on tiny studies: outputs, rerun semantics, config errors."""

import copy
import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from fakedata import make_idx_dataset
from workflow_helpers import REPO, dry_run, run_snakemake, tiny_config

from twolayer.data.store import load_split
from twolayer.study.run.modelio import ModelFile


def confusion(y, pred, k):
    """Rows: the true class; columns: the predicted one."""
    m = np.zeros((k, k), dtype=int)
    np.add.at(m, (y, pred), 1)
    return m

pytestmark = pytest.mark.integration


@pytest.fixture
def served(tiny_served):
    return tiny_served


@pytest.fixture
def finished(tiny_run):
    """A working directory where the whole tiny workflow has run once (shared: change only a clone)."""
    work, cfg, _, _ = tiny_run
    return work, cfg


def clone(finished, tmp_path):
    """A copy of the finished working directory (results and Snakemake's metadata)."""
    work, cfg = finished
    dst = tmp_path / "work"
    shutil.copytree(work, dst, symlinks=True)
    return dst, copy.deepcopy(cfg)


def test_end_to_end_outputs(finished, served, tiny_run):
    work, cfg = finished
    studies = cfg["studies"]
    figures = {"spiral": {"curves", "heatmap", "confusion", "samples", "boundaries"},
               "tiny": {"curves", "heatmap", "confusion", "samples", "w1_pca", "w2", "templates"},
               "fashion": {"curves", "heatmap", "confusion", "samples", "w1_pca", "w2", "templates"}}
    for study in studies:
        res = work / "results" / study
        table = pd.read_csv(res / "table.csv")
        n_points = {"spiral": 2, "tiny": 2, "fashion": 1}[study]
        assert len(table) == n_points and set(table["status"]) <= {"ok", "diverged"}
        winner = json.loads((res / "winner.json").read_text())
        test = json.loads((res / "test.json").read_text())
        assert winner["point"] in set(table["point"])
        assert test["point"] == winner["point"]
        # the test numbers, computed again here from the winner's model file and the test split
        net = ModelFile(res / "models" / winner["point"] / "model.h5").build()
        spec = studies[study]
        X, y = load_split(work / "results" / "data" / spec["dataset"] / f"{spec['recipe']}.h5", "test", dtype=net.dtype)
        pred = net.predict(X)
        assert test["n"] == len(y) and test["accuracy"] == float(np.mean(pred == y))
        assert test["confusion_matrix"] == confusion(y, pred, len(test["confusion_matrix"])).tolist()
        for fig in figures[study]:
            png = res / "figures" / f"{fig}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        for t in ("table1", "table2", "listing", "test"):
            for ext in ("csv", "md", "tex"):
                assert (res / "tables" / f"{t}.{ext}").stat().st_size > 0
        for point in table["point"]:
            model = res / "models" / point / "model.h5"
            with h5py.File(model) as f:
                assert f.attrs["status"] in ("ok", "diverged")
                assert json.loads(f.attrs["spec"])["point"] == point
                assert len(f.attrs["data_fingerprint"]) == 64
            assert (res / "benchmarks" / "train" / f"{point}.tsv").exists()
            log = (res / "logs" / "train" / f"{point}.log").read_text()
            assert "steps/s" in log and "val_acc" in log
    # the kernels: the tiny images are 80% background (as MNIST's), the batch-1 steps take the sparse
    # kernel; Fashion-MNIST's half is above SPARSE_BELOW, the dense one. The winner's replay (trace.h5)
    # reads the same foreground and ends on the job's weights, bit for bit.
    for study, kernel in (("tiny", "batch1_sparse"), ("fashion", "batch1_sgd")):
        if study not in studies:
            continue
        res = work / "results" / study
        for point in pd.read_csv(res / "table.csv")["point"]:
            with h5py.File(res / "models" / point / "model.h5") as f:
                assert json.loads(f.attrs["train_settings"])["kernel"] == kernel, (study, point)
        with h5py.File(res / "trace.h5") as f:
            assert f.attrs["max_weight_diff"] == 0.0, study
    # the tiny dataset was downloaded from the local server, once per file
    assert sorted(tiny_run[3]) == sorted(f"/ok/{f['name']}" for f in served[1]["files"].values())
    # the paper tables carry the grid
    t1 = pd.read_csv(work / "results" / "tiny" / "tables" / "table1.csv")
    assert dict(zip(t1["Hyperparameter"], t1["Values"]))["Activation"] == "relu, sigmoid"
    # the HTML report
    html = tiny_run[2].read_text()
    assert "Class templates W1 W2" in html and "heatmap.png" in html


def test_a_second_run_does_nothing(finished):
    work, cfg = finished
    counts, out = dry_run(work, cfg)
    assert "Nothing to be done" in out, out[-2000:]
    assert counts == {}


def test_the_same_settings_spelled_differently_rerun_nothing(finished, tmp_path):
    """Switching to a config that says the same with other spellings (30 vs 30.0, key order,
    a study dropped or added) reruns nothing of what stays: job parameters are canonical."""
    work, cfg = finished
    same = copy.deepcopy(cfg)
    same["download"]["timeout"] = float(cfg["download"]["timeout"])           # 5 -> 5.0
    same["studies"]["spiral"]["grid"][0]["lr"] = [1]                          # 1.0 -> 1
    same["studies"]["spiral"]["model"]["std"] = 1.0e-2                         # same float
    same["studies"]["tiny"]["training"]["steps"] = 400.0                       # integer written as 400.0
    same["studies"]["tiny"]["training"]["schedule"] = {"decay_steps": 100, "gamma": 0.9, "name": "exponential"}
    same["studies"] = {k: same["studies"][k] for k in reversed(list(same["studies"]))}
    counts, out = dry_run(work, same)
    assert counts == {} and "Nothing to be done" in out, out[-3000:]
    # another config with one of the studies and a new one: only the new study's jobs run
    other = copy.deepcopy(same)
    other["studies"] = {"tiny": same["studies"]["tiny"], "tiny2": {**copy.deepcopy(same["studies"]["tiny"]), "seed": 7}}
    counts, out = dry_run(work, other)
    assert counts.get("train") == 2 and "fetch" not in counts and "prepare" not in counts, out[-3000:]


def test_adding_a_grid_value_trains_only_the_new_models(finished, tmp_path):
    work, cfg = clone(finished, tmp_path)
    before = {p: (work / "results/tiny/models" / p / "model.h5").stat().st_mtime_ns
              for p in pd.read_csv(work / "results/tiny/table.csv")["point"]}
    cfg["studies"]["tiny"]["grid"]["hidden"].append(12)
    counts, out = dry_run(work, cfg)
    assert counts["train"] == 2, out  # relu and sigmoid at h=12
    assert counts["aggregate"] == 1 and counts["evaluate"] == 1
    assert "prepare" not in counts and "fetch" not in counts
    r = run_snakemake(work, cfg, "--cores", "2", "results/tiny/table.csv")  # what it reads: the table
    table = pd.read_csv(work / "results/tiny/table.csv")
    assert len(table) == 4 and set(table["hidden"]) == {8, 12}
    # the console says where each study stands: models done / total, the best so far, the time left
    board = re.findall(r"^\[twolayer\] tiny: (\d)/4 models, best val (\d+\.\d\d)% \((\S+)\); this run: (\d)/2 trained, (.*)$",
                       r.stderr, re.M)
    assert [(b[0], b[3]) for b in board] == [("3", "1"), ("4", "2")], r.stderr[-3000:]
    best = table.sort_values(["val_acc", "point"], ascending=[False, True]).iloc[0]
    assert board[-1][1] == f"{100 * best['val_acc']:.2f}" and board[-1][2] == best["point"]
    assert board[0][4].startswith("about ") and board[0][4].endswith(" left") and board[1][4] == "done"
    for p, mtime in before.items():  # the old models were not retrained
        assert (work / "results/tiny/models" / p / "model.h5").stat().st_mtime_ns == mtime


def test_a_failed_job_shows_its_message_on_the_console(served, tmp_path):
    """Offline (or a dead mirror): the console shows the fetch's own message, not only 'Error in rule fetch'."""
    url, spec, _ = served
    cfg = tiny_config(url, spec, fashion=False)
    cfg["datasets"]["tiny_mnist"]["urls"] = [f"{url}/gone/"]
    del cfg["studies"]["spiral"]
    r = run_snakemake(tmp_path, cfg, "--cores", "1", check=False)
    assert r.returncode != 0
    assert "error: could not obtain " in r.stderr, r.stderr[-3000:]
    for f in spec["files"].values():  # every file, with what to do about it
        assert f"could not obtain {f['name']} of dataset 'tiny_mnist':" in r.stderr and f"Put a copy of {f['name']}" in r.stderr


def test_config_values_reach_the_shell_quoted(served, tmp_path, closed_port):
    """A raw directory with a space is one argument, one with ';' runs no command: the
    dataset is found in the first (its mirror refuses connections), and nothing is touched."""
    url, spec, _ = served
    cfg = tiny_config(url, spec, fashion=False)
    spaced, hostile = tmp_path / "my raw data", tmp_path / "x; touch PWNED #"
    hostile.mkdir()
    make_idx_dataset(spaced / "tiny_mnist", n_train=240, n_test=60, seed=3)  # the served files, byte for byte
    cfg["raw_dirs"] = [str(hostile), str(spaced)]
    cfg["datasets"]["tiny_mnist"]["urls"] = [f"http://127.0.0.1:{closed_port}/"]
    work = tmp_path / "work"
    run_snakemake(work, cfg, "--cores", "1", "results/raw/tiny_mnist/provenance.json")
    prov = json.loads((work / "results/raw/tiny_mnist/provenance.json").read_text())
    assert {f["origin"] for f in prov["files"].values()} == {f"local:{spaced / 'tiny_mnist' / f['name']}" for f in spec["files"].values()}
    assert not list(tmp_path.rglob("PWNED")) and not list(Path.cwd().glob("PWNED"))


def test_changing_a_setting_reruns_what_it_touches(finished, tmp_path):
    work, cfg = clone(finished, tmp_path)
    cfg["studies"]["tiny"]["training"]["steps"] = 500
    counts, _ = dry_run(work, cfg)
    assert counts["train"] == 2 and "prepare" not in counts  # every tiny model, nothing else upstream
    cfg["recipes"]["tiny"]["split"]["seed"] = 2
    counts, _ = dry_run(work, cfg)
    assert counts["prepare"] == 1 and counts["train"] == 2 and "fetch" not in counts


def _code_copy(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(REPO / "src" / "twolayer", src / "twolayer", ignore=shutil.ignore_patterns("__pycache__"))
    return src, {"PYTHONPATH": str(src)}


def test_code_edits_rerun_exactly_their_steps(finished, tmp_path):
    work, cfg = clone(finished, tmp_path)
    src, env = _code_copy(tmp_path)
    counts, out = dry_run(work, cfg, env=env)
    assert "Nothing to be done" in out  # the copy is the same code
    # comments and docstrings are not code
    kernels = src / "twolayer" / "nn" / "kernels.py"
    kernels.write_text('"""Edited docstring."""\n# a comment\n' + kernels.read_text().split('"""', 2)[2])
    counts, out = dry_run(work, cfg, env=env)
    assert "Nothing to be done" in out
    # a change to the training code retrains every model, and what depends on them
    kernels.write_text(kernels.read_text() + "\nEDITED = True\n")
    counts, _ = dry_run(work, cfg, env=env)
    n_models = sum(len(pd.read_csv(work / f"results/{s}/table.csv")) for s in cfg["studies"])
    assert counts["train"] == n_models and counts["aggregate"] == len(cfg["studies"])
    assert "prepare" not in counts
    # a change to one figure's code redraws that figure only
    kernels.write_text(kernels.read_text().replace("\nEDITED = True\n", ""))
    curves = src / "twolayer" / "study" / "report" / "figures" / "curves.py"
    assert 'ax1.set_title("loss")' in curves.read_text()
    curves.write_text(curves.read_text().replace('ax1.set_title("loss")', 'ax1.set_title("training loss")'))
    counts, out = dry_run(work, cfg, env=env)
    # (and the report's summaries: each study's page shows its curves; the overview links those pages)
    assert counts == {"figure": len(cfg["studies"]), "study_summary": len(cfg["studies"]), "summary": 1, "all": 1}, out[-3000:]


BAD_CONFIGS = {
    "unknown activation": (lambda c: c["studies"]["tiny"]["grid"].update(activation=["gelu"]), "studies.tiny.grid.activation[0]", "'gelu' is not one of"),
    "unknown optimizer": (lambda c: c["studies"]["tiny"]["training"].update(optimizer={"name": "adagrad"}), "studies.tiny.training.optimizer.name", "'adagrad' is not one of"),
    "negative step size": (lambda c: c["studies"]["tiny"]["grid"].update(lr=[-0.1]), "studies.tiny.grid.lr[0]", "less than or equal to the minimum of 0"),
    "empty grid list": (lambda c: c["studies"]["tiny"]["grid"].update(reg=[]), "studies.tiny.grid.reg", "should be non-empty"),
    "empty grid": (lambda c: c["studies"]["tiny"].update(grid={}), "studies.tiny.grid", "should be non-empty"),
    "YAML string": (lambda c: c["studies"]["tiny"]["grid"].update(lr=["1e-3"]), "studies.tiny.grid.lr[0]", "write it as 1.0e-3"),
    "unknown key": (lambda c: c["studies"]["tiny"]["training"].update(learning_rate=0.1), "studies.tiny.training", "unknown key(s) ('learning_rate' was unexpected)"),
    "wrong type": (lambda c: c["studies"]["tiny"]["training"].update(steps="many"), "studies.tiny.training.steps", "'many' is not of type 'integer'"),
    "hidden size 0": (lambda c: c["studies"]["tiny"]["grid"].update(hidden=[0]), "studies.tiny.grid.hidden[0]", "0 is less than the minimum of 1"),
    "escaping study name": (lambda c: c["studies"].update({"../x": c["studies"]["tiny"]}), "studies", "'../x' does not match"),
    "unknown dataset": (lambda c: c["studies"]["tiny"].update(dataset="imagenet"), "studies.tiny.dataset", "unknown dataset 'imagenet'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_config_errors_are_refused_before_any_job(tmp_path, case):
    mutate, key, message = BAD_CONFIGS[case]
    cfg = tiny_config("http://127.0.0.1:9/", make_idx_dataset(tmp_path / "d")[1], fashion=False)
    mutate(cfg)
    work = tmp_path / "work"
    work.mkdir()
    r = run_snakemake(work, cfg, "-n", check=False)
    err = r.stdout + r.stderr
    assert r.returncode != 0
    assert f"{key}:" in err and message in err, err[-3000:]
    assert "Traceback" not in err
    assert not (work / "results").exists()


def test_yaml_1e_minus_3_really_is_a_string(tmp_path):
    """The reason for the YAML-string check: PyYAML (YAML 1.1) reads 1e-3 as text."""
    assert yaml.safe_load("lr: [1e-3, 1.0e-3]") == {"lr": ["1e-3", 0.001]}


def test_default_config_dry_run_lists_every_job(tmp_path):
    counts, out = dry_run(tmp_path, None, "--configfile", str(REPO / "config" / "config.yaml"))
    assert counts["train"] == 336 + 1 + 2 + 6 + 27 + 336 + 10
    for study, n in {"mnist_paper": 336, "mnist_bias": 1, "cifar10_default": 2, "cifar10_001": 6, "cifar10_cs231n": 27,
                     "fashion_mnist": 336, "spiral": 10}.items():
        assert out.count(f"wildcards: study={study}, point=") == n
    assert counts["fetch"] == 3 and counts["prepare"] == 4


def test_lint_finds_nothing_but_the_environment_advice(tmp_path):
    r = run_snakemake(REPO, None, "--lint", check=False)
    out = r.stdout + r.stderr
    lints = [line.strip() for line in out.splitlines() if line.strip().startswith("* ")]
    assert lints, out  # the conda/container advice is expected
    assert all(line.startswith("* Specify a conda environment or container") for line in lints), lints
