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
model files record), ``package_version`` and ``digests`` (:mod:`twolayer.integrity`:
each attribute's SHA-256, each array's shape, dtype, SHA-256 and XXH3-128).

Every reader verifies what it reads: opening a file checks every root
attribute against its SHA-256 (the fingerprint among them); reading an array
(:func:`read_array`) checks its shape, dtype and XXH3-128 against the record.
:func:`verify` (``twolayer info``) also recomputes every array's SHA-256 and
the fingerprint. A damaged file is a :class:`DataFileError` naming the file
and the array or attribute. On the report's protocol (55,000 x 784 float32)
a load's check costs under 1% of a training job; SHA-256 there would cost 4%
(``benchmarks/verify_cost.py``).

Files are written atomically. :func:`load_split` reads one split in one call.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np

from .. import integrity
from ..atomic import atomic_path
from ..errors import InputError
from ..integrity import REBUILD, DataFileError  # noqa: F401  (DataFileError: imported from here by callers)
from .preprocess import find_foreground

FORMAT = "twolayer-dataset"
SPLIT_NAMES = ("train", "val", "test")


def fingerprint(splits):
    """SHA-256 over the shapes and bytes of every split's X and y."""
    h = hashlib.sha256()
    for name in SPLIT_NAMES:
        X, y = splits[name]
        h.update(f"{name}:{X.shape}:{X.dtype}:{y.shape}:{y.dtype};".encode())
        h.update(np.ascontiguousarray(X).data)
        h.update(np.ascontiguousarray(y).data)
    return h.hexdigest()


def write_dataset(path, splits, *, dataset, recipe_name, recipe, source, provenance, consts, meta, background=None):
    """Write the prepared splits and their provenance atomically to ``path``.

    ``background`` (D,): the input of a blank image; if given, the training split's foreground
    (:func:`~twolayer.data.preprocess.find_foreground`) is stored in the group ``foreground``
    (``background``, ``indptr``, ``indices``), and the attribute ``foreground`` records its share of
    the features (``fraction``; ``{}`` without one)."""
    from .. import __version__

    fp = fingerprint(splits)
    arrays = {}

    def put(group, key, data, chunks=None):
        data = np.asarray(data)
        ds = group.create_dataset(key, data=data, chunks=chunks)
        arrays[ds.name.lstrip("/")] = data if ds.dtype == data.dtype else ds[()]

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            for name in SPLIT_NAMES:
                X, y = splits[name]
                g = f.create_group(name)
                rows = max(1, min(X.shape[0], (1 << 20) // max(1, X.shape[1] * X.itemsize)))
                put(g, "X", X, chunks=(rows, X.shape[1]))
                put(g, "y", y)
            pre = f.create_group("preprocess")
            scalars = {}
            for key, value in consts.items():
                if isinstance(value, np.ndarray):
                    put(pre, key, value.astype(np.float64))
                else:
                    scalars[key] = value
            fg_record = {}
            if background is not None:
                Xtr = splits["train"][0]
                bg = np.asarray(background, dtype=Xtr.dtype).reshape(-1)
                indptr, indices = find_foreground(Xtr, bg)
                fg = f.create_group("foreground")
                put(fg, "background", bg)
                put(fg, "indptr", indptr)
                put(fg, "indices", indices)
                fg_record = {"fraction": indices.size / max(Xtr.size, 1), "nonzero": int(indices.size),
                             "features": int(Xtr.shape[1])}
            sp = f.create_group("split")
            for key, value in meta.items():
                put(sp, key, value)
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
            a["foreground"] = json.dumps(fg_record, sort_keys=True)
            a["package_version"] = __version__
            integrity.seal(f, arrays)
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
    repair) from a damaged dataset file (delete and prepare again). Its root attributes are
    verified against their SHA-256; the record of checksums is ``f.digests``."""
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
    try:
        raw = dict(f.attrs.items())
        f.digests = integrity.read_digests(path, raw)
        integrity.check_attributes(path, raw, f.digests)
    except (OSError, RuntimeError) as exc:  # HDF5 could not read an attribute
        f.close()
        raise DataFileError(f"{path}: damaged: its attributes cannot be read ({exc}); {REBUILD}") from None
    except BaseException:
        f.close()
        raise
    return f


def read_array(f, path, name, algorithms=("xxh3_128",)):
    """The array ``name`` ("train/X") of an open dataset file (:func:`_open`), verified: shape, dtype and
    digests against the record. Returns ``(array, {algorithm: digest recomputed})``."""
    try:
        d = f[name]
    except KeyError:
        raise DataFileError(f"{path}: damaged: array {name!r} is missing (its checksums list it); {REBUILD}") from None
    integrity.check_array_meta(path, name, d.shape, d.dtype, f.digests)
    out = np.empty(d.shape, dtype=d.dtype)
    try:
        if out.size:
            d.read_direct(out)
    except (OSError, RuntimeError) as exc:
        raise DataFileError(f"{path}: damaged: array {name!r} cannot be read ({exc}); {REBUILD}") from None
    return out, integrity.check_array(path, name, out, f.digests, algorithms)


def decode_attrs(attrs, path=None):
    """HDF5 attributes as Python values: bytes to str, JSON objects and lists parsed, NumPy scalars unwrapped.

    A JSON attribute that does not parse is a :class:`DataFileError` naming ``path``."""
    out = {}
    for k, v in attrs.items():
        if k == integrity.DIGESTS:
            continue
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if isinstance(v, str) and v[:1] in "[{":
            try:
                v = json.loads(v)
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{path}: damaged: attribute {k!r} is not valid JSON ({exc}); {REBUILD}") from None
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def read_attrs(path):
    """The root attributes, verified and JSON ones decoded."""
    with _open(path) as f:
        return decode_attrs(f.attrs, path)


CHECKS = ("every root attribute against its SHA-256 (the fingerprint among them); each array read: its "
          "shape, dtype and XXH3-128 recomputed against the record")


def checks_record(attrs, verified):
    """What a reader verified of a dataset file (the model file records it): its fingerprint (an attribute
    checked against its SHA-256) and ``verified``, the XXH3-128 of each array :func:`load_split` read,
    as it recomputed them."""
    return {"fingerprint": attrs["fingerprint"], "xxh3_128": dict(sorted(verified.items())), "checks": CHECKS}


def verify(path):
    """Every array read and its SHA-256 recomputed, and the fingerprint from the splits; returns the
    number of arrays checked. A mismatch is a :class:`DataFileError`."""
    with _open(path) as f:
        names = []
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        integrity.check_names(path, names, f.digests)
        splits = {}
        for name in names:
            a, _ = read_array(f, path, name, integrity.ARRAY_ALGORITHMS)
            group, key = name.rsplit("/", 1) if "/" in name else ("", name)
            if group in SPLIT_NAMES or group == "foreground":
                splits.setdefault(group, {})[key] = a
        fp = f.attrs.get("fingerprint")
    if all(s in splits and {"X", "y"} <= set(splits[s]) for s in SPLIT_NAMES):
        if fingerprint({s: (splits[s]["X"], splits[s]["y"]) for s in SPLIT_NAMES}) != fp:
            raise DataFileError(f"{path}: damaged: its arrays do not match its fingerprint; {REBUILD}")
    fg = splits.get("foreground", {})
    if "background" in fg and "X" in splits.get("train", {}):  # the arrays just read, not read again
        _check_foreground(path, splits["train"]["X"], fg["background"], fg["indptr"], fg["indices"])
    return len(names)


def foreground_arrays(path, verified=None):
    """``(background, indptr, indices)`` of the training split, verified as read, or None when the file
    has none (generated data). ``verified``: as for :func:`load_split`."""
    with _open(path) as f:
        if "foreground" not in f:
            return None
        out = []
        for key in ("background", "indptr", "indices"):
            a, d = read_array(f, path, f"foreground/{key}")
            out.append(a)
            if verified is not None:
                verified[f"foreground/{key}"] = d["xxh3_128"]
    return tuple(out)


def _check_foreground(path, X, background, indptr, indices):
    """The stored foreground is where X differs from the background (a file whose parts agree
    with their checksums but not with each other was not written by ``twolayer prepare``)."""
    want_ptr, want_ind = find_foreground(X, background.astype(X.dtype))
    if not (np.array_equal(indptr, want_ptr) and np.array_equal(indices, want_ind)):
        raise DataFileError(f"{path}: damaged: its foreground indices are not where train/X differs from "
                            f"its background; {REBUILD}")


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


def load_split(path, split, dtype=None, verified=None):
    """``(X, y)`` of one split: X (N, D) float32 (or ``dtype``), y (N,) uint8, verified as read.

    ``verified``: a dict, if given, gets the XXH3-128 recomputed of each array read ("train/X": hex)."""
    if split not in SPLIT_NAMES:
        raise InputError(f"split must be one of {SPLIT_NAMES}, got {split!r}")
    with _open(path) as f:
        if split not in f:
            raise DataFileError(f"{path}: has no {split!r} split; prepare it again")
        X, dX = read_array(f, path, f"{split}/X")
        y, dy = read_array(f, path, f"{split}/y")
    if verified is not None:
        verified.update({f"{split}/X": dX["xxh3_128"], f"{split}/y": dy["xxh3_128"]})
    if dtype is not None and np.dtype(dtype) != X.dtype:
        X = X.astype(dtype)
    return X, y


def load_preprocess(path):
    """Per-feature normalisation constants (``mean``, ``std``) as arrays, when the recipe has them."""
    with _open(path) as f:
        g = f.get("preprocess")
        return {k: read_array(f, path, f"preprocess/{k}")[0] for k in g} if g is not None else {}


def info(path):
    """A human-readable summary: shapes, class counts and provenance, once every array is verified
    (:func:`verify`)."""
    n_checked = verify(path)
    attrs = read_attrs(path)
    classes = attrs.get("classes", [])
    lines = [f"{path}", f"  dataset {attrs.get('dataset')}  recipe {attrs.get('recipe')}  layout {attrs.get('layout')}"]
    lines.append(f"  image shape {attrs.get('image_shape')}  classes {len(classes)}")
    with _open(path) as f:
        for name in SPLIT_NAMES:
            if name not in f:
                continue
            X, y = f[name]["X"], read_array(f, path, f"{name}/y")[0]
            counts = np.bincount(y, minlength=len(classes))
            lines.append(f"  {name:5s} X {X.shape} {X.dtype}  y {y.shape} {y.dtype}")
            lines.append("        per class: " + ", ".join(f"{c}={n}" for c, n in zip(classes, counts)))
    lines.append(f"  recipe spec {json.dumps(attrs.get('recipe_spec'), sort_keys=True)}")
    lines.append(f"  normalisation {json.dumps(attrs.get('normalisation'), sort_keys=True)}")
    lines.append(f"  split seed {attrs.get('split_seed')}")
    fg = attrs.get("foreground") or {}
    if fg:
        lines.append(f"  foreground (train): {fg['fraction']:.1%} of the features differ from a blank image's "
                     f"({fg['nonzero']} values)")
    prov = attrs.get("provenance") or {}
    for key, rec in sorted((prov.get("files") or {}).items()):
        lines.append(
            f"  {key}: {rec.get('file')} from {rec.get('origin')} verified by {rec.get('how')} "
            f"(md5 {rec.get('md5')}, sha256 {rec.get('sha256')})"
        )
    lines.append(f"  fingerprint {attrs.get('fingerprint')}  package {attrs.get('package_version')}")
    lines.append(f"  verified: {n_checked} arrays (SHA-256 and per-chunk checksums), every attribute, the fingerprint")
    return "\n".join(lines)

