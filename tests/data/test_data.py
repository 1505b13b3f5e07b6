"""Datasets: download -> verify -> parse -> HDF5 -> read back, and every refusal."""

import gzip
import shutil
import json
import re
import struct
import subprocess
import sys

import h5py
import numpy as np
import pytest
from fakedata import idx_bytes, make_cifar_archive, make_idx_dataset

from twolayer.data.fetch import FetchError, fetch_dataset, fetch_file
from twolayer.data.idx import FormatError, parse_idx
from twolayer.data.prepare import load_raw, prepare_dataset
from twolayer.data.preprocess import get_recipe, normalise, split_raw
from twolayer.data.sources import get_source, source_from_dict
from twolayer.data.store import (
    DataFileError,
    check_provenance,
    info,
    load_split,
    read_attrs,
)

NONE_TAIL = {"split": {"kind": "tail", "train": 50, "val": 10, "test": None}, "normalise": {"kind": "none"}}


def served_source(name, spec, base, mode="ok"):
    return source_from_dict(name, {**spec, "urls": [f"{base}/{mode}/"]})


def no_leftovers(directory, allowed=("provenance.json",)):
    """Nothing but verified files may remain: no temporaries, nothing refused."""
    return sorted(p.name for p in directory.iterdir() if p.name not in allowed) if directory.exists() else []


def test_idx_download_verify_parse_store_roundtrip(http_server, tmp_path):
    base, root, server = http_server
    arrays, spec = make_idx_dataset(root)
    src = served_source("tiny", spec, base)
    raw = tmp_path / "raw"
    prov = fetch_dataset(src, raw, search_dirs=(), log=sys.stderr)
    assert len(server.requests) == 4
    assert {r["how"] for r in prov["files"].values()} == {"archive-md5"}
    out = tmp_path / "tiny.h5"
    prepare_dataset(src, "t", NONE_TAIL, raw, out)
    X, y = load_split(out, "train")
    assert X.dtype == np.float32 and y.dtype == np.uint8
    assert np.array_equal(X, arrays["train_images"][:50].reshape(50, -1).astype(np.float32))
    assert np.array_equal(y, arrays["train_labels"][:50])
    Xv, yv = load_split(out, "val")
    assert np.array_equal(Xv, arrays["train_images"][50:60].reshape(10, -1))
    Xt, yt = load_split(out, "test")
    assert np.array_equal(Xt, arrays["test_images"].reshape(20, -1)) and np.array_equal(yt, arrays["test_labels"])
    attrs = read_attrs(out)
    assert attrs["dataset"] == "tiny" and attrs["recipe"] == "t" and attrs["image_shape"] == [28, 28]
    assert attrs["provenance"]["files"]["train_images"]["origin"].startswith(base)
    with h5py.File(out) as f:
        assert f["train/X"].chunks[1] == 784  # chunked by rows


def test_cifar_download_parse_store_roundtrip(http_server, tmp_path):
    base, root, _ = http_server
    arrays, spec = make_cifar_archive(root)
    src = served_source("cifar_tiny", spec, base)
    raw = tmp_path / "raw"
    fetch_dataset(src, raw, search_dirs=())
    recipe = {"split": {"kind": "tail", "train": 6, "val": 2, "test": None}, "normalise": {"kind": "none"}}
    out = tmp_path / "c.h5"
    prepare_dataset(src, "r", recipe, raw, out)
    X, y = load_split(out, "train")
    imgs, labels = arrays["train"]
    assert np.array_equal(X, imgs[:6].reshape(6, -1).astype(np.float32))  # HWC rows, as CS231n
    assert np.array_equal(y, labels[:6])
    # the first pixel's three channels come from bytes 1, 1025 and 2049 of the record
    assert X[0, :3].tolist() == imgs[0, 0, 0, :].astype(float).tolist()
    Xt, yt = load_split(out, "test")
    assert np.array_equal(yt, arrays["test"][1])


def test_retries_transient_errors(http_server, tmp_path):
    base, root, server = http_server
    _, spec = make_idx_dataset(root)
    src = served_source("tiny", spec, base, mode="flaky2")
    fetch_dataset(src, tmp_path / "raw", search_dirs=(), retries=2, backoff=0.01)
    assert len(server.requests) == 12  # 2 refusals + 1 success per file


def test_truncated_download_is_refused_and_nothing_remains(http_server, tmp_path):
    base, root, _ = http_server
    _, spec = make_idx_dataset(root)
    src = served_source("tiny", spec, base, mode="truncated")
    raw = tmp_path / "raw"
    with pytest.raises(FetchError, match="incomplete download") as err:
        fetch_dataset(src, raw, search_dirs=(), retries=1, backoff=0.01)
    assert "Put a copy of train-images-idx3-ubyte.gz" in str(err.value)
    assert no_leftovers(raw) == []


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_damaged_archive_is_refused(http_server, tmp_path, damage):
    base, root, _ = http_server
    _, spec = make_idx_dataset(root)
    path = root / spec["files"]["train_images"]["name"]
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    src = served_source("tiny", spec, base)
    raw = tmp_path / "raw"
    with pytest.raises(FetchError) as err:
        fetch_dataset(src, raw, search_dirs=())
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and "archive MD5 expected" in msg and "got" in msg
    assert ("truncated" in msg) if damage == "truncated" else ("corrupt" in msg or "payload SHA-256 expected" in msg)
    # the good files are kept, the damaged one is not there, nor any temporary
    assert "train-images-idx3-ubyte.gz" not in no_leftovers(raw)
    assert not [p for p in raw.iterdir() if ".tmp-" in p.name]
    assert not (raw / "provenance.json").exists()


def test_recompressed_copy_is_accepted_by_payload(http_server, tmp_path):
    base, root, _ = http_server
    _, spec = make_idx_dataset(root)
    path = root / spec["files"]["test_labels"]["name"]
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1, mtime=12345))
    src = served_source("tiny", spec, base)
    prov = fetch_dataset(src, tmp_path / "raw", search_dirs=())
    assert prov["files"]["test_labels"]["how"] == "payload-sha256"
    assert prov["files"]["train_labels"]["how"] == "archive-md5"


def test_wrong_magic_number_is_refused(tmp_path):
    good = idx_bytes(np.zeros((2, 28, 28)))
    bad = b"\x00\x00\x08\x02" + good[4:]
    with pytest.raises(FormatError, match="IDX file with 2 dimensions, expected 3"):
        parse_idx(bad, "x", ndim=3)
    with pytest.raises(FormatError, match="wrong magic number 0x12345678"):
        parse_idx(b"\x12\x34\x56\x78" + good[4:], "x", ndim=3)
    with pytest.raises(FormatError, match="header says shape"):
        parse_idx(good[:-5], "x", ndim=3)


def test_wrong_magic_number_in_a_verified_archive_fails_prepare(http_server, tmp_path):
    base, root, _ = http_server
    arrays, spec = make_idx_dataset(root)
    # an archive whose checksum is recorded but whose content is a label file, not images
    name = spec["files"]["train_images"]["name"]
    payload = idx_bytes(arrays["train_labels"])
    (root / name).write_bytes(gzip.compress(payload, mtime=0))
    from fakedata import md5

    spec["files"]["train_images"]["md5"] = md5(root / name)
    spec["files"]["train_images"].pop("payload_sha256")
    src = served_source("tiny", spec, base)
    raw = tmp_path / "raw"
    fetch_dataset(src, raw, search_dirs=())
    out = tmp_path / "t.h5"
    with pytest.raises(FormatError, match="expected 3"):
        prepare_dataset(src, "t", NONE_TAIL, raw, out)
    assert not out.exists() and not list(tmp_path.glob(".t.h5*"))


@pytest.mark.parametrize(
    "extra, message",
    [
        ((("../evil.sh", b"rm -rf /"),), "would escape the archive"),
        ((("cifar-10-batches-bin/data_batch_1.bin.pickle", b"\x80\x04"),), "unexpected member"),
    ],
)
def test_tar_with_unexpected_member_is_refused(http_server, tmp_path, extra, message):
    base, root, _ = http_server
    _, spec = make_cifar_archive(root, extra_members=extra)
    src = served_source("cifar_tiny", spec, base)
    raw = tmp_path / "raw"
    fetch_dataset(src, raw, search_dirs=())  # the checksum is right: the content is what is wrong
    with pytest.raises(FormatError, match=message):
        load_raw(src, raw)
    assert not (tmp_path / "evil.sh").exists() and not (raw / "evil.sh").exists()


def backoffs(monkeypatch):
    """The waits the downloader sleeps between retries of a URL, recorded instead of slept
    (its own ``time`` only: the clock it keeps its deadline by is the real one)."""
    import time
    import types

    from twolayer.data import fetch

    waits = []
    monkeypatch.setattr(fetch, "time", types.SimpleNamespace(monotonic=time.monotonic, sleep=waits.append))
    return waits


def test_unreachable_urls_fail_fast(tmp_path, closed_port, monkeypatch):
    _, spec = make_idx_dataset(tmp_path / "nowhere")
    spec["urls"] = [f"http://127.0.0.1:{closed_port}/", "http://no-such-host.invalid/"]
    src = source_from_dict("tiny", spec)
    raw = tmp_path / "raw"
    waits = backoffs(monkeypatch)
    with pytest.raises(FetchError) as err:
        fetch_dataset(src, raw, search_dirs=(str(tmp_path / "local"),), retries=3, backoff=5)
    assert waits == [], "permanent errors must not be retried"
    msg = str(err.value)
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert name in msg
    assert f"127.0.0.1:{closed_port}" in msg and "connection refused" in msg
    assert "no-such-host.invalid" in msg and "cannot resolve host" in msg
    assert f"Put a copy of train-images-idx3-ubyte.gz (MD5 {spec['files']['train_images']['md5']}) into {tmp_path / 'local' / 'tiny'}/" in msg
    assert no_leftovers(raw) == []


def test_timeout_is_bounded(http_server, tmp_path, monkeypatch):
    """A mirror that sends nothing (for 30 s) is given up after the read timeout, retried once
    after the backoff, and reported as timed out, without waiting for it."""
    base, root, _ = http_server
    _, spec = make_idx_dataset(root)
    src = served_source("tiny", spec, base, mode="slow")
    waits = backoffs(monkeypatch)
    with pytest.raises(FetchError, match="timed out .after 2 attempts"):
        fetch_file(src, src.file("test_labels"), tmp_path / "raw", search_dirs=(), timeout=0.5, retries=1, backoff=0.01)
    assert waits == [0.01]
    assert no_leftovers(tmp_path / "raw") == []


def test_local_copy_is_used_first_and_a_bad_one_refused(http_server, tmp_path):
    base, root, server = http_server
    _, spec = make_idx_dataset(root)
    local = tmp_path / "local" / "tiny"
    local.mkdir(parents=True)
    for f in spec["files"].values():
        (local / f["name"]).write_bytes((root / f["name"]).read_bytes())
    (local / spec["files"]["test_images"]["name"]).write_bytes(b"\x1f\x8b not really gzip")
    src = served_source("tiny", spec, base)
    raw = tmp_path / "raw"
    prov = fetch_dataset(src, raw, search_dirs=(str(tmp_path / "local"),))
    assert prov["files"]["train_images"]["origin"] == f"local:{local / 'train-images-idx3-ubyte.gz'}"
    assert prov["files"]["test_images"]["origin"].startswith(base)  # the bad local copy was refused
    assert server.requests == ["/ok/t10k-images-idx3-ubyte.gz"]
    # without a server, the bad local copy alone is an error that says so, and leaves nothing
    offline = source_from_dict("tiny", {**spec, "urls": []})
    raw2 = tmp_path / "raw2"
    with pytest.raises(FetchError, match=r"refused: local copy \S*/local/tiny/t10k-images-idx3-ubyte.gz is not a valid t10k-images-idx3-ubyte.gz: archive MD5 expected"):
        fetch_dataset(offline, raw2, search_dirs=(str(tmp_path / "local"),))
    assert "t10k-images-idx3-ubyte.gz" not in no_leftovers(raw2)


def test_existing_file_that_went_bad_is_replaced(http_server, tmp_path):
    base, root, _ = http_server
    _, spec = make_idx_dataset(root)
    src = served_source("tiny", spec, base)
    raw = tmp_path / "raw"
    fetch_dataset(src, raw, search_dirs=())
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    first = json.loads((raw / "provenance.json").read_text())
    prov = fetch_dataset(src, raw, search_dirs=())
    assert prov["files"]["test_labels"]["origin"].startswith(base)
    # a file that is still good keeps where it came from and how it was verified
    assert prov["files"]["train_labels"] == first["files"]["train_labels"]
    assert prov["files"]["train_labels"]["origin"] == f"{base}/ok/train-labels-idx1-ubyte.gz"


def test_refetching_keeps_the_original_provenance(http_server, tmp_path):
    base, root, server = http_server
    _, spec = make_idx_dataset(root)
    src = served_source("tiny", spec, base)
    raw = tmp_path / "raw"
    first = fetch_dataset(src, raw, search_dirs=())
    prov_file = raw / "provenance.json"
    stamp = prov_file.stat().st_mtime_ns
    n_requests = len(server.requests)
    again = fetch_dataset(src, raw, search_dirs=())
    assert len(server.requests) == n_requests  # nothing downloaded again
    assert again == first and all(r["origin"].startswith(base) for r in again["files"].values())
    # nothing changed, so the file is not rewritten: what was built from it stays up to date
    assert prov_file.stat().st_mtime_ns == stamp
    # Snakemake deletes a job's outputs before rerunning it: the origins survive in .origins.json
    prov_file.unlink()
    third = fetch_dataset(src, raw, search_dirs=())
    assert third == first and json.loads(prov_file.read_text()) == first
    # a provenance from elsewhere (other checksums) is not trusted for a file it does not describe
    bogus = {"files": {k: {**r, "sha256": "0" * 64, "origin": "somewhere"} for k, r in first["files"].items()}}
    for name in ("provenance.json", ".origins.json"):
        (raw / name).write_text(json.dumps(bogus))
    fourth = fetch_dataset(src, raw, search_dirs=())
    assert {r["origin"] for r in fourth["files"].values()} == {"already present"}


def test_mean_subtraction_uses_train_statistics_only():
    rng = np.random.default_rng(0)
    splits = {
        "train": (rng.normal(10, 1, (500, 6)), np.zeros(500, np.uint8)),
        "val": (rng.normal(50, 1, (100, 6)), np.zeros(100, np.uint8)),
        "test": (rng.normal(-20, 1, (100, 6)), np.zeros(100, np.uint8)),
    }
    out, consts = normalise(splits, {"kind": "mean_image"})
    assert np.allclose(consts["mean"], splits["train"][0].mean(axis=0))
    assert np.allclose(out["train"][0].mean(axis=0), 0, atol=1e-5)
    assert np.allclose(out["val"][0].mean(axis=0), 40, atol=0.5)  # not re-centred on itself
    assert np.allclose(out["test"][0].mean(axis=0), -30, atol=0.5)
    z, zc = normalise(splits, {"kind": "zscore"})
    assert np.allclose(z["train"][0].std(axis=0), 1, atol=1e-5) and np.allclose(z["val"][0].mean(axis=0), 40 / zc["std"], rtol=0.05)


def test_report_split_is_reproducible_and_disjoint():
    rng = np.random.default_rng(1)
    raw = {"train": (rng.integers(0, 255, (1000, 4, 4)), np.arange(1000) % 10), "test": (np.zeros((5, 4, 4)), np.zeros(5))}
    split = {"kind": "random", "val": 100, "seed": 42}
    s1, meta1 = split_raw(raw, split)
    s2, meta2 = split_raw(raw, split)
    _, meta3 = split_raw(raw, {**split, "seed": 43})
    assert np.array_equal(meta1["val_index"], meta2["val_index"]) and np.array_equal(s1["val"][0], s2["val"][0])
    assert not np.array_equal(meta1["val_index"], meta3["val_index"])
    assert len(meta1["val_index"]) == 100 and len(meta1["train_index"]) == 900
    assert not set(meta1["val_index"]) & set(meta1["train_index"])
    assert sorted(set(meta1["val_index"]) | set(meta1["train_index"])) == list(range(1000))
    assert np.array_equal(s1["val"][0], raw["train"][0][meta1["val_index"]].reshape(100, -1))


def test_spiral_recipe_generates_three_independent_draws(tmp_path):
    out = tmp_path / "spiral.h5"
    prepare_dataset(get_source("spiral"), "spiral", get_recipe("spiral"), None, out)
    Xtr, ytr = load_split(out, "train")
    Xva, _ = load_split(out, "val")
    assert Xtr.shape == (300, 2) and np.bincount(ytr).tolist() == [100, 100, 100]
    assert not np.array_equal(Xtr, Xva)


def test_provenance_mismatch_is_refused(tmp_path):
    out = tmp_path / "spiral.h5"
    prepare_dataset(get_source("spiral"), "spiral", get_recipe("spiral"), None, out)
    check_provenance(out, dataset="spiral", recipe="spiral", recipe_spec=get_recipe("spiral"))
    with pytest.raises(DataFileError, match="holds dataset 'spiral', expected 'mnist'.*Delete the file"):
        check_provenance(out, dataset="mnist")
    with pytest.raises(DataFileError, match="recipe 'spiral', expected 'report'"):
        check_provenance(out, recipe="report")
    other = {**get_recipe("spiral"), "split": {**get_recipe("spiral")["split"], "seed": 9}}
    with pytest.raises(DataFileError, match="recipe settings"):
        check_provenance(out, recipe_spec=other)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataFileError, match="not an HDF5 file, so not a dataset file"):
        load_split(tmp_path / "junk.h5", "train")


def test_info_tells_a_wrong_file_from_a_damaged_dataset_file(tmp_path):
    """Only a damaged dataset file gets the advice to delete and prepare it again."""
    good = tmp_path / "spiral.h5"
    prepare_dataset(get_source("spiral"), "spiral", get_recipe("spiral"), None, good)
    text = tmp_path / "README.md"
    text.write_text("# not data\n" * 100)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    model = tmp_path / "model.h5"
    with h5py.File(model, "w") as f:
        f.attrs["format"] = "twolayer-model"
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    cases = {
        text: "not an HDF5 file, so not a dataset file",
        foreign: "an HDF5 file without twolayer's 'format' attribute, not a dataset file",
        model: "a twolayer model file, not a dataset file",
        damaged: "a damaged HDF5 file",
        tmp_path: "is a directory",
    }
    for path, expected in cases.items():
        r = subprocess.run([sys.executable, "-m", "twolayer", "info", str(path)], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.startswith(f"error: {path}: ") and expected in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        assert ("delete it and prepare it again" in r.stderr) == (path == damaged), r.stderr


def test_cli_info_and_clear_errors(tmp_path):
    out = tmp_path / "spiral.h5"
    r = subprocess.run([sys.executable, "-m", "twolayer", "prepare", "spiral", "--recipe", "spiral", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "twolayer", "info", str(out)], capture_output=True, text=True)
    assert r.returncode == 0
    assert "train X (300, 2) float32" in r.stdout and "per class: 0=100, 1=100, 2=100" in r.stdout
    r = subprocess.run([sys.executable, "-m", "twolayer", "prepare", "nonesuch", "--recipe", "report", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and "error: unknown dataset 'nonesuch'; known datasets are:" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.realdata
def test_real_fashion_mnist_offline(fashion_mnist_dir, tmp_path):
    src = get_source("fashion_mnist")
    raw = tmp_path / "raw"
    prov = fetch_dataset(src, raw)  # default search: resources/raw/, then /usr/share/datasets/
    # Debian recompressed the archives: accepted through the payload digest
    assert {r["how"] for r in prov["files"].values()} == {"payload-sha256"}
    parsed = load_raw(src, raw)
    Xtr, ytr = parsed["train"]
    Xte, yte = parsed["test"]
    assert Xtr.shape == (60000, 28, 28) and Xte.shape == (10000, 28, 28)
    assert np.bincount(ytr).tolist() == [6000] * 10 and np.bincount(yte).tolist() == [1000] * 10
    out = tmp_path / "fm.h5"
    prepare_dataset(src, "report", get_recipe("report"), raw, out)
    X, y = load_split(out, "train")
    assert X.shape == (55000, 784) and load_split(out, "val")[0].shape == (5000, 784)
    assert "Ankle boot" in info(out)


# -- bounded downloads: a mirror that sends too much, too slowly, or somewhere else --------------

def sized(spec, root):
    """The spec with each file's archive size recorded, as sources.yaml records them."""
    for f in spec["files"].values():
        f["size"] = (root / f["name"]).stat().st_size
    return spec


def streamed(server):
    """Bytes of body the server's streaming handler sent before the client went away."""
    return server.streamed.get(timeout=120)[1]


@pytest.mark.parametrize("mode", ["endless", "endless-chunked", "redirect-endless"])
def test_a_download_past_its_recorded_size_is_stopped(http_server, tmp_path, mode):
    base, root, server = http_server
    _, spec = make_idx_dataset(root)
    src = served_source("tiny", sized(spec, root), base, mode=mode)
    remote = src.file("test_labels")
    with pytest.raises(FetchError) as err:
        fetch_file(src, remote, tmp_path / "raw", search_dirs=(), retries=0)
    msg = str(err.value)
    assert f"sent more than the recorded size of t10k-labels-idx1-ubyte.gz ({remote.size} bytes)" in msg
    assert ("redirected to" in msg) == (mode == "redirect-endless")
    # the client stopped: the server could send 512 MiB, socket buffers hold a few MiB at most
    assert streamed(server) < 64 << 20
    assert no_leftovers(tmp_path / "raw") == []


def test_a_download_without_a_recorded_size_is_held_to_max_bytes(http_server, tmp_path):
    base, root, server = http_server
    _, spec = make_idx_dataset(root)
    src = served_source("tiny", spec, base, mode="endless")
    with pytest.raises(FetchError, match=r"sent more than download.max_bytes \(1048576 bytes; no size is recorded"):
        fetch_file(src, src.file("test_labels"), tmp_path / "raw", search_dirs=(), retries=0, max_bytes=1 << 20)
    assert streamed(server) < 64 << 20
    assert no_leftovers(tmp_path / "raw") == []


def test_a_download_announcing_more_than_its_size_is_not_read(http_server, tmp_path):
    from conftest import LONG_EXTRA

    base, root, server = http_server
    _, spec = make_idx_dataset(root)
    src = served_source("tiny", sized(spec, root), base, mode="long")
    remote = src.file("test_images")
    with pytest.raises(FetchError, match=f"announces {remote.size + LONG_EXTRA} bytes, more than the recorded size"):
        fetch_file(src, remote, tmp_path / "raw", search_dirs=(), retries=0)
    assert streamed(server) < LONG_EXTRA // 2
    assert no_leftovers(tmp_path / "raw") == []


def test_a_download_slower_than_its_deadline_is_stopped_and_the_next_url_tried(http_server, tmp_path):
    base, root, _ = http_server
    _, spec = make_idx_dataset(root)
    spec = {**sized(spec, root), "urls": [f"{base}/drip/", f"{base}/ok/"]}
    src = source_from_dict("tiny", spec)
    # the file has ~50 bytes, one every 0.2 s: ~10 s, past a 1 s deadline however busy the machine
    rec = fetch_file(src, src.file("test_labels"), tmp_path / "raw", search_dirs=(), retries=0, deadline=1.0)
    assert rec["origin"] == f"{base}/ok/t10k-labels-idx1-ubyte.gz"
    only_drip = source_from_dict("tiny", {**spec, "urls": [f"{base}/drip/"]})
    with pytest.raises(FetchError, match=r"took longer than the download deadline of 1 s \(download.deadline\)"):
        fetch_file(only_drip, only_drip.file("train_labels"), tmp_path / "raw2", search_dirs=(), retries=0, deadline=1.0)
    assert no_leftovers(tmp_path / "raw2") == []


@pytest.mark.parametrize("mode", ["redirect", "redirect-body"])
def test_a_redirect_to_the_file_is_followed_without_reading_its_body(http_server, tmp_path, mode):
    base, root, server = http_server
    _, spec = make_idx_dataset(root)
    src = served_source("tiny", sized(spec, root), base, mode=mode)
    rec = fetch_file(src, src.file("test_labels"), tmp_path / "raw", search_dirs=(), retries=0)
    assert rec["how"] == "archive-md5"
    assert server.requests == [f"/{mode}/t10k-labels-idx1-ubyte.gz", "/ok/t10k-labels-idx1-ubyte.gz"]
    if mode == "redirect-body":  # a redirect's body that never ends is not read
        assert streamed(server) < 64 << 20


@pytest.mark.parametrize(("mode", "message"), [
    ("loop", "redirects in a loop"),
    ("redirect-file", "redirected to 'file:///etc/passwd', which is not an http(s) address; refused"),
])
def test_a_bad_redirect_is_refused(http_server, tmp_path, mode, message):
    base, root, _ = http_server
    _, spec = make_idx_dataset(root)
    src = served_source("tiny", spec, base, mode=mode)
    with pytest.raises(FetchError, match=re.escape(message)):
        fetch_file(src, src.file("test_labels"), tmp_path / "raw", search_dirs=(), retries=2, backoff=0.01)
    assert no_leftovers(tmp_path / "raw") == []


# -- bounded decompression and parsing ---------------------------------------------------------

def test_decompression_stops_past_the_recorded_payload_size(http_server, tmp_path):
    """A gzip bomb in place of a file: refused at the recorded payload size, not decompressed whole."""
    base, root, _ = http_server
    _, spec = make_idx_dataset(root)
    f = spec["files"]["test_labels"]
    (root / f["name"]).write_bytes(gzip.compress(bytes(256 << 20), compresslevel=9))  # 256 MiB of zeros in ~250 kB
    src = served_source("tiny", spec, base)
    with pytest.raises(FetchError, match=f"decompresses to more than the recorded payload size of {f['payload_size']} bytes"):
        fetch_file(src, src.file("test_labels"), tmp_path / "raw", search_dirs=())


def test_idx_dimensions_are_checked_in_python_integers(tmp_path):
    """Dimensions whose product overflows int64 are refused with a message, not a crash in reshape."""
    from twolayer.data.idx import read_idx_gz

    big = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">III", 2**32 - 1, 2**32 - 1, 2**31)
    assert (2**32 - 1) ** 2 * 2**31 > 2**63  # the product overflows int64
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(big + bytes(100)))
    with pytest.raises(FormatError, match=r"IDX header says shape \(4294967295, 4294967295, 2147483648\) .* more than the limit of 1000 bytes"):
        read_idx_gz(path, ndim=3, limit=1000)
    with pytest.raises(FormatError, match="IDX header says shape"):
        parse_idx(big + bytes(100), ndim=3)
    # and a file longer than its header says is refused too
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(5, np.uint8)) + b"extra"))
    with pytest.raises(FormatError, match=r"shape \(5,\) \(13 bytes\) but the file has more than 13 bytes"):
        read_idx_gz(path, ndim=1)


def test_a_cifar_member_of_the_wrong_size_is_refused_before_it_is_read(http_server, tmp_path):
    """Its size in the tar header is checked against the records it must hold before it is decompressed."""
    base, root, _ = http_server
    _, spec = make_cifar_archive(root, per_member=4)
    spec["records_per_member"] = 3  # the archive's members hold 4 records each: one too many
    src = served_source("cifar_tiny", spec, base)
    raw = tmp_path / "raw"
    fetch_dataset(src, raw, search_dirs=())
    recipe = {"split": {"kind": "tail", "train": 4, "val": 2, "test": None}, "normalise": {"kind": "none"}}
    with pytest.raises(FormatError, match=r"member 'cifar-10-batches-bin/data_batch_1.bin' has 12292 bytes, "
                                          r"expected 9219 \(3 records of 3073 bytes\); refusing this archive"):
        prepare_dataset(src, "r", recipe, raw, tmp_path / "c.h5")


def test_the_prepared_file_keeps_where_each_training_image_differs_from_a_blank_one(http_server, tmp_path):
    """The background is what a blank image becomes under the recipe's normalisation; the stored
    foreground is where each training row differs from it (a direct comparison here), its share is
    recorded, and a damaged or inconsistent foreground is refused as it is read or verified."""
    from twolayer import integrity
    from twolayer.data.store import foreground_arrays, verify

    base, root, _ = http_server
    arrays, spec = make_idx_dataset(root, n_train=60, blank=0.8)
    src = served_source("tiny", spec, base)
    raw = tmp_path / "raw"
    fetch_dataset(src, raw, search_dirs=())
    out = tmp_path / "tiny.h5"
    recipe = {"split": {"kind": "tail", "train": 50, "val": 10, "test": None},
              "normalise": {"kind": "standardise", "mean": 0.1307, "std": 0.3081}}
    prepare_dataset(src, "t", recipe, raw, out)
    X, _ = load_split(out, "train")
    bg, indptr, indices = foreground_arrays(out)
    assert np.all(bg == np.float32((0 - 0.1307) / 0.3081))
    pixels = arrays["train_images"][:50].reshape(50, -1)
    for i in range(50):
        assert np.array_equal(indices[indptr[i] : indptr[i + 1]], np.flatnonzero(pixels[i])), i
        assert np.all(X[i][pixels[i] == 0] == bg[0])
    record = read_attrs(out)["foreground"]
    assert record["fraction"] == np.count_nonzero(pixels) / pixels.size and record["features"] == 784
    assert 0.15 < record["fraction"] < 0.25
    assert verify(out) > 0
    # one index moved, the file resealed: its checksums agree, its parts do not
    bad = tmp_path / "bad.h5"
    shutil.copy(out, bad)
    with h5py.File(bad, "r+") as f:
        ind = f["foreground/indices"][()]
        ind[0] = (ind[0] + 1) % 784 if ind[1] != ind[0] + 1 else ind[0] - 1
        f["foreground/indices"][...] = ind
        integrity.seal(f)
    with pytest.raises(DataFileError, match="foreground indices are not where train/X differs"):
        verify(bad)
    # one byte flipped in place: the checksum of the array refuses it where it is read
    flipped = tmp_path / "flipped.h5"
    shutil.copy(out, flipped)
    with h5py.File(flipped) as f:
        offset = f["foreground/indices"].id.get_offset()
    with open(flipped, "r+b") as fh:
        fh.seek(offset + 10)
        b = fh.read(1)
        fh.seek(offset + 10)
        fh.write(bytes([b[0] ^ 0x01]))
    with pytest.raises(DataFileError, match="foreground/indices"):
        foreground_arrays(flipped)
