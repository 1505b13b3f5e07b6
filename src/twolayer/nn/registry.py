"""The one lookup of a name in a registry (activations, optimizers, schedules, ...).

Each registry is a dict name -> object; :func:`lookup` returns the entry or raises a
``ValueError`` that lists the valid names, so a typo in a config says what it could be.
"""

from __future__ import annotations


def lookup(table, name, what, plural=None):
    """``table[name]``; an unknown (or unhashable) ``name`` raises ``ValueError``:
    "unknown {what} 'x'; valid {plural} are: a, b, c" (``plural`` defaults to ``what + "s"``)."""
    try:
        return table[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(table))
        raise ValueError(f"unknown {what} {name!r}; valid {plural or what + 's'} are: {valid}") from None
