"""What a job needs (memory, time), and holding it to that.

Estimates (the rules declare them as Snakemake resources, scaled by
``attempt`` so that a retry gets more) come from the measurements in
``docs/performance.md``:

* memory: ~200 MB for Python, NumPy, SciPy and h5py, plus the arrays the
  job loads (bounded by the dataset file's size) with 25% headroom for the
  train-accuracy subset and evaluation chunks, plus the weights and their
  gradients/optimizer state;
* time: steps x a per-step cost model (batch 1: ~10 us + 0.04 us x H at
  D = 784, scaled with D; minibatch: 4·B·D·H flops at a conservative
  30 GFLOP/s), three times over, plus five minutes.

:func:`apply_limits` makes a local run fail the way a cluster job would: a
watchdog thread reads the process's resident memory (what a cluster's
cgroup counts) five times a second and stops the job when it exceeds
``mem_mb`` (and :func:`check_memory` looks synchronously before any work
once the data are loaded and once the compiled loop is mapped, so a budget too small
is caught whatever the thread's scheduling), and a timer stops it after ``runtime`` minutes. Both raise a
:class:`~twolayer.errors.UserError` in the main thread, so the job ends
with a one-line message and, outputs being written atomically, leaves
nothing behind that a rerun would accept. (An ``RLIMIT_DATA`` cap was
tried first: OpenBLAS retries a refused ``mmap`` forever, so the job hung
instead of failing.)
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time

from ...data.formats import get_format
from ...errors import UserError
from ...nn.kernels import kernel_name

BASE_MB = 200
#: once a job's time budget is spent, the timer raises again every this many seconds: a
#: library that swallows exceptions (Numba compiling the loop, an import's ``except
#: Exception``) can take the first one, not the next
TIMEOUT_REPEAT_S = 2.0


class JobTimeout(UserError):
    pass


def param_count(spec, input_size, classes):
    m = spec["model"]
    if m["kind"] == "linear":
        return input_size * classes + classes
    h = m["hidden"]
    return input_size * h + h + h * classes + classes


def train_mem_mb(spec, data_mb, input_size, classes):
    """Memory for a training job: runtime + loaded arrays (<= the data file) + weights x 6."""
    params_mb = param_count(spec, input_size, classes) * 8 / 2**20
    return int(math.ceil(BASE_MB + 1.25 * data_mb + 6 * params_mb))


def step_seconds(spec, input_size):
    """The cost model of one step, for the kernel that will run it (:func:`twolayer.nn.kernels.kernel_name`).

    Batch-1 SGD is priced as the dense kernel: the sparse one, which the data's foreground (unknown
    before the data are prepared) may choose instead, runs only where it is faster."""
    m, t = spec["model"], spec["training"]
    h = m.get("hidden", 10)  # a linear model has no hidden layer: priced as a small one
    full = t["sampling"] == "full" or t["batch_size"] is None
    if kernel_name(m["kind"], None if full else t["batch_size"], t["optimizer"]) == "batch1_sgd":
        return (10e-6 + 0.04e-6 * h) * max(input_size / 784, 1.0)
    batch = 1000 if full else t["batch_size"]
    return 4 * batch * input_size * h / 30e9 + 50e-6


def train_runtime_min(spec, input_size):
    """Minutes for a training job: three times the cost model, plus five."""
    steps = spec["training"]["steps"]
    return int(math.ceil(5 + 3 * steps * step_seconds(spec, input_size) / 60))


def prepare_mem_mb(source):
    """Memory to parse and normalise a dataset (raw bytes, float64 row blocks, float32 output)."""
    d = math.prod(source.image_shape) if source.image_shape else 1
    n = get_format(source.format).examples
    return int(math.ceil(BASE_MB + n * d * (1 + 4 + 1) / 2**20 * 1.5))


class JobOutOfMemory(UserError):
    exit_code = 3


def _raise(exc_type, message):
    def handler(signum, frame):
        raise exc_type(message)

    return handler


def rss_bytes():
    """Resident set size of this process (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def check_memory(mem_mb):
    """Raise :class:`JobOutOfMemory` now if this process already holds more than ``mem_mb``.

    Called before any work, after the data are loaded and after the compiled loop is mapped,
    so that a budget too small for the job is caught at those points whatever the watchdog
    thread's scheduling (a short job on a busy machine could otherwise finish before the
    watchdog's first look)."""
    if mem_mb and rss_bytes() > int(mem_mb * 1_000_000):
        raise JobOutOfMemory(memory_message(mem_mb))


def _watch_memory(limit, main_ident, poll, grace, message):
    while True:
        if rss_bytes() > limit:
            signal.pthread_kill(main_ident, signal.SIGUSR1)
            time.sleep(grace)  # the main thread is stuck in C code: stop the hard way
            print(f"error: {message}", file=sys.stderr, flush=True)
            os._exit(3)
        time.sleep(poll)


def apply_limits(mem_mb=None, runtime_min=None, poll=0.2, grace=10.0):
    """Hold this process to ``mem_mb`` MB (10^6 bytes, as Snakemake counts) of resident memory
    and ``runtime_min`` minutes of wall time. Call it from the main thread, and
    :func:`release_limits` once the job has ended (the timer repeats until then)."""
    if runtime_min:
        message = (
            f"the job exceeded its time budget of {runtime_min:g} min (resources.runtime); "
            "Snakemake retries it with twice the budget if retries allow, or raise "
            "resources.train.runtime_factor in the config"
        )
        signal.signal(signal.SIGALRM, _raise(JobTimeout, message))
        signal.setitimer(signal.ITIMER_REAL, float(runtime_min) * 60.0, TIMEOUT_REPEAT_S)
    if mem_mb:
        check_memory(mem_mb)
        message = memory_message(mem_mb)
        signal.signal(signal.SIGUSR1, _raise(JobOutOfMemory, message))
        watchdog = threading.Thread(
            target=_watch_memory,
            args=(int(mem_mb * 1_000_000), threading.main_thread().ident, poll, grace, message),
            name="memory-watchdog",
            daemon=True,
        )
        watchdog.start()


def release_limits():
    """Stop the time budget's timer (the job has ended, well or not)."""
    signal.setitimer(signal.ITIMER_REAL, 0)


def memory_message(mem_mb):
    if mem_mb is None:
        return "the machine ran out of memory (no budget was set: --mem-mb / resources.mem_mb)"
    return (
        f"the job ran out of its memory budget of {mem_mb} MB (resources.mem_mb); "
        "Snakemake retries it with twice the budget if retries allow, or raise "
        "resources.train.mem_factor in the config"
    )
