"""A job spec read as the training reads it: the model, the :class:`TrainSettings`, and the check.

A job spec (built by :meth:`twolayer.study.plan.config.Study.spec`) holds every setting of one
model. :func:`build_model` and :func:`train_settings` turn it into what
:func:`twolayer.nn.train.train_model` takes; :func:`check_spec` builds the same objects
without data (a one-feature model) and raises :class:`ConfigError` for anything a job
would refuse. The config check (``twolayer check-config``, and the workflow before any
job runs) calls it for every grid point, and every training job calls it first, so a
config that checks out does not fail in its jobs for a config reason.
"""

from __future__ import annotations

import numpy as np

from ...errors import UserError
from ...nn.classifier import resolve_dtype
from ...nn.models import get_model
from ...nn.optim import make_optimizer
from ...nn.sampling import make_sampler
from ...nn.schedules import make_schedule
from ...nn.train import TrainSettings


# The report's Fig. 2 watches the winner's replay (twolayer.study.run.trace) at 51 points. Every
# job ends a block of steps at those points, so the replay, which stops there, ends its
# blocks where the winner's job did and gives its weights bit for bit.
WATCH_POINTS = 51


def block_every(steps):
    """The steps between two block ends of every job (and two points the trace watches):
    ``steps / 50``, so 51 points 0, steps/50, ..., steps (``train_model(block_every=...)``)."""
    return max(int(steps) // (WATCH_POINTS - 1), 1)


class SpecError(UserError):
    """A job spec whose settings the training refuses (a config problem: it names the point)."""


def build_model(spec, input_size, num_classes, rng):
    """The model a job spec describes (its settings complete: the config resolved every default)."""
    m = spec["model"]
    cls = get_model(m["kind"])
    sizes = {"input_size": input_size, "hidden_size": m.get("hidden"), "output_size": num_classes}
    settings = {k: m[k] for k in cls.SETTINGS if k in m}
    return cls(*(sizes[name] for name in cls.SIZES), dtype=resolve_dtype(m["dtype"]), rng=rng, **settings)


def train_settings(spec, n_train):
    """TrainSettings from the spec's complete ``training`` block, resolving ``"epoch"``."""
    t = spec["training"]
    full = t["sampling"] == "full" or t["batch_size"] is None
    per_epoch = 1 if full else max(n_train // t["batch_size"], 1)

    def every(v):
        return per_epoch if v == "epoch" else v

    schedule = dict(t["schedule"])
    if "every" in schedule:
        schedule["every"] = every(schedule["every"])
    return TrainSettings(
        steps=t["steps"],
        lr=t["lr"],
        reg=t["reg"],
        batch_size=None if full else t["batch_size"],
        sampling="full" if full else t["sampling"],
        schedule=schedule,
        optimizer=dict(t["optimizer"]),
        log_every=t["log_every"],
        eval_every=every(t["eval_every"]),
        eval_train_subset=t["eval_train_subset"],
        keep_best=t["keep_best"],
        sparse_inputs=t["sparse_inputs"],
        verbose_every=t["progress_every"],
    )


def check_spec(spec, n_train=1000):
    """Raise :class:`SpecError` if a job would refuse ``spec``'s settings; return them otherwise.

    Builds what a job builds from the spec, the same way (:func:`train_settings`, the
    schedule, the optimizer, the sampler, a model with one input feature), without data.
    ``n_train``: the training set's size where it is known (it resolves ``"epoch"``)."""
    where = f"studies.{spec.get('study')} grid point {spec.get('point')}"
    try:
        settings = train_settings(spec, n_train)
        settings.validate()
        make_schedule(settings.lr, settings.schedule)
        opt = dict(settings.optimizer)
        make_optimizer(opt.pop("name"), **opt)
        if settings.batch_size is not None:
            make_sampler(settings.sampling, max(n_train, settings.batch_size), settings.batch_size,
                         np.random.default_rng(0))
        build_model(spec, 1, 2, np.random.default_rng(0))
    except (ValueError, TypeError, KeyError) as exc:
        raise SpecError(f"{where}: {exc}") from None
    return settings
