"""The one set of number formatters: how each kind of value is written as text.

A table column has a *kind* (:data:`KINDS`); its values are written by the
kind's formatter, the same text in CSV, Markdown, HTML and (typeset from that
text) LaTeX. A value that is already text is written as it is, whatever the
kind: an analysis may put "diverged at step 12" in a column of numbers.

``missing`` is what a missing measurement (None, NaN) shows: "diverged" in
the paper tables (an accuracy is missing when its model diverged), "" in
the replicate tables. Hyperparameters, counts and text show "" when missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


def is_missing(v):
    """None, NaN (float or NumPy/pandas), or pandas' NA."""
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN, and pandas.NA (whose comparison is NA, truthy-raising) below
    except TypeError:
        return True


def text(v, missing=""):
    return "" if is_missing(v) else str(v)


def number(v, missing=""):
    """A hyperparameter value as the paper tables print it: 5e-05, 0.05, 100, relu."""
    if is_missing(v):
        return ""
    if isinstance(v, str):
        return v
    return f"{v:g}" if isinstance(v, float) else str(v)


def numbers(values, missing=""):
    """Several values, comma-separated: "5e-05, 0.05"."""
    if isinstance(values, str):
        return values
    return ", ".join(number(v) for v in values)


def count(v, missing=""):
    """A whole number: 4, 10000."""
    if isinstance(v, str):
        return v
    return "" if is_missing(v) else str(int(v))


def grouped(v, missing=""):
    """A whole number with thousands separators: 79,510."""
    if isinstance(v, str):
        return v
    return "" if is_missing(v) else f"{int(v):,}"


def percent(v, missing="diverged"):
    """A fraction as a percentage with two decimals: 0.97873 -> 97.87."""
    if isinstance(v, str):
        return v
    return missing if is_missing(v) else f"{100 * v:.2f}"


def plus_minus(v, missing="diverged"):
    """(mean, spread) of fractions as "97.87 ± 0.32"; a single fraction as :func:`percent`."""
    if isinstance(v, str):
        return v
    if isinstance(v, tuple):
        mean, spread = v
        return f"{percent(mean, missing)} ± {percent(spread, missing)}"
    return percent(v, missing)


def percent_range(v, missing="diverged"):
    """(low, high) fractions as "96.10–97.87"."""
    if isinstance(v, str):
        return v
    low, high = v
    return f"{percent(low, missing)}–{percent(high, missing)}"


def probability(v, missing=""):
    """(p, low, high) as "0.83 [0.70, 0.94]"; missing: ""."""
    if isinstance(v, str):
        return v
    if v is None or is_missing(v[0]):
        return ""
    p, low, high = v
    return f"{p:.2f} [{low:.2f}, {high:.2f}]"


def point_text(point):
    """A grid point's hyperparameters in words: "hidden 25, model twolayer"."""
    return ", ".join(f"{k} {number(v)}" for k, v in point.items())


# -- measured numbers with their unit (the scorecard): a value is (number, unit) ------------------
def measured(v, missing=""):
    """(value, unit): a percentage (already in %) with two decimals, a count, a grid point, a quantity."""
    value, unit = v
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return point_text(value)
    if unit == "models":
        return f"{int(value):d}"
    if unit == "%":
        return f"{value:.2f}"
    return f"{value:.6f}" if abs(value) < 10 else f"{value:.4g}"


def signed(v, missing=""):
    """(difference, unit) with its sign: +0.66."""
    value, unit = v
    if value is None:
        return ""
    if unit == "%":
        return f"{value:+.2f}"
    if unit == "models":
        return f"{int(value):+d}"
    return f"{value:+.6f}"


def tolerance(v, missing=""):
    """(tolerance, unit): ±0.5, ±1, or "same point"."""
    value, unit = v
    if unit == "point":
        return "same point"
    if unit == "models":
        return f"±{int(value)}"
    return f"±{value:g}"


@dataclass(frozen=True)
class Kind:
    """How a column's values are written (``format``) and whether it is a column of numbers
    (``numeric``: right-aligned) or of long text that wraps (``prose``)."""

    format: Callable
    numeric: bool = False
    prose: bool = False


KINDS = {
    "text": Kind(text),
    "prose": Kind(text, prose=True),
    "number": Kind(number, numeric=True),
    "numbers": Kind(numbers),
    "count": Kind(count, numeric=True),
    "grouped": Kind(grouped, numeric=True),
    "percent": Kind(percent, numeric=True),
    "plus_minus": Kind(plus_minus),
    "percent_range": Kind(percent_range),
    "probability": Kind(probability),
    "measured": Kind(measured, numeric=True),
    "signed": Kind(signed, numeric=True),
    "tolerance": Kind(tolerance, numeric=True),
}


def kind(name):
    """The :class:`Kind` named ``name`` (None: text)."""
    try:
        return KINDS["text" if name is None else name]
    except KeyError:
        raise KeyError(f"unknown column kind {name!r}; kinds are: {', '.join(KINDS)} "
                       "(add one to twolayer.study.render.numbers.KINDS)") from None
