"""CIFAR-10's binary distribution, read from the tar.gz in memory.

Each member ``data_batch_*.bin`` / ``test_batch.bin`` is a sequence of
3,073-byte records: one label byte, then 1,024 red, 1,024 green and 1,024
blue pixel bytes (32x32, row-major). Nothing is extracted to disk and no
pickle is ever loaded: the "python version" of CIFAR-10 is pickles, and
unpickling a downloaded file runs whatever code it contains.

Before any member is read, every member of the archive must be one of the
expected names (or a known harmless extra) and of the expected type: a
member with another name, a path that escapes (``../``, absolute), a link
or a device makes the whole archive refused. So does a member larger than
it may be (its records, from the tar header, before any of it is read), so a
crafted archive cannot make the reader decompress without end.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import numpy as np

from .idx import FormatError
from .verify import MAX_PAYLOAD

RECORD = 1 + 32 * 32 * 3
MAX_IGNORED = 1 << 20  # bytes of a member that is not read (readme.html, batches.meta.txt: < 100 bytes each)


def _read_members(tar, path, expected, ignored, member_size=None):
    """One pass over the archive: check every member, keep the bytes of the expected ones.

    What is decompressed is bounded before it is read: an expected member must have
    ``member_size`` bytes (when known; else at most MAX_PAYLOAD), an ignored one at most
    MAX_IGNORED, and no member may appear twice.
    """
    data, seen = {}, set()
    for m in tar:
        name = m.name
        if name.startswith("/") or ".." in Path(name).parts:
            raise FormatError(f"{path}: member {name!r} would escape the archive; refusing this archive")
        if name in seen:
            raise FormatError(f"{path}: member {name!r} appears twice; refusing this archive")
        seen.add(name)
        if name in expected:
            if not m.isfile():
                raise FormatError(f"{path}: member {name!r} is not a regular file; refusing this archive")
            if member_size is not None and m.size != member_size:
                raise FormatError(
                    f"{path}: member {name!r} has {m.size} bytes, expected {member_size} "
                    f"({member_size // RECORD} records of {RECORD} bytes); refusing this archive"
                )
            if m.size > MAX_PAYLOAD:
                raise FormatError(f"{path}: member {name!r} has {m.size} bytes, more than {MAX_PAYLOAD}; refusing this archive")
            data[name] = tar.extractfile(m).read()
        elif name in ignored:
            if not (m.isfile() or m.isdir()):
                raise FormatError(f"{path}: member {name!r} is a link or device; refusing this archive")
            if m.size > MAX_IGNORED:
                raise FormatError(
                    f"{path}: member {name!r} (not read) has {m.size} bytes, more than {MAX_IGNORED}; refusing this archive"
                )
        else:
            raise FormatError(
                f"{path}: unexpected member {name!r}; expected only {sorted(expected)} "
                f"(and {sorted(ignored)}); refusing this archive"
            )
    missing = set(expected) - set(data)
    if missing:
        raise FormatError(f"{path}: missing members {sorted(missing)}")
    return data


def parse_records(buf, name, records=None):
    """Split CIFAR binary records into images (N, 32, 32, 3) uint8 (HWC) and labels (N,) uint8."""
    if len(buf) % RECORD:
        raise FormatError(f"{name}: {len(buf)} bytes is not a whole number of {RECORD}-byte records")
    n = len(buf) // RECORD
    if records is not None and n != records:
        raise FormatError(f"{name}: {n} records, expected {records}")
    arr = np.frombuffer(buf, dtype=np.uint8).reshape(n, RECORD)
    labels = arr[:, 0].copy()
    images = arr[:, 1:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1).copy()  # CHW -> HWC, as CS231n
    return images, labels


def load_cifar_binary(raw_dir, source):
    """Read CIFAR-10 train and test from ``raw_dir/<archive>``: ``{"train": (X, y), "test": (X, y)}``."""
    path = Path(raw_dir) / source.file("archive").name
    train_names = list(source.members.get("train", []))
    test_names = list(source.members.get("test", []))
    ignored = set(source.members.get("ignored", []))
    try:
        with tarfile.open(path, "r|gz") as tar:  # a stream: one decompression pass
            member_size = source.records_per_member * RECORD if source.records_per_member else None
            data = _read_members(tar, path, set(train_names) | set(test_names), ignored, member_size)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise FormatError(f"{path}: unreadable tar.gz ({exc})") from None
    out = {}
    for split, names in (("train", train_names), ("test", test_names)):
        parts = [parse_records(data.pop(name), f"{path}:{name}", source.records_per_member) for name in names]
        X = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        if y.size and int(y.max()) >= source.num_classes:
            raise FormatError(f"{path}: {split} label {int(y.max())} >= {source.num_classes} classes")
        out[split] = (X, y)
    return out
