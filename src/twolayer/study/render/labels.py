"""Hyperparameters as a reader writes them: "Two-layer net (100 hidden units, λ = 10⁻³)".

Every figure names models through these helpers instead of point names such as
``h~100/lr~1.0/reg~0.001``. Symbols: η is the step size (``lr`` in the config),
λ the L2 strength (``reg``).
"""

from __future__ import annotations

import math

import pandas as pd

from ..plan.axes import by_column, columns


def axis_name(column):
    """How a figure names the grid axis of a table column: "step size η (lr)"."""
    axis = by_column(column)
    return axis.name if axis is not None else column
MODEL_NAMES = {"twolayer": "Two-layer net", "linear": "Linear softmax"}
ACTIVATION_NAMES = {"relu": "ReLU", "sigmoid": "sigmoid", "tanh": "tanh", "leaky_relu": "leaky ReLU"}
OPTIMIZER_NAMES = {"sgd": "SGD", "momentum": "SGD with momentum", "rmsprop": "RMSprop", "adam": "Adam"}

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def missing(v):
    """True for None, NaN and pandas' NA."""
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def fmt_count(v):
    """A count: 240000 -> "240,000"."""
    return "n/a" if missing(v) else f"{int(v):,}"


def fmt_number(v):
    """A real value (η, λ): 0.05 -> "0.05", 1 -> "1", 0.001 -> "10⁻³", 5e-06 -> "5×10⁻⁶", 1e6 -> "10⁶"."""
    if missing(v):
        return "n/a"
    v = float(v)
    if v == 0:
        return "0"
    if 0.01 <= abs(v) < 1e4:
        return f"{v:.3g}"
    return _power(v)


def fmt_numbers(values):
    """Tick labels for one axis in one notation: powers of ten for all if any needs them
    ([0.001, 0.01] -> ["10⁻³", "10⁻²"]), else as :func:`fmt_number`."""
    plain = [fmt_number(v) for v in values]
    if not any("10" in p and ("⁻" in p or "×" in p) for p in plain):
        return plain
    return [_power(float(v)) if not missing(v) and float(v) != 0 and not float(v).is_integer() else p
            for v, p in zip(values, plain)]


def _power(v):
    exp = math.floor(math.log10(abs(v)))
    mant = round(v / 10**exp, 2)
    if abs(mant) >= 10:  # rounding carried over
        mant, exp = mant / 10, exp + 1
    power = "10" + str(exp).translate(_SUPERSCRIPT)
    return power if mant == 1 else f"{mant:g}×{power}"


NBSP = "\u00a0"  # inside one value's text, so that a wrapped title never splits "λ = 10⁻³"


def value_text(axis, v):
    """One axis value in a label: "100 hidden units", "λ = 10⁻³", "ReLU", "10,000 steps".

    Its spaces are non-breaking (:data:`NBSP`): titles wrap only between values.
    """
    return _value_text(axis, v).replace(" ", NBSP)


#: how a value of each axis reads; an axis not listed reads "<axis> = <value>"
VALUE_WORDS = {
    "model": lambda v: MODEL_NAMES.get(str(v), str(v)),
    "activation": lambda v: ACTIVATION_NAMES.get(str(v), str(v)),
    "hidden": lambda v: f"{fmt_count(v)} hidden units",
    "lr": lambda v: f"η = {fmt_number(v)}",
    "reg": lambda v: f"λ = {fmt_number(v)}",
    "steps_planned": lambda v: f"{fmt_count(v)} steps",
    "batch_size": lambda v: f"batch size {fmt_count(v)}",
    "optimizer": lambda v: OPTIMIZER_NAMES.get(str(v), str(v)),
    "init": lambda v: f"{v} initialisation",
    "seed": lambda v: f"seed {fmt_count(v)}",
}


def _value_text(axis, v):
    if missing(v):
        return ""
    words = VALUE_WORDS.get(axis)
    return words(v) if words else f"{axis} = {v}"


def describe(values, axes=None):
    """A model as text from its hyperparameters (a dict or a table row).

    ``axes``: which hyperparameters to mention (default: model, activation, hidden,
    lr, reg); those missing in ``values`` or empty (a linear model's hidden size)
    are skipped. The model kind, if among them, leads: "Two-layer net (100 hidden
    units, λ = 10⁻³)"; without it the parts are joined by commas.
    """
    axes = ("model", "activation", "hidden", "lr", "reg") if axes is None else tuple(axes)
    get = values.get if hasattr(values, "get") else (lambda k, d=None: getattr(values, k, d))
    if "model" in axes and not missing(get("model")) and str(get("model")) == "linear":
        axes = tuple(a for a in axes if a not in ("hidden", "activation"))  # a linear model has neither
    parts = [value_text(a, get(a)) for a in axes if a != "model" and a in _keys(values)]
    parts = [p for p in parts if p]
    if "model" in axes and not missing(get("model")):
        head = value_text("model", get("model"))
        return f"{head} ({', '.join(parts)})" if parts else head
    return ", ".join(parts)


def _keys(values):
    return set(values.keys()) if hasattr(values, "keys") else set(getattr(values, "index", ()))


def varying_axes(df, axes=None):
    """The grid axes with more than one value in the table.

    Empty cells do not count: a linear model has no hidden size nor activation, so
    a spiral study whose two-layer nets all use ReLU does not vary the activation.
    """
    return [a for a in (columns() if axes is None else axes) if a in df and df[a].nunique(dropna=True) > 1]


def fixed_axes(df, axes=None):
    """{axis: value} of the grid axes with one value in the table (among the models that have one)."""
    out = {}
    for a in columns() if axes is None else axes:
        if a in df and df[a].nunique(dropna=True) == 1:
            out[a] = df[a].dropna().iloc[0]
    return out


def winner_text(winner):
    """The winner of a winner.json/test.json record as text: "Winner: Two-layer net (ReLU, ...)"."""
    hp = winner.get("hyperparameters") or {}
    return "Winner: " + (describe(hp) if hp else str(winner.get("point")))
