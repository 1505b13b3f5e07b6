"""The IDX format of MNIST and Fashion-MNIST, parsed with NumPy.

Header: two zero bytes, a type byte (0x08 = unsigned byte), the number of
dimensions, then one big-endian uint32 per dimension; the data follow. The
magic number is therefore 0x00000801 (2049) for a vector of labels and
0x00000803 (2051) for a stack of images.
"""

from __future__ import annotations

import gzip
import math
import zlib

import numpy as np

from ..errors import UserError
from .verify import MAX_PAYLOAD


CHUNK = 1 << 20


class FormatError(UserError):
    """A file is not in the format it should be (message names the file)."""


def _check_magic(head, name, ndim):
    """The number of dimensions of the IDX header that starts with the 4 bytes ``head``."""
    if len(head) < 4:
        raise FormatError(f"{name}: {len(head)} bytes is too short for an IDX header")
    zero, dtype_code, nd = head[0:2], head[2], head[3]
    if zero != b"\x00\x00" or dtype_code != 0x08:
        magic = int.from_bytes(head[0:4], "big")
        raise FormatError(
            f"{name}: wrong magic number 0x{magic:08x} ({magic}); expected 0x0000080{ndim or 'N'} "
            "(unsigned-byte IDX). Is this an IDX file?"
        )
    if ndim is not None and nd != ndim:
        raise FormatError(f"{name}: IDX file with {nd} dimensions, expected {ndim} (magic {0x800 + ndim})")
    return nd


def _dims(dim_bytes, nd, name):
    if len(dim_bytes) < 4 * nd:
        raise FormatError(f"{name}: truncated IDX header")
    return tuple(int.from_bytes(dim_bytes[4 * i : 4 + 4 * i], "big") for i in range(nd))


def _length(dims, nd):
    """Bytes of the whole file the header describes, in Python integers (never overflows)."""
    return 4 + 4 * nd + math.prod(dims)


def parse_idx(buf, name="<bytes>", ndim=None):
    """Parse IDX bytes into a uint8 array; check the magic number, type and size."""
    nd = _check_magic(buf[:4], name, ndim)
    dims = _dims(buf[4 : 4 + 4 * nd], nd, name)
    expected = _length(dims, nd)
    if len(buf) != expected:
        raise FormatError(f"{name}: IDX header says shape {dims} ({expected} bytes) but the file has {len(buf)} bytes")
    return np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def read_idx_gz(path, ndim=None, limit=MAX_PAYLOAD):
    """Decompress and parse a ``.gz`` IDX file, streamed: never more than its header says.

    ``limit``: the most bytes it may decompress to (its recorded payload size); a header that
    says more is refused before any data is read, and so is data beyond what the header says.
    """
    try:
        with gzip.open(path, "rb") as fh:
            nd = _check_magic(fh.read(4), str(path), ndim)
            dims = _dims(fh.read(4 * nd), nd, str(path))
            expected = _length(dims, nd)
            if expected > limit:
                raise FormatError(
                    f"{path}: IDX header says shape {dims} ({expected} bytes), more than the limit of {limit} bytes "
                    "(its recorded payload_size, where there is one); refusing it: check the file and its dataset's definition"
                )
            out = np.empty(expected - 4 - 4 * nd, dtype=np.uint8)
            view, got = memoryview(out), 0
            while got < out.size and (n := fh.readinto(view[got : got + CHUNK])):
                got += n
            extra = fh.read(1)
    except EOFError:
        raise FormatError(f"{path}: truncated gzip stream") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise FormatError(f"{path}: corrupt gzip data ({exc})") from None
    if got != out.size or extra:
        has = f"more than {expected}" if extra else str(4 + 4 * nd + got)
        raise FormatError(f"{path}: IDX header says shape {dims} ({expected} bytes) but the file has {has} bytes")
    return out.reshape(dims)


def load_idx_dataset(raw_dir, source):
    """Read the four IDX files of ``source`` from ``raw_dir``.

    Returns ``{"train": (X, y), "test": (X, y)}`` with X (N, H, W) uint8 and y (N,) uint8.
    """
    from pathlib import Path

    raw_dir = Path(raw_dir)
    out = {}
    for split in ("train", "test"):
        images = _read(raw_dir, source.file(f"{split}_images"), 3)
        labels = _read(raw_dir, source.file(f"{split}_labels"), 1)
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


def _read(raw_dir, remote, ndim):
    limit = remote.payload_size if remote.payload_size is not None else MAX_PAYLOAD
    return read_idx_gz(raw_dir / remote.name, ndim=ndim, limit=limit)
