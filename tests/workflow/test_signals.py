"""A job stopped by a signal, or by a full disk: one line that says what happened, nothing written.

Real processes: ``twolayer train`` on a small spiral study, stopped with SIGTERM (what a
cluster sends at its time limit) and SIGINT once it is training, and run under an
``RLIMIT_FSIZE`` small enough that its model file cannot be written (the kernel then
refuses the write with EFBIG, as a full disk refuses it with ENOSPC).
"""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess

import pytest

from twolayer.study.plan.config import validate
from twolayer.schemas import schema_file

SCHEMA = schema_file("config")  # the package's


def spiral_job(tmp_path, steps):
    cfg = {"studies": {"s": {"dataset": "spiral", "recipe": "spiral", "model": {"hidden": 50, "dtype": "float64"},
                             "training": {"steps": steps, "batch_size": 30, "lr": 0.5, "log_every": 100,
                                          "eval_every": 1000, "progress_every": 1000},
                             "grid": {"reg": [1.0e-3]}}}}
    plan = validate(cfg, SCHEMA)
    data = tmp_path / "spiral.h5"
    subprocess.run(["twolayer", "prepare", "spiral", "--recipe", "spiral",
                    "--recipe-json", plan.recipe_json("spiral"), "--source-json", plan.source_json("spiral"),
                    "--out", str(data)], check=True, capture_output=True, timeout=300)
    spec = plan.study("s").spec("reg~0.001")
    out = tmp_path / "out"
    cmd = ["twolayer", "train", "--spec", json.dumps(spec), "--data", str(data),
           "--model", str(out / "model.h5"), "--metrics", str(out / "metrics.json")]
    return cmd, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_job_with_one_line_and_nothing_written(tmp_path, sig):
    cmd, out = spiral_job(tmp_path, steps=10**9)  # far more than it will do
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in p.stderr:  # wait until it trains: its first progress line (no timer involved)
        lines.append(line)
        if re.match(r"step \d+/\d+ ", line):
            break
    assert p.poll() is None, "".join(lines)
    p.send_signal(sig)
    rest = p.stderr.read()
    p.wait(timeout=300)
    name = signal.Signals(sig).name
    assert p.returncode == 128 + sig, (p.returncode, rest)
    last = rest.strip().splitlines()[-1]
    assert re.fullmatch(rf"error: stopped by {name} at step \d+; nothing written; rerun with --rerun-incomplete", last), rest
    assert int(re.search(r"at step (\d+)", last).group(1)) >= 1000  # it had trained: past its first progress line
    assert "Traceback" not in rest
    assert not out.exists() or not any(out.iterdir())  # no model, no metrics, no temporary


def limited(nbytes):
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return preexec


def test_a_file_size_limit_or_full_disk_is_one_line_naming_the_file(tmp_path):
    cmd, out = spiral_job(tmp_path, steps=2000)
    out.mkdir()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, preexec_fn=limited(4096))
    assert r.returncode == 4, (r.returncode, r.stderr[-3000:])
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: could not write ") and "no space left on the device or the file is over its size limit" in last
    assert str(out / "model.h5") in last or ".model.h5.tmp-" in last, last
    assert "Traceback" not in r.stderr
    assert list(out.iterdir()) == []  # nothing half-written is left
    # the same job without the limit writes both files: the limit was the only fault
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.h5"]


def test_disk_full_is_told_from_other_errors():
    import errno

    from twolayer.cli import disk_full

    assert disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert disk_full(OSError(errno.EFBIG, "File too large"))
    # h5py's wording of HDF5's failed write, where the errno is only in the text
    assert disk_full(OSError("Can't write data (file write failed: time = x, errno = 28, error message = 'No space left on device')"))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("Can't decrement id ref count") from inner
    except RuntimeError as outer:
        assert disk_full(outer)
    assert not disk_full(OSError(errno.ENOENT, "No such file or directory"))
    assert not disk_full(RuntimeError("something else"))
