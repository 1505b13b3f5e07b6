"""Checksums that let every reader verify an artefact, not only its writer.

Each HDF5 artefact (a prepared dataset, a model file) carries a root
attribute ``digests``, a JSON object::

    {"algorithm": "sha256",
     "arrays": {"<group>/<name>": {"shape": [...], "dtype": "<f4", "sha256": "<hex>", "xxh3_128": "<hex>"}, ...},
     "attributes": {"<name>": "<hex>", ...}}

* an array's digests are ``sha256(bytes)`` and XXH3-128 (``xxhash.xxh3_128(bytes)``, seed 0) of
  its values in C order (``np.ascontiguousarray(a).tobytes()``): :func:`array_digest`;
* an attribute's digest is ``sha256(b"str:" + value.encode())`` for a string
  and ``sha256(b"int:" + str(value).encode())`` for an integer (the only
  kinds of attribute the package writes; JSON ones are strings):
  :func:`attribute_digest`.

Every attribute but ``digests`` itself is listed, so a damaged value, a
damaged name and a missing one are all told apart from a good file. Readers
call :func:`check_attributes` on the attributes they decode and
:func:`check_array` on each array they read: a dataset's loads by XXH3-128
(a non-cryptographic checksum, 2^-128 odds that random damage goes unseen,
hashing at memory speed: under 1% of a training job, where SHA-256 would cost
4% and HDF5's per-chunk Fletcher-32 2-3%; ``benchmarks/verify_cost.py``),
model files and ``twolayer info`` by SHA-256 too. The threat is damage
(a flipped bit, a truncated copy, a hand edit), not forgery: whoever can
rewrite a file can rewrite its digests.

A mismatch is a :class:`DataFileError` naming the file, what differs and
what to do.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import xxhash

from .errors import UserError

ALGORITHM = "sha256"
DIGESTS = "digests"
REBUILD = "delete it and run again: Snakemake will rebuild it"


class DataFileError(UserError):
    """A dataset or model file is missing, unreadable, damaged or not the one expected (message says what to do)."""


ARRAY_ALGORITHMS = ("sha256", "xxh3_128")


def _buffer(a):
    a = np.ascontiguousarray(a)
    return a.reshape(-1).view(np.uint8).data if a.size else b""


def array_digest(a, algorithm="sha256"):
    """The digest (hex) of an array's values in C order: ``sha256`` or ``xxh3_128``."""
    if algorithm == "sha256":
        return hashlib.sha256(_buffer(a)).hexdigest()
    if algorithm == "xxh3_128":
        return xxhash.xxh3_128(_buffer(a)).hexdigest()
    raise ValueError(f"unknown digest {algorithm!r}")


def attribute_digest(value):
    """SHA-256 (hex) of an attribute's value as stored: a string or an integer."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    if isinstance(value, str):
        data = b"str:" + value.encode("utf-8", "surrogateescape")
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        data = b"int:" + str(int(value)).encode()
    else:
        raise TypeError(f"attribute values are strings or integers, not {type(value).__name__}")
    return hashlib.sha256(data).hexdigest()


def array_record(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "dtype": a.dtype.str, **{alg: array_digest(a, alg) for alg in ARRAY_ALGORITHMS}}


def digests_record(arrays, attrs):
    """The ``digests`` attribute (JSON text) for ``arrays`` ({name: array}) and ``attrs`` ({name: value})."""
    return json.dumps(
        {
            "algorithm": ALGORITHM,
            "arrays": {name: array_record(a) for name, a in arrays.items()},
            "attributes": {k: attribute_digest(v) for k, v in attrs.items() if k != DIGESTS},
        },
        sort_keys=True,
    )


def seal(f, arrays=None):
    """Write the ``digests`` attribute of an open, writable h5py file from what it holds now.

    ``arrays``: the arrays it holds, if the caller has them in memory (else they are read)."""
    if arrays is None:
        arrays = {}
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if hasattr(obj, "shape") else None)
    f.attrs[DIGESTS] = digests_record(arrays, {k: v for k, v in f.attrs.items() if k != DIGESTS})


def read_digests(path, attrs):
    """The ``digests`` record of a file's (raw) root attributes; refuses a file without one."""
    raw = attrs.get(DIGESTS)
    if raw is None:
        raise DataFileError(
            f"{path}: has no checksums (the 'digests' attribute is missing: written by an older twolayer, or "
            f"damaged), so it cannot be verified; {REBUILD}"
        )
    try:
        rec = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        if rec.get("algorithm") != ALGORITHM or not isinstance(rec.get("arrays"), dict) \
                or not isinstance(rec.get("attributes"), dict):
            raise ValueError("not a record of digests")
    except (ValueError, AttributeError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: damaged: its record of checksums (attribute 'digests') is unreadable ({exc}); "
                            f"{REBUILD}") from None
    return rec


def check_attributes(path, attrs, digests):
    """Every root attribute (raw values) against its digest: none missing, none added, none changed."""
    want = digests["attributes"]
    have = {k: v for k, v in attrs.items() if k != DIGESTS}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    if missing or extra:
        what = "; ".join(
            ([f"attribute(s) {', '.join(map(repr, missing))} missing"] if missing else [])
            + ([f"attribute(s) {', '.join(map(repr, extra))} not in its checksums"] if extra else [])
        )
        raise DataFileError(f"{path}: damaged: {what}; {REBUILD}")
    for k in sorted(want):
        try:
            ok = attribute_digest(have[k]) == want[k]
        except TypeError:
            ok = False
        if not ok:
            raise DataFileError(f"{path}: damaged: attribute {k!r} does not match its SHA-256; {REBUILD}")


def check_array_meta(path, name, shape, dtype, digests):
    """An array's shape and dtype against its record (before it is read); returns the record."""
    rec = digests["arrays"].get(name)
    if rec is None:
        raise DataFileError(f"{path}: damaged: array {name!r} is not in its checksums; {REBUILD}")
    if list(shape) != rec["shape"] or np.dtype(dtype).str != rec["dtype"]:
        raise DataFileError(
            f"{path}: damaged: array {name!r} is {tuple(shape)} {np.dtype(dtype).str}, its checksums say "
            f"{tuple(rec['shape'])} {rec['dtype']}; {REBUILD}"
        )
    return rec


NAMES = {"sha256": "SHA-256", "xxh3_128": "XXH3-128"}


def check_array(path, name, a, digests, algorithms=ARRAY_ALGORITHMS):
    """An array read from ``path`` against its recorded shape, dtype and digests; returns the
    digests recomputed ({algorithm: hex}), every one equal to the record's."""
    rec = check_array_meta(path, name, a.shape, a.dtype, digests)
    out = {}
    for alg in algorithms:
        out[alg] = array_digest(a, alg)
        if rec.get(alg) != out[alg]:
            raise DataFileError(f"{path}: damaged: array {name!r} does not match its {NAMES[alg]}; {REBUILD}")
    return out


def check_names(path, names, digests, group=None):
    """The arrays a file holds (under ``group``) are exactly those its checksums list."""
    want = {n for n in digests["arrays"] if group is None or n.startswith(group + "/")}
    have = set(names)
    if want != have:
        missing, extra = sorted(want - have), sorted(have - want)
        parts = ([f"array(s) {', '.join(missing)} missing"] if missing else []) + (
            [f"array(s) {', '.join(extra)} not in its checksums"] if extra else [])
        raise DataFileError(f"{path}: damaged: {'; '.join(parts)}; {REBUILD}")


# ------------------------------------------------------------------ JSON records (metrics.json)

RECORD_FIELD = "sha256"


def record_digest(rec):
    """SHA-256 of a JSON record without its own digest field, in canonical form
    (``json.dumps(rec, sort_keys=True, separators=(",", ":"), allow_nan=False)``, UTF-8)."""
    body = {k: v for k, v in rec.items() if k != RECORD_FIELD}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()).hexdigest()


def sealed_record(rec):
    """``rec`` with its digest field added."""
    body = json.loads(json.dumps({k: v for k, v in rec.items() if k != RECORD_FIELD}, allow_nan=False))
    return {**body, RECORD_FIELD: record_digest(body)}  # the digest of what a reader will parse


def read_record(path, what="record"):
    """A JSON record written by :func:`sealed_record`, verified; a damaged one is a :class:`DataFileError`."""
    from pathlib import Path

    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: unreadable {what} ({exc}); {REBUILD}") from None
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{path}: damaged: the {what} is not valid JSON ({exc}); {REBUILD}") from None
    if not isinstance(rec, dict):
        raise DataFileError(f"{path}: damaged: the {what} is not a JSON object; {REBUILD}")
    if RECORD_FIELD not in rec:
        raise DataFileError(f"{path}: {what} without its checksum ('{RECORD_FIELD}' field: written by an older "
                            f"twolayer, or damaged), so it cannot be verified; {REBUILD}")
    try:
        ok = record_digest(rec) == rec[RECORD_FIELD]
    except ValueError:  # NaN or infinity: never written by the package
        ok = False
    if not ok:
        raise DataFileError(f"{path}: damaged: the {what} does not match its SHA-256; {REBUILD}")
    return rec
