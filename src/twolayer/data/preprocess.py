"""Named preprocessing recipes: a split and a normalisation, applied to raw images.

Splits (``split.kind``):

* ``tail``: CS231n. train = the first ``train`` official training
  examples, val = the ``val`` examples after them (49,000 / 1,000), test =
  the first ``test`` official test examples (``null``: all 10,000);
* ``random``: the report. ``val`` examples drawn at random from the
  official training set with ``seed`` (a seeded permutation); train = the
  rest, both in their original order; test = the official test set. The
  validation indices are stored in the HDF5 file;
* ``generated``: for generated data (the spiral): independent draws of
  ``train``, ``val`` and ``test`` points per class with seeds ``seed``,
  ``seed + 1``, ``seed + 2``.

Normalisations (``normalise.kind``), all fitted on the training split only:

* ``mean_image``: subtract the mean training image (CS231n);
* ``standardise``: ``(x / 255 - mean) / std`` with fixed constants (the
  report: 0.1307, 0.3081, MNIST's pixel mean and deviation);
* ``standardise_train``: the same with the training split's own pixel mean
  and standard deviation (one number each, over every pixel of every
  training image; recorded in the file's ``normalisation`` attribute), so
  the training set is N(0, 1) as the report asks, on any dataset;
* ``zscore``: per-pixel ``(x - mean) / std`` (constant pixels: std 1);
* ``none``: pixel values as they are.

Images are flattened to rows (HWC order for colour images, like CS231n)
and stored as float32; labels as uint8. For images, the normalised value of a
blank (all-zero) image is the *background*, and :func:`find_foreground` finds
where each training image differs from it (stored with the data: the batch-1
kernel for sparse inputs reads it).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .formats import get_format

BUILTIN_RECIPES = {
    "report": {
        "split": {"kind": "random", "val": 5000, "seed": 0},
        "normalise": {"kind": "standardise", "mean": 0.1307, "std": 0.3081},
    },
    "cs231n": {
        "split": {"kind": "tail", "train": 49000, "val": 1000, "test": 1000},
        "normalise": {"kind": "mean_image"},
    },
    "report_fitted": {
        "split": {"kind": "random", "val": 5000, "seed": 0},
        "normalise": {"kind": "standardise_train"},
    },
    "zscore": {
        "split": {"kind": "random", "val": 5000, "seed": 0},
        "normalise": {"kind": "zscore"},
    },
    "spiral": {
        "split": {"kind": "generated", "train": 100, "val": 100, "test": 100, "seed": 0},
        "normalise": {"kind": "none"},
    },
}

SPLITS = ("tail", "random", "generated")
NORMALISATIONS = ("mean_image", "standardise", "standardise_train", "zscore", "none")


class RecipeError(InputError):
    pass


def check_recipe(name, recipe):
    """Validate a recipe dict; errors name the recipe and the key."""
    split = recipe.get("split") or {}
    norm = recipe.get("normalise") or {}
    if split.get("kind") not in SPLITS:
        raise RecipeError(f"recipe {name!r}: split.kind must be one of {', '.join(SPLITS)}, got {split.get('kind')!r}")
    if norm.get("kind") not in NORMALISATIONS:
        raise RecipeError(
            f"recipe {name!r}: normalise.kind must be one of {', '.join(NORMALISATIONS)}, got {norm.get('kind')!r}"
        )
    for key in ("train", "val", "test"):
        v = split.get(key)
        if v is not None and (not isinstance(v, int) or v < 1):
            raise RecipeError(f"recipe {name!r}: split.{key} must be a positive integer or null, got {v!r}")
    if split["kind"] in ("random", "tail") and not split.get("val"):
        raise RecipeError(f"recipe {name!r}: split.val must be a positive integer")
    if norm["kind"] == "standardise" and not (norm.get("std", 0) > 0 and "mean" in norm):
        raise RecipeError(f"recipe {name!r}: normalise 'standardise' needs 'mean' and a positive 'std'")
    return recipe


def get_recipe(name, extra=None):
    recipes = {**BUILTIN_RECIPES, **(extra or {})}
    try:
        return check_recipe(name, recipes[name])
    except KeyError:
        raise RecipeError(
            f"unknown recipe {name!r}; known recipes are: {', '.join(sorted(recipes))} "
            "(define others under 'recipes:' in the config)"
        ) from None


def _flat(images):
    return images.reshape(images.shape[0], -1)


def split_raw(raw, split):
    """Apply a ``tail`` or ``random`` split to ``{"train": (X, y), "test": (X, y)}``.

    Returns ``(splits, meta)``; ``meta`` holds the validation indices (into the official train set).
    """
    Xtr, ytr = raw["train"]
    Xte, yte = raw["test"]
    n = Xtr.shape[0]
    kind = split["kind"]
    val = int(split["val"])
    if kind == "tail":
        train = split.get("train") or (n - val)
        if train + val > n:
            raise RecipeError(f"split 'tail' needs train + val = {train + val} examples, the data has {n}")
        tr_idx = np.arange(train)
        va_idx = np.arange(train, train + val)
    elif kind == "random":
        if val >= n:
            raise RecipeError(f"split 'random' wants {val} validation examples of {n}")
        perm = np.random.default_rng(split.get("seed", 0)).permutation(n)
        va_idx = np.sort(perm[:val])
        tr_idx = np.sort(perm[val:])
        if split.get("train"):
            tr_idx = tr_idx[: split["train"]]
    else:
        raise RecipeError(f"split kind {kind!r} does not apply to downloaded data")
    test = split.get("test")
    te = slice(0, test) if test else slice(None)
    splits = {
        "train": (_flat(Xtr[tr_idx]), ytr[tr_idx]),
        "val": (_flat(Xtr[va_idx]), ytr[va_idx]),
        "test": (_flat(Xte[te]), yte[te]),
    }
    return splits, {"val_index": va_idx.astype(np.int64), "train_index": tr_idx.astype(np.int64)}


def generated_splits(source, split):
    """The spiral's splits: independent draws with seeds seed, seed+1, seed+2."""
    from .spiral import make_spiral

    gen = dict(source.generator)
    seed = int(split.get("seed", 0))
    out = {}
    for offset, name in enumerate(("train", "val", "test")):
        per_class = int(split.get(name) or gen.get("points_per_class", 100))
        out[name] = make_spiral(per_class, int(gen.get("classes", 3)), float(gen.get("noise", 0.2)), seed=seed + offset)
    return out, {}


def normalise(splits, norm):
    """Normalise every split with statistics of ``splits["train"]`` only.

    Returns ``(splits as float32, constants)``; constants are arrays
    (``mean``, ``std``: per feature) or scalars, to be stored with the data.
    """
    f, consts = normaliser(norm, splits["train"][0])
    out = {name: (_chunked(f, X), np.asarray(y, dtype=np.uint8)) for name, (X, y) in splits.items()}
    return out, consts


def normaliser(norm, Xtr):
    """``(f, constants)``: the normalisation ``norm`` fitted on the training rows ``Xtr``, as a
    function of raw rows (float32 out), and the constants :func:`normalise` stores."""
    kind = norm["kind"]
    consts = {"kind": kind}
    if kind == "mean_image":
        mean = Xtr.astype(np.float64).mean(axis=0)
        consts["mean"] = mean
        f = lambda X: (X.astype(np.float64) - mean).astype(np.float32)  # noqa: E731
    elif kind == "standardise":
        m, s = float(norm["mean"]), float(norm["std"])
        consts.update(mean_scalar=m, std_scalar=s)
        f = lambda X: ((X.astype(np.float64) / 255.0 - m) / s).astype(np.float32)  # noqa: E731
    elif kind == "standardise_train":
        m, s = _pixel_mean_std(Xtr)
        consts.update(mean_scalar=m, std_scalar=s)
        f = lambda X: ((X.astype(np.float64) / 255.0 - m) / s).astype(np.float32)  # noqa: E731
    elif kind == "zscore":
        mean = Xtr.astype(np.float64).mean(axis=0)
        std = Xtr.astype(np.float64).std(axis=0)
        std[std < 1e-8] = 1.0
        consts.update(mean=mean, std=std)
        f = lambda X: ((X.astype(np.float64) - mean) / std).astype(np.float32)  # noqa: E731
    elif kind == "none":
        f = lambda X: X.astype(np.float32)  # noqa: E731
    else:
        raise RecipeError(f"unknown normalisation {kind!r}")
    return f, consts


def find_foreground(X, background, rows=8192):
    """Where each row of ``X`` (N, D) differs from ``background`` (D,): ``(indptr, indices)``, the
    compressed-row form (indptr (N + 1,) int64; indices increasing within a row, uint16 when D
    allows, else int32). The batch-1 kernel for inputs with a background reads them
    (:class:`twolayer.nn.kernels.Foreground`)."""
    n, d = X.shape
    counts = np.empty(n, dtype=np.int64)
    parts = []
    kind = np.uint16 if d <= 1 << 16 else np.int32
    for start in range(0, n, rows):
        mask = X[start : start + rows] != background
        counts[start : start + rows] = mask.sum(axis=1)
        parts.append(np.nonzero(mask)[1].astype(kind))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, np.concatenate(parts) if parts else np.zeros(0, dtype=kind)


def _pixel_mean_std(X, rows=8192):
    """Mean and standard deviation of every value of X / 255 (float64 sums, a block of rows at a time)."""
    n = X.size
    total = sq = 0.0
    for start in range(0, X.shape[0], rows):
        block = X[start : start + rows].astype(np.float64) / 255.0
        total += block.sum()
    mean = total / n
    for start in range(0, X.shape[0], rows):
        block = X[start : start + rows].astype(np.float64) / 255.0 - mean
        sq += np.square(block).sum()
    std = float(np.sqrt(sq / n))
    if not std > 0:
        raise RecipeError("normalise 'standardise_train': every training pixel has the same value (std 0)")
    return float(mean), std


def _chunked(f, X, rows=8192):
    """``f(X)`` as float32, a block of rows at a time (bounds the float64 temporaries)."""
    out = np.empty(X.shape, dtype=np.float32)
    for start in range(0, X.shape[0], rows):
        out[start : start + rows] = f(X[start : start + rows])
    return out


def apply_recipe(source, recipe, raw=None):
    """Split and normalise; ``raw`` is the parsed data (None for generated sources).

    Returns ``(splits, constants, split meta, background)``: the background is the normalised input of a
    blank image (None for generated data, whose features are not pixels)."""
    split = recipe["split"]
    if not get_format(source.format).downloaded:
        splits, meta = generated_splits(source, split)
    else:
        splits, meta = split_raw(raw, split)
    for name, (X, _) in splits.items():
        if X.shape[0] == 0:
            raise RecipeError(f"recipe leaves the {name} split empty")
    f, consts = normaliser(recipe["normalise"], splits["train"][0])
    normed = {name: (_chunked(f, X), np.asarray(y, dtype=np.uint8)) for name, (X, y) in splits.items()}
    # the input of a blank image: what an all-zero row of pixels becomes (images only)
    Xtr = splits["train"][0]
    background = f(np.zeros((1, Xtr.shape[1]), dtype=Xtr.dtype))[0] if raw is not None else None
    return normed, consts, meta, background
