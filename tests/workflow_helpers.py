"""Running the real snakemake on a working directory, and reading what it did."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"


def study_results(study, *extra):
    """Targets for a run whose test reads a study's numbers only: its table, winner, test and
    paper tables (what ``deterministic_view`` compares), and the files of ``extra`` (paths under
    results/<study>/). The figures, the winner's replay and the report's pages, which such a test
    does not read, are left out: a run makes 16 of the 37 jobs of a full one."""
    from twolayer.study.analysis.tables import TABLES

    files = ["table.csv", "winner.json", "test.json", *(f"tables/{t}.{ext}" for t in TABLES for ext in ("csv", "md", "tex")), *extra]
    return [f"results/{study}/{f}" for f in files]


def snakemake_cmd():
    exe = shutil.which("snakemake")
    return [exe] if exe else [sys.executable, "-m", "snakemake"]


def snakemake_command(workdir, config=None, *args):
    """The command line for ``workdir`` (``config``, if given, written to workdir/config.yaml)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [*snakemake_cmd(), "-s", str(SNAKEFILE), "--directory", str(workdir)]
    if config is not None:
        cfg = workdir / "config.yaml"
        cfg.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd += ["--configfile", str(cfg)]
    return cmd + list(args)


def run_snakemake(workdir, config=None, *args, env=None, check=True, timeout=900):
    """Run snakemake in ``workdir`` (with ``config`` written to workdir/config.yaml)."""
    cmd = snakemake_command(workdir, config, *args)
    full_env = {**os.environ, **(env or {})}
    r = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"snakemake failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-6000:]}")
    return r


def job_counts(output):
    """{rule: count} from the 'Job stats' table of a snakemake (dry) run."""
    counts = {}
    m = re.search(r"Job stats:\n(.*?)\n\n", output + "\n\n", re.S)
    if not m:
        return counts
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def dry_run(workdir, config=None, *args, env=None):
    r = run_snakemake(workdir, config, "-n", "--cores", "2", *args, env=env)
    out = r.stdout + r.stderr
    return job_counts(out), out


def tiny_config(base_url, tiny_spec, fashion=True):
    """Three small studies: the spiral, a generated MNIST-format dataset served on 127.0.0.1,
    and a slice of Debian's Fashion-MNIST."""
    cfg = {
        "raw_dirs": ["/usr/share/datasets"],
        "download": {"timeout": 5, "retries": 1},
        "datasets": {"tiny_mnist": {**copy.deepcopy(tiny_spec), "urls": [f"{base_url}/ok/"]}},
        "recipes": {
            "tiny": {"split": {"kind": "random", "val": 40, "seed": 1}, "normalise": {"kind": "standardise", "mean": 0.5, "std": 0.25}},
            "slice": {"split": {"kind": "tail", "train": 600, "val": 200, "test": 300}, "normalise": {"kind": "standardise", "mean": 0.1307, "std": 0.3081}},
            "spiral_small": {"split": {"kind": "generated", "train": 40, "val": 40, "test": 40, "seed": 0}, "normalise": {"kind": "none"}},
        },
        "studies": {
            "spiral": {
                "dataset": "spiral",
                "recipe": "spiral_small",
                "model": {"init": "cs231n", "std": 0.01, "reg_convention": "half", "dtype": "float64"},
                "training": {"batch_size": None, "sampling": "full", "log_every": 10, "eval_every": 100},
                "grid": [
                    {"model": ["linear"], "steps": [50], "lr": [1.0], "reg": [1.0e-3]},
                    {"model": ["twolayer"], "hidden": [16], "steps": [300], "lr": [1.0], "reg": [1.0e-3]},
                ],
            },
            "tiny": {
                "dataset": "tiny_mnist",
                "recipe": "tiny",
                "model": {"init": "report", "bias": False, "dtype": "float32"},
                "training": {"steps": 400, "batch_size": 1, "log_every": 10, "eval_every": 100, "eval_train_subset": 50,
                             "schedule": {"name": "exponential", "gamma": 0.9, "decay_steps": 100}},
                "grid": {"activation": ["relu", "sigmoid"], "hidden": [8], "lr": [1.0e-2], "reg": [1.0e-5]},
            },
        },
    }
    if fashion:
        cfg["studies"]["fashion"] = {
            "dataset": "fashion_mnist",
            "recipe": "slice",
            "model": {"init": "report", "bias": False, "dtype": "float32", "activation": "sigmoid"},
            "training": {"steps": 600, "batch_size": 1, "log_every": 20, "eval_every": 200, "eval_train_subset": 100},
            "grid": {"hidden": [20], "lr": [5.0e-2], "reg": [1.0e-6]},
        }
    return cfg
