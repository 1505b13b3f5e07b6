"""Faults, bad input and interruptions: nothing lost, nothing half-written, identical results."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import pandas as pd
import pytest
from conftest import serving_idx_dataset
from workflow_helpers import REPO, run_snakemake, snakemake_command, study_results

from twolayer.study.analysis.aggregate import RUNTIME_COLUMNS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serving_idx_dataset(tmp_path_factory.mktemp("served"), n_train=300, n_test=100, seed=5) as (url, spec, _):
        yield url, spec


def grid_config(url, spec, steps=60000, lrs=(1.0e-2, 5.0e-2)):
    """Eight models of about a second each: long enough to be interrupted in the middle."""
    return {
        "raw_dirs": [],
        "datasets": {"tiny_mnist": {**spec, "urls": [f"{url}/ok/"]}},
        "recipes": {"tiny": {"split": {"kind": "random", "val": 50, "seed": 2},
                             "normalise": {"kind": "standardise", "mean": 0.5, "std": 0.25}}},
        "studies": {
            "grid": {
                "dataset": "tiny_mnist",
                "recipe": "tiny",
                "seed": 3,
                "model": {"init": "report", "bias": False, "dtype": "float32"},
                "training": {"steps": steps, "batch_size": 1, "log_every": 100, "eval_every": 20000,
                             "eval_train_subset": 100,
                             "schedule": {"name": "exponential", "gamma": 0.9, "decay_steps": 10000}},
                "grid": {"activation": ["relu", "sigmoid"], "hidden": [8, 16], "lr": list(lrs), "reg": [1.0e-5]},
            }
        },
    }


def deterministic_view(work, study="grid"):
    """Everything a run produces that must not depend on how it ran."""
    res = Path(work) / "results" / study
    table = pd.read_csv(res / "table.csv").drop(columns=RUNTIME_COLUMNS)
    weights = {}
    for model in sorted(res.glob("models/**/model.h5")):
        with h5py.File(model) as f:
            weights[str(model.relative_to(res))] = {k: f["params"][k][()].tobytes() for k in f["params"]}
            weights[str(model.relative_to(res))]["history.loss"] = f["history/loss"][()].tobytes()
    return {
        "table": table.to_csv(index=False),
        "winner": (res / "winner.json").read_text(),
        "test": (res / "test.json").read_text(),
        "tables": {p.name: p.read_text() for p in sorted((res / "tables").glob("*"))},
        "weights": weights,
    }


def recorded_complete(work):
    """Model files that exist and that Snakemake has recorded as complete (no 'incomplete' marker)."""
    import base64

    markers = work / ".snakemake" / "incomplete"
    pending = set()
    if markers.exists():
        for m in markers.iterdir():
            try:
                pending.add(base64.urlsafe_b64decode(m.name).decode())
            except ValueError:
                continue
    models = work / "results" / "grid" / "models"
    found = list(models.rglob("model.h5")) if models.exists() else []
    return [m for m in found if str(m.relative_to(work)) not in pending and m.with_name("metrics.json").exists()]


def start_snakemake(work, config, *args):
    """snakemake in the background, in a session of its own (so that its whole tree can be killed)."""
    cmd = snakemake_command(work, config, *args)
    return subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, served):
    """An uninterrupted run with one core."""
    url, spec = served
    work = tmp_path_factory.mktemp("reference")
    run_snakemake(work, grid_config(url, spec), "--cores", "1", *study_results("grid"))
    return work


def test_same_config_gives_identical_results_with_1_or_2_cores_and_from_scratch(reference, served, tmp_path):
    url, spec = served
    ref = deterministic_view(reference)
    two = tmp_path / "two"
    run_snakemake(two, grid_config(url, spec), "--cores", "2", *study_results("grid"))
    assert deterministic_view(two) == ref
    # and the seeds are in the model files
    with h5py.File(next((two / "results/grid/models").rglob("model.h5"))) as f:
        assert json.loads(f.attrs["seeds"])["root"] == 3
        assert json.loads(f.attrs["spec"])["seed"] == 3
        # the served images are 80% blank, as MNIST's: the sparse batch-1 kernel's bits are what agree
        assert json.loads(f.attrs["train_settings"])["kernel"] == "batch1_sparse"


def test_kill_9_and_resume_retrains_only_the_unfinished_and_changes_nothing(reference, served, tmp_path):
    url, spec = served
    work = tmp_path / "killed"
    proc = start_snakemake(work, grid_config(url, spec), "--cores", "2", *study_results("grid"))
    models = work / "results/grid/models"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(recorded_complete(work)) < 2:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process tree, mid-grid
    proc.wait()
    finished = {m: m.stat().st_mtime_ns for m in recorded_complete(work)}
    assert 2 <= len(finished) < 8, "the kill came too late to interrupt anything"
    # nothing half-written under a final name: every model.h5 there is a complete file
    for model in models.rglob("model.h5"):
        with h5py.File(model) as f:
            assert f.attrs["format"] == "twolayer-model"
    # a plain rerun refuses to guess: the lock of the killed run is stale, and outputs that exist but
    # whose job was not recorded as finished are "incomplete" (which of the two it reports first
    # depends on where the kill fell)
    r = run_snakemake(work, None, "--configfile", str(work / "config.yaml"), "--cores", "1", "--rerun-incomplete", *study_results("grid"), check=False)
    assert r.returncode != 0 and "Directory cannot be locked" in r.stdout + r.stderr
    # the documented way back: unlock, then rerun what was incomplete
    run_snakemake(work, None, "--configfile", str(work / "config.yaml"), "--unlock")
    r = run_snakemake(work, None, "--configfile", str(work / "config.yaml"), "--cores", "2", "--rerun-incomplete", *study_results("grid"))
    retrained = len(re.findall(r"rule train:", r.stdout + r.stderr))
    assert retrained == 8 - len(finished)
    for model, mtime in finished.items():
        assert model.stat().st_mtime_ns == mtime  # not retrained
    assert deterministic_view(work) == deterministic_view(reference)


def test_diverging_models_finish_recorded_and_never_win(served, tmp_path):
    url, spec = served
    cfg = grid_config(url, spec, steps=2000, lrs=(1.0e-2, 1.0e6))  # (1e4 leaves ReLUs dead on mostly blank images, finite)
    cfg["studies"]["grid"]["grid"]["activation"] = ["relu"]
    run_snakemake(tmp_path, cfg, "--cores", "2", *study_results("grid", "figures/heatmap.png"))
    res = tmp_path / "results/grid"
    table = pd.read_csv(res / "table.csv")
    div = table[table["lr"] == 1.0e6]
    assert (div["status"] == "diverged").all() and div["diverged_step"].notna().all()
    assert div["val_acc"].isna().all() and div["train_acc"].isna().all()
    assert "nan" not in (res / "table.csv").read_text().lower()
    winner = json.loads((res / "winner.json").read_text())
    assert winner["hyperparameters"]["lr"] == 1.0e-2 and winner["models_diverged"] == len(div)
    listing = (res / "tables/listing.md").read_text()
    assert listing.count("diverged at step") == len(div)
    assert (res / "figures/heatmap.png").stat().st_size > 0


def test_a_second_concurrent_run_is_refused_and_harms_nothing(reference, served, tmp_path):
    url, spec = served
    work = tmp_path / "busy"
    first = start_snakemake(work, grid_config(url, spec), "--cores", "1", *study_results("grid"))
    locks = work / ".snakemake" / "locks"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (locks.exists() and any(locks.iterdir())):
        time.sleep(0.05)
    # hold the first run still while the second one tries (on a busy machine the second one's start-up
    # could otherwise outlast the first run, and there would be nothing left to refuse)
    os.killpg(first.pid, signal.SIGSTOP)
    try:
        assert first.poll() is None, "the first run ended before the second one could start"
        second = run_snakemake(work, None, "--configfile", str(work / "config.yaml"), "--cores", "1", *study_results("grid"), check=False)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    out = second.stdout + second.stderr
    assert second.returncode != 0
    # Snakemake's lock message; or, when the second run meets outputs the first is still finishing,
    # its "incomplete files" message (it checks those before taking the lock). Either way it stops.
    assert "Directory cannot be locked" in out or "IncompleteFilesException" in out, out[-2000:]
    assert first.wait(timeout=300) == 0, first.stdout.read()[-3000:]
    assert deterministic_view(work) == deterministic_view(reference)


def test_a_job_out_of_memory_fails_cleanly_and_is_retried_with_more(served, tmp_path):
    url, spec = served
    # this machine's baseline: the resident memory of a job once NumPy, SciPy and h5py are loaded
    # and the compiled loop mapped, as every job of this float32 batch-1 study maps it. The first
    # probe stores the loop if the cache lacks it (compiling imports Numba, which a job that maps
    # the stored object does not); the second measures a job's start as the jobs will have it.
    code = ("import numpy as np, twolayer.study.run.runner; from twolayer.nn.kernels import load_compiled_loop; "
            "from twolayer.study.plan.resources import rss_bytes; load_compiled_loop(np.float32); print(rss_bytes())")
    for _ in range(2):
        probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                               env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    baseline_mb = int(probe.stdout) / 1e6
    cfg = grid_config(url, spec, steps=500)
    cfg["studies"]["grid"]["grid"] = {"activation": ["relu"], "hidden": [8], "lr": [1.0e-2], "reg": [1.0e-5]}
    from twolayer.study.plan.config import validate

    plan = validate(cfg)
    estimate = plan.train_mem_mb("grid", "act~relu/h~8/lr~0.01/reg~1e-05", 0.5)
    # attempt 1 gets 80% of the baseline (too little), attempt 2 twice that (enough)
    cfg["resources"] = {"train": {"mem_factor": 0.8 * baseline_mb / estimate, "retries": 1}}
    r = run_snakemake(tmp_path, cfg, "--cores", "1", *study_results("grid"))
    out = r.stdout + r.stderr
    assert "Error in rule train" in out and "Trying to restart job" in out, out[-3000:]
    budgets = [int(m) for m in re.findall(r"rule train:(?:(?!\nrule ).)*?mem_mb=(\d+)", out, re.S)]
    assert len(budgets) == 2 and budgets[1] in (2 * budgets[0], 2 * budgets[0] + 1)  # attempt 2 gets twice the memory
    table = pd.read_csv(tmp_path / "results/grid/table.csv")
    assert (table["status"] == "ok").all()


def _train_cli(tmp_path, extra, steps, env=None):
    from twolayer.data.prepare import prepare_dataset
    from twolayer.data.preprocess import get_recipe
    from twolayer.data.sources import get_source
    from twolayer.study.plan.config import validate

    data = tmp_path / "spiral.h5"
    prepare_dataset(get_source("spiral"), "spiral", get_recipe("spiral"), None, data)
    cfg = {"studies": {"s": {"dataset": "spiral", "recipe": "spiral", "model": {"hidden": 50, "dtype": "float64"},
                             "training": {"steps": steps, "batch_size": 1, "lr": 0.01}, "grid": {"reg": [0.0]}}}}
    spec = validate(cfg).study("s").spec("reg~0.0")
    out = tmp_path / "m"
    cmd = [sys.executable, "-m", "twolayer", "train", "--spec", json.dumps(spec), "--data", str(data),
           "--model", str(out / "model.h5"), "--metrics", str(out / "metrics.json"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}), out


@pytest.mark.parametrize("loop_cache", ["warm", "cold"])
def test_a_job_over_its_time_budget_stops_cleanly(tmp_path, loop_cache):
    """Stopped while it trains, or while it still compiles the batch-1 loop (the first job on a
    machine): the time budget is not taken for a failure of the loop's fast start."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    if loop_cache == "warm":
        subprocess.run([sys.executable, "-c", "import numpy as np; from twolayer.nn.kernels import load_compiled_loop; "
                        "load_compiled_loop(np.float64)"], check=True, env={**os.environ, **env})
    t0 = time.monotonic()
    r, out = _train_cli(tmp_path, ["--runtime-min", "0.02"], steps=10**8, env=env)
    assert time.monotonic() - t0 < 30, r.stderr[-2000:]
    assert r.returncode == 2 and "exceeded its time budget of 0.02 min (resources.runtime)" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists() or not any(out.iterdir())  # no model, no metrics, no temporary


def test_a_time_budget_swallowed_once_is_raised_again():
    """A library that swallows the first timeout (Numba compiling the loop on a busy machine
    did) does not let the job run on unbounded: the timer raises again until the job ends."""
    script = textwrap.dedent("""
        import time
        from twolayer.study.plan.resources import TIMEOUT_REPEAT_S, JobTimeout, apply_limits, release_limits
        apply_limits(runtime_min=0.5 / 60)
        swallowed = 0
        try:
            try:
                time.sleep(60)
            except Exception:  # what a careless library does
                swallowed += 1
            time.sleep(60)
        except JobTimeout:
            release_limits()
            time.sleep(2 * TIMEOUT_REPEAT_S)  # released: no further alarm ends the process
            print("raised again after", swallowed, "swallowed")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "raised again after 1 swallowed", r.stdout + r.stderr


def test_a_job_over_its_memory_budget_stops_cleanly(tmp_path):
    r, out = _train_cli(tmp_path, ["--mem-mb", "20"], steps=100)
    assert r.returncode == 3 and "ran out of its memory budget of 20 MB (resources.mem_mb)" in r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_atomic_writes_leave_nothing_or_the_old_version(tmp_path):
    from twolayer.atomic import atomic_path, write_json

    dest = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            Path(tmp).write_text('{"half": ')
            raise RuntimeError("crash in the middle")
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    write_json(dest, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            Path(tmp).write_text("garbage")
            raise RuntimeError("crash in the middle")
    assert json.loads(dest.read_text()) == {"v": 1} and list(tmp_path.iterdir()) == [dest]
    # a temporary left by a killed writer is cleared by the next write, and never read
    stale = tmp_path / f".out.json.tmp-{os.getpid() + 1}"
    stale.write_text("stale")
    write_json(dest, {"v": 2})
    assert not stale.exists() and json.loads(dest.read_text()) == {"v": 2}


def test_a_data_file_from_another_recipe_is_refused_before_training(reference, served, tmp_path):
    """Someone replaced results/data/...: the training jobs refuse it at once, naming the file."""
    url, spec = served
    import shutil

    work = tmp_path / "work"
    shutil.copytree(reference, work, symlinks=True)
    data = work / "results/data/tiny_mnist/tiny.h5"
    from twolayer.data.prepare import prepare_dataset
    from twolayer.data.preprocess import get_recipe
    from twolayer.data.sources import get_source

    prepare_dataset(get_source("spiral"), "spiral", get_recipe("spiral"), None, data)
    shutil.rmtree(work / "results/grid/logs/train")  # keep only the logs of this run
    r = run_snakemake(work, None, "--configfile", str(work / "config.yaml"), "--cores", "2", *study_results("grid"), check=False)
    assert r.returncode != 0
    logs = "".join(p.read_text() for p in (work / "results/grid/logs/train").rglob("*.log"))
    assert logs
    assert f"error: {Path('results/data/tiny_mnist/tiny.h5')}: provenance mismatch: it holds dataset 'spiral', expected 'tiny_mnist'" in logs
    assert "Delete the file and rerun" in logs
    assert "steps/s" not in logs  # refused before any training step


def test_no_pickle_is_ever_loaded():
    src = REPO / "src" / "twolayer"
    text = "\n".join(p.read_text() for p in src.rglob("*.py"))
    assert not re.search(r"^\s*(import pickle|from pickle|import cPickle|import dill|import joblib)", text, re.M)
    assert "allow_pickle=True" not in text and "np.load(" not in text and "torch.load(" not in text


def test_file_names_from_config_cannot_escape(tmp_path):
    from twolayer.data.sources import source_from_dict

    with pytest.raises(ValueError, match="must be a plain file name"):
        source_from_dict("x", {"format": "idx", "classes": ["a", "b"], "files": {"train_images": {"name": "../../etc/x", "md5": "0" * 32}}})
    with pytest.raises(ValueError, match="no '/'"):
        source_from_dict("../x", {"format": "generated", "classes": ["a", "b"]})
