"""One training job: a job spec and a dataset file in, a model file and a metrics record out.

The job reads only the ``train`` and ``val`` splits: the test set is touched
once per study, by :mod:`twolayer.evaluate`, for the winner alone.

Seeds: the study's ``seed`` (or the ``seed`` grid axis) is the root of a
:class:`numpy.random.SeedSequence`; its first child draws the initial
weights, its second drives the sampler and the train-accuracy subset. All
three are recorded in the model file.
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np

from .atomic import write_json
from .data.store import check_provenance, load_split
from .linear import LinearSoftmax
from .modelio import save_model
from .resources import check_memory
from .net import TwoLayerNet, resolve_dtype
from .train import TrainSettings, train_model


def build_model(spec, input_size, num_classes, rng):
    m = spec["model"]
    common = dict(
        init=m.get("init", "cs231n"),
        std=m.get("std", 1e-4),
        bias=m.get("bias", True),
        reg_convention=m.get("reg_convention", "full"),
        dtype=resolve_dtype(m.get("dtype", "float32")),
        rng=rng,
    )
    if m.get("kind", "twolayer") == "linear":
        return LinearSoftmax(input_size, num_classes, **common)
    return TwoLayerNet(
        input_size,
        m["hidden"],
        num_classes,
        activation=m.get("activation", "relu"),
        activation_settings=m.get("activation_settings") or None,
        **common,
    )


def train_settings(spec, n_train):
    """TrainSettings from the spec's ``training`` block, resolving ``"epoch"``."""
    t = dict(spec["training"])
    batch = t.get("batch_size")
    full = t.get("sampling") == "full" or batch is None
    per_epoch = 1 if full else max(n_train // batch, 1)

    def every(v):
        return per_epoch if v == "epoch" else v

    schedule = dict(t.get("schedule") or {"name": "constant"})
    if "every" in schedule:
        schedule["every"] = every(schedule["every"])
    return TrainSettings(
        steps=int(t["steps"]),
        lr=float(t["lr"]),
        reg=float(t.get("reg", 0.0)),
        batch_size=None if full else int(batch),
        sampling="full" if full else t.get("sampling", "with_replacement"),
        schedule=schedule,
        optimizer=dict(t.get("optimizer") or {"name": "sgd"}),
        log_every=int(t.get("log_every", 1)),
        eval_every=every(t.get("eval_every", "epoch")),
        eval_train_subset=t.get("eval_train_subset", 1000),
        keep_best=bool(t.get("keep_best", False)),
        verbose_every=int(t.get("progress_every", 0)),
    )


def metrics_record(spec, history, model):
    """The per-job record the aggregate table is built from (no NaN: missing is null)."""
    return {
        "study": spec["study"],
        "point": spec["point"],
        "model": spec["model"]["kind"],
        "activation": spec["model"].get("activation"),
        "hidden": spec["model"].get("hidden"),
        "init": spec["model"].get("init"),
        "optimizer": (spec["training"].get("optimizer") or {}).get("name", "sgd"),
        "batch_size": spec["training"].get("batch_size"),
        "lr": spec["training"]["lr"],
        "reg": spec["training"].get("reg", 0.0),
        "seed": spec["seed"],
        "steps_planned": spec["training"]["steps"],
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


def run_job(spec, data_path, model_out, metrics_out, log=None, mem_mb=None):
    """Train the grid point described by ``spec`` on ``data_path``; write the model and metrics.

    ``mem_mb``: the job's memory budget, checked once the data are loaded (see
    :mod:`twolayer.resources`)."""
    log = log if log is not None else sys.stderr
    t0 = time.perf_counter()
    attrs = check_provenance(data_path, dataset=spec["dataset"], recipe=spec["recipe"], recipe_spec=spec["recipe_spec"])
    dtype = resolve_dtype(spec["model"].get("dtype", "float32"))
    X, y = load_split(data_path, "train", dtype=dtype)
    Xv, yv = load_split(data_path, "val", dtype=dtype)
    t_load = time.perf_counter() - t0
    check_memory(mem_mb)
    root = np.random.SeedSequence(int(spec["seed"]))
    init_ss, train_ss = root.spawn(2)
    model = build_model(spec, X.shape[1], len(attrs["classes"]), np.random.default_rng(init_ss))
    settings = train_settings(spec, X.shape[0])
    print(
        f"{spec['study']} {spec['point']}: {type(model).__name__} on {data_path} "
        f"(train {X.shape}, val {Xv.shape}, loaded in {t_load:.2f} s), {settings.steps} steps",
        file=log,
        flush=True,
    )
    history = train_model(model, X, y, Xv, yv, settings, seed=train_ss, log=log)
    seeds = {"root": int(spec["seed"]), "derivation": "SeedSequence(root).spawn(2) -> (init, training)"}
    save_model(model_out, model, history, spec, seeds, data_path, attrs["fingerprint"])
    record = metrics_record(spec, history, model)
    record["load_seconds"] = round(t_load, 3)
    record["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # Linux: KiB
    write_json(metrics_out, record)
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
