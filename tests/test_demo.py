"""The offline demo of the README runs end to end (Debian's Fashion-MNIST, no network)."""

import json

import pandas as pd
import pytest
from workflow_helpers import REPO, run_snakemake

pytestmark = [pytest.mark.integration, pytest.mark.realdata]


def test_offline_demo(fashion_mnist_dir, tmp_path):
    run_snakemake(tmp_path, None, "--configfile", str(REPO / "config" / "demo.yaml"), "--cores", "2")
    spiral = pd.read_csv(tmp_path / "results/spiral/table.csv")
    best = spiral.sort_values("val_acc").iloc[-1]
    linear = spiral[spiral["model"] == "linear"].iloc[0]
    # the case study's result: the two-layer net separates the spirals, the linear model cannot
    assert best["model"] == "twolayer" and best["val_acc"] >= 0.95 and linear["val_acc"] <= 0.6
    fashion = json.loads((tmp_path / "results/fashion_demo/test.json").read_text())
    assert fashion["n"] == 10000 and fashion["accuracy"] > 0.8
    prov = json.loads((tmp_path / "results/raw/fashion_mnist/provenance.json").read_text())
    assert all(r["origin"].startswith("local:/usr/share/datasets/fashion-mnist/") for r in prov["files"].values())
