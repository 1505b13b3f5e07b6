"""What verifying a dataset file on every load costs a training job (issue 19: at most 2%).

    python benchmarks/verify_cost.py                  # prepares the report's data in a temporary directory
    python benchmarks/verify_cost.py --data results/data/fashion_mnist/report_fitted.h5 --job-seconds 4.4

A training job loads the ``train`` and ``val`` splits (Fashion-MNIST, report_fitted: 55,000 + 5,000
rows x 784 float32). Timed, interleaved, ``--repeats`` times each (medians, then min-max):

* ``verified``: :func:`twolayer.data.store.load_split` of both splits, as a job does: the root
  attributes against their SHA-256, each array's shape, dtype and XXH3-128 against the record;
* ``unchecked``: the same arrays of the same file read as the store read them before (one
  ``read_direct`` per X, no check): what a load cost before;
* ``sha256``, ``fletcher32``: the alternatives not taken: hashing the loaded arrays with SHA-256
  (hashlib), and the train and val arrays in a copy stored with HDF5's per-chunk Fletcher-32,
  read (its time minus ``unchecked``'s is that check's cost).

The cost is ``verified - unchecked``, as a fraction of one training job's wall time: measured here
(``twolayer train`` on the middle point of config/config.yaml's fashion_mnist: the report's protocol,
240,000 steps) unless ``--job-seconds`` is given.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (one BLAS thread)
import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[1]
RAW = "/usr/share/datasets/fashion-mnist"
SPLITS = ("train", "val")


def verified(path):
    from twolayer.data.store import load_split

    return [load_split(path, s) for s in SPLITS]


def unchecked(path):
    """What a load did before: read_direct of X, y in one call, no attribute or checksum test."""
    out = []
    with h5py.File(path, "r") as f:
        for s in SPLITS:
            dx = f[s]["X"]
            X = np.empty(dx.shape, dtype=dx.dtype)
            dx.read_direct(X)
            out.append((X, f[s]["y"][()]))
    return out


def write_fletcher32(path, out):
    """The train and val arrays of ``path`` with the same chunks, and HDF5's per-chunk Fletcher-32."""
    with h5py.File(path, "r") as f, h5py.File(out, "w") as g:
        for s in SPLITS:
            X = f[f"{s}/X"]
            g.create_dataset(f"{s}/X", data=X[()], chunks=X.chunks, fletcher32=True)
            g.create_dataset(f"{s}/y", data=f[f"{s}/y"][()], chunks=True, fletcher32=True)
    return out


def prepare(tmp):
    out = Path(tmp) / "report_fitted.h5"
    cmd = ["twolayer", "prepare", "fashion_mnist", "--recipe", "report_fitted", "--raw-dir", RAW, "--out", str(out)]
    print("$", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def job_seconds(data, tmp):
    """Wall time of one ``twolayer train`` of the middle point of config.yaml's fashion_mnist on ``data``."""
    from twolayer.study.plan.config import load

    study = load(REPO / "config/config.yaml").study("fashion_mnist")
    spec = study.spec(study.points[len(study.points) // 2].id)
    cmd = ["twolayer", "--threads", "1", "train", "--spec", json.dumps(spec), "--data", str(data),
           "--model", str(Path(tmp) / "model.h5"), "--metrics", str(Path(tmp) / "metrics.json")]
    print(f"$ twolayer --threads 1 train --spec '<fashion_mnist {spec['point']}>' --data {data} --model ... --metrics ...",
          flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="a prepared report_fitted.h5 (default: prepared from Debian's copy in a temporary directory)")
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--job-seconds", type=float, help="a training job's wall time (default: measure one)")
    args = p.parse_args(argv)
    print("$", shlex.join(["python", "benchmarks/verify_cost.py", *(argv if argv is not None else sys.argv[1:])]))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else prepare(tmp)
        ref = verified(data)
        f32 = write_fletcher32(data, Path(tmp) / "fletcher32.h5")
        same = all(np.array_equal(a, b) for pa, pb in zip(ref, unchecked(data)) for a, b in zip(pa, pb))
        assert same, "the unchecked read differs from the verified one"
        arrays = [a for pair in ref for a in pair]
        mb = sum(a.nbytes for a in arrays) / 1e6
        variants = {
            "verified": lambda: verified(data),
            "unchecked": lambda: unchecked(data),
            "sha256": lambda: [hashlib.sha256(a.reshape(-1).view(np.uint8).data).digest() for a in arrays],
            "fletcher32": lambda: unchecked(f32),
        }
        times = {k: [] for k in variants}
        for _ in range(args.repeats):
            for k, fn in variants.items():  # interleaved, so a busy moment hits all three
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        job = args.job_seconds if args.job_seconds is not None else job_seconds(data, tmp)

    med = {k: statistics.median(v) for k, v in times.items()}
    cost = med["verified"] - med["unchecked"]
    print(f"data: {data.name}, train + val: {mb:.0f} MB ({', '.join(f'{s} X {r[0].shape}' for s, r in zip(SPLITS, ref))})")
    for k, v in times.items():
        print(f"  {k:9s} {med[k] * 1e3:7.1f} ms  ({min(v) * 1e3:.1f}-{max(v) * 1e3:.1f}, {len(v)} runs)")
    print(f"training job: {job:.2f} s" + (" (given)" if args.job_seconds is not None else " (measured)"))
    print(f"verification on load: {cost * 1e3:.1f} ms = {100 * cost / job:.2f}% of a training job (target <= 2%)")
    print(f"instead, SHA-256 of the arrays: {med['sha256'] * 1e3:.1f} ms = {100 * med['sha256'] / job:.2f}%; "
          f"HDF5's Fletcher-32: {(med['fletcher32'] - med['unchecked']) * 1e3:.1f} ms = "
          f"{100 * (med['fletcher32'] - med['unchecked']) / job:.2f}%")
    return 0 if cost / job <= 0.02 else 1


if __name__ == "__main__":
    sys.exit(main())
