"""Which training examples each step sees.

A sampler turns a seeded generator into blocks of example indices, shape
``(n_steps, batch_size)``. Blocks are drawn in a fixed size, so the index
stream is a function of the seed alone (not of how a caller slices it).

* ``with_replacement``: every step draws ``batch_size`` indices uniformly
  with replacement (CS231n's ``np.random.choice(N, B)``; the report's
  batch-1 protocol ``int(rand() * N)``);
* ``epochs``: shuffled epochs without replacement: a fresh permutation of
  all N examples per epoch, read in consecutive slices of ``batch_size``
  (a batch may straddle two epochs, so every batch has the same size);
* ``full``: every step uses all N examples in order (full-batch gradient
  descent); the training loop then uses X itself, with no copy.
"""

from __future__ import annotations

import numpy as np

from .registry import lookup

BLOCK = 8192  # indices are generated this many steps at a time


class WithReplacement:
    name = "with_replacement"

    def __init__(self, n, batch_size, rng):
        self.n, self.batch_size, self.rng = int(n), int(batch_size), rng
        self._buf = np.empty((0, self.batch_size), dtype=np.int64)
        self._pos = 0

    def _refill(self):
        self._buf = self.rng.integers(0, self.n, size=(BLOCK, self.batch_size), dtype=np.int64)
        self._pos = 0

    def take(self, steps):
        """Indices for the next ``steps`` steps, shape (steps, batch_size)."""
        out = np.empty((steps, self.batch_size), dtype=np.int64)
        done = 0
        while done < steps:
            if self._pos == self._buf.shape[0]:
                self._refill()
            k = min(steps - done, self._buf.shape[0] - self._pos)
            out[done : done + k] = self._buf[self._pos : self._pos + k]
            self._pos += k
            done += k
        return out


class Epochs:
    name = "epochs"

    def __init__(self, n, batch_size, rng):
        self.n, self.batch_size, self.rng = int(n), int(batch_size), rng
        self._perm = np.empty(0, dtype=np.int64)
        self._pos = 0

    def take(self, steps):
        need = steps * self.batch_size
        flat = np.empty(need, dtype=np.int64)
        done = 0
        while done < need:
            if self._pos == self._perm.shape[0]:
                self._perm = self.rng.permutation(self.n)
                self._pos = 0
            k = min(need - done, self._perm.shape[0] - self._pos)
            flat[done : done + k] = self._perm[self._pos : self._pos + k]
            self._pos += k
            done += k
        return flat.reshape(steps, self.batch_size)


class FullBatch:
    name = "full"

    def __init__(self, n, batch_size, rng):
        self.n = int(n)
        self.batch_size = self.n

    def take(self, steps):
        return None  # the loop uses all of X, in order


SAMPLERS = {cls.name: cls for cls in (WithReplacement, Epochs, FullBatch)}


def make_sampler(name, n, batch_size, rng):
    """The sampler called ``name`` over ``n`` examples; unknown names list the valid ones."""
    cls = lookup(SAMPLERS, name, "sampling")
    if name != "full" and not 1 <= batch_size:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return cls(n, batch_size, rng)
