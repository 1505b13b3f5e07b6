"""The grid axes, described once: every part of the study reads them from here.

An axis is a key of a study's ``grid`` block (``lr: [0.01, 0.05]``). What the study
needs to know of it:

* ``short``: its name in grid-point paths (``lr~0.05``), which never changes;
* ``type``: how a value is read (point names are parsed back with it);
* ``path``: where a value goes in the job spec (``training.lr``);
* ``column``: its column in ``metrics.json`` and ``table.csv`` (``steps`` is
  ``steps_planned``, since ``steps`` counts the steps done);
* ``label``: its header in the paper tables, and ``name``: how a figure names it;
* ``item``: the JSON schema of one value, from which the schema's grid block is
  generated (:func:`grid_schema`; ``twolayer schema --write`` writes it into
  ``twolayer/schemas/config.schema.yaml``, and a schema whose grid block is not that of
  the axes is refused), so the schema cannot forget an axis;
* ``headline``: whether a figure's title names it when every model shares its value.

The order of :data:`AXES` is the order of the parts of a point's name and of the
hyperparameter columns. A new axis is one entry here plus the code that uses its value
(the job spec path must be a setting the training reads), then ``twolayer schema --write``.
Everything else reads :data:`AXES` when it runs (never a copy made at import).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Axis:
    key: str
    short: str
    type: type
    path: str
    column: str
    label: str
    name: str
    item: dict
    headline: bool = True


AXES = {
    a.key: a
    for a in (
        Axis("model", "model", str, "model.kind", "model", "Model", "model", {"$ref": "#/$defs/model_kind"}),
        Axis("activation", "act", str, "model.activation", "activation", "Activation", "activation", {"$ref": "#/$defs/activation"}),
        Axis("hidden", "h", int, "model.hidden", "hidden", "Hidden units", "hidden units", {"$ref": "#/$defs/positive_int"}),
        Axis("init", "init", str, "model.init", "init", "Initialisation", "initialisation", {"$ref": "#/$defs/init"}, headline=False),
        Axis("optimizer", "opt", str, "training.optimizer.name", "optimizer", "Optimizer", "optimiser", {"$ref": "#/$defs/optimizer_name"}),
        Axis("batch_size", "bs", int, "training.batch_size", "batch_size", "Batch size", "batch size", {"$ref": "#/$defs/positive_int"}),
        Axis("steps", "steps", int, "training.steps", "steps_planned", "Steps", "steps", {"$ref": "#/$defs/positive_int"}),
        Axis("lr", "lr", float, "training.lr", "lr", "Step size", "step size η (lr)", {"$ref": "#/$defs/positive"}),
        Axis("reg", "reg", float, "training.reg", "reg", "lambda", "L2 strength λ (reg)", {"type": "number", "minimum": 0}),
        Axis("seed", "seed", int, "seed", "seed", "Seed", "seed", {"type": "integer", "minimum": 0}, headline=False),
    )
}


def by_short(short):
    return next((a for a in AXES.values() if a.short == short), None)


def by_column(column):
    return next((a for a in AXES.values() if a.column == column), None)


def columns():
    """The hyperparameter columns of metrics.json and table.csv, in the axes' order."""
    return [a.column for a in AXES.values()]


def spec_value(spec, axis):
    """The value of ``axis`` in a job spec (None where the model has no such setting, e.g. a linear model's hidden size)."""
    d = spec
    for part in AXES[axis].path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def set_spec_value(spec, axis, value):
    parts = AXES[axis].path.split(".")
    d = spec
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def grid_schema():
    """The schema of a study's ``grid`` block: one list-of-values property per axis."""
    return {
        "description": "lists of values; every combination is one training job",
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {a.key: {"type": "array", "minItems": 1, "uniqueItems": True, "items": a.item} for a in AXES.values()},
    }


# The sources of randomness a replicate can draw anew (config: replicates.vary), in the order of
# their spawn keys (twolayer.study.run.runner.job_seeds): 0 the initial weights, 1 the example order.
SOURCES = ("init", "order")
