"""One training job: a job spec and a dataset file in, a model file and a metrics record out.

The job reads only the ``train`` and ``val`` splits: the test set is touched
once per study, by :mod:`twolayer.study.analysis.evaluate`, for the winner alone.

Seeds (:func:`job_seeds`): the study's ``seed`` (or the ``seed`` grid axis) is
the root of a :class:`numpy.random.SeedSequence`; its first child draws the
initial weights, its second drives the sampler and the train-accuracy
subset. A replicate k > 0 (``spec["replicate"]``) draws each source it varies
from the root's third child, spawned by replicate and source:
``SeedSequence(root).spawn(3)[2].spawn(k + 1)[k].spawn(2)[s]`` (spawn key
``(2, k, s)``, s = 0 for init, 1 for order); the sources it does not vary keep
the single run's seeds. Replicate k uses the same seeds at every grid point,
as the single run does, so points are compared on paired draws. Everything
is recorded in the model file.
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np

from ...atomic import write_json
from ...data.store import check_provenance, checks_record, foreground_arrays, load_split
from ...integrity import sealed_record
from ...nn.classifier import resolve_dtype
from ...nn.kernels import Foreground, kernel_name, load_compiled_loop
from ...nn.train import train_model
from ..plan.axes import AXES, SOURCES, spec_value
from ..plan.jobspec import block_every, build_model, check_spec, train_settings
from .modelio import save_model
from ..plan.resources import check_memory


def metrics_record(spec, history, model):
    """The per-job record the aggregate table is built from (no NaN: missing is null)."""
    return {
        "study": spec["study"],
        "point": spec["point"],
        **({"replicate": spec["replicate"]["index"], "vary": "+".join(spec["replicate"]["vary"]),
            "replicate_set": spec["replicate"]["set"]} if spec.get("replicate") else {}),
        **{AXES[a].column: spec_value(spec, a) for a in AXES},
        "n_params": int(sum(p.size for p in model.params.values())),
        "status": history.status,
        "diverged_step": history.diverged_step,
        "steps": history.steps_done,
        "train_acc": history.final_train_acc,
        "val_acc": history.final_val_acc,
        "final_loss": float(history.loss[-1]) if history.loss.size and history.status == "ok" else None,
        "best_val_acc": history.best_val_acc,
        "seconds": round(history.seconds, 3),
        "train_seconds": round(history.train_seconds, 3),
        "eval_seconds": round(history.eval_seconds, 3),
    }


def job_seeds(spec):
    """``(init, training)`` SeedSequences of a job, and the record of how they were derived."""
    root = int(spec["seed"])
    init_ss, train_ss = np.random.SeedSequence(root).spawn(2)
    record = {"root": root, "derivation": "SeedSequence(root).spawn(2) -> (init, training)"}
    rep = spec.get("replicate")
    if rep:
        k, vary = int(rep["index"]), list(rep["vary"])
        drawn = {src: np.random.SeedSequence(root, spawn_key=(2, k, i)) for i, src in enumerate(SOURCES)}
        if "init" in vary:
            init_ss = drawn["init"]
        if "order" in vary:
            train_ss = drawn["order"]
        record.update(
            replicate=k,
            vary=vary,
            derivation=("replicate k: SeedSequence(root, spawn_key=(2, k, s)), s = 0 (init), 1 (order), for the "
                        "sources it varies; the others as a single run: SeedSequence(root).spawn(2) -> (init, training)"),
        )
    record["init_spawn_key"] = list(init_ss.spawn_key)
    record["training_spawn_key"] = list(train_ss.spawn_key)
    return init_ss, train_ss, record


def job_kernel(model, settings, data_path, attrs, verified=None):
    """``(kernel name, Foreground or None)``: the kernel a job's training takes
    (:func:`twolayer.nn.kernels.kernel_name`), and, for the sparse batch-1 kernel, the training
    split's foreground read from ``data_path`` (verified as read; ``verified`` gets its digests).
    The job and its replay (:mod:`twolayer.study.run.trace`) both ask here, so they train alike."""
    full = settings.sampling == "full" or settings.batch_size is None
    fraction = (attrs.get("foreground") or {}).get("fraction")
    use = settings.sparse_inputs and fraction is not None
    name = kernel_name(model.kind, None if full else settings.batch_size, settings.optimizer, float(fraction) if use else None)
    if name != "batch1_sparse":
        return name, None
    background, indptr, indices = foreground_arrays(data_path, verified)
    return name, Foreground(background.astype(model.dtype), indptr, indices)


def run_job(spec, data_path, model_out, metrics_out, log=None, mem_mb=None):
    """Train the grid point described by ``spec`` on ``data_path``; write the model and metrics.

    ``mem_mb``: the job's memory budget, checked once the data are loaded (see
    :mod:`twolayer.study.plan.resources`)."""
    log = log if log is not None else sys.stderr
    t0 = time.perf_counter()
    check_spec(spec)  # the config check's own test: a setting the training refuses is a one-line error
    attrs = check_provenance(data_path, dataset=spec["dataset"], recipe=spec["recipe"], recipe_spec=spec["recipe_spec"])
    dtype = resolve_dtype(spec["model"]["dtype"])
    verified = {}  # each array's digest, recomputed as it is read: what the model file records
    X, y = load_split(data_path, "train", dtype=dtype, verified=verified)
    Xv, yv = load_split(data_path, "val", dtype=dtype, verified=verified)
    t_load = time.perf_counter() - t0
    check_memory(mem_mb)
    init_ss, train_ss, seeds = job_seeds(spec)
    model = build_model(spec, X.shape[1], len(attrs["classes"]), np.random.default_rng(init_ss))
    settings = train_settings(spec, X.shape[0])
    kernel, foreground = job_kernel(model, settings, data_path, attrs, verified)
    if kernel.startswith("batch1"):
        load_compiled_loop(dtype, kernel)  # part of the job's start, not of its training time
        check_memory(mem_mb)  # mapping it takes ~50 MB (llvmlite): a budget too small is seen here, not by chance
    print(
        f"{spec['study']} {spec['point']}: {type(model).__name__} on {data_path} "
        f"(train {X.shape}, val {Xv.shape}, loaded in {t_load:.2f} s), {settings.steps} steps",
        file=log,
        flush=True,
    )
    history = train_model(model, X, y, Xv, yv, settings, seed=train_ss, log=log,
                          block_every=block_every(settings.steps), foreground=foreground)
    save_model(model_out, model, history, spec, seeds, data_path, attrs["fingerprint"],
               checks_record(attrs, verified))
    record = metrics_record(spec, history, model)
    record["load_seconds"] = round(t_load, 3)
    record["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # Linux: KiB
    write_json(metrics_out, sealed_record(record))  # with its SHA-256, checked by every reader
    if history.status == "ok":
        print(
            f"done: train_acc {history.final_train_acc:.4f} val_acc {history.final_val_acc:.4f} "
            f"in {history.seconds:.1f} s ({history.train_seconds / max(history.steps_done, 1) * 1e6:.1f} us/step)",
            file=log,
            flush=True,
        )
    else:
        print(f"done: DIVERGED at step {history.diverged_step}", file=log, flush=True)
    return record
