"""Timing helpers shared by the benchmarks: interleaved repeats, medians, the machine."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time

# One BLAS thread per model, as in the workflow's jobs. Set before NumPy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


class Result:
    """Repeated measurements of one variant (seconds per unit of work)."""

    def __init__(self, name, unit="us", scale=1e6):
        self.name, self.unit, self.scale = name, unit, scale
        self.samples = []

    @property
    def median(self):
        return statistics.median(self.samples)

    def cell(self, digits=1):
        s = sorted(self.samples)
        f = f".{digits}f"
        return f"{self.median * self.scale:{f}} ({s[0] * self.scale:{f}}–{s[-1] * self.scale:{f}})"

    def as_dict(self):
        return {"name": self.name, "median_s": self.median, "samples_s": self.samples}


def interleaved(variants, repeats):
    """Run ``variants`` ({name: fn() -> seconds per unit}) round-robin ``repeats`` times.

    Interleaving spreads the shared machine's slow moments over all variants
    instead of penalising whichever ran during them.
    """
    results = {name: Result(name) for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            results[name].samples.append(fn())
    return results


def per_call(fn, n, warmup=0):
    """Seconds per call of ``fn(i)`` over ``n`` calls (after ``warmup`` calls)."""
    for i in range(warmup):
        fn(i)
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n


def machine():
    """CPU, cores, BLAS and library versions, for the record."""
    info = {"python": platform.python_version(), "platform": platform.platform()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            key, _, val = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "L1d cache", "L2 cache", "L3 cache", "Hypervisor vendor"):
                info[key.strip()] = val.strip()
    except OSError:
        pass
    import numpy
    import scipy

    info["numpy"], info["scipy"] = numpy.__version__, scipy.__version__
    try:
        from threadpoolctl import threadpool_info

        for lib in threadpool_info():
            if lib.get("user_api") == "blas":
                info.setdefault("blas", f"{lib.get('internal_api')} {lib.get('version')} ({lib.get('architecture')}, {lib.get('num_threads')} thread)")
    except ImportError:
        pass
    for mod in ("torch", "sklearn", "h5py", "snakemake"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # not installed: the comparisons that need it are skipped
            info[mod] = "not installed"
    return info
