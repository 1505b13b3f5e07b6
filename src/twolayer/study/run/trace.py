"""The winner's training, replayed and watched on the whole sets: the report's Fig. 2.

The report plots, for its chosen model, the loss on the *whole* training set and on the
validation set, without the regulariser, and the train and validation accuracy, at about
51 points over training. Evaluating the whole training set 51 times costs more than
training one batch-1 model here (51 x 55,000 forward passes against 240,000 single
steps), so it is not done for every grid point: once the winner is known, its training is
replayed from its recorded spec and seeds and watched at the 51 points of
:func:`twolayer.study.plan.jobspec.block_every`, where every job ends a block of steps. The replay's
final weights are compared with the winner's (``max_weight_diff``, 0.0 when the replay ran
with the winner's BLAS and thread count, as the workflow does).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import numpy as np

from ...atomic import atomic_path
from ...data.store import load_split, read_attrs
from ...errors import InputError
from ...nn.classifier import resolve_dtype
from ...nn.train import train_model
from ..plan.jobspec import block_every, build_model, train_settings
from .modelio import ModelFile
from .runner import job_kernel, job_seeds

CHUNK = 4096


def full_set_stats(model, X, y, chunk=CHUNK):
    """Mean softmax cross-entropy (no regulariser) and accuracy of ``model`` on all of (X, y).

    Chunk by chunk in the model's dtype: the memory used is a few (chunk, H) arrays, never
    one of the set's size. Returns ``(loss, accuracy)`` as Python floats."""
    n = X.shape[0]
    if n == 0:
        raise InputError("the loss of an empty set is undefined")
    total, correct = 0.0, 0
    for start in range(0, n, chunk):
        s = model.scores(X[start : start + chunk]).astype(np.float64)
        yy = np.asarray(y[start : start + chunk], dtype=np.int64)
        top = s.max(axis=1)
        lse = top + np.log(np.exp(s - top[:, None]).sum(axis=1))
        total += float((lse - s[np.arange(len(yy)), yy]).sum())
        correct += int(np.count_nonzero(s.argmax(axis=1) == yy))
    return total / n, correct / n


def trace_winner(winner_json, data_path, out, log=None):
    """Replay the winner of ``winner_json`` on ``data_path`` and write its trace (HDF5) to ``out``."""
    w = json.loads(Path(winner_json).read_text())
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["study"] = w.get("study", "")
        if w.get("point") is None:
            f.attrs["point"] = ""
            f.attrs["note"] = "no winner: every model diverged"
            return None
        mf = ModelFile(w["model_file"])
        spec = mf.spec
        dtype = resolve_dtype(spec["model"]["dtype"])
        X, y = load_split(data_path, "train", dtype=dtype)
        Xv, yv = load_split(data_path, "val", dtype=dtype)
        init_ss, train_ss, _ = job_seeds(spec)  # as twolayer.study.run.runner.run_job
        attrs = read_attrs(data_path)
        model = build_model(spec, X.shape[1], len(attrs["classes"]), np.random.default_rng(init_ss))
        settings = train_settings(spec, X.shape[0])
        _, foreground = job_kernel(model, settings, data_path, attrs)
        rec = {"step": [], "train_loss": [], "val_loss": [], "train_acc": [], "val_acc": []}
        spent = [0.0]

        def watch(step, m):
            t0 = time.perf_counter()
            tl, ta = full_set_stats(m, X, y)
            vl, va = full_set_stats(m, Xv, yv)
            spent[0] += time.perf_counter() - t0
            for k, v in zip(rec, (step, tl, vl, ta, va)):
                rec[k].append(v)

        watch(0, model)
        hist = train_model(model, X, y, Xv, yv, settings, seed=train_ss, log=log, monitor=watch,
                           block_every=block_every(settings.steps), foreground=foreground)  # as the job did
        diff = max(float(np.max(np.abs(model.params[k].astype(np.float64) - mf.params[k]))) for k in mf.params)
        for k, v in rec.items():
            f.create_dataset(k, data=np.asarray(v, dtype=np.int64 if k == "step" else np.float64))
        f.attrs.update(
            point=w["point"],
            model_file=w["model_file"],
            points=len(rec["step"]),
            max_weight_diff=diff,
            train_seconds=hist.train_seconds,
            full_eval_seconds=spent[0],
            n_train=X.shape[0],
            n_val=Xv.shape[0],
        )
    return {**rec, "max_weight_diff": diff, "train_seconds": hist.train_seconds, "full_eval_seconds": spent[0]}


def read_trace(path):
    with h5py.File(path, "r") as f:
        out = {k: f[k][()] for k in f.keys()}
        out.update({k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()})
    return out
