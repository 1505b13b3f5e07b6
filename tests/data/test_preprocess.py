"""The Fashion-MNIST recipe with its own statistics: fitted on the training split only (against
NumPy's mean and std) and recorded; the MNIST studies keep the report's.
"""

import numpy as np
import pytest
import yaml
from workflow_helpers import REPO

from twolayer.data.preprocess import get_recipe, normalise


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
