"""A run's progress at a glance: per study, models done / total, the best validation
accuracy so far, and the time left.

Snakemake prints every job it starts and finishes, which for the default config's hundreds of training jobs is
thousands of lines that say nothing about the study. The workflow registers its plan
here when the Snakefile is read (:func:`register`); the Snakemake logger plugin
``twolayer`` (``src/snakemake_logger_plugin_twolayer``, switched on by the
workflow's default profile) tells the board when a training job starts and
finishes, and prints the line the board returns, e.g.::

    [twolayer] fashion_mnist: 120/336 models, best val 88.12% (act~relu/h~275/lr~0.05/reg~1e-05); this run: 118/334 trained, about 6 min left

"Models done" counts every model of the study that has its metrics, this run's and
earlier runs'. The time left is the training jobs this run still has to do divided
by the rate at which it has finished them so far (so it accounts for the cores in
use and for the jobs' real durations; it is shown once one has finished).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path


def _fmt_duration(seconds):
    if seconds < 90:
        return f"{max(1, int(round(seconds)))} s"
    if seconds < 90 * 60:
        return f"{int(round(seconds / 60))} min"
    return f"{seconds / 3600:.1f} h"


class Board:
    """Counts per study; fed by the logger plugin, read as one line per finished model."""

    def __init__(self, totals, done=None, clock=time.monotonic, pending_refine=0):
        self.totals = dict(totals)  # study -> number of models (grid and refine stages)
        self.done = {s: dict((done or {}).get(s, {})) for s in self.totals}  # study -> {model: val_acc or None}
        self.clock = clock
        # models of refine stages whose points are not chosen yet: Snakemake's job count at the start
        # of a run cannot hold them (a checkpoint adds them), so the run's count adds them here
        self.pending_refine = int(pending_refine)
        self.to_train = None  # training jobs this run will do
        self.trained = 0
        self.first_start = None

    @classmethod
    def from_plan(cls, plan, root="."):
        """The plan's studies (every model, refine stages included), with the models already
        on disk counted as done."""
        totals, done, pending = {}, {}, 0
        for name, study in plan.studies.items():
            res = Path(root) / "results" / name
            models = list(study.models)
            refine = res / "refine.json"
            if study.refine:
                try:
                    chosen = json.loads(refine.read_text())
                    models += study.refine_models(chosen["top"], chosen["grid_winner"])
                except (OSError, ValueError, KeyError, TypeError):
                    pending += study.refine_count  # chosen by this run's checkpoint
            totals[name] = len(study.models) + study.refine_count
            done[name] = {mid: _val_acc(res / "models" / mid / "metrics.json")
                          for mid in models if (res / "models" / mid / "metrics.json").exists()}
        return cls(totals, done, pending_refine=pending)

    def run_started(self, train_jobs, checkpoints=0):
        """Snakemake's count of this run's training jobs; ``checkpoints``: its select_top jobs,
        each of which adds a refine stage's models later."""
        self.to_train = int(train_jobs) + (self.pending_refine if checkpoints else 0)

    def job_started(self):
        if self.first_start is None:
            self.first_start = self.clock()

    def job_finished(self, study, point, metrics_path):
        """Record a finished training job; return the board's line for its study."""
        self.trained += 1
        if self.to_train is not None and self.trained > self.to_train:  # more than counted: never "done" early
            self.to_train = None
        if study in self.done:
            self.done[study][point] = _val_acc(metrics_path)
            self.totals[study] = max(self.totals[study], len(self.done[study]))
        return self.line(study)

    def best(self, study):
        scored = [(acc, p) for p, acc in self.done.get(study, {}).items() if acc is not None]
        # the highest accuracy; among equals, the alphabetically first point
        return min(scored, key=lambda t: (-t[0], t[1])) if scored else None

    def seconds_left(self):
        if self.to_train is None or self.first_start is None or self.trained == 0:
            return None
        elapsed = max(self.clock() - self.first_start, 1e-9)
        left = max(self.to_train - self.trained, 0)
        return left * elapsed / self.trained

    def line(self, study):
        total = self.totals.get(study)
        n_done = len(self.done.get(study, {}))
        parts = [f"{study}: {n_done}/{total if total is not None else '?'} models"]
        best = self.best(study)
        parts.append(f"best val {100 * best[0]:.2f}% ({best[1]})" if best else "no model has a validation accuracy yet")
        text = ", ".join(parts)
        if self.to_train:
            text += f"; this run: {self.trained}/{self.to_train} trained"
            left = self.seconds_left()
            if left is not None:
                text += ", done" if self.trained == self.to_train else f", about {_fmt_duration(left)} left"
        elif self.trained:
            text += f"; this run: {self.trained} trained"
        return f"[twolayer] {text}"


def _val_acc(metrics_path):
    """The validation accuracy of a finished model (None if it diverged or the file is unreadable)."""
    try:
        acc = json.loads(Path(metrics_path).read_text()).get("val_acc")
    except (OSError, ValueError):
        return None
    return float(acc) if isinstance(acc, (int, float)) and math.isfinite(acc) else None


class Handoff:
    """The one piece of state the workflow hands to the logger plugin: the board of this run.

    Both run in Snakemake's process; the Snakefile, once it has read its config, calls
    :func:`register` (workflow/rules/common.smk), and the plugin
    (``snakemake_logger_plugin_twolayer``) reads :func:`registered` at each event. Nothing
    else is shared; with no board registered (another workflow), the plugin adds no lines."""

    board = None


def register(plan, root="."):
    """Called by the workflow when it has read its config: the board the logger plugin feeds."""
    Handoff.board = Board.from_plan(plan, root)
    return Handoff.board


def registered():
    """The board the workflow registered in this process, or None."""
    return Handoff.board
