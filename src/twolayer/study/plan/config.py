"""Studies as data: validate a config, expand its grids, and describe every job.

The workflow (``Snakefile``) and the CLI share this module, so a
hyperparameter is read in exactly one place: config -> :class:`Plan` ->
the JSON job spec a training job receives -> the model file -> the tables.

Validation happens in two passes before any job runs: the JSON schema
(:mod:`.schema`: keys, types, ranges) and the checks a schema cannot express
(known datasets and recipes, a hidden size where one is needed, no duplicate grid
points). Every problem is reported with the dotted key that holds it. Grid points
and models are named as :mod:`.naming` says.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ...data.fetch import DEFAULT_SEARCH_DIRS, DOWNLOAD_DEFAULTS
from ...data.formats import FORMATS
from ...errors import ConfigError
from ...nn.optim import SGD
from .axes import AXES, SOURCES, set_spec_value
from .naming import model_id, point_id, split_model_id
from .schema import DEFAULT_SCHEMA, canonical, check_expansion, load_schema, schema_problems, shorten

RESULTS = "results"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

MODEL_DEFAULTS = {
    "kind": "twolayer",
    "activation": "relu",
    "init": "cs231n",
    "std": 1e-4,
    "bias": True,
    "reg_convention": "full",
    "dtype": "float32",
}
TRAINING_DEFAULTS = {
    "steps": 1000,
    "batch_size": 200,
    "sampling": "with_replacement",
    "optimizer": {"name": SGD.name},
    "schedule": {"name": "constant"},
    "log_every": 1,
    "eval_every": "epoch",
    "eval_train_subset": 1000,
    "reg": 0.0,
    "keep_best": False,
    "sparse_inputs": True,
    "progress_every": 0,
}


def validate(config, schema_path=DEFAULT_SCHEMA, source=None):
    """Schema and semantic checks; returns a :class:`Plan` or raises :class:`ConfigError`.

    The plan is built from the :func:`canonical` form of the config."""
    where = f" in {source}" if source else ""
    check_expansion(config, where)
    schema = load_schema(schema_path)
    problems = [shorten(p) for p in schema_problems(config, schema)]
    if problems:
        raise ConfigError(f"invalid config{where}:\n  " + "\n  ".join(problems))
    plan = Plan(canonical(config, schema))
    problems = [shorten(p) for p in plan.check()]
    if problems:
        raise ConfigError(f"invalid config{where}:\n  " + "\n  ".join(problems))
    return plan


def load(path, schema_path=DEFAULT_SCHEMA):
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return validate(config, schema_path, source=path)


def _deep_update(base, over):
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in ("optimizer", "schedule"):
            out[k] = _deep_update(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


@dataclass(frozen=True)
class Point:
    id: str
    values: dict


class Study:
    """One named study: its dataset, recipe, settings and grid points."""

    def __init__(self, name, raw, plan):
        self.name = name
        self.raw = raw
        self.plan = plan
        self.dataset = raw["dataset"]
        self.recipe = raw["recipe"]
        self.seed = int(raw.get("seed", 0))
        self.description = raw.get("description", "")
        self.model = _deep_update(MODEL_DEFAULTS, raw.get("model"))
        self.training = _deep_update(TRAINING_DEFAULTS, raw.get("training"))
        grids = raw["grid"] if isinstance(raw["grid"], list) else [raw["grid"]]
        self.grids = grids
        self.points = []
        for g in grids:
            axes = [a for a in AXES if a in g]
            combos = [{}]
            for a in axes:
                typ = AXES[a].type
                combos = [{**c, a: typ(v)} for c in combos for v in g[a]]
            self.points.extend(Point(point_id(c), c) for c in combos)
        self._by_id = {p.id: p for p in self.points}
        rep = raw.get("replicates") or {}
        self.replicates = int(rep.get("n", 1))
        self.vary = tuple(v for v in SOURCES if v in rep.get("vary", SOURCES))
        self.refine = dict(raw["refine"]) if raw.get("refine") else None

    @property
    def replicated(self):
        """Whether some point has more than one model (replicates.n > 1, or a refine stage)."""
        return self.replicates > 1 or bool(self.refine)

    @property
    def models(self):
        """The models of the grid stage: every point, with its replicates 1 .. n-1."""
        return [model_id(p.id, k) for p in self.points for k in range(self.replicates)]

    def refine_models(self, top, grid_winner):
        """The models the refine stage adds once the grid's best points are known: replicates
        n .. R-1 of each of ``top``, and 1 .. R-1 of ``grid_winner`` varying one source at a time."""
        if not self.refine:
            return []
        r = int(self.refine["replicates"])
        out = [model_id(p, k) for p in top for k in range(self.replicates, r)]
        if grid_winner is not None and len(self.vary) > 1:
            out += [model_id(grid_winner, k, (src,)) for src in self.vary for k in range(1, r)]
        return out

    @property
    def refine_count(self):
        """How many models the refine stage adds (the count does not depend on which points it picks)."""
        if not self.refine:
            return 0
        top = [p.id for p in self.points[: self.refine["top"]]]
        return len(self.refine_models(top, top[0]))

    @property
    def axes(self):
        """Axes that vary or are named in any grid block, in canonical order."""
        names = set().union(*(g.keys() for g in self.grids))
        return [a for a in AXES if a in names]

    @property
    def data_file(self):
        return f"{RESULTS}/data/{self.dataset}/{self.recipe}.h5"

    def point(self, pid):
        try:
            return self._by_id[pid]
        except KeyError:
            raise ConfigError(f"study {self.name!r} has no grid point {pid!r}") from None

    def spec(self, mid):
        """Everything a training job needs, as a JSON-able dict. ``mid``: a grid point, or one
        of its replicates (:func:`model_id`); a replicate's spec adds ``replicate``."""
        pid, rep, vary = split_model_id(mid)
        pt = self.point(pid)
        spec = {
            "study": self.name,
            "point": pt.id,
            "values": dict(pt.values),
            "dataset": self.dataset,
            "recipe": self.recipe,
            "recipe_spec": self.plan.recipe(self.recipe),
            "model": copy.deepcopy(self.model),
            "training": copy.deepcopy(self.training),
            "seed": self.seed,
        }
        for axis, value in pt.values.items():
            if axis == "optimizer" and value != spec["training"]["optimizer"]["name"]:
                # training.optimizer's settings belong to the optimizer it names; a point of
                # another optimizer takes that one's defaults (config/README.md, "Grid axes")
                spec["training"]["optimizer"] = {"name": value}
            set_spec_value(spec, axis, value)
        if spec["model"]["kind"] == "linear":
            for k in ("activation", "hidden"):
                spec["model"].pop(k, None)
        if rep:  # "study": a replicate of the study's sources (config: replicates.vary); "source": one source alone
            spec["replicate"] = {"index": rep, "vary": list(vary or self.vary), "set": "source" if vary else "study"}
        return spec

    def check(self):
        problems = []
        key = f"studies.{self.name}"
        if not NAME_RE.match(self.name):
            problems.append(f"{key}: study names may hold letters, digits, '_' and '-' only (no '/', no '..')")
        if self.dataset not in self.plan.sources:
            problems.append(f"{key}.dataset: unknown dataset {self.dataset!r}; known: {', '.join(sorted(self.plan.sources))}")
        if self.recipe not in self.plan.recipes:
            problems.append(f"{key}.recipe: unknown recipe {self.recipe!r}; known: {', '.join(sorted(self.plan.recipes))}")
        elif self.dataset in self.plan.sources:
            generated = not FORMATS[self.plan.sources[self.dataset].format].downloaded
            split_kind = self.plan.recipes[self.recipe]["split"]["kind"]
            if generated != (split_kind == "generated"):
                problems.append(
                    f"{key}.recipe: recipe {self.recipe!r} (split {split_kind!r}) does not fit dataset "
                    f"{self.dataset!r} ({'generated' if generated else 'downloaded'})"
                )
        for i, g in enumerate(self.grids):
            gkey = f"{key}.grid" + (f"[{i}]" if len(self.grids) > 1 else "")
            kinds = g.get("model", [self.model["kind"]])
            if "twolayer" in kinds and "hidden" not in g and "hidden" not in self.model:
                problems.append(f"{gkey}: the two-layer model needs a hidden size: set model.hidden or a 'hidden' grid axis")
            if "linear" in kinds and ("hidden" in g or "activation" in g):
                problems.append(f"{gkey}: 'hidden' and 'activation' mean nothing for model 'linear'; give linear models their own grid block")
            if "lr" not in g and "lr" not in self.training:
                problems.append(f"{gkey}: no step size: set training.lr or an 'lr' grid axis")
        if self.refine:
            if self.refine["top"] > len(self.points):
                problems.append(f"{key}.refine.top: {self.refine['top']} points of a grid of {len(self.points)}")
            if self.refine["replicates"] <= self.replicates:
                problems.append(f"{key}.refine.replicates: {self.refine['replicates']} replicates in all, but "
                                f"replicates.n already trains {self.replicates}: raise refine.replicates")
        seen = set()
        for p in self.points:
            if p.id in seen:
                problems.append(f"{key}.grid: grid point {p.id} appears twice")
            seen.add(p.id)
        if not problems:  # what every job checks first: the settings the training would refuse
            from .jobspec import SpecError, check_spec

            for p in self.points:
                try:
                    check_spec(self.spec(p.id))
                except SpecError as exc:
                    problems.append(str(exc))
        return problems


class Plan:
    """A validated config: studies, datasets (built-in + config) and recipes (built-in + config)."""

    def __init__(self, config):
        from ...data.preprocess import BUILTIN_RECIPES
        from ...data.sources import builtin_specs

        self.config = config
        self.source_specs = {**builtin_specs(), **(config.get("datasets") or {})}
        self.recipes = {**copy.deepcopy(BUILTIN_RECIPES), **(config.get("recipes") or {})}
        self.raw_dirs = list(config.get("raw_dirs") or DEFAULT_SEARCH_DIRS)
        self.download = {k: DOWNLOAD_DEFAULTS[k] for k in ("timeout", "retries", "deadline", "max_bytes")} | (config.get("download") or {})
        res = config.get("resources") or {}
        self.resources = {
            rule: {"mem_factor": 1.0, "runtime_factor": 1.0, "retries": 1, **(res.get(rule) or {})}
            for rule in ("train", "prepare")
        }
        self._sources = None
        self.studies = {name: Study(name, raw, self) for name, raw in config["studies"].items()}

    @property
    def sources(self):
        if self._sources is None:
            from ...data.sources import source_from_dict

            out = {}
            for name, spec in self.source_specs.items():
                try:
                    out[name] = source_from_dict(name, spec)
                except ValueError as exc:
                    raise ConfigError(f"datasets.{name}: {exc}") from None
            self._sources = out
        return self._sources

    def recipe(self, name):
        return copy.deepcopy(self.recipes[name])

    def is_builtin(self, dataset, recipe):
        """Whether ``dataset`` and ``recipe`` are the built-in definitions (not redefined by the config)."""
        from ...data.preprocess import BUILTIN_RECIPES
        from ...data.sources import builtin_specs

        return (builtin_specs().get(dataset) == self.source_specs.get(dataset)
                and BUILTIN_RECIPES.get(recipe) == self.recipes.get(recipe))

    def source_json(self, dataset):
        return json.dumps(self.source_specs[dataset], sort_keys=True)

    def recipe_json(self, recipe):
        return json.dumps(self.recipes[recipe], sort_keys=True)

    def check(self):
        from ...data.preprocess import RecipeError, check_recipe

        problems = []
        try:
            self.sources  # noqa: B018 - validates the dataset definitions
        except ConfigError as exc:
            problems.append(str(exc))
        for name, recipe in self.recipes.items():
            try:
                check_recipe(name, recipe)
            except RecipeError as exc:
                problems.append(f"recipes.{name}: {exc}")
        for study in self.studies.values():
            problems.extend(study.check())
        return problems

    # -- what the workflow builds -------------------------------------------------
    def study(self, name):
        try:
            return self.studies[name]
        except KeyError:
            raise ConfigError(f"no study {name!r} in the config; studies: {', '.join(self.studies)}") from None

    def spec_json(self, study, pid):
        return json.dumps(self.study(study).spec(pid), sort_keys=True)

    # -- what each job declares (and is held to) ------------------------------------
    def train_mem_mb(self, study, pid, data_mb, attempt=1):
        from .resources import train_mem_mb

        st = self.study(study)
        src = self.sources[st.dataset]
        d = _features(src)
        est = train_mem_mb(st.spec(pid), data_mb, d, src.num_classes)
        return int(est * self.resources["train"]["mem_factor"] * attempt) or 1

    def train_runtime_min(self, study, pid, attempt=1):
        from .resources import train_runtime_min

        st = self.study(study)
        est = train_runtime_min(st.spec(pid), _features(self.sources[st.dataset]))
        return max(1, int(round(est * self.resources["train"]["runtime_factor"] * attempt)))

    def prepare_mem_mb(self, dataset, attempt=1):
        from .resources import prepare_mem_mb

        return int(prepare_mem_mb(self.sources[dataset]) * self.resources["prepare"]["mem_factor"] * attempt) or 1


def _features(source):
    import math

    return math.prod(source.image_shape) if source.image_shape else 1
