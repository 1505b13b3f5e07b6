"""Learning-rate schedules: the rate used by the update at step ``t`` (0-based).

Schedules are pure functions of the step, so a run that stops and restarts,
or a kernel that asks for a block of rates at once, sees the same numbers.

* ``constant``: ``lr0``;
* ``step``: ``lr0 * decay ** floor(t / every)``: the rate is multiplied by
  ``decay`` at the end of every ``every`` steps (CS231n: once per epoch);
* ``exponential``: ``lr0 * gamma ** (t / decay_steps)`` (the report:
  gamma 0.9, decay_steps 10,000); ``staircase=True`` floors the exponent.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .registry import lookup


@dataclass(frozen=True)
class Constant:
    lr0: float
    name = "constant"

    def __call__(self, t):
        return self.lr0

    def block(self, start, n):
        return np.full(n, self.lr0, dtype=np.float64)


@dataclass(frozen=True)
class StepDecay:
    lr0: float
    decay: float = 0.95
    every: int = 1
    name = "step"

    def __post_init__(self):
        if self.every < 1:
            raise ValueError(f"step schedule: 'every' must be >= 1, got {self.every}")

    def __call__(self, t):
        return self.lr0 * self.decay ** (t // self.every)

    def block(self, start, n):
        t = np.arange(start, start + n)
        return self.lr0 * np.power(self.decay, t // self.every)


@dataclass(frozen=True)
class Exponential:
    lr0: float
    gamma: float = 0.9
    decay_steps: int = 10_000
    staircase: bool = False
    name = "exponential"

    def __post_init__(self):
        if self.decay_steps <= 0:
            raise ValueError(f"exponential schedule: 'decay_steps' must be > 0, got {self.decay_steps}")

    def __call__(self, t):
        e = t / self.decay_steps
        return self.lr0 * self.gamma ** (math.floor(e) if self.staircase else e)

    def block(self, start, n):
        e = np.arange(start, start + n) / self.decay_steps
        if self.staircase:
            e = np.floor(e)
        return self.lr0 * np.power(self.gamma, e)


SCHEDULES = {cls.name: cls for cls in (Constant, StepDecay, Exponential)}


def make_schedule(lr0, spec=None):
    """Build a schedule from ``lr0`` and a spec such as ``{"name": "exponential", "gamma": 0.9}``."""
    spec = dict(spec or {"name": "constant"})
    name = spec.pop("name", "constant")
    cls = lookup(SCHEDULES, name, "schedule")
    try:
        return cls(float(lr0), **spec)
    except TypeError:
        fields = [f for f in cls.__dataclass_fields__ if f != "lr0"]
        raise ValueError(
            f"schedule {name!r} got settings {sorted(spec)}; its settings are: {', '.join(fields) or '(none)'}"
        ) from None


def describe(schedule):
    return {"name": schedule.name, **asdict(schedule)}
