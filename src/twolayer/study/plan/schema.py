"""The config schema: load it (checked to be complete), write its grid block from the axes,
validate a config against it with messages that name the key and say what to do, write every
number of a valid config the way the schema types it, and refuse a config too large to walk.

The schema is ``twolayer/schemas/config.schema.yaml``, shipped in the package; its grid block is
generated from :mod:`.axes` by ``twolayer schema --write``.
"""

from __future__ import annotations

import re

import yaml

from ...errors import ConfigError
from ...schemas import schema_file, schema_path
from .axes import grid_schema

DEFAULT_SCHEMA = schema_file("config")
# The grid block of the config schema, between these lines, is written by `twolayer schema --write`.
GRID_BEGIN = "  # generated: the grid block, from twolayer.study.plan.axes (twolayer schema --write)\n"
GRID_END = "  # end: the grid block\n"


def _key(path):
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _hint(err):
    inst = err.instance
    if isinstance(inst, str) and re.fullmatch(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+", inst) and "number" in str(err.validator_value):
        fixed = inst.replace("e", ".0e", 1) if "." not in inst.split("e")[0].lower() else inst
        return f" (YAML 1.1 reads {inst} as a string; write it as {fixed})"
    return ""


class _Msg:
    """A synthesised error (same fields as a jsonschema error, as far as they are used here)."""

    def __init__(self, path, message):
        self.absolute_path, self.message = path, message
        self.validator, self.instance, self.validator_value, self.schema = "custom", None, None, {}


def _leaf_errors(err):
    """For oneOf/anyOf failures, the errors of the alternative that fits the value.

    An alternative does not fit when the value has the wrong type for it (a grid is a
    mapping or a list of mappings) or its discriminator differs (a schedule's ``name``).
    If none fits because of the discriminator, say which values it may take.
    """
    if not err.context:
        return [err]
    branches = {}
    for sub in err.context:
        branches.setdefault(sub.schema_path[0], []).append(sub)

    def misfit(e):
        return (e.validator == "type" and not e.relative_path) or e.validator == "const"

    fitting = [errs for errs in branches.values() if not any(misfit(e) for e in errs)]
    if len(fitting) == 1:
        return [leaf for e in fitting[0] for leaf in _leaf_errors(e)]
    consts = [e for errs in branches.values() for e in errs if e.validator == "const"]
    if consts and not fitting and len({tuple(e.absolute_path) for e in consts}) == 1:
        allowed = ", ".join(str(e.validator_value) for e in consts)
        return [_Msg(consts[0].absolute_path, f"{consts[0].instance!r} is not one of: {allowed}")]
    from jsonschema.exceptions import best_match

    best = best_match(err.context)
    return _leaf_errors(best) if best is not None else [err]


def load_schema(path=DEFAULT_SCHEMA):
    """The config schema at ``path`` (default: the package's), checked to be complete: its
    ``grid`` block must be that of the axes (:func:`twolayer.study.plan.axes.grid_schema`)."""
    path = schema_path(path, "config")
    if not path.is_file():
        raise ConfigError(f"config schema {path} not found (the package's is {DEFAULT_SCHEMA})")
    schema = yaml.safe_load(path.read_text())
    if schema.get("$defs", {}).get("grid") != grid_schema():
        raise ConfigError(f"config schema {path}: its grid block is not that of the axes in twolayer.study.plan.axes; "
                          f"write it anew with: twolayer schema --write --schema {path}")
    return schema


def schema_with_axes(text):
    """The config schema's text ``text`` with its grid block written anew from the axes
    (between :data:`GRID_BEGIN` and :data:`GRID_END`); everything else kept as it is."""
    if text.count(GRID_BEGIN) != 1 or text.count(GRID_END) != 1:
        raise ConfigError(f"the config schema must hold the lines {GRID_BEGIN.strip()!r} and {GRID_END.strip()!r} "
                          "once each: the grid block goes between them")
    head, rest = text.split(GRID_BEGIN)
    tail = rest.split(GRID_END)[1]
    grid = grid_schema()
    props = grid.pop("properties")
    body = yaml.safe_dump({"grid": grid}, sort_keys=False, allow_unicode=True, width=110) + "  properties:\n"
    for key, prop in props.items():  # one line an axis
        body += f"    {key}: {yaml.safe_dump(prop, default_flow_style=True, sort_keys=False, width=10**6).strip()}\n"
    return head + GRID_BEGIN + "".join("  " + line for line in body.splitlines(True)) + GRID_END + tail


def schema_problems(config, schema):
    """Every schema violation as ``"key: message"`` strings (empty if valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        for leaf in _leaf_errors(err):
            msg = leaf.message
            if leaf.validator == "additionalProperties":
                msg = msg.replace("Additional properties are not allowed", "unknown key(s)")
                allowed = sorted((leaf.schema.get("properties") or {}).keys())
                if allowed:
                    msg += f"; allowed keys here: {', '.join(allowed)}"
            problems.append(f"{_key(leaf.absolute_path)}: {msg}{_hint(leaf)}")
    return list(dict.fromkeys(problems))


def canonical(value, schema, root=None):
    """``value`` with every number written the way the schema types it.

    A ``number`` becomes a float (``30`` -> ``30.0``) and an ``integer`` an int
    (``1000.0`` -> ``1000``), so that two configs that say the same thing give the same
    job parameters, which Snakemake compares as text (a different spelling would rerun
    every job). Called on a config that passed the schema."""
    root = schema if root is None else root
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    for branches in (schema.get("oneOf"), schema.get("anyOf")):
        if branches:
            import jsonschema

            for branch in branches:
                if jsonschema.Draft202012Validator({**branch, "$defs": root.get("$defs", {})}).is_valid(value):
                    return canonical(value, branch, root)
            return value
    if isinstance(value, dict):
        props, extra = schema.get("properties") or {}, schema.get("additionalProperties")
        return {
            k: canonical(v, props[k], root) if k in props else canonical(v, extra, root) if isinstance(extra, dict) else v
            for k, v in value.items()
        }
    if isinstance(value, list):
        items = schema.get("items")
        return [canonical(v, items, root) for v in value] if isinstance(items, dict) else list(value)
    if isinstance(value, bool):
        return value
    types = schema.get("type")
    types = {types} if isinstance(types, str) else set(types or ())
    if "integer" in types and isinstance(value, float) and value.is_integer():
        return int(value)
    if "number" in types and "integer" not in types and isinstance(value, int):
        return float(value)
    return value


#: values a config may hold once its YAML aliases are written out (config/config.yaml: a few hundred)
MAX_CONFIG_VALUES = 100_000
#: characters of one problem's message; a longer one keeps its start and its end
MAX_PROBLEM_CHARS = 400


def check_expansion(config, where):
    """Refuse a config whose YAML aliases refer to themselves or expand past MAX_CONFIG_VALUES
    (``a: &l1 [x, x]``, ``b: &l2 [*l1, *l1]``, ...: ten times more per level), before anything
    walks it: a schema message alone would spell out every copy."""
    sizes, open_ = {}, set()

    def size(v, key):
        if not isinstance(v, (dict, list)):
            return 1
        if id(v) in sizes:
            return sizes[id(v)]
        if id(v) in open_:
            raise ConfigError(f"invalid config{where}: {_key(key)} contains itself (a YAML alias inside its own anchor)")
        open_.add(id(v))
        items = v.items() if isinstance(v, dict) else enumerate(v)
        n = 1
        for k, child in items:
            n += size(child, [*key, k])
            if n > MAX_CONFIG_VALUES:
                raise ConfigError(
                    f"invalid config{where}: {_key(key)} holds more than {MAX_CONFIG_VALUES:,} values once its YAML "
                    "aliases (*name) are written out; a config this large is a mistake (aliases of aliases?): "
                    "write the values out, or alias only what you need"
                )
        open_.discard(id(v))
        sizes[id(v)] = n
        return n

    size(config, [])


def shorten(problem):
    """One problem's message, at most MAX_PROBLEM_CHARS long (a long value shown in part)."""
    if len(problem) <= MAX_PROBLEM_CHARS:
        return problem
    head, tail = problem[: MAX_PROBLEM_CHARS * 2 // 3], problem[-(MAX_PROBLEM_CHARS // 3) :]
    return f"{head} [... {len(problem) - len(head) - len(tail):,} characters ...] {tail}"
