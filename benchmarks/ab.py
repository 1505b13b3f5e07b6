"""Two versions of the package side by side: seconds per step of whole training calls.

    python benchmarks/ab.py OLD_SRC NEW_SRC [--rounds 5]

OLD_SRC and NEW_SRC are ``src`` directories of two checkouts (e.g. a ``git worktree``
of the commit before a change). Each round runs every case once in each version, in
fresh processes, alternating, so that the shared machine's slow moments fall on both.
Prints the median and the minimum µs per step of each case and version, and the ratios new / old
(on a noisy shared machine the minima are the steadier comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CASES = {
    # the report's protocol: batch 1, loss logged every 100 steps, no biases
    "batch1 H=275 sigmoid": dict(H=275, act="sigmoid", batch=1, log_every=100, bias=False, steps=30000),
    "batch1 H=275 relu": dict(H=275, act="relu", batch=1, log_every=100, bias=False, steps=30000),
    # CS231n's minibatch (B=200), momentum
    "minibatch H=100 B=200": dict(H=100, act="relu", batch=200, log_every=1, bias=True, steps=300, optimizer="momentum"),
}

CHILD = r"""
import json, sys, time
import numpy as np
from twolayer import TrainSettings, TwoLayerNet, train_model
c = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
X = rng.standard_normal((20000, 784)).astype(np.float32); y = rng.integers(0, 10, 20000).astype(np.uint8)
opt = {"name": "momentum", "mu": 0.9} if c.get("optimizer") == "momentum" else {"name": "sgd"}
s = TrainSettings(steps=c["steps"], lr=1e-3, reg=1e-5, batch_size=c["batch"], optimizer=opt, log_every=c["log_every"],
                  eval_every=c["steps"], eval_train_subset=1000)
net = TwoLayerNet(784, c["H"], 10, activation=c["act"], bias=c["bias"], init="report", dtype=np.float32, seed=0)
train_model(net, X, y, X[:1000], y[:1000], TrainSettings(**{**s.__dict__, "steps": 500, "eval_every": 500}))
net = TwoLayerNet(784, c["H"], 10, activation=c["act"], bias=c["bias"], init="report", dtype=np.float32, seed=0)
h = train_model(net, X, y, X[:1000], y[:1000], s)
print(h.train_seconds / c["steps"])
"""


def run(src, case):
    env = {**os.environ, "PYTHONPATH": src, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(case)], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old_src")
    ap.add_argument("new_src")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    samples = {(name, v): [] for name in CASES for v in ("old", "new")}
    for r in range(args.rounds):
        for name, case in CASES.items():
            order = (("old", args.old_src), ("new", args.new_src)) if r % 2 == 0 else (("new", args.new_src), ("old", args.old_src))
            for v, src in order:
                samples[(name, v)].append(run(src, case))
    print("| case | old µs/step, median (min) | new µs/step, median (min) | new / old, medians (mins) |")
    print("|---|---|---|---|")
    for name in CASES:
        o, n = samples[(name, "old")], samples[(name, "new")]
        mo, mn = statistics.median(o), statistics.median(n)
        print(f"| {name} | {mo * 1e6:.1f} ({min(o) * 1e6:.1f}) | {mn * 1e6:.1f} ({min(n) * 1e6:.1f}) | "
              f"{mn / mo:.3f} ({min(n) / min(o):.3f}) |")


if __name__ == "__main__":
    main()
