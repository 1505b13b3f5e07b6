"""The prepared dataset as one HDF5 file.

Layout of ``results/data/<dataset>/<recipe>.h5``::

    /train/X  (N, D) float32, chunked by rows (~1 MiB per chunk)
    /train/y  (N,)   uint8
    /val/X, /val/y, /test/X, /test/y
    /preprocess/mean, /preprocess/std   per-feature constants, if the recipe has them
    /split/val_index, /split/train_index  rows of the official training set, if split from it

Root attributes (JSON strings where structured): ``format`` ("twolayer-dataset"),
``dataset``, ``recipe``, ``recipe_spec``, ``classes``, ``image_shape``,
``layout``, ``normalisation`` (scalars), ``source`` (URLs and checksums),
``provenance`` (where each file came from and how it was verified),
``split_seed``, ``fingerprint`` (SHA-256 of all arrays: the data checksum that
model files record) and ``package_version``.

Files are written atomically. :func:`load_split` reads one split in one call.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np

from ..atomic import atomic_path
from ..errors import InputError, UserError

FORMAT = "twolayer-dataset"
SPLIT_NAMES = ("train", "val", "test")


class DataFileError(UserError):
    """A dataset file is missing, unreadable, or not the one expected (message says what to do)."""


def fingerprint(splits):
    """SHA-256 over the shapes and bytes of every split's X and y."""
    h = hashlib.sha256()
    for name in SPLIT_NAMES:
        X, y = splits[name]
        h.update(f"{name}:{X.shape}:{X.dtype}:{y.shape}:{y.dtype};".encode())
        h.update(np.ascontiguousarray(X).data)
        h.update(np.ascontiguousarray(y).data)
    return h.hexdigest()


def write_dataset(path, splits, *, dataset, recipe_name, recipe, source, provenance, consts, meta):
    """Write the prepared splits and their provenance atomically to ``path``."""
    from .. import __version__

    fp = fingerprint(splits)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            for name in SPLIT_NAMES:
                X, y = splits[name]
                g = f.create_group(name)
                rows = max(1, min(X.shape[0], (1 << 20) // max(1, X.shape[1] * X.itemsize)))
                g.create_dataset("X", data=X, chunks=(rows, X.shape[1]))
                g.create_dataset("y", data=y)
            pre = f.create_group("preprocess")
            scalars = {}
            for key, value in consts.items():
                if isinstance(value, np.ndarray):
                    pre.create_dataset(key, data=value.astype(np.float64))
                else:
                    scalars[key] = value
            sp = f.create_group("split")
            for key, value in meta.items():
                sp.create_dataset(key, data=value)
            a = f.attrs
            a["format"] = FORMAT
            a["dataset"] = dataset
            a["recipe"] = recipe_name
            a["recipe_spec"] = json.dumps(recipe, sort_keys=True)
            a["classes"] = json.dumps(list(source.classes))
            a["image_shape"] = json.dumps(list(source.image_shape))
            a["layout"] = "HWC" if len(source.image_shape) == 3 else "HW" if len(source.image_shape) == 2 else "features"
            a["normalisation"] = json.dumps(scalars, sort_keys=True)
            a["source"] = json.dumps(source.describe(), sort_keys=True)
            a["provenance"] = json.dumps(provenance, sort_keys=True)
            seed = recipe.get("split", {}).get("seed")
            a["split_seed"] = -1 if seed is None else int(seed)
            a["fingerprint"] = fp
            a["package_version"] = __version__
    return fp


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
WHAT_IT_READS = "dataset files are the results/data/<dataset>/<recipe>.h5 that 'twolayer prepare' (or the workflow) writes"


def _has_hdf5_signature(path):
    """HDF5's signature at offset 0, 512, 1024, 2048, ... (where the format allows a user block)."""
    with open(path, "rb") as fh:
        offset = 0
        while True:
            fh.seek(offset)
            head = fh.read(8)
            if len(head) < 8:
                return False
            if head == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else 2 * offset


def _open(path):
    """Open a dataset file, telling apart a file that is not one (named by mistake: nothing to
    repair) from a damaged dataset file (delete and prepare again)."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path}: no such dataset file; run 'twolayer prepare' (or the workflow) to build it")
    if path.is_dir():
        raise DataFileError(f"{path}: is a directory, not a dataset file; {WHAT_IT_READS}")
    if not _has_hdf5_signature(path):
        raise DataFileError(f"{path}: not an HDF5 file, so not a dataset file; {WHAT_IT_READS}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataFileError(
            f"{path}: a damaged HDF5 file ({exc}); if it is a dataset file, delete it and "
            "prepare it again ('twolayer prepare' or rerun the workflow)"
        ) from None
    fmt = f.attrs.get("format")
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    if fmt != FORMAT:
        f.close()
        what = "a twolayer model file" if fmt == "twolayer-model" else (
            f"an HDF5 file of format {fmt!r}" if fmt else "an HDF5 file without twolayer's 'format' attribute"
        )
        raise DataFileError(f"{path}: {what}, not a dataset file; {WHAT_IT_READS}")
    return f


def decode_attrs(attrs):
    """HDF5 attributes as Python values: bytes to str, JSON objects and lists parsed, NumPy scalars unwrapped."""
    out = {}
    for k, v in attrs.items():
        if isinstance(v, bytes):
            v = v.decode()
        if isinstance(v, str) and v[:1] in "[{":
            v = json.loads(v)
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def read_attrs(path):
    """The root attributes, JSON ones decoded."""
    with _open(path) as f:
        return decode_attrs(f.attrs)


def check_provenance(path, dataset=None, recipe=None, recipe_spec=None):
    """Refuse a file built from another dataset or recipe; return its attributes."""
    attrs = read_attrs(path)
    problems = []
    if dataset is not None and attrs.get("dataset") != dataset:
        problems.append(f"it holds dataset {attrs.get('dataset')!r}, expected {dataset!r}")
    if recipe is not None and attrs.get("recipe") != recipe:
        problems.append(f"it was made with recipe {attrs.get('recipe')!r}, expected {recipe!r}")
    if recipe_spec is not None:
        have = json.loads(json.dumps(attrs.get("recipe_spec"), sort_keys=True))
        want = json.loads(json.dumps(recipe_spec, sort_keys=True))
        if have != want:
            problems.append(f"its recipe settings {have} differ from the config's {want}")
    if problems:
        raise DataFileError(
            f"{path}: provenance mismatch: " + "; ".join(problems) + ". Delete the file and rerun the workflow "
            "(or 'twolayer prepare') so that it is rebuilt from the configured dataset and recipe."
        )
    return attrs


def load_split(path, split, dtype=None):
    """``(X, y)`` of one split: X (N, D) float32 (or ``dtype``), y (N,) uint8."""
    if split not in SPLIT_NAMES:
        raise InputError(f"split must be one of {SPLIT_NAMES}, got {split!r}")
    with _open(path) as f:
        if split not in f:
            raise DataFileError(f"{path}: has no {split!r} split; prepare it again")
        dx, dy = f[split]["X"], f[split]["y"]
        X = np.empty(dx.shape, dtype=dx.dtype)
        if X.size:
            dx.read_direct(X)
        y = dy[()]
    if dtype is not None and np.dtype(dtype) != X.dtype:
        X = X.astype(dtype)
    return X, y


def load_preprocess(path):
    """Per-feature normalisation constants (``mean``, ``std``) as arrays, when the recipe has them."""
    with _open(path) as f:
        g = f.get("preprocess")
        return {k: g[k][()] for k in g} if g is not None else {}


def info(path):
    """A human-readable summary: shapes, class counts and provenance."""
    attrs = read_attrs(path)
    classes = attrs.get("classes", [])
    lines = [f"{path}", f"  dataset {attrs.get('dataset')}  recipe {attrs.get('recipe')}  layout {attrs.get('layout')}"]
    lines.append(f"  image shape {attrs.get('image_shape')}  classes {len(classes)}")
    with _open(path) as f:
        for name in SPLIT_NAMES:
            if name not in f:
                continue
            X, y = f[name]["X"], f[name]["y"][()]
            counts = np.bincount(y, minlength=len(classes))
            lines.append(f"  {name:5s} X {X.shape} {X.dtype}  y {y.shape} {y.dtype}")
            lines.append("        per class: " + ", ".join(f"{c}={n}" for c, n in zip(classes, counts)))
    lines.append(f"  recipe spec {json.dumps(attrs.get('recipe_spec'), sort_keys=True)}")
    lines.append(f"  normalisation {json.dumps(attrs.get('normalisation'), sort_keys=True)}")
    lines.append(f"  split seed {attrs.get('split_seed')}")
    prov = attrs.get("provenance") or {}
    for key, rec in sorted((prov.get("files") or {}).items()):
        lines.append(
            f"  {key}: {rec.get('file')} from {rec.get('origin')} verified by {rec.get('how')} "
            f"(md5 {rec.get('md5')}, sha256 {rec.get('sha256')})"
        )
    lines.append(f"  fingerprint {attrs.get('fingerprint')}  package {attrs.get('package_version')}")
    return "\n".join(lines)
