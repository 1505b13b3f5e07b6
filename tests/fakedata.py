"""Format-exact tiny datasets for the tests: IDX .gz files and a CIFAR-10 binary tar.gz."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
from pathlib import Path

import numpy as np

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def idx_bytes(arr):
    arr = np.asarray(arr, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.tobytes()


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def make_idx_dataset(directory, n_train=60, n_test=20, classes=10, seed=0, shape=(28, 28), blank=0.8):
    """Write four IDX .gz files; return (arrays, source spec with their real checksums).

    Like MNIST, a ``blank`` share of the pixels is 0 (the background); the others are random."""
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    def images(n):
        pixels = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        return np.where(rng.random(pixels.shape) < blank, 0, pixels).astype(np.uint8)

    arrays = {
        "train_images": images(n_train),
        "train_labels": (np.arange(n_train) % classes).astype(np.uint8),
        "test_images": images(n_test),
        "test_labels": (np.arange(n_test) % classes).astype(np.uint8),
    }
    files = {}
    for key, name in IDX_FILES.items():
        payload = idx_bytes(arrays[key])
        path = directory / name
        path.write_bytes(gzip.compress(payload, mtime=0))
        files[key] = {"name": name, "md5": md5(path), "payload_sha256": sha256(payload), "payload_size": len(payload)}
    spec = {
        "format": "idx",
        "image_shape": list(shape),
        "classes": [str(c) for c in range(classes)],
        "urls": [],
        "files": files,
    }
    return arrays, spec


def cifar_records(images_hwc, labels):
    chw = images_hwc.transpose(0, 3, 1, 2).reshape(len(labels), -1)
    return np.concatenate([labels[:, None].astype(np.uint8), chw], axis=1).tobytes()


def make_cifar_archive(directory, per_member=4, n_train_members=2, seed=0, extra_members=(), name="cifar-tiny.tar.gz"):
    """A CIFAR-10 binary tar.gz; ``extra_members`` adds (name, bytes) members (e.g. a '../' one)."""
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    members, arrays = [], {"train": [], "test": []}
    names = {"train": [f"cifar-10-batches-bin/data_batch_{i + 1}.bin" for i in range(n_train_members)],
             "test": ["cifar-10-batches-bin/test_batch.bin"]}
    for split in ("train", "test"):
        for mname in names[split]:
            imgs = rng.integers(0, 256, (per_member, 32, 32, 3), dtype=np.uint8)
            labels = rng.integers(0, 10, per_member).astype(np.uint8)
            arrays[split].append((imgs, labels))
            members.append((mname, cifar_records(imgs, labels)))
    members.append(("cifar-10-batches-bin/batches.meta.txt", b"airplane\nautomobile\n"))
    members.extend(extra_members)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        dir_info = tarfile.TarInfo("cifar-10-batches-bin")
        dir_info.type = tarfile.DIRTYPE
        tar.addfile(dir_info)
        for mname, data in members:
            info = tarfile.TarInfo(mname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = directory / name
    path.write_bytes(buf.getvalue())
    spec = {
        "format": "cifar_binary",
        "image_shape": [32, 32, 3],
        "classes": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        "urls": [],
        "files": {"archive": {"name": name, "md5": md5(path)}},
        "members": {
            "train": names["train"],
            "test": names["test"],
            "ignored": ["cifar-10-batches-bin", "cifar-10-batches-bin/batches.meta.txt"],
        },
        "records_per_member": per_member,
    }
    out = {s: (np.concatenate([a[0] for a in arrays[s]]), np.concatenate([a[1] for a in arrays[s]])) for s in arrays}
    return out, spec
