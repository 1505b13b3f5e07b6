"""The batch-1 kernels' compiled loops as machine code on disk, loaded without importing Numba.

Numba compiles each loop of :data:`LOOPS` (:func:`~twolayer.nn.batch1_loop.block_steps` for the
dense kernel, :func:`~twolayer.nn.batch1_loop.sparse_steps` for inputs with a background) behind
a C signature (:func:`~twolayer.nn.batch1_loop.c_adapter`, the arguments :data:`LOOPS` lists)
once per machine, dtype and version of the code, in a fresh process
(:func:`compile_in_a_fresh_process`). Its LLVM IR is then optimised once more as a
module of its own (every function but the entry made internal, so that the error
paths Numba's C wrapper keeps for exceptions the loop never raises fold away and the
object needs nothing of Numba's runtime: only ``libm`` and ``memset``), turned into
machine code by llvmlite (Numba's code generator, installed with it) and stored
next to Numba's cache. Every later process maps that object with llvmlite and calls it
through :mod:`ctypes`: about 0.03 s. Importing Numba and having it load its own cache
made a job's start 1.0 s instead of 0.3 s (Numba's import, its typing registries, and the
``scipy.linalg`` they import; ``python benchmarks/profile_steps.py``).

The object is the only code any process runs for the loop (the process that compiles it
loads it back too), so a float32 run gives the same bits in every process, as before.
It is checked: an entry whose SHA-256 is not the one its record names is compiled
again; a new object is kept only once a fresh process has mapped it (a symbol the
machine lacks would make LLVM abort the process that maps it). If llvmlite cannot make
or map the object, the process runs Numba's own compiled adapter instead (same C
signature, a slower start; its code is not optimised a second time, so its float32
bits can differ from the object's) and says so on stderr: an environment-wide failure,
so every job of a run takes the same path.

Where: a per-user cache, ``$XDG_CACHE_HOME/twolayer`` (``~/.cache/twolayer``), or
``$NUMBA_CACHE_DIR/twolayer`` if that variable is set; never inside the installed
package. Code is loaded only from a directory only you can write: it is created with
mode 0700, and before anything is read from it or written to it
(:func:`twolayer.nn.cache.trusted_cache_dir`) it must be a directory owned by you and not writable by
group or others, and so must every object and record read from it; otherwise the job
stops with a message naming it and the fix. Numba's own cache (pickles, for the
adapter it compiles) is kept in its ``numba`` sub-directory, under the same check. The
file name holds a digest of the loop's sources (:data:`twolayer.nn.cache.LOOP_SOURCES`: the loop
and the activations' formulas it compiles) and this file, the Numba and llvmlite
versions, the CPU and its features, and the dtype: a change of any of them compiles a
new object.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import UserError
from .cache import check_private, loop_sources_digest, trusted_cache_dir
from .classifier import DTYPES

#: the compiled loop's C arguments, in order: (name, kind); kind ``w`` a pointer to the
#: weights' dtype, ``i`` to int64, ``d`` to float64, ``n`` an int64, ``f`` a float64.
#: :func:`~twolayer.nn.batch1_loop.c_adapter` builds its Numba signature from it.
ARGS = (
    ("Z", "w"), ("G", "w"), ("Dm", "w"), ("cv", "w"), ("W2T", "w"), ("b1", "w"), ("b2", "w"),
    ("labels", "i"), ("lrs", "d"), ("state", "d"), ("cast", "w"), ("data_loss", "d"), ("penalty", "d"),
    ("z1", "w"), ("a1", "w"), ("z2", "w"),
    ("kb", "n"), ("H", "n"), ("C", "n"), ("ldd", "n"), ("bias", "n"), ("act", "n"), ("step0", "n"),
    ("log_every", "n"), ("track", "n"),
    ("alpha", "f"), ("k", "f"), ("creg", "f"),
)
#: the sparse loop's C arguments (:func:`~twolayer.nn.batch1_loop.sparse_steps`); kind ``j``: a pointer to int32
SPARSE_ARGS = (
    ("V", "w"), ("q", "w"), ("r", "w"), ("bg", "w"), ("X", "w"), ("indptr", "i"), ("indices", "j"), ("rows", "i"),
    ("W2T", "w"), ("b1", "w"), ("b2", "w"), ("labels", "i"), ("lrs", "d"), ("state", "d"), ("cast", "w"),
    ("data_loss", "d"), ("penalty", "d"), ("u", "w"), ("z1", "w"), ("a1", "w"), ("z2", "w"), ("d", "w"), ("ev", "w"),
    ("n", "n"), ("N", "n"), ("D", "n"), ("H", "n"), ("C", "n"), ("nnz", "n"), ("bias", "n"), ("act", "n"),
    ("step0", "n"), ("log_every", "n"), ("track", "n"), ("fold_every", "n"),
    ("alpha", "f"), ("k", "f"), ("creg", "f"), ("bb", "f"),
)
#: the compiled loops by name (:data:`twolayer.nn.batch1_loop.ADAPTERS`): their C arguments
LOOPS = {"block_steps": ARGS, "sparse_steps": SPARSE_ARGS}
_CTYPES = {"w": ctypes.c_void_p, "i": ctypes.c_void_p, "j": ctypes.c_void_p, "d": ctypes.c_void_p,
           "n": ctypes.c_int64, "f": ctypes.c_double}
#: each loop's C function type, for ctypes (its result: the steps done, or -1 - steps when a loss was not finite)
CFUNCS = {loop: ctypes.CFUNCTYPE(ctypes.c_int64, *(_CTYPES[k] for _, k in args)) for loop, args in LOOPS.items()}
CFUNC = CFUNCS["block_steps"]
_HERE = Path(__file__).resolve().parent
_LOADED = {}  # (loop, dtype name) -> (ctypes function, what keeps its code alive, where it came from)


def _llvm():
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    return llvm


def _target_machine(llvm):
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3, jit=True
    )


def _numba_version():
    from importlib.metadata import version

    return version("numba")


def cache_key(dtype):
    """The digest that names the object of ``dtype`` on this machine."""
    llvm = _llvm()
    import llvmlite

    h = hashlib.sha256()
    for part in (
        loop_sources_digest().encode(),  # the loop and the activations' formulas
        Path(__file__).read_bytes(),
        _numba_version().encode(),
        llvmlite.__version__.encode(),
        llvm.get_host_cpu_name().encode(),
        llvm.get_host_cpu_features().flatten().encode(),
        np.dtype(dtype).name.encode(),
        sys.platform.encode(),
        # Numba's settings that change the code it generates
        "|".join(os.environ.get(v, "") for v in ("NUMBA_OPT", "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")).encode(),
    ):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:20]


def paths(dtype, loop="block_steps"):
    """``(object, record)`` paths of the cache entry of ``loop`` for ``dtype``."""
    name = f"{loop}-{np.dtype(dtype).name}-{cache_key(dtype)}"
    d = trusted_cache_dir()
    return d / f"{name}.o", d / f"{name}.json"


def compile_object(dtype, loop="block_steps"):
    """Compile ``loop`` for ``dtype`` with Numba and return ``(object bytes, entry symbol)``."""
    mod, entry, tm = optimised_module(dtype, loop)
    return tm.emit_object(mod), entry


def optimised_module(dtype, loop="block_steps"):
    """``loop``'s LLVM module for ``dtype``, optimised on its own: ``(module, entry symbol, target machine)``."""
    from .batch1_loop import c_adapter

    llvm = _llvm()
    cf = c_adapter(np.dtype(dtype).name, LOOPS[loop], loop)
    entry = cf.native_name
    mod = llvm.parse_assembly(cf.inspect_llvm())
    inner = [f for f in mod.functions if not f.is_declaration and f.name != entry]
    for i, f in enumerate(inner):
        f.linkage = llvm.Linkage.internal
        # Numba's names for them carry its flags in a form that follows the building process's
        # string-hash seed, which made two builds' objects differ in these names only: named by
        # their place in the module instead, every build gives the same bytes
        f.name = f"{loop}.inner.{i}"
    for g in mod.global_variables:
        if not g.is_declaration:
            g.linkage = llvm.Linkage.internal
    mod.verify()
    tm = _target_machine(llvm)
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    return mod, entry, tm


def _load_object(data, entry, loop="block_steps"):
    """Map an object with llvmlite; return (ctypes function of ``loop``'s type, engine)."""
    llvm = _llvm()
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _target_machine(llvm))
    engine.add_object_file(llvm.ObjectFileRef.from_data(data))
    engine.finalize_object()
    addr = engine.get_function_address(entry)
    if not addr:
        raise RuntimeError(f"the object has no function {entry}")
    return CFUNCS[loop](addr), engine


def _loads_in_a_fresh_process(obj_path, entry, loop="block_steps"):
    """True if another process maps the object (an unresolvable symbol aborts the process that tries)."""
    code = (
        "import sys; from pathlib import Path; from twolayer.nn.native import _load_object; "
        "_load_object(Path(sys.argv[1]).read_bytes(), sys.argv[2], sys.argv[3])"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", code, str(obj_path), entry, loop], capture_output=True, env=env)
    return res.returncode == 0


def _read_entry(obj_path, rec_path):
    """The stored object and its entry symbol, or None if absent or not what its record says."""
    try:
        for path in (rec_path, obj_path):
            check_private(path, is_dir=False)
        rec = json.loads(rec_path.read_text())
        data = obj_path.read_bytes()
    except (OSError, ValueError):
        return None
    if hashlib.sha256(data).hexdigest() != rec.get("sha256"):
        return None
    return data, rec["entry"]


def compile_in_a_fresh_process(dtype, loop="block_steps"):
    """:func:`compile_object` run by a new Python process: ``(object bytes, entry symbol)``.

    The object's code must not depend on what the process that builds it compiled before: Numba
    links a function it has already compiled (the activation chains, say, used on their own)
    into the loop's module instead of compiling it there, and the module optimised then gives
    other float32 roundings (seen: the dense loop's weights differ after 5,000 steps). A fresh
    process compiles the loop from nothing, the same on every machine of a kind (and with the
    same bytes whatever its hash seed: :func:`optimised_module` renames the inner functions)."""
    code = (
        "import sys; from twolayer.nn.native import compile_object; "
        "data, entry = compile_object(sys.argv[1], sys.argv[2]); "
        "sys.stdout.buffer.write(entry.encode() + b'\\n' + data)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", code, np.dtype(dtype).name, loop], capture_output=True, env=env)
    if res.returncode != 0:
        tail = res.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(f"compiling {loop} in a fresh process failed: {tail[0]}")
    entry, _, data = res.stdout.partition(b"\n")
    return data, entry.decode()


def _build(dtype, obj_path, rec_path, loop="block_steps"):
    """Compile (in a fresh process), store and check the object; returns (bytes, entry) or raises."""
    data, entry = compile_in_a_fresh_process(dtype, loop)
    rec = {"entry": entry, "sha256": hashlib.sha256(data).hexdigest(), "dtype": np.dtype(dtype).name,
           "numba": _numba_version()}
    try:
        with atomic_path(obj_path) as tmp:
            Path(tmp).write_bytes(data)
            os.chmod(tmp, 0o600)  # whatever the umask: a group-writable object would be refused by the next job
        if not _loads_in_a_fresh_process(obj_path, entry, loop):
            obj_path.unlink(missing_ok=True)
            raise RuntimeError("a fresh process could not map the compiled object")
        with atomic_path(rec_path) as tmp:
            Path(tmp).write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
            os.chmod(tmp, 0o600)
    except OSError:
        pass  # not stored (read-only, or another job stored the same bytes at this moment): use it from memory
    return data, entry


def block_steps_c(dtype):
    """The dense loop (:func:`~twolayer.nn.batch1_loop.block_steps`) for ``dtype``: :func:`loop_c`."""
    return loop_c(dtype, "block_steps")


def loop_c(dtype, loop):
    """The compiled ``loop`` (a key of :data:`LOOPS`) for ``dtype`` as a ctypes function of its
    arguments; loaded once per process.

    From the cache when it holds a valid object (no Numba import), else compiled now (a few
    seconds) and stored. Falls back to Numba's own compiled adapter if llvmlite cannot make
    or map the object."""
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise ValueError(f"the compiled loop is built for {', '.join(DTYPES)}, not {name}")
    hit = _LOADED.get((loop, name))
    if hit is not None:
        return hit[0]
    try:
        obj_path, rec_path = paths(name, loop)
        stored = _read_entry(obj_path, rec_path)
        data, entry = stored if stored is not None else _build(name, obj_path, rec_path, loop)
        fn, keep = _load_object(data, entry, loop)
        origin = str(obj_path)
    except (UserError, MemoryError):
        raise  # the job's own limits (time, memory budget) stop it, here as anywhere
    except Exception as exc:  # noqa: BLE001 - any other failure of the fast start falls back to Numba's own code
        from .batch1_loop import c_adapter

        print(f"twolayer: the batch-1 loop's stored machine code is not usable here ({exc}); "
              "using Numba's compiled code (same results up to rounding, a slower start)", file=sys.stderr)
        cf = c_adapter(name, LOOPS[loop], loop)
        fn, keep, origin = CFUNCS[loop](cf.address), cf, "numba"
    _LOADED[(loop, name)] = (fn, keep, origin)
    return fn


def origin(dtype, loop="block_steps"):
    """Where the loaded ``loop`` of ``dtype`` came from: the object's path, or ``"numba"`` (the fallback)."""
    return _LOADED[(loop, np.dtype(dtype).name)][2]
