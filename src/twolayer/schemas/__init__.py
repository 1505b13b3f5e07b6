"""The JSON schemas of the config files, shipped in the package and read where it is installed.

``config.schema.yaml`` checks ``config/config.yaml`` and every ``--configfile``; its ``grid``
block (one property per grid axis) is generated from :data:`twolayer.study.plan.axes.AXES` by
``twolayer schema --write``, and ``twolayer schema --check`` (run by the tests) fails when
it is stale. ``published.schema.yaml`` checks ``config/published.yaml``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

NAMES = ("config", "published")


def schema_file(name):
    """The shipped schema ``name`` (one of :data:`NAMES`), as an ``importlib.resources`` path."""
    if name not in NAMES:
        raise ValueError(f"unknown schema {name!r}; the package ships: {', '.join(NAMES)}")
    return files(__name__) / f"{name}.schema.yaml"


def schema_path(path, name):
    """A schema given by the user (a str or path), or the shipped one ``name`` when ``path`` is None."""
    if path is None:
        return schema_file(name)
    return Path(path) if isinstance(path, str) else path
