"""The spread over seeds of the spiral case study's numbers: the tolerances of config/published.yaml.

The case study (003_...) fixes no seed. This trains its linear classifier and its two-layer
net (100 hidden units, lambda 1e-3) on 30 seeds of this project's generator, exactly as the
spiral study does (data, initialisation and training from one seed), and prints the mean,
standard deviation and range of each published quantity.

    python benchmarks/spiral_spread.py [--seeds 30]
"""

import argparse
from pathlib import Path

import numpy as np
import yaml

from twolayer.data.spiral import make_spiral
from twolayer.nn.train import train_model
from twolayer.study.plan.config import validate
from twolayer.study.plan.jobspec import build_model, train_settings

REPO = Path(__file__).resolve().parents[1]
# the published numbers' points and iterations (config/published.yaml)
CASES = {
    "linear": ({"model": "linear"}, 190),
    "two-layer (100 hidden)": ({"model": "twolayer", "hidden": 100, "reg": 1.0e-3}, 9000),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=30)
    args = ap.parse_args()
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    plan = validate({"studies": {"spiral": cfg["studies"]["spiral"]}})
    study = plan.study("spiral")
    for label, (point, iteration) in CASES.items():
        spec = next(
            study.spec(p.id) for p in study.points
            if all(study.spec(p.id)["model"].get("kind" if k == "model" else k, study.spec(p.id)["training"].get(k)) == v
                   for k, v in point.items())
        )
        rows = []
        for seed in range(args.seeds):  # as the study with `seed: <seed>`: its data draw and its SeedSequence
            X, y = make_spiral(100, 3, 0.2, seed=seed)
            init_ss, train_ss = np.random.SeedSequence(seed).spawn(2)
            model = build_model(spec, 2, 3, np.random.default_rng(init_ss))
            h = train_model(model, X, y, X, y, train_settings(spec, len(X)), seed=train_ss)
            loss = dict(zip(h.loss_steps.tolist(), h.loss.tolist()))
            rows.append((loss[1], loss[iteration + 1], 100 * h.final_train_acc))
        r = np.array(rows)
        print(f"{label}, {args.seeds} seeds:")
        for j, name in enumerate(("loss at iteration 0", f"loss at iteration {iteration}", "training accuracy (%)")):
            print(f"  {name:28s} mean {r[:, j].mean():.4f}  std {r[:, j].std(ddof=1):.4f}  "
                  f"range {r[:, j].min():.4f} to {r[:, j].max():.4f}  (seed 0: {r[0, j]:.4f})")


if __name__ == "__main__":
    main()
