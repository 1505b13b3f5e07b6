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

from ..errors import Stopped
from .kernels import make_kernel
from .layers import check_labels
from .optim import SGD, make_optimizer
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
    optimizer: dict = field(default_factory=lambda: {"name": SGD.name})
    log_every: int = 1
    eval_every: int | None = None  # default: once per epoch
    eval_train_subset: int | None = 1000  # None: all training examples at every evaluation
    keep_best: bool = False
    sparse_inputs: bool = True  # batch-1 SGD on inputs with a background: the sparse kernel when it is faster
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


def train_model(model, X, y, X_val, y_val, settings, seed=0, log=None, monitor=None, block_every=None,
                foreground=None):
    """Train ``model`` in place on (X, y), validating on (X_val, y_val); return a :class:`History`.

    X: (N, D) in the model's dtype (other dtypes are refused, never silently
    converted); y: (N,) integer labels. ``seed`` (an int or a
    :class:`numpy.random.SeedSequence`) drives sampling and the subset
    used for interim train accuracy. ``log``: a text stream for progress
    lines (default ``sys.stderr`` when ``settings.verbose_every``).

    ``block_every``: a block of steps also ends at every multiple of it. Block ends are
    where the batch-1 kernel settles its delayed updates, so they fix the weights' rounding:
    two runs with the same ``block_every`` give bit-identical weights, and a run that is
    watched must use the ``block_every`` of the run it replays (the study passes
    :func:`twolayer.study.plan.jobspec.block_every` to both). ``monitor(step, model)``: called at
    every multiple of ``block_every`` and after the last step, with the weights after
    ``step`` updates (before any evaluation there); it must not change the model, and it
    does not change the training (the weights are bit-identical without it).

    ``foreground``: where each row of X differs from a fixed background
    (:class:`~twolayer.nn.kernels.Foreground`); with ``settings.sparse_inputs`` it lets batch-1
    SGD run the sparse kernel when the foreground is small (:func:`~twolayer.nn.kernels.kernel_name`).
    The same SGD either way, up to rounding.
    """
    if monitor is not None and block_every is None:
        raise ValueError("a monitor is called at every multiple of block_every: give block_every too")
    if block_every is not None and (int(block_every) != block_every or block_every < 1):
        raise ValueError(f"block_every must be a positive integer (steps) or None, got {block_every!r}")
    return _Training(model, X, y, X_val, y_val, settings, seed, log, monitor, block_every, foreground).run()


class _Training:
    """One call of :func:`train_model`, in named parts: the settings become a sampler,
    a schedule, an optimizer and a kernel (``__init__``); blocks of steps run between
    the evaluations (:meth:`run`, :meth:`_record_losses`); evaluations and progress
    lines (:meth:`_evaluate`, :meth:`_report`); the history (:meth:`_history`)."""

    def __init__(self, model, X, y, X_val, y_val, settings, seed, log, monitor=None, block_every=None, foreground=None):
        settings.validate()
        self.monitor = monitor
        self.block_every = int(block_every) if block_every else None
        self.t_start = time.perf_counter()
        dt = model.dtype
        for name, arr in (("X", X), ("X_val", X_val)):
            if arr.dtype != dt:
                raise TypeError(
                    f"{name} has dtype {arr.dtype} but the model is {dt}; convert the data "
                    f"(e.g. X.astype(np.{dt})) or build the model with dtype=np.{arr.dtype}"
                )
        check_labels(y, model.output_size, "y")
        check_labels(y_val, model.output_size, "y_val")
        self.model, self.settings = model, settings
        self.X, self.y, self.X_val, self.y_val = np.ascontiguousarray(X), y, X_val, y_val
        n = self.X.shape[0]
        full = settings.sampling == "full" or settings.batch_size is None
        batch = None if full else int(settings.batch_size)
        self.steps = int(settings.steps)
        self.eval_every = settings.eval_every or (1 if batch is None else max(n // batch, 1))  # default: an epoch
        self.log_every = int(settings.log_every)

        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        sample_ss, subset_ss = ss.spawn(2)
        self.sampler = None if batch is None else make_sampler(settings.sampling, n, batch, np.random.default_rng(sample_ss))
        self.schedule = make_schedule(settings.lr, settings.schedule)
        opt_spec = dict(settings.optimizer)
        self.optimizer = make_optimizer(opt_spec.pop("name", SGD.name), **opt_spec)
        if foreground is not None:
            foreground.check(self.X)
        self.kernel, self.kernel_name = make_kernel(model, batch, n, settings.reg, settings.optimizer,
                                                    foreground if settings.sparse_inputs else None)

        if settings.eval_train_subset and settings.eval_train_subset < n:
            sub = np.sort(np.random.default_rng(subset_ss).choice(n, settings.eval_train_subset, replace=False))
            self.X_sub, self.y_sub = self.X[sub], y[sub]
        else:
            self.X_sub, self.y_sub = self.X, y

        self.out = log if log is not None else sys.stderr
        self.verbose = settings.verbose_every
        self.report_evals = log is not None or self.verbose > 0  # progress lines at every evaluation

        self.loss_steps, self.loss_vals, self.lr_vals = [], [], []
        self.eval_steps, self.train_accs, self.val_accs = [], [], []
        self.best_val, self.best_step, self.best_params = -1.0, None, None
        self.status, self.diverged_step = "ok", None
        self.train_seconds = self.eval_seconds = 0.0
        self.pending_loss, self.pending_count = 0.0, 0  # the data losses since the last logged step
        self.t = 0  # steps done
        self.last_report_t, self.last_report_time = 0, time.perf_counter()

    # -- the step loop ------------------------------------------------------------------
    def run(self):
        try:
            return self._run()
        except Stopped as exc:  # a signal: say how far the training got
            exc.step = self.t
            raise

    def _run(self):
        steps, eval_every, verbose = self.steps, self.eval_every, self.verbose
        watch = self.block_every or steps
        while self.t < steps:
            t = self.t
            next_eval = (t // eval_every + 1) * eval_every
            stop = min(steps, next_eval, t + MAX_BLOCK, (t // watch + 1) * watch)
            if verbose:
                stop = min(stop, (t // verbose + 1) * verbose)
            nblk = stop - t
            lrs = self.schedule.block(t, nblk)
            data_loss = np.full(nblk, np.nan)
            penalty = np.full(nblk, np.nan)
            idx = None if self.sampler is None else self.sampler.take(nblk)
            t0 = time.perf_counter()
            done = self.kernel.run(self.X, self.y, idx, lrs, self.optimizer, t0=t, log_every=self.log_every,
                                   data_loss=data_loss, penalty=penalty)
            self.train_seconds += time.perf_counter() - t0
            self._record_losses(done, lrs, data_loss, penalty)
            self.t += done
            if done < nblk:
                self.status, self.diverged_step = "diverged", self.t + 1
                break
            if self.monitor is not None and (self.t % watch == 0 or self.t == steps):
                self.monitor(self.t, self.model)
            if self.t % eval_every == 0 or self.t == steps:
                if not self.model.params_finite():
                    self.status, self.diverged_step = "diverged", self.t
                    break
                if self.t < steps:
                    tr, va = self._evaluate(self.t, final=False)
                    if self.report_evals:
                        self._report(self.t, tr, va)
            elif verbose and self.t % verbose == 0:
                self._report(self.t)
        self._finish()
        return self._history()

    def _record_losses(self, done, lrs, data_loss, penalty):
        """Log the loss at every ``log_every``-th step of the block: the mean data loss since
        the previous logged step plus the penalty at this one."""
        t, log_every = self.t, self.log_every
        if log_every == 1:  # every step is logged (CS231n's loss history): no interval to average
            self.loss_steps.extend(range(t + 1, t + done + 1))
            self.loss_vals.extend((data_loss[:done] + penalty[:done]).tolist())
            self.lr_vals.extend(lrs[:done].tolist())
            return
        pending_loss, pending_count = self.pending_loss, self.pending_count
        for j in range(done):
            pending_loss += data_loss[j]
            pending_count += 1
            step = t + j + 1
            if step % log_every == 0:
                self.loss_steps.append(step)
                self.loss_vals.append(pending_loss / pending_count + penalty[j])
                self.lr_vals.append(lrs[j])
                pending_loss, pending_count = 0.0, 0
        self.pending_loss, self.pending_count = pending_loss, pending_count

    # -- evaluation and progress ----------------------------------------------------------
    def _evaluate(self, at_step, final):
        t0 = time.perf_counter()
        model = self.model
        tr = model.accuracy(self.X, self.y) if final else model.accuracy(self.X_sub, self.y_sub)
        va = model.accuracy(self.X_val, self.y_val)
        self.eval_seconds += time.perf_counter() - t0
        self.eval_steps.append(at_step)
        self.train_accs.append(tr)
        self.val_accs.append(va)
        if va > self.best_val:
            self.best_val, self.best_step = va, at_step
            if self.settings.keep_best:
                self.best_params = model.copy_params()
        return tr, va

    def _report(self, at_step, tr=None, va=None):
        now = time.perf_counter()
        rate = (at_step - self.last_report_t) / max(now - self.last_report_time, 1e-9)
        self.last_report_t, self.last_report_time = at_step, now
        parts = [f"step {at_step}/{self.steps}"]
        if self.loss_vals:
            parts.append(f"loss {self.loss_vals[-1]:.6g}")
        if tr is not None:
            parts.append(f"train_acc {tr:.4f} val_acc {va:.4f}")
        parts.append(f"lr {self.schedule(max(at_step - 1, 0)):.4g}")
        parts.append(f"{rate:.0f} steps/s")
        print("  ".join(parts), file=self.out, flush=True)

    def _finish(self):
        """The tail of an incomplete logging interval; the best weights if kept; the final evaluation."""
        self.final_train = self.final_val = None
        self.restored = False
        if self.status == "ok" and self.pending_count:
            self.loss_steps.append(self.t)
            self.loss_vals.append(self.pending_loss / self.pending_count + self.kernel.penalty())
            self.lr_vals.append(self.schedule(self.t - 1))
        if self.status == "ok":
            if self.settings.keep_best and self.best_params is not None:
                # compare the last weights with the best kept ones before deciding
                va_last = self.model.accuracy(self.X_val, self.y_val)
                if self.best_val > va_last:
                    for k, v in self.best_params.items():
                        self.model.params[k][...] = v
                    self.restored = True
            self.final_train, self.final_val = self._evaluate(self.t, final=True)
            if self.report_evals:
                self._report(self.t, self.final_train, self.final_val)
        elif self.report_evals:
            print(f"diverged at step {self.diverged_step}: non-finite loss or weights; stopped", file=self.out, flush=True)

    def _history(self):
        sdict = asdict(self.settings)
        sdict["kernel"] = self.kernel_name
        if self.kernel_name == "batch1_sparse":
            sdict["foreground_fraction"] = self.kernel.fg.fraction
        sdict["schedule_resolved"] = describe_schedule(self.schedule)
        sdict["optimizer_resolved"] = self.optimizer.describe()
        sdict["eval_every_resolved"] = self.eval_every
        return History(
            loss_steps=np.asarray(self.loss_steps, dtype=np.int64),
            loss=np.asarray(self.loss_vals, dtype=np.float64),
            lr=np.asarray(self.lr_vals, dtype=np.float64),
            eval_steps=np.asarray(self.eval_steps, dtype=np.int64),
            train_acc=np.asarray(self.train_accs, dtype=np.float64),
            val_acc=np.asarray(self.val_accs, dtype=np.float64),
            status=self.status,
            steps_done=self.t,
            diverged_step=self.diverged_step,
            seconds=time.perf_counter() - self.t_start,
            train_seconds=self.train_seconds,
            eval_seconds=self.eval_seconds,
            final_train_acc=self.final_train,
            final_val_acc=self.final_val,
            best_val_acc=None if self.best_step is None else self.best_val,
            best_step=self.best_step,
            restored_best=self.restored,
            settings=sdict,
        )
