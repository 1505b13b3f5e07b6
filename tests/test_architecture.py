"""Each fact in one place: the schema's names against the registries, the config reference
against the schema and the defaults, a grid axis added by one entry, and imports that
only run downward (cli -> study -> nn, data -> errors, atomic, progress, integrity; inside
the study: report -> analysis -> run, render -> plan)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import REPO

from twolayer.data.formats import FORMATS
from twolayer.data.preprocess import NORMALISATIONS, SPLITS
from twolayer.nn.activations import ACTIVATIONS
from twolayer.nn.classifier import DTYPES
from twolayer.nn.init import INITIALISERS
from twolayer.nn.models import MODELS
from twolayer.nn.optim import OPTIMIZERS
from twolayer.nn.regularization import L2_CONVENTIONS
from twolayer.nn.sampling import SAMPLERS
from twolayer.nn.schedules import SCHEDULES
from twolayer.study.plan import axes as axes_mod
from twolayer.errors import ConfigError
from twolayer.study.plan.config import MODEL_DEFAULTS, TRAINING_DEFAULTS, validate
from twolayer.study.plan.schema import load_schema, schema_with_axes
from twolayer.schemas import schema_file
from twolayer.study.render import labels

SCHEMA_PATH = schema_file("config")  # the package's
SRC = REPO / "src" / "twolayer"


@pytest.fixture(scope="module")
def schema():
    return load_schema(SCHEMA_PATH)


def enum(schema, *path):
    """The names an enum of the schema allows (as a set: their order is the schema's business)."""
    node = schema
    for p in path:
        node = node[p]
    return set(node["enum"])


def test_the_schema_names_exactly_what_the_registries_hold(schema):
    d = schema["$defs"]
    assert enum(d, "activation") == set(ACTIVATIONS)
    assert enum(d, "init") == set(INITIALISERS)
    assert enum(d, "optimizer_name") == set(OPTIMIZERS)
    assert enum(d, "model_kind") == set(MODELS)
    assert enum(d, "dataset", "properties", "format") == set(FORMATS)
    assert enum(d, "recipe", "properties", "split", "properties", "kind") == set(SPLITS)
    assert enum(d, "recipe", "properties", "normalise", "properties", "kind") == set(NORMALISATIONS)
    assert enum(d, "model", "properties", "reg_convention") == set(L2_CONVENTIONS)
    assert enum(d, "model", "properties", "dtype") == set(DTYPES)
    assert enum(d, "training", "properties", "sampling") == set(SAMPLERS)
    schedules = {b["properties"]["name"]["const"] for b in d["schedule"]["oneOf"]}
    assert schedules == set(SCHEDULES)
    # every name a figure spells out has its words
    assert set(labels.MODEL_NAMES) == set(MODELS)
    assert set(labels.ACTIVATION_NAMES) == set(ACTIVATIONS)
    assert set(labels.OPTIMIZER_NAMES) == set(OPTIMIZERS)


def test_the_schema_on_disk_is_complete_and_its_grid_block_is_the_axes(tmp_path):
    """The shipped schema is the one validation reads, as it is on disk; its grid block is
    generated from the axes (`twolayer schema --write`), and a stale one is refused."""
    raw = yaml.safe_load(SCHEMA_PATH.read_text())
    assert list(raw["$defs"]["grid"]["properties"]) == list(axes_mod.AXES)
    assert raw["$defs"]["grid"] == axes_mod.grid_schema()
    for a in axes_mod.AXES.values():
        assert raw["$defs"]["grid"]["properties"][a.key]["items"] == a.item
    ok = subprocess.run([sys.executable, "-m", "twolayer", "schema"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    stale = tmp_path / "config.schema.yaml"
    stale.write_text(SCHEMA_PATH.read_text().replace("      seed: {type: array", "      seeds: {type: array"))
    with pytest.raises(ConfigError, match="twolayer schema --write"):
        load_schema(stale)
    check = subprocess.run([sys.executable, "-m", "twolayer", "schema", "--schema", str(stale)], capture_output=True, text=True)
    assert check.returncode != 0 and "twolayer schema --write" in check.stderr
    wrote = subprocess.run([sys.executable, "-m", "twolayer", "schema", "--write", "--schema", str(stale)],
                           capture_output=True, text=True)
    assert wrote.returncode == 0, wrote.stderr
    assert stale.read_text() == SCHEMA_PATH.read_text()  # written anew: the same bytes as the shipped one


def _readme_rows(heading):
    text = (REPO / "config" / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"^\| ((?:`[^`]+`(?:, )?)+) \| (.*) \|$", line)
        if m:
            cells = m.group(2).rsplit(" | ", 1) if heading == "A study" else [m.group(2)]
            for key in re.findall(r"`([^`]+)`", m.group(1)):
                rows[key] = (cells[0].strip(), cells[-1].strip() if len(cells) > 1 else "")
    return rows


def _yamlish(value):
    """A default as config/README.md writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return value["name"]
    if isinstance(value, float):
        return f"{value:.1e}".replace("e-0", "e-") if 0 < abs(value) < 1e-3 else repr(value).rstrip("0").rstrip(".") or "0"
    return str(value)


def test_the_config_reference_lists_every_key_with_its_default(schema):
    top = _readme_rows("Top level")
    assert set(top) == set(schema["properties"]), "config/README.md's top-level table and the schema differ"
    study = _readme_rows("A study")
    d = schema["$defs"]
    expected = {f"model.{k}" for k in d["model"]["properties"]} | {f"training.{k}" for k in d["training"]["properties"]}
    expected |= {k for k in d["study"]["properties"] if k not in ("model", "training")}
    expected.discard("model.activation_settings")  # described with model.activation
    assert set(study) == expected, f"missing: {expected - set(study)}; not in the schema: {set(study) - expected}"
    for block, defaults in (("model", MODEL_DEFAULTS), ("training", TRAINING_DEFAULTS)):
        for key, value in defaults.items():
            doc = study[f"{block}.{key}"][1]
            assert _yamlish(value) in doc.replace("`", ""), f"{block}.{key}: default {value!r}, the README says {doc!r}"
    sentence = (REPO / "config" / "README.md").read_text().split("Grid axes: ", 1)[1].split(". A grid value", 1)[0]
    assert re.findall(r"`(\w+)`", sentence) == list(axes_mod.AXES)


def test_a_new_grid_axis_is_one_entry(monkeypatch, tmp_path):
    """A throw-away axis (the momentum of SGD with momentum) reaches the job spec, the training,
    the metrics, the table, the paper tables and the figures' labels with one entry."""
    from twolayer.nn.sampling import make_sampler  # noqa: F401  (the training reads the spec)
    from twolayer.study.analysis.aggregate import aggregate, read_table
    from twolayer.study.plan.jobspec import build_model, train_settings
    from twolayer.integrity import sealed_record
    from twolayer.study.run.runner import metrics_record
    from twolayer.study.analysis.tables import BUILDERS

    mu = axes_mod.Axis("mu", "mu", float, "training.optimizer.mu", "mu", "Momentum", "momentum μ",
                       {"type": "number", "minimum": 0, "exclusiveMaximum": 1})
    monkeypatch.setitem(axes_mod.AXES, "mu", mu)
    fresh = tmp_path / "config.schema.yaml"  # the schema's grid block, written anew (twolayer schema --write)
    fresh.write_text(schema_with_axes(SCHEMA_PATH.read_text()))
    cfg = {"studies": {"s": {"dataset": "spiral", "recipe": "spiral", "model": {"hidden": 8, "dtype": "float64"},
                             "training": {"steps": 30, "batch_size": 20, "optimizer": {"name": "momentum"}, "log_every": 10},
                             "grid": {"lr": [0.1], "mu": [0.5, 0.9]}}}}
    plan = validate(cfg, fresh)
    study = plan.study("s")
    assert [p.id for p in study.points] == ["lr~0.1/mu~0.5", "lr~0.1/mu~0.9"] and study.axes == ["lr", "mu"]
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 2)), rng.integers(0, 3, 60)
    records = []
    for p in study.points:
        spec = study.spec(p.id)
        assert spec["training"]["optimizer"] == {"name": "momentum", "mu": p.values["mu"]}
        settings = train_settings(spec, len(X))
        model = build_model(spec, 2, 3, np.random.default_rng(1))
        from twolayer import train_model

        hist = train_model(model, X, y, X, y, settings)
        assert hist.settings["optimizer_resolved"]["mu"] == p.values["mu"]  # the training used it
        rec = metrics_record(spec, hist, model)
        assert rec["mu"] == p.values["mu"]
        records.append(rec)
    files = []
    for i, rec in enumerate(records):
        f = tmp_path / f"m{i}.json"
        f.write_text(json.dumps(sealed_record(json.loads(pd.Series(rec).to_json()))))  # as a job writes it
        files.append(f)
    df, _ = aggregate("s", files, None, tmp_path / "table.csv", tmp_path / "winner.json")
    assert list(read_table(tmp_path / "table.csv")["mu"]) == [0.5, 0.9]
    t1 = BUILDERS["table1"](df, study.axes).cells()
    assert dict(zip(t1["Hyperparameter"], t1["Values"]))["Momentum"] == "0.5, 0.9"
    assert "Momentum" in BUILDERS["table2"](df, study.axes).frame.columns
    assert labels.varying_axes(df) == ["mu"] and labels.axis_name("mu") == "momentum μ"
    # and once the entry is gone, the axis is unknown again
    monkeypatch.delitem(axes_mod.AXES, "mu")
    with pytest.raises(Exception, match="mu"):
        validate(cfg, SCHEMA_PATH)


# -- imports ------------------------------------------------------------------------------------
LAYERS = {"cli": 3, "__main__": 3, "study": 2, "nn": 1, "data": 1, "schemas": 0, "errors": 0, "atomic": 0, "progress": 0, "integrity": 0, "__init__": 0}


def _module_imports():
    """{module: {imported twolayer modules}} from the syntax trees (relative imports resolved)."""
    edges = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        pkg = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg[: len(pkg) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.startswith("twolayer"):
                    out.add(target)
                    out.update(f"{target}.{a.name}" for a in node.names if (SRC.parent / f"{target}.{a.name}".replace(".", "/")).with_suffix(".py").exists())
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name.startswith("twolayer"))
        edges[name] = {t for t in out if t != name and t != "twolayer"}
    return edges


def _layer(module):
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else 0


def test_imports_only_run_downward():
    edges = _module_imports()
    up = [(a, b) for a, bs in edges.items() for b in bs if _layer(b) > _layer(a)]
    assert not up, f"imports from a lower layer to a higher one: {up}"
    sideways = [(a, b) for a, bs in edges.items() for b in bs
                if _layer(a) == _layer(b) == 1 and a.split(".")[1] != b.split(".")[1]]
    assert not sideways, f"nn and data import each other: {sideways}"


# the rooms of twolayer.study, in the order its docstring lists them; a room imports only from
# rooms of a lower number (render and run, both 1, do not import each other)
ROOMS = {"plan": 0, "render": 1, "run": 1, "analysis": 2, "report": 3}


def test_the_study_rooms_import_only_from_the_rooms_before_them():
    import twolayer.study

    listed = re.findall(r"^\* :mod:`\.(\w+)`", twolayer.study.__doc__, re.M)
    assert listed == list(ROOMS), "twolayer.study's docstring lists its rooms in another order than ROOMS"
    study = SRC / "study"
    assert {p.name for p in study.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(ROOMS)
    assert [p.name for p in study.glob("*.py")] == ["__init__.py"], "every module of the study lives in a room"

    def room(module):
        parts = module.split(".")
        return parts[2] if len(parts) > 2 and parts[1] == "study" else None

    edges = _module_imports()
    pairs = [(a, b) for a, bs in edges.items() for b in bs if room(a) and room(b) and room(a) != room(b)]
    wrong = [(a, b) for a, b in pairs if ROOMS[room(b)] >= ROOMS[room(a)]]
    assert pairs and not wrong, f"imports against the rooms' order: {wrong}"


def test_imports_hold_no_circle():
    edges = _module_imports()
    modules = {m for m in edges if m in edges}
    graph = {m: {b for b in edges[m] if b in modules} for m in modules}
    state, stack, circles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in graph[m]:
            if state.get(n) == 1:
                circles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not circles, f"import circles: {circles}"


def test_the_models_share_their_defaults():
    """LinearSoftmax and TwoLayerNet take the same settings with the same defaults (one
    table, classifier.MODEL_SETTINGS, which their signatures show), and refuse others."""
    import inspect

    from twolayer.nn.linear import LinearSoftmax
    from twolayer.nn.net import TwoLayerNet

    lin, net = inspect.signature(LinearSoftmax).parameters, inspect.signature(TwoLayerNet).parameters
    shared = [k for k in lin if k not in LinearSoftmax.SIZES]
    assert shared == ["std", "bias", "init", "reg_convention", "dtype", "rng", "seed"]
    assert {k: lin[k].default for k in shared} == {k: net[k].default for k in shared}
    for model in (LinearSoftmax(3, 2), TwoLayerNet(3, 4, 2)):
        assert {k: getattr(model, k) for k in ("bias", "init", "std", "reg_convention")} == {
            k: lin[k].default for k in ("bias", "init", "std", "reg_convention")}
        assert model.dtype == lin["dtype"].default
    with pytest.raises(TypeError, match="unexpected keyword arguments: hidden"):
        LinearSoftmax(3, 2, hidden=4)
    # and the study's defaults are the library's, but for the dtype (the study trains in float32)
    assert {k: v for k, v in MODEL_DEFAULTS.items() if k in shared and k != "dtype"} == {
        k: net[k].default for k in ("std", "bias", "init", "reg_convention")}
