"""The spiral toy data of the CS231n case study (``003_...``): generated, not downloaded."""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def make_spiral(points_per_class=100, classes=3, noise=0.2, seed=0):
    """K interleaved spiral arms in 2-D.

    Class j has ``points_per_class`` points with radius ``linspace(0, 1, N)``
    and angle ``linspace(4j, 4(j+1), N) + noise * randn(N)``.
    Returns ``X`` (N*K, 2) float64 and ``y`` (N*K,) uint8, classes in order.
    """
    if points_per_class < 1 or classes < 2:
        raise InputError("spiral needs points_per_class >= 1 and classes >= 2")
    rng = np.random.default_rng(seed)
    n = points_per_class
    X = np.zeros((n * classes, 2))
    y = np.zeros(n * classes, dtype=np.uint8)
    for j in range(classes):
        ix = slice(n * j, n * (j + 1))
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(j * 4.0, (j + 1) * 4.0, n) + rng.standard_normal(n) * noise
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return X, y
