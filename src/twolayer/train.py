"""The training loop.

``train_model(model, X, y, X_val, y_val, settings, seed)`` trains in place
and returns a :class:`History`. It picks the kernel (batch-1 SGD, minibatch,
or the reference path for other models), draws examples from a seeded
sampler, follows the learning-rate schedule, and

* logs the loss every ``log_every`` steps: the mean data loss over the
  steps since the previous log plus the L2 penalty of the weights at the
  logged step (``log_every=1`` gives CS231n's per-step ``loss_history``);
* evaluates train and validation accuracy every ``eval_every`` steps and
  after the last step (interim train accuracy on a fixed random subset of
  ``eval_train_subset`` examples; the final one on all of X);
* stops a model whose loss or weights become non-finite and marks it
  ``diverged`` with the step, without raising and without reporting NaN
  as an accuracy;
* optionally keeps the parameters with the best validation accuracy.

Steps are counted from 1: step k is the k-th update; an evaluation "at
step k" sees the weights after k updates.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .kernels import Batch1SGD, MinibatchStep, ReferenceStep
from .net import TwoLayerNet
from .optim import make_optimizer
from .sampling import make_sampler
from .schedules import describe as describe_schedule
from .schedules import make_schedule

MAX_BLOCK = 16_384  # steps per kernel call between bookkeeping


@dataclass(frozen=True)
class TrainSettings:
    """How to train. ``batch_size=None`` (or ``sampling="full"``) means full batch."""

    steps: int
    lr: float
    reg: float = 0.0
    batch_size: int | None = 200
    sampling: str = "with_replacement"
    schedule: dict = field(default_factory=lambda: {"name": "constant"})
    optimizer: dict = field(default_factory=lambda: {"name": "sgd"})
    log_every: int = 1
    eval_every: int | None = None  # default: once per epoch
    eval_train_subset: int | None = 1000  # None: all training examples at every evaluation
    keep_best: bool = False
    verbose_every: int = 0  # print a progress line every N steps (0: only at evaluations, if a log is given)

    def validate(self):
        problems = []
        if int(self.steps) != self.steps or self.steps < 1:
            problems.append(f"steps must be a positive integer, got {self.steps!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            problems.append(f"lr (step size) must be a positive number, got {self.lr!r}")
        if not (isinstance(self.reg, (int, float)) and math.isfinite(self.reg) and self.reg >= 0):
            problems.append(f"reg must be a non-negative number, got {self.reg!r}")
        if self.batch_size is not None and (int(self.batch_size) != self.batch_size or self.batch_size < 1):
            problems.append(f"batch_size must be a positive integer or null (full batch), got {self.batch_size!r}")
        if self.log_every < 1:
            problems.append(f"log_every must be >= 1, got {self.log_every!r}")
        if self.eval_every is not None and self.eval_every < 1:
            problems.append(f"eval_every must be >= 1, got {self.eval_every!r}")
        if problems:
            raise ValueError("invalid training settings: " + "; ".join(problems))


@dataclass
class History:
    """What a training run did; arrays are NumPy, scalars plain Python."""

    loss_steps: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    eval_steps: np.ndarray
    train_acc: np.ndarray
    val_acc: np.ndarray
    status: str  # "ok" or "diverged"
    steps_done: int
    diverged_step: int | None
    seconds: float  # wall time of the whole call
    train_seconds: float  # of which spent in training steps
    eval_seconds: float  # of which spent evaluating accuracy
    final_train_acc: float | None
    final_val_acc: float | None
    best_val_acc: float | None
    best_step: int | None
    restored_best: bool
    settings: dict

    ARRAYS = ("loss_steps", "loss", "lr", "eval_steps", "train_acc", "val_acc")

    @property
    def diverged(self):
        return self.status == "diverged"

    def scalars(self):
        return {k: v for k, v in asdict(self).items() if k not in self.ARRAYS and k != "settings"}

    def as_cs231n(self):
        return {
            "loss_history": self.loss.tolist(),
            "train_acc_history": self.train_acc.tolist(),
            "val_acc_history": self.val_acc.tolist(),
        }


def _pick_kernel(model, settings, batch, n_train):
    if isinstance(model, TwoLayerNet):
        plain_sgd = settings.optimizer.get("name", "sgd") == "sgd" and len(settings.optimizer) <= 1
        if batch == 1 and plain_sgd:
            return Batch1SGD(model, settings.reg), "batch1_sgd"
        return MinibatchStep(model, n_train if batch is None else batch, settings.reg), "minibatch"
    return ReferenceStep(model, settings.reg), "reference"


def train_model(model, X, y, X_val, y_val, settings, seed=0, log=None):
    """Train ``model`` in place on (X, y), validating on (X_val, y_val); return a :class:`History`.

    X: (N, D) in the model's dtype (other dtypes are refused, never silently
    converted); y: (N,) integer labels. ``seed`` (an int or a
    :class:`numpy.random.SeedSequence`) drives sampling and the subset
    used for interim train accuracy. ``log``: a text stream for progress
    lines (default ``sys.stderr`` when ``settings.verbose_every``).
    """
    settings.validate()
    t_start = time.perf_counter()
    dt = model.dtype
    for name, arr in (("X", X), ("X_val", X_val)):
        if arr.dtype != dt:
            raise TypeError(
                f"{name} has dtype {arr.dtype} but the model is {dt}; convert the data "
                f"(e.g. X.astype(np.{dt})) or build the model with dtype={dt}"
            )
    X = np.ascontiguousarray(X)
    n = X.shape[0]
    full = settings.sampling == "full" or settings.batch_size is None
    batch = None if full else int(settings.batch_size)
    steps = int(settings.steps)
    steps_per_epoch = 1 if batch is None else max(n // batch, 1)
    eval_every = settings.eval_every or steps_per_epoch
    log_every = int(settings.log_every)

    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    sample_ss, subset_ss = ss.spawn(2)
    sampler = None if batch is None else make_sampler(settings.sampling, n, batch, np.random.default_rng(sample_ss))
    schedule = make_schedule(settings.lr, settings.schedule)
    opt_spec = dict(settings.optimizer)
    optimizer = make_optimizer(opt_spec.pop("name", "sgd"), **opt_spec)
    kernel, kernel_name = _pick_kernel(model, settings, batch, n)

    if settings.eval_train_subset and settings.eval_train_subset < n:
        sub = np.sort(np.random.default_rng(subset_ss).choice(n, settings.eval_train_subset, replace=False))
        X_sub, y_sub = X[sub], y[sub]
    else:
        X_sub, y_sub = X, y

    out = log if log is not None else sys.stderr
    verbose = settings.verbose_every
    report_evals = log is not None or verbose > 0  # progress lines at every evaluation

    loss_steps, loss_vals, lr_vals = [], [], []
    eval_steps, train_accs, val_accs = [], [], []
    best_val, best_step, best_params = -1.0, None, None
    status, diverged_step = "ok", None
    train_seconds = eval_seconds = 0.0
    pending_loss = 0.0
    pending_count = 0
    t = 0  # steps done
    last_report_t, last_report_time = 0, time.perf_counter()

    def evaluate(at_step, final):
        nonlocal eval_seconds, best_val, best_step, best_params
        t0 = time.perf_counter()
        tr = model.accuracy(X, y) if final else model.accuracy(X_sub, y_sub)
        va = model.accuracy(X_val, y_val)
        eval_seconds += time.perf_counter() - t0
        eval_steps.append(at_step)
        train_accs.append(tr)
        val_accs.append(va)
        if va > best_val:
            best_val, best_step = va, at_step
            if settings.keep_best:
                best_params = model.copy_params()
        return tr, va

    def report(at_step, tr=None, va=None):
        nonlocal last_report_t, last_report_time
        now = time.perf_counter()
        rate = (at_step - last_report_t) / max(now - last_report_time, 1e-9)
        last_report_t, last_report_time = at_step, now
        parts = [f"step {at_step}/{steps}"]
        if loss_vals:
            parts.append(f"loss {loss_vals[-1]:.6g}")
        if tr is not None:
            parts.append(f"train_acc {tr:.4f} val_acc {va:.4f}")
        parts.append(f"lr {schedule(max(at_step - 1, 0)):.4g}")
        parts.append(f"{rate:.0f} steps/s")
        print("  ".join(parts), file=out, flush=True)

    while t < steps:
        next_eval = (t // eval_every + 1) * eval_every
        stop = min(steps, next_eval, t + MAX_BLOCK)
        if verbose:
            stop = min(stop, (t // verbose + 1) * verbose)
        nblk = stop - t
        lrs = schedule.block(t, nblk)
        data_loss = np.full(nblk, np.nan)
        penalty = np.full(nblk, np.nan)
        idx = None if sampler is None else sampler.take(nblk)
        t0 = time.perf_counter()
        if kernel_name == "batch1_sgd":
            done = kernel.run(X, y, idx[:, 0], lrs, t0=t, log_every=log_every, data_loss=data_loss, penalty=penalty)
        else:
            done = kernel.run(X, y, idx, lrs, optimizer, t0=t, log_every=log_every, data_loss=data_loss, penalty=penalty)
        train_seconds += time.perf_counter() - t0
        if log_every == 1:  # every step is logged (CS231n's loss history): no interval to average
            loss_steps.extend(range(t + 1, t + done + 1))
            loss_vals.extend((data_loss[:done] + penalty[:done]).tolist())
            lr_vals.extend(lrs[:done].tolist())
        for j in range(done if log_every > 1 else 0):
            pending_loss += data_loss[j]
            pending_count += 1
            step = t + j + 1
            if step % log_every == 0:
                loss_steps.append(step)
                loss_vals.append(pending_loss / pending_count + penalty[j])
                lr_vals.append(lrs[j])
                pending_loss, pending_count = 0.0, 0
        t += done
        if done < nblk:
            status, diverged_step = "diverged", t + 1
            break
        if t % eval_every == 0 or t == steps:
            if not model.params_finite():
                status, diverged_step = "diverged", t
                break
            if t < steps:
                tr, va = evaluate(t, final=False)
                if report_evals:
                    report(t, tr, va)
        elif verbose and t % verbose == 0:
            report(t)

    if status == "ok" and pending_count:  # log the tail of an incomplete interval
        loss_steps.append(t)
        loss_vals.append(pending_loss / pending_count + kernel.penalty())
        lr_vals.append(schedule(t - 1))

    final_train = final_val = None
    restored = False
    if status == "ok":
        if settings.keep_best and best_params is not None:
            # compare the last weights with the best kept ones before deciding
            va_last = model.accuracy(X_val, y_val)
            if best_val > va_last:
                for k, v in best_params.items():
                    model.params[k][...] = v
                restored = True
        tr, va = evaluate(t, final=True)
        final_train, final_val = tr, va
        if report_evals:
            report(t, tr, va)
    elif report_evals:
        print(f"diverged at step {diverged_step}: non-finite loss or weights; stopped", file=out, flush=True)

    sdict = asdict(settings)
    sdict["kernel"] = kernel_name
    sdict["schedule_resolved"] = describe_schedule(schedule)
    sdict["optimizer_resolved"] = optimizer.describe()
    sdict["eval_every_resolved"] = eval_every
    return History(
        loss_steps=np.asarray(loss_steps, dtype=np.int64),
        loss=np.asarray(loss_vals, dtype=np.float64),
        lr=np.asarray(lr_vals, dtype=np.float64),
        eval_steps=np.asarray(eval_steps, dtype=np.int64),
        train_acc=np.asarray(train_accs, dtype=np.float64),
        val_acc=np.asarray(val_accs, dtype=np.float64),
        status=status,
        steps_done=t,
        diverged_step=diverged_step,
        seconds=time.perf_counter() - t_start,
        train_seconds=train_seconds,
        eval_seconds=eval_seconds,
        final_train_acc=final_train,
        final_val_acc=final_val,
        best_val_acc=None if best_step is None else best_val,
        best_step=best_step,
        restored_best=restored,
        settings=sdict,
    )
