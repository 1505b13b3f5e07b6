"""Whole studies through the real Snakemake on this machine: wall time, per-job overhead, memory.

* ``fashion_mnist``: the report's protocol, all 336 models, on Debian's Fashion-MNIST
  (the ``fashion_mnist`` study of config/config.yaml without its refine stage);
* ``cifar_shaped``: the ``cifar10_cs231n`` study (27 models) on generated data of
  CIFAR-10's exact format and size (50,000 + 10,000 random 32x32x3 images, packed as
  ``cifar-10-binary.tar.gz``): CIFAR-10 itself cannot be downloaded here.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def default_config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def run_snakemake(work, config, cores, log):
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "config.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    exe = shutil.which("snakemake")
    cmd = [exe, "-s", str(REPO / "Snakefile"), "--directory", str(work), "--configfile", str(cfg), "--cores", str(cores)]
    t0 = time.time()
    with open(log, "w") as fh:
        subprocess.run(cmd, cwd=work, stdout=fh, stderr=subprocess.STDOUT, check=True, env={**os.environ})
    return time.time() - t0


def summarise(work, study, wall, cores, data_file):
    res = work / "results" / study
    table = pd.read_csv(res / "table.csv")
    prep = pd.read_csv(next((work / "results" / "benchmarks" / "prepare").rglob("*.tsv")), sep="\t")
    import h5py

    with h5py.File(data_file) as f:
        loaded = sum(f[s][k].size * f[s][k].dtype.itemsize for s in ("train", "val") for k in ("X", "y"))
    job_wall = table["bench_s"]
    inside = table["seconds"]  # train_model(): steps + evaluations
    overhead = job_wall - inside
    return {
        "models": int(len(table)),
        "diverged": int((table["status"] != "ok").sum()),
        "cores": cores,
        "wall_s": wall,
        "prepare_s": float(prep["s"].iloc[-1]),
        "sum_job_wall_s": float(job_wall.sum()),
        "sum_train_model_s": float(inside.sum()),
        "sum_steps_s": float(table["train_seconds"].sum()),
        "sum_eval_s": float(table["eval_seconds"].sum()),
        "sum_load_s": float(table["load_seconds"].sum()),
        "job_overhead_median_s": float(overhead.median()),
        "job_overhead_max_s": float(overhead.max()),
        # everything that is not train_model(), over the machine time the run had
        "overhead_fraction": 1.0 - float(inside.sum()) / (wall * cores),
        "peak_rss_mb_max": float(table["peak_rss_mb"].max()),
        "bench_max_rss_mb_max": float(table["bench_max_rss_mb"].max()),
        "loaded_mb": loaded / 2**20,
        "projection_8_cores_s": float(prep["s"].iloc[-1]) + float(job_wall.sum()) / 8,
        "best": table.sort_values("val_acc").iloc[-1][["point", "val_acc"]].to_dict(),
        "test_acc": pd.read_json(res / "test.json", typ="series").get("accuracy"),
    }


def fashion_mnist(out_dir, cores=2):
    cfg = default_config()
    study = copy.deepcopy(cfg["studies"]["fashion_mnist"])
    study.pop("refine", None)  # the grid's 336 models; the refine stage is measured on its own (docs/performance.md)
    config = {"raw_dirs": ["/usr/share/datasets"], "studies": {"fashion_mnist": study}}
    work = Path(out_dir) / "fashion_mnist"
    if work.exists():
        shutil.rmtree(work)
    wall = run_snakemake(work, config, cores, Path(out_dir) / "fashion_mnist.log")
    return summarise(work, "fashion_mnist", wall, cores, data_file(work))


def make_cifar_shaped(directory, seed=0):
    """A cifar-10-binary.tar.gz of random images with CIFAR-10's members and sizes; returns its md5."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cifar-10-binary.tar.gz"
    buf = io.BytesIO()
    names = [f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)] + ["cifar-10-batches-bin/test_batch.bin"]
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for name in names:
            rec = rng.integers(0, 256, (10000, 3073), dtype=np.uint8)
            rec[:, 0] = rng.integers(0, 10, 10000)
            info = tarfile.TarInfo(name)
            data = rec.tobytes()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return hashlib.md5(path.read_bytes()).hexdigest(), names


def cifar_shaped(out_dir, cores=2):
    cfg = default_config()
    work = Path(out_dir) / "cifar_shaped"
    if work.exists():
        shutil.rmtree(work)
    md5, names = make_cifar_shaped(work / "resources" / "raw" / "cifar_generated")
    source = copy.deepcopy(yaml.safe_load((REPO / "src/twolayer/data/sources.yaml").read_text())["cifar10"])
    source.update(urls=[], dirnames=["cifar_generated"], description="random images in CIFAR-10's binary format")
    source["files"]["archive"]["md5"] = md5
    study = copy.deepcopy(cfg["studies"]["cifar10_cs231n"])
    study["dataset"] = "cifar_generated"
    config = {"raw_dirs": ["resources/raw"], "datasets": {"cifar_generated": source}, "studies": {"cifar_shaped": study}}
    wall = run_snakemake(work, config, cores, Path(out_dir) / "cifar_shaped.log")
    return summarise(work, "cifar_shaped", wall, cores, data_file(work))


def data_file(work):
    """The one dataset file a study's run prepared (its name follows the recipe)."""
    (path,) = (Path(work) / "results" / "data").glob("*/*.h5")
    return path


def wall_from_log(work):
    """A finished run's wall time, from its Snakemake log: named by its start, last written at its end."""
    import datetime

    (log,) = (Path(work) / ".snakemake" / "log").glob("*.snakemake.log")
    started = datetime.datetime.strptime(log.name.split(".")[0], "%Y-%m-%dT%H%M%S").timestamp()
    return log.stat().st_mtime - started


def summarise_existing(out_dir, cores=2):
    """The studies already run under ``out_dir`` (by an earlier ``run.py``), summarised again."""
    found = {}
    for study in ("cifar_shaped", "fashion_mnist"):
        work = Path(out_dir) / study
        if (work / "results" / study / "table.csv").exists():
            found[study] = summarise(work, study, wall_from_log(work), cores, data_file(work))
    return found
