"""The report's figures 3 and 4 as it drew them, each against an independent computation:
scikit-learn's PCA, the eigenvectors of the hidden units' covariance, the reshaped columns of W2.
"""

import numpy as np
import pytest

from twolayer.study.report.figures.report_figs import report_pca, w2_images, w2_shape


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
