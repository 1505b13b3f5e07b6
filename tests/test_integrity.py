"""Faults injected for real into each artefact a step reads: a flipped bit in a prepared dataset's
array or attribute, in a model file's parameters, history or JSON attribute, in a metrics record.

Each reader runs through the real ``twolayer`` command on a small spiral study made here: it must
fail with one ``error:`` line naming the damaged file and what to do, no traceback, a non-zero
exit, and write nothing (an output it had written before stays byte for byte). The same readers
pass on the intact files. The digests themselves are checked against hashlib and xxhash directly.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
import xxhash

from twolayer.data.prepare import prepare_dataset
from twolayer.data.preprocess import get_recipe
from twolayer.data.sources import get_source
from twolayer.data.store import DataFileError, load_split
from twolayer.integrity import array_digest, attribute_digest, record_digest, sealed_record
from twolayer.study.plan.config import validate

CONFIG = {"studies": {"s": {
    "dataset": "spiral", "recipe": "spiral",
    "model": {"std": 0.01, "reg_convention": "half", "dtype": "float64"},
    "training": {"batch_size": None, "sampling": "full", "steps": 200, "eval_every": 100, "log_every": 10},
    "grid": [{"model": ["linear"], "lr": [1.0], "reg": [1.0e-3]}],
}}}
REBUILD = "delete it and run again: Snakemake will rebuild it"


def twolayer(*args, cwd):
    return subprocess.run([sys.executable, "-m", "twolayer", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def spec():
    plan = validate(CONFIG)
    st = plan.study("s")
    return st.spec(st.points[0].id)


def train_cmd(d, out="m"):
    return ("train", "--spec", json.dumps(spec()), "--data", d / "spiral.h5",
            "--model", d / out / "model.h5", "--metrics", d / out / "metrics.json")


READERS = {  # what each step reads, as the workflow calls it (paths relative to a study's copy)
    "train": lambda d: train_cmd(d, "m2"),
    "info": lambda d: ("info", d / "spiral.h5"),
    "aggregate": lambda d: ("aggregate", "--study", "s", "--metrics", d / "m/metrics.json", "--table", d / "table.csv",
                            "--winner", d / "winner.json"),
    "select-top": lambda d: ("select-top", "--study", "s", "--top", 1, "--metrics", d / "m/metrics.json",
                             "--out", d / "refine.json"),
    "evaluate": lambda d: ("evaluate", "--winner", d / "winner.json", "--data", d / "spiral.h5", "--out", d / "test.json"),
    "trace": lambda d: ("trace", "--winner", d / "winner.json", "--data", d / "spiral.h5", "--out", d / "trace.h5"),
    "curves": lambda d: ("figure", "curves", "--study", "s", "--winner", d / "winner.json", "--out", d / "curves.png"),
    "samples": lambda d: ("figure", "samples", "--study", "s", "--data", d / "spiral.h5", "--out", d / "samples.png"),
}
OUTPUTS = {"train": ["m2/model.h5", "m2/metrics.json"], "info": [], "aggregate": ["table.csv", "winner.json"],
           "select-top": ["refine.json"], "evaluate": ["test.json"], "trace": ["trace.h5"], "curves": ["curves.png"],
           "samples": ["samples.png"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A spiral study as the workflow leaves it: data, one model and its metrics, the table and
    winner, and every reader's output, all made by the command line on intact files."""
    d = tmp_path_factory.mktemp("built")
    prepare_dataset(get_source("spiral"), "spiral", get_recipe("spiral"), None, d / "spiral.h5")
    for cmd in (train_cmd(d), *(READERS[k](d) for k in READERS)):
        r = twolayer(*cmd, cwd=d)
        assert r.returncode == 0, (cmd, r.stderr)
    return d


@pytest.fixture
def study(built, tmp_path):
    """A fresh copy of the built study, to damage."""
    d = tmp_path / "study"
    shutil.copytree(built, d)
    # the winner record names the model by absolute path: point it at this copy's
    w = json.loads((d / "winner.json").read_text())
    w["model_file"] = str(d / "m/model.h5")
    (d / "winner.json").write_text(json.dumps(w))
    return d


def flip(path, offset, bit=0):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([b ^ (1 << bit)]))


def array_offset(path, name, within=5):
    """The file offset of a byte inside the stored values of array ``name``."""
    with h5py.File(path, "r") as f:
        d = f[name]
        start = d.id.get_chunk_info(0).byte_offset if d.chunks else d.id.get_offset()
        assert start is not None and d.id.get_storage_size() > within
    return start + within


def text_offset(path, text):
    """The file offset of ``text`` (bytes that occur once in the file)."""
    data = path.read_bytes()
    assert data.count(text) == 1, text
    return data.index(text)


def snapshot(d, names):
    return {n: (d / n).read_bytes() if (d / n).exists() else None for n in names}


def assert_refused(d, reader, damaged, *words):
    """``reader`` fails in one line naming ``damaged`` and the fix, and leaves its outputs as they were."""
    before = snapshot(d, OUTPUTS[reader])
    r = twolayer(*READERS[reader](d), cwd=d)
    assert r.returncode == 2, (reader, r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: {damaged}: damaged"), r.stderr
    assert all(w in lines[-1] for w in (REBUILD, *words)), r.stderr
    assert all(not line.startswith("error:") for line in lines[:-1]), r.stderr
    assert snapshot(d, OUTPUTS[reader]) == before, f"{reader} wrote or replaced an output"
    assert not list(d.rglob(".*.tmp-*")), "a temporary file was left"


# ------------------------------------------------------------------ intact files pass every reader


@pytest.mark.parametrize("reader", list(READERS))
def test_every_reader_passes_on_intact_files(study, reader):
    r = twolayer(*READERS[reader](study), cwd=study)
    assert r.returncode == 0, r.stderr
    for out in OUTPUTS[reader]:
        assert (study / out).stat().st_size > 0


# ------------------------------------------------------------------ a prepared dataset


@pytest.mark.parametrize(("array", "reader"), [
    ("train/X", "train"), ("train/y", "train"), ("val/X", "train"), ("train/X", "info"), ("test/y", "info"),
    ("test/X", "evaluate"), ("test/y", "evaluate"), ("val/X", "trace"), ("train/X", "samples"),
])
def test_a_flipped_bit_in_a_dataset_array_is_refused_by_its_reader(built, study, array, reader):
    data = study / "spiral.h5"
    flip(data, array_offset(data, array))
    with h5py.File(data, "r") as f, h5py.File(built / "spiral.h5", "r") as g:  # the bit did land in the array,
        assert not np.array_equal(f[array][()], g[array][()], equal_nan=True)  # and HDF5 alone does not notice
    assert_refused(study, reader, data, repr(array))


def test_a_nan_planted_in_train_x_is_refused_before_training(study):
    """Was: 'diverged at step 5', which blamed the learning rate."""
    data = study / "spiral.h5"
    with h5py.File(data, "r+") as f:
        f["train/X"][3, 0] = np.nan
    assert_refused(study, "train", data, "'train/X'", "XXH3-128")


def test_a_flipped_bit_in_a_dataset_attribute_is_refused(study):
    data = study / "spiral.h5"
    with h5py.File(data, "r") as f:
        fp = f.attrs["fingerprint"]
    flip(data, text_offset(data, fp.encode()) + 7)
    assert_refused(study, "train", data, "'fingerprint'")
    assert_refused(study, "info", data, "'fingerprint'")


def test_a_damaged_record_of_checksums_is_refused(study):
    data = study / "spiral.h5"
    flip(data, text_offset(data, b'{"algorithm": "sha256"'), bit=0)  # '{' -> 'z': not JSON
    assert_refused(study, "info", data, "'digests'")


def test_a_dataset_without_checksums_is_refused(study):
    data = study / "spiral.h5"
    with h5py.File(data, "r+") as f:
        del f.attrs["digests"]
    before = snapshot(study, OUTPUTS["train"])
    r = twolayer(*READERS["train"](study), cwd=study)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().endswith(REBUILD) and f"error: {data}: has no checksums" in r.stderr
    assert snapshot(study, OUTPUTS["train"]) == before


# ------------------------------------------------------------------ a model file


@pytest.mark.parametrize(("array", "readers"), [
    ("params/W", ("evaluate", "trace")), ("history/loss", ("curves",)), ("history/val_acc", ("evaluate",)),
])
def test_a_flipped_bit_in_a_model_array_is_refused(study, array, readers):
    model = study / "m/model.h5"
    flip(model, array_offset(model, array, within=3), bit=5)
    for reader in readers:
        assert_refused(study, reader, model, repr(array), "SHA-256")


def test_a_flipped_bit_in_a_model_json_attribute_is_refused_not_a_json_traceback(study):
    model = study / "m/model.h5"
    with h5py.File(model, "r") as f:
        spec_text = f.attrs["spec"]
    start = text_offset(model, spec_text.encode())
    flip(model, start + spec_text.index('"point"'), bit=0)  # '"' -> '#': no longer JSON
    for reader in ("evaluate", "trace", "curves"):
        assert_refused(study, reader, model, "'spec'")


def test_a_model_whose_digests_are_damaged_too_is_refused_not_a_json_traceback(study):
    """The spec damaged and its digest rewritten to match: the JSON itself is then what fails."""
    from twolayer.integrity import seal

    model = study / "m/model.h5"
    with h5py.File(model, "r+") as f:
        f.attrs["spec"] = f.attrs["spec"].replace('"point"', '#point"', 1)
        seal(f)
    assert_refused(study, "evaluate", model, "'spec' is not valid JSON")


# ------------------------------------------------------------------ a metrics record


@pytest.mark.parametrize("reader", ["aggregate", "select-top"])
def test_a_flipped_bit_in_a_metrics_record_is_refused(study, reader):
    metrics = study / "m/metrics.json"
    text = metrics.read_text()
    at = text.index('"val_acc": ') + len('"val_acc": ') + 3  # a digit of the validation accuracy
    flip(metrics, at, bit=0)
    assert json.loads(metrics.read_text())["val_acc"] != json.loads(text)["val_acc"]  # still JSON, another number
    assert_refused(study, reader, metrics, "SHA-256")


def test_a_truncated_metrics_record_is_refused(study):
    metrics = study / "m/metrics.json"
    metrics.write_bytes(metrics.read_bytes()[:40])
    assert_refused(study, "aggregate", metrics, "not valid JSON")


# ------------------------------------------------------------------ what the model records


def test_the_model_records_the_data_digests_verified_at_load(built):
    """data_checks: each array's XXH3-128 as the job recomputed it, equal to xxhash of the arrays read
    here with h5py; data_fingerprint: the SHA-256 of the splits, computed here with hashlib."""
    with h5py.File(built / "spiral.h5", "r") as f:
        arrays = {f"{s}/{k}": f[f"{s}/{k}"][()] for s in ("train", "val", "test") for k in ("X", "y")}
    with h5py.File(built / "m/model.h5", "r") as f:
        checks = json.loads(f.attrs["data_checks"])
        fingerprint = f.attrs["data_fingerprint"]
    assert checks["xxh3_128"] == {n: xxhash.xxh3_128(arrays[n].tobytes()).hexdigest()
                                  for n in ("train/X", "train/y", "val/X", "val/y")}
    h = hashlib.sha256()
    for s in ("train", "val", "test"):
        X, y = arrays[f"{s}/X"], arrays[f"{s}/y"]
        h.update(f"{s}:{X.shape}:{X.dtype}:{y.shape}:{y.dtype};".encode() + X.tobytes() + y.tobytes())
    assert fingerprint == checks["fingerprint"] == h.hexdigest()


def test_stored_digests_match_hashlib(built):
    with h5py.File(built / "spiral.h5", "r") as f:
        rec = json.loads(f.attrs["digests"])
        for name, r in rec["arrays"].items():
            a = f[name][()]
            assert r["sha256"] == hashlib.sha256(a.tobytes()).hexdigest() and r["shape"] == list(a.shape)
        for k, v in f.attrs.items():
            if k != "digests":
                raw = (b"str:" + v.encode()) if isinstance(v, str) else b"int:" + str(int(v)).encode()
                assert rec["attributes"][k] == hashlib.sha256(raw).hexdigest()
        assert set(rec["attributes"]) == set(f.attrs) - {"digests"}
    metrics = json.loads((built / "m/metrics.json").read_text())
    body = {k: v for k, v in metrics.items() if k != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    assert metrics["sha256"] == hashlib.sha256(canonical).hexdigest()


# ------------------------------------------------------------------ the digest functions


@pytest.mark.parametrize("a", [
    np.arange(12, dtype=np.float32).reshape(3, 4),
    np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),  # not C-contiguous
    np.arange(20, dtype=np.uint8)[::3],  # a strided view
    np.zeros((0, 5), np.float32),
    np.array(7, dtype=np.int64),
])
def test_array_digest_is_sha256_and_xxh3_of_the_c_order_bytes(a):
    assert array_digest(a) == hashlib.sha256(a.tobytes(order="C")).hexdigest()
    assert array_digest(a, "xxh3_128") == xxhash.xxh3_128(a.tobytes(order="C")).hexdigest()


def test_a_single_flipped_bit_changes_both_array_digests():
    a = np.random.default_rng(0).normal(size=(50, 7)).astype(np.float32)
    b = a.copy()
    b.view(np.uint8).reshape(-1)[123] ^= 1
    for alg in ("sha256", "xxh3_128"):
        assert array_digest(a, alg) != array_digest(b, alg)


def test_attribute_and_record_digests_match_hashlib():
    assert attribute_digest("héllo") == hashlib.sha256("str:héllo".encode()).hexdigest()
    assert attribute_digest(np.int64(-3)) == hashlib.sha256(b"int:-3").hexdigest()
    assert attribute_digest("3") != attribute_digest(3)
    rec = {"b": 1.5, "a": [1, None], "z": "x"}
    want = hashlib.sha256(b'{"a":[1,null],"b":1.5,"z":"x"}').hexdigest()
    assert record_digest(rec) == want and sealed_record(rec)["sha256"] == want


def test_a_damaged_dataset_is_a_user_error_in_the_library_too(study):
    data = study / "spiral.h5"
    flip(data, array_offset(data, "val/y"))
    with pytest.raises(DataFileError, match=r"'val/y' does not match its XXH3-128; delete it and run again"):
        load_split(data, "val")
    load_split(data, "train")  # the arrays it does not read are not its concern
