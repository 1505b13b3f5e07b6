"""The compiled batch-1 loop stored once per machine, dtype and version (nn/cache.py, nn/native.py):
keyed by every source it compiles, mapped by llvmlite in a fresh process without Numba, a damaged
or foreign copy compiled again or refused, private whatever the umask, and Numba's own code as
the fallback that trains the same SGD.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from test_train import reference_sgd  # tests/nn/test_train.py

from twolayer import TwoLayerNet
from twolayer.nn.kernels import Batch1SGD
from twolayer.nn.native import LOOPS


def test_the_loop_is_stored_by_the_version_of_every_source_it_compiles(monkeypatch, tmp_path):
    """The files the loop is made of (its own and the modules it takes formulas from) are
    :data:`~twolayer.nn.cache.LOOP_SOURCES`, and an edit of the formulas gives a new digest,
    which names the stored object and Numba's own cache."""
    import ast
    import shutil

    from twolayer.nn import cache

    here = Path(cache.__file__).parent
    tree = ast.parse((here / "batch1_loop.py").read_text())
    local = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1}
    assert {f"{m}.py" for m in local - {"cache"}} | {"batch1_loop.py"} == set(cache.LOOP_SOURCES)
    for name in cache.LOOP_SOURCES:
        shutil.copy(here / name, tmp_path / name)
    monkeypatch.setattr(cache, "_HERE", tmp_path)
    before = cache.loop_sources_digest()
    assert before == cache.loop_sources_digest()
    src = (tmp_path / "activations.py").read_text()
    (tmp_path / "activations.py").write_text(src.replace("return a - a * a", "return a * (1 - a)"))
    assert cache.loop_sources_digest() != before


_TRAIN_IN_A_FRESH_PROCESS = """
import hashlib, sys
import numpy as np
from twolayer import TrainSettings, TwoLayerNet, train_model
from twolayer.nn import native
from twolayer.nn.kernels import load_compiled_loop
for dtype in (np.float32, np.float64):
    load_compiled_loop(dtype)
rng = np.random.default_rng(0)
digest = hashlib.sha256()
for dtype in (np.float32, np.float64):
    X = rng.standard_normal((200, 30)).astype(dtype)
    y = rng.integers(0, 4, 200)
    for bias, log_every, act in ((False, 100, "sigmoid"), (True, 1, "relu")):
        net = TwoLayerNet(30, 10, 4, dtype=dtype, seed=0, bias=bias, init="report", activation=act)
        settings = TrainSettings(steps=300, lr=0.01, reg=1e-3, batch_size=1, sampling="with_replacement",
                                 log_every=log_every, eval_every=100)
        h = train_model(net, X, y, X, y, settings)
        assert h.status == "ok"
        for k in sorted(net.params):
            digest.update(net.params[k].tobytes())
        digest.update(np.asarray(h.loss).tobytes())
print(digest.hexdigest(), "numba" in sys.modules, "scipy.linalg" in sys.modules,
      native.origin(np.float32) != "numba", native.origin(np.float64) != "numba")
"""


def _train_in_a_fresh_process(env=None):
    import os
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _TRAIN_IN_A_FRESH_PROCESS], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    assert run.returncode == 0, run.stderr
    return run.stdout.split(), run.stderr


def test_a_training_job_runs_the_stored_loop_without_numba(tmp_path):
    """The first process on a machine compiles the loop and stores its machine code; later ones
    load it without importing Numba or scipy.linalg, and every process computes the same bits."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    first, _ = _train_in_a_fresh_process(env)
    stored = sorted(p.name for p in (tmp_path / "twolayer").glob("block_steps-*"))
    assert [n.split("-")[1] for n in stored] == ["float32", "float32", "float64", "float64"]
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "twolayer").iterdir()}
    second, err = _train_in_a_fresh_process(env)
    assert second == [first[0], "False", "False", "True", "True"], err
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "twolayer").iterdir()} == mtimes  # loaded, not rebuilt
    assert first[0] == second[0]


def test_a_damaged_stored_loop_is_compiled_again(tmp_path):
    """An object whose bytes are not those its record names is never mapped: it is rebuilt."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    first, _ = _train_in_a_fresh_process(env)
    for obj in (tmp_path / "twolayer").glob("*.o"):
        obj.write_bytes(obj.read_bytes()[: 100])  # truncated, as by a full disk
    again, err = _train_in_a_fresh_process(env)
    assert again == first, err
    assert all(len(o.read_bytes()) > 100 for o in (tmp_path / "twolayer").glob("*.o"))


def _no_code_runs(monkeypatch, native):
    """Make any load or compile of the loop fail the test."""
    def never(*args):
        raise AssertionError("code from an untrusted directory was loaded or compiled")

    monkeypatch.setattr(native, "_LOADED", {})
    monkeypatch.setattr(native, "_load_object", never)
    monkeypatch.setattr(native, "compile_object", never)


def test_a_cache_directory_others_can_write_is_refused_before_anything_is_read(monkeypatch, tmp_path):
    """A planted object (with a record that matches it) in a group- or world-writable cache is
    never mapped: the job stops with a message naming the directory and the fix."""
    import hashlib
    import json

    from twolayer.nn import cache, native

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    shared = tmp_path / "twolayer"
    shared.mkdir()
    shared.chmod(0o777)
    name = f"block_steps-float64-{native.cache_key(np.float64)}"
    planted = b"\x7fELF planted"
    (shared / f"{name}.o").write_bytes(planted)
    (shared / f"{name}.json").write_text(json.dumps({"entry": "x", "sha256": hashlib.sha256(planted).hexdigest()}))
    _no_code_runs(monkeypatch, native)
    with pytest.raises(cache.UntrustedCacheError) as err:
        native.block_steps_c(np.float64)
    msg = str(err.value)
    assert f"cache directory {shared} is writable by group or others (mode 0777)" in msg
    assert f"chmod 700 '{shared}'" in msg and "NUMBA_CACHE_DIR" in msg
    shared.chmod(0o775)  # group-writable: refused as well
    with pytest.raises(cache.UntrustedCacheError, match="mode 0775"):
        native.block_steps_c(np.float64)


def test_a_cache_directory_of_another_user_is_refused(monkeypatch, tmp_path):
    from twolayer.nn import cache, native

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    cache.trusted_cache_dir()  # yours: accepted
    owner = (tmp_path / "twolayer").stat().st_uid
    monkeypatch.setattr(cache.os, "getuid", lambda: owner + 1000)  # seen as someone else
    _no_code_runs(monkeypatch, native)
    with pytest.raises(cache.UntrustedCacheError, match=rf"owned by uid {owner}, not by you \(uid {owner + 1000}\)"):
        native.block_steps_c(np.float64)


def test_a_cached_file_others_can_write_is_refused(monkeypatch, tmp_path):
    from twolayer.nn import cache, native

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    obj, rec = native.paths(np.float64)
    obj.write_bytes(b"planted")
    rec.write_text("{}")
    rec.chmod(0o666)
    _no_code_runs(monkeypatch, native)
    with pytest.raises(cache.UntrustedCacheError, match=f"cache file {rec} is writable by group or others"):
        native.block_steps_c(np.float64)


def test_a_stored_loop_is_private_whatever_the_umask(monkeypatch, tmp_path):
    """With the common umask 002 the object and record are still written 0600, so the next job
    loads them instead of refusing them as group-writable (no compile: a stand-in object)."""
    import os
    import re
    import stat

    from twolayer.nn import cache, native

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "compile_in_a_fresh_process", lambda dtype, loop="block_steps": (b"stand-in object", "entry"))
    monkeypatch.setattr(native, "_loads_in_a_fresh_process", lambda *args: True)
    obj, rec = native.paths(np.float64)
    old = os.umask(0o002)
    try:
        native._build(np.float64, obj, rec)
    finally:
        os.umask(old)
    assert [stat.S_IMODE(p.stat().st_mode) for p in (obj, rec)] == [0o600, 0o600]
    assert native._read_entry(obj, rec) == (b"stand-in object", "entry")
    rec.chmod(0o664)  # a file's fix is to delete it: chmod of the directory would not mend it
    with pytest.raises(cache.UntrustedCacheError, match=re.escape(f"(mode 0664): its code is not loaded; delete '{rec}'")):
        native._read_entry(obj, rec)


def test_the_cache_is_per_user_private_and_never_in_the_package(monkeypatch, tmp_path):
    import os
    import stat
    import subprocess
    import sys
    from pathlib import Path

    from twolayer.nn import cache

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    d = cache.trusted_cache_dir()
    assert d == tmp_path / "xdg" / "twolayer" and stat.S_IMODE(d.stat().st_mode) == 0o700
    package = Path(cache.__file__).resolve().parents[1]
    assert package not in d.resolve().parents
    # Numba's own cache (pickles) goes to the checked directory, and is refused with it
    code = "import numba, twolayer.nn.batch1_loop; print(numba.config.CACHE_DIR)"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "n")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    version = cache.loop_sources_digest()
    assert r.returncode == 0 and r.stdout.strip() == str(tmp_path / "n" / "twolayer" / "numba" / version), r.stderr
    (tmp_path / "n" / "twolayer").chmod(0o777)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "is writable by group or others (mode 0777)" in r.stderr


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_the_stored_loop_needs_nothing_of_numbas_runtime(loop):
    """After the module's second optimisation each loop's object calls only the C library (no
    Numba runtime or Python error paths), so a process that never imported Numba can map it.
    (A slice or a reshape inside a loop leaves calls into Numba's runtime, NRT_Free and
    numba_attempt_nocopy_reshape, that no optimisation removes: mapping that object crashes.)"""
    import llvmlite.binding as llvm

    from twolayer.nn import native

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    from twolayer.nn.batch1_loop import c_adapter

    for dtype in native.DTYPES:
        cf = c_adapter(dtype, native.LOOPS[loop], loop)
        mod = llvm.parse_assembly(cf.inspect_llvm())
        before = {f.name for f in mod.functions if f.is_declaration and not f.name.startswith("llvm.")}
        assert any(n.startswith("numba_") for n in before)  # Numba's C wrapper raises through its runtime
        mod, entry, _ = native.optimised_module(dtype, loop)
        after = {f.name for f in mod.functions if f.is_declaration and not f.name.startswith("llvm.")}
        assert after <= {"tanhf", "tanh", "expf", "exp", "logf", "log"}, after
        assert not [g.name for g in mod.global_variables if g.is_declaration]
        assert [f.name for f in mod.functions if not f.is_declaration and f.linkage != llvm.Linkage.internal] == [entry]


def test_the_adapter_takes_the_arguments_native_lists():
    """One list of the C arguments (native.ARGS): the adapter refuses another."""
    from twolayer.nn import native
    from twolayer.nn.batch1_loop import c_adapter

    with pytest.raises(ValueError, match="not those of ARGS"):
        c_adapter("float32", native.ARGS[:-1])


def test_without_the_stored_loop_numbas_own_code_trains_the_same_sgd(monkeypatch, capsys):
    """If llvmlite cannot map the object, the kernel runs Numba's compiled adapter (same C
    signature), says so, and still computes sequential SGD (to rounding)."""
    from twolayer.nn import native

    def refuse(data, entry, loop="block_steps"):
        raise RuntimeError("no mapping here")

    monkeypatch.setattr(native, "_load_object", refuse)
    monkeypatch.setattr(native, "_LOADED", {})
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 12))
    y = rng.integers(0, 3, 50)
    idx = rng.integers(0, 50, 40)
    lrs = np.full(40, 0.05)
    fast = TwoLayerNet(12, 7, 3, dtype=np.float64, seed=1, activation="sigmoid", init="report")
    ref = TwoLayerNet(12, 7, 3, dtype=np.float64, seed=1, activation="sigmoid", init="report")
    Batch1SGD(fast, 1e-3).run(X, y, idx, lrs)
    assert native.origin(np.float64) == "numba"
    assert "not usable here (no mapping here)" in capsys.readouterr().err
    reference_sgd(ref, X, y, idx, lrs, 1e-3)
    for k in fast.params:
        assert np.allclose(fast.params[k], ref.params[k], rtol=1e-10, atol=1e-12), k


def test_a_jobs_own_limits_are_not_taken_for_a_failed_fast_start(monkeypatch, tmp_path):
    """A time or memory budget that runs out while the loop is being prepared stops the job;
    only other failures fall back to Numba's code."""
    from twolayer.errors import UserError
    from twolayer.nn import native

    class Budget(UserError):
        pass

    def out_of_time(*args):
        raise Budget("the job exceeded its time budget")

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "_LOADED", {})
    monkeypatch.setattr(native, "compile_in_a_fresh_process", out_of_time)
    with pytest.raises(Budget):
        native.block_steps_c(np.float64)
    assert "float64" not in native._LOADED


def test_the_compiled_loop_refuses_arrays_it_cannot_write_through():
    """The loop writes through raw pointers: a per-step array of another dtype, layout or length is
    refused before any step, not silently copied (its losses would be lost) or overrun."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 6))
    y = rng.integers(0, 3, 20)
    idx, lrs = rng.integers(0, 20, 10), np.full(10, 0.01)
    k = Batch1SGD(TwoLayerNet(6, 5, 3, seed=0), 1e-3)
    for bad in (np.zeros(10, np.float32), np.zeros(20)[::2], np.zeros(9)):
        with pytest.raises(ValueError, match="data_loss must be a C-contiguous float64 array"):
            k.run(X, y, idx, lrs, data_loss=bad)


def test_the_stored_loop_does_not_depend_on_what_its_process_compiled_before(monkeypatch, tmp_path):
    """The activation chains compiled on their own first (which makes Numba link them into the loop
    instead of compiling them there: other float32 roundings), then the loop built and stored: the
    same object, byte for byte, as a process that compiled nothing before stores."""
    import subprocess
    import sys

    from twolayer.nn import native
    from twolayer.nn.activations import Constants
    from twolayer.nn.batch1_loop import hidden_backward, hidden_forward

    z = np.linspace(-2, 2, 7).astype(np.float32)
    a, d = np.empty_like(z), np.ones_like(z)
    c = Constants(*(np.float32(v) for v in (0, 1, 0.01, 80)))
    for act in range(4):
        hidden_forward(act, z, a, c)
        hidden_backward(act, z, a, d, c)
    here, fresh = tmp_path / "here", tmp_path / "fresh"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(here))
    monkeypatch.setattr(native, "_LOADED", {})
    native.block_steps_c(np.float32)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(fresh)}
    subprocess.run([sys.executable, "-c", "import numpy as np; from twolayer.nn.native import block_steps_c; "
                    "block_steps_c(np.float32)"], check=True, env=env)
    built = {d: sorted((d / "twolayer").glob("block_steps-float32-*.o")) for d in (here, fresh)}
    assert len(built[here]) == len(built[fresh]) == 1
    assert built[here][0].name == built[fresh][0].name
    assert built[here][0].read_bytes() == built[fresh][0].read_bytes()


def test_two_builds_give_the_same_object_whatever_the_hash_seed(tmp_path):
    """Numba names the loop's inner functions after its flags in a form that follows the process's
    string hashes (with seeds 0 and 1 the objects differed in those names); the build renames them
    (native.optimised_module), so processes with any seed emit the same bytes."""
    import subprocess
    import sys

    code = ("import sys; from twolayer.nn.native import compile_object; "
            "sys.stdout.buffer.write(compile_object('float32', 'block_steps')[0])")
    built = []
    for seed in ("0", "1"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "NUMBA_CACHE_DIR": str(tmp_path / seed)}
        built.append(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env).stdout)
    assert built[0][:4] == b"\x7fELF" and built[0] == built[1]
