"""The names of grid points and models, and the grammar that reads them back.

A grid point is named by its values, ``act~sigmoid/h~275/lr~0.05/reg~1e-05`` (axis abbreviation
``~`` value, in the axes' order, floats by Python's shortest round-trip ``repr``), so adding a
value to a grid list only adds jobs: the names of the existing points do not change.
"""

from __future__ import annotations

from ...errors import ConfigError
from .axes import AXES, SOURCES, by_short


def format_value(v):
    """How a grid value appears in a path: floats by shortest round-trip repr, ints plainly."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return repr(v)
    return str(v)


# Replicates (study settings `replicates`, `refine`): replicate k > 0 of a grid point is the model
# "<point>/rep~k"; "<point>/rep~k/vary~init" varies the initial weights alone (variance by source).
# Replicate 0 is the point itself, with the seeds of a single run: raising n trains only new models.


def model_id(point, replicate=0, vary=None):
    """The id of replicate ``replicate`` of ``point`` (the point itself for 0), ``vary`` a subset of SOURCES."""
    if replicate == 0:
        return point
    mid = f"{point}/rep~{int(replicate)}"
    return mid + (f"/vary~{'+'.join(vary)}" if vary else "")


def split_model_id(mid):
    """``"h~50/rep~3/vary~init"`` -> ``("h~50", 3, ("init",))``; a plain point -> ``(point, 0, None)``."""
    parts, rep, vary = [], 0, None
    for part in mid.split("/"):
        if part.startswith("rep~"):
            try:
                rep = int(part[4:])
            except ValueError:
                raise ConfigError(f"model {mid!r}: {part!r} is not rep~<integer>") from None
        elif part.startswith("vary~"):
            vary = tuple(part[5:].split("+"))
            if not set(vary) <= set(SOURCES):
                raise ConfigError(f"model {mid!r}: {part!r} names a source other than {', '.join(SOURCES)}")
        else:
            parts.append(part)
    return "/".join(parts), rep, vary


def point_id(values):
    return "/".join(f"{AXES[a].short}~{format_value(values[a])}" for a in AXES if a in values)


def parse_point(pid):
    """``"act~relu/h~50"`` -> ``{"activation": "relu", "hidden": 50}``; errors name the part."""
    values = {}
    for part in pid.split("/"):
        abbr, sep, raw = part.partition("~")
        if not sep or by_short(abbr) is None:
            raise ConfigError(f"grid point {pid!r}: {part!r} is not '<axis>~<value>' with a known axis")
        axis = by_short(abbr).key
        try:
            values[axis] = AXES[axis].type(raw)
        except ValueError:
            raise ConfigError(f"grid point {pid!r}: {raw!r} is not a valid {axis}") from None
    return values
