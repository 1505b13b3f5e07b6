"""The IDX format of MNIST and Fashion-MNIST, parsed with NumPy.

Header: two zero bytes, a type byte (0x08 = unsigned byte), the number of
dimensions, then one big-endian uint32 per dimension; the data follow. The
magic number is therefore 0x00000801 (2049) for a vector of labels and
0x00000803 (2051) for a stack of images.
"""

from __future__ import annotations

import gzip
import zlib

import numpy as np

from ..errors import UserError


class FormatError(UserError):
    """A file is not in the format it should be (message names the file)."""


def parse_idx(buf, name="<bytes>", ndim=None):
    """Parse IDX bytes into a uint8 array; check the magic number, type and size."""
    if len(buf) < 4:
        raise FormatError(f"{name}: {len(buf)} bytes is too short for an IDX header")
    zero, dtype_code, nd = buf[0:2], buf[2], buf[3]
    if zero != b"\x00\x00" or dtype_code != 0x08:
        magic = int.from_bytes(buf[0:4], "big")
        raise FormatError(
            f"{name}: wrong magic number 0x{magic:08x} ({magic}); expected 0x0000080{ndim or 'N'} "
            "(unsigned-byte IDX). Is this an IDX file?"
        )
    if ndim is not None and nd != ndim:
        raise FormatError(f"{name}: IDX file with {nd} dimensions, expected {ndim} (magic {0x800 + ndim})")
    header = 4 + 4 * nd
    if len(buf) < header:
        raise FormatError(f"{name}: truncated IDX header")
    dims = tuple(int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(nd))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(buf) != expected:
        raise FormatError(f"{name}: IDX header says shape {dims} ({expected} bytes) but the file has {len(buf)} bytes")
    return np.frombuffer(buf, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_gz(path, ndim=None):
    """Decompress and parse a ``.gz`` IDX file."""
    try:
        with gzip.open(path, "rb") as fh:
            buf = fh.read()
    except EOFError:
        raise FormatError(f"{path}: truncated gzip stream") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise FormatError(f"{path}: corrupt gzip data ({exc})") from None
    return parse_idx(buf, name=str(path), ndim=ndim)


def load_idx_dataset(raw_dir, source):
    """Read the four IDX files of ``source`` from ``raw_dir``.

    Returns ``{"train": (X, y), "test": (X, y)}`` with X (N, H, W) uint8 and y (N,) uint8.
    """
    from pathlib import Path

    raw_dir = Path(raw_dir)
    out = {}
    for split in ("train", "test"):
        images = read_idx_gz(raw_dir / source.file(f"{split}_images").name, ndim=3)
        labels = read_idx_gz(raw_dir / source.file(f"{split}_labels").name, ndim=1)
        if images.shape[0] != labels.shape[0]:
            raise FormatError(
                f"{raw_dir}: {split} has {images.shape[0]} images but {labels.shape[0]} labels"
            )
        if source.image_shape and tuple(images.shape[1:]) != tuple(source.image_shape):
            raise FormatError(f"{raw_dir}: {split} images are {images.shape[1:]}, expected {tuple(source.image_shape)}")
        if labels.size and int(labels.max()) >= source.num_classes:
            raise FormatError(f"{raw_dir}: {split} label {int(labels.max())} >= {source.num_classes} classes")
        out[split] = (images, labels)
    return out
