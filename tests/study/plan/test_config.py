"""Config validation, grid expansion and job specs, without Snakemake."""

import copy
import json

import pytest
import yaml
from workflow_helpers import REPO

from twolayer.errors import ConfigError
from twolayer.study.plan.config import load, validate
from twolayer.study.plan.naming import format_value, parse_point, point_id
from twolayer.schemas import schema_file

SCHEMA = schema_file("config")  # the package's


@pytest.fixture
def default():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def problems_of(cfg):
    with pytest.raises(ConfigError) as err:
        validate(cfg, SCHEMA)
    return str(err.value)


def test_default_and_demo_configs_are_valid():
    plan = load(REPO / "config" / "config.yaml", SCHEMA)
    assert {n: len(s.points) for n, s in plan.studies.items()} == {
        "mnist_paper": 336,
        "mnist_bias": 1,  # the report's section 5
        "cifar10_default": 2,  # 000_'s default run (reg 0.25) and 001_'s (reg 0.5)
        "cifar10_001": 6,  # 001_'s grid: 2 step sizes x 3 strengths
        "cifar10_cs231n": 27,
        "fashion_mnist": 336,
        "spiral": 10,
    }
    demo = load(REPO / "config" / "demo.yaml", SCHEMA)
    assert set(demo.studies) == {"spiral", "fashion_demo"}


def test_report_grid_uses_0_05_not_table1s_0_5(default):
    plan = validate(default, SCHEMA)
    lrs = sorted({p.values["lr"] for p in plan.study("mnist_paper").points})
    assert lrs == [1e-4, 5e-4, 1e-3, 1e-2, 5e-2, 1e-1]


def test_point_names_are_readable_and_round_trip():
    values = {"activation": "sigmoid", "hidden": 275, "lr": 0.05, "reg": 1e-05}
    pid = point_id(values)
    assert pid == "act~sigmoid/h~275/lr~0.05/reg~1e-05"  # the example path
    assert parse_point(pid) == values
    assert format_value(0.1 + 0.2) == "0.30000000000000004"  # exact, never rounded
    assert parse_point(point_id({"lr": 0.1 + 0.2}))["lr"] == 0.1 + 0.2
    with pytest.raises(ConfigError, match="not '<axis>~<value>'"):
        parse_point("act=relu")


def test_job_spec_resolves_every_setting(default):
    plan = validate(default, SCHEMA)
    spec = plan.study("mnist_paper").spec("act~sigmoid/h~275/lr~0.05/reg~1e-05")
    assert spec["model"] == {
        "kind": "twolayer", "activation": "sigmoid", "hidden": 275, "init": "report", "std": 1e-4,
        "bias": False, "reg_convention": "full", "dtype": "float32",
    }
    t = spec["training"]
    assert (t["lr"], t["reg"], t["steps"], t["batch_size"]) == (0.05, 1e-5, 240000, 1)
    assert t["schedule"] == {"name": "exponential", "gamma": 0.9, "decay_steps": 10000}
    assert spec["recipe_spec"]["split"] == {"kind": "random", "val": 5000, "seed": 0}
    assert spec["dataset"] == "mnist" and spec["seed"] == 0
    json.dumps(spec)  # it travels as JSON
    lin = plan.study("spiral").spec("model~linear/steps~200/lr~1.0/reg~0.001")
    assert lin["model"]["kind"] == "linear" and "hidden" not in lin["model"]
    assert lin["training"]["steps"] == 200
    with pytest.raises(ConfigError, match="has no grid point"):
        plan.study("mnist_paper").spec("act~relu/h~999/lr~0.05/reg~1e-05")


def test_adding_a_value_keeps_the_other_point_names(default):
    before = {p.id for p in validate(default, SCHEMA).study("cifar10_cs231n").points}
    bigger = copy.deepcopy(default)
    bigger["studies"]["cifar10_cs231n"]["grid"]["hidden"].append(250)
    after = {p.id for p in validate(bigger, SCHEMA).study("cifar10_cs231n").points}
    assert before < after and len(after - before) == 9


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c["studies"]["spiral"].update(grid={"model": ["linear"], "hidden": [5], "lr": [1.0]}), "mean nothing for model 'linear'"),
        (lambda c: c["studies"]["cifar10_cs231n"]["grid"].pop("hidden"), "needs a hidden size"),
        (lambda c: c["studies"]["cifar10_cs231n"].update(recipe="spiral"), "does not fit dataset 'cifar10'"),
        (lambda c: c["studies"]["cifar10_cs231n"].update(recipe="nope"), "unknown recipe 'nope'"),
        (lambda c: c["studies"]["spiral"].update(grid=[{"model": ["linear"], "lr": [1.0]}, {"model": ["linear"], "lr": [1.0]}]), "appears twice"),
        (lambda c: c["studies"]["cifar10_cs231n"]["training"].update(schedule={"name": "cosine"}), "'cosine' is not one of: constant, step, exponential"),
        (lambda c: c["studies"]["cifar10_cs231n"]["training"].update(schedule={"name": "exponential", "gamma": 0.9}), "'decay_steps' is a required property"),
        (lambda c: c.update(datasets={"mine": {"format": "idx", "classes": ["a", "b"], "files": {}}}), "datasets.mine: dataset 'mine': an idx dataset needs files"),
    ],
)
def test_semantic_problems_name_their_key(default, mutate, expected):
    mutate(default)
    assert expected in problems_of(default)


def test_all_problems_are_reported_at_once(default):
    default["studies"]["spiral"]["training"]["steps"] = 0
    default["studies"]["cifar10_cs231n"]["grid"]["lr"] = [0]
    msg = problems_of(default)
    assert "studies.spiral.training.steps: 0 is less than the minimum of 1" in msg
    assert "studies.cifar10_cs231n.grid.lr[0]: 0 is less than or equal to the minimum of 0" in msg


def test_numbers_are_canonical_by_their_schema_type(default):
    """The same settings spelled 30 or 30.0 (or 400 and 400.0) give identical job specs."""
    plain = validate(default, SCHEMA)
    spelled = copy.deepcopy(default)
    spelled["download"]["timeout"] = 30.0 if isinstance(default["download"]["timeout"], int) else 30
    t = spelled["studies"]["fashion_mnist"]["training"]
    t["steps"] = float(t["steps"])  # an integer written as a float
    t["schedule"] = dict(reversed(list(t["schedule"].items())))  # key order
    other = validate(spelled, SCHEMA)
    assert plain.download == other.download == {"timeout": 30.0, "retries": 2, "deadline": 3600.0, "max_bytes": 2 << 30}
    assert isinstance(other.download["timeout"], float) and isinstance(other.download["retries"], int)
    for pid in [p.id for p in plain.study("fashion_mnist").points][:5]:
        assert plain.spec_json("fashion_mnist", pid) == other.spec_json("fashion_mnist", pid)
    spec = json.loads(other.spec_json("fashion_mnist", pid))
    assert type(spec["training"]["steps"]) is int and type(spec["training"]["schedule"]["gamma"]) is float


MOMENTUM_STUDY = {
    "dataset": "spiral",
    "recipe": "spiral",
    "seed": 1,
    "model": {"hidden": 8},
    "training": {"steps": 40, "batch_size": 30, "lr": 0.5, "log_every": 10, "eval_every": 20,
                 "optimizer": {"name": "momentum", "mu": 0.5}},
    "grid": {"optimizer": ["sgd", "momentum"], "reg": [1.0e-3]},
}


def test_an_optimizer_axis_gives_training_optimizers_settings_to_its_points_only():
    plan = validate({"studies": {"mom": copy.deepcopy(MOMENTUM_STUDY)}}, SCHEMA)
    st = plan.study("mom")
    opts = {p.id: st.spec(p.id)["training"]["optimizer"] for p in st.points}
    assert opts == {"opt~sgd/reg~0.001": {"name": "sgd"}, "opt~momentum/reg~0.001": {"name": "momentum", "mu": 0.5}}


def test_check_config_refuses_settings_a_job_would_refuse():
    study = copy.deepcopy(MOMENTUM_STUDY)
    study["training"]["optimizer"] = {"name": "sgd", "mu": 0.9}  # the schema allows mu; SGD has no settings
    study["grid"] = {"reg": [1.0e-3]}
    msg = problems_of({"studies": {"bad": study}})
    assert "studies.bad grid point reg~0.001: optimizer 'sgd' got settings ['mu']" in msg


def test_a_job_refuses_such_settings_in_one_line(tmp_path):
    """The training job runs the same check first: one error line, no traceback, nothing written."""
    import subprocess

    plan = validate({"studies": {"mom": copy.deepcopy(MOMENTUM_STUDY)}}, SCHEMA)
    spec = plan.study("mom").spec("opt~sgd/reg~0.001")
    spec["training"]["optimizer"] = {"name": "sgd", "mu": 0.9}
    r = subprocess.run(["twolayer", "train", "--spec", json.dumps(spec), "--data", str(tmp_path / "absent.h5"),
                        "--model", str(tmp_path / "m.h5"), "--metrics", str(tmp_path / "m.json")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: studies.mom grid point opt~sgd/reg~0.001: optimizer 'sgd' got settings ['mu']; its settings are: (none)"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_an_optimizer_axis_trains_through_snakemake(tmp_path):
    import h5py
    import pandas as pd
    from workflow_helpers import run_snakemake

    run_snakemake(tmp_path, {"studies": {"mom": copy.deepcopy(MOMENTUM_STUDY)}}, "--cores", "2",
                  "results/mom/table.csv")
    table = pd.read_csv(tmp_path / "results/mom/table.csv").set_index("optimizer")
    assert sorted(table.index) == ["momentum", "sgd"] and set(table["status"]) == {"ok"}
    for point, expected in (("opt~sgd/reg~0.001", {"name": "sgd"}), ("opt~momentum/reg~0.001", {"name": "momentum", "mu": 0.5})):
        with h5py.File(tmp_path / "results/mom/models" / point / "model.h5") as f:
            assert json.loads(f.attrs["train_settings"])["optimizer"] == expected
    # momentum is not SGD: the same seeds give other weights
    assert table.loc["momentum", "final_loss"] != table.loc["sgd", "final_loss"]


def test_anchors_that_expand_are_refused_in_a_short_message(tmp_path, default):
    """Aliases of aliases (ten times more per level) are refused before the schema spells them out."""
    levels = ["l0: &l0 [a, b, c, d, e, f, g, h, i, j]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 7)]
    text = "\n".join(levels) + "\n" + yaml.safe_dump(default, sort_keys=False).replace(
        "datasets:", "datasets:\n  bomb: {format: idx, classes: *l6, files: {}}", 1)
    assert len(text) < 20_000
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(path, SCHEMA)
    msg = str(err.value)
    assert len(msg) < 500 and str(path) in msg
    assert "l4 holds more than 100,000 values once its YAML aliases (*name) are written out" in msg  # l4 is 10^5 values
    path.write_text("me: &me [1, *me]\n")
    with pytest.raises(ConfigError, match=r"me\[1\] contains itself \(a YAML alias inside its own anchor\)"):
        load(path, SCHEMA)


def test_a_long_value_is_shown_in_part(default):
    cfg = copy.deepcopy(default)
    cfg["raw_dirs"] = {f"dir{i}": f"/data/{i}" for i in range(2000)}  # a mapping where a list belongs
    msg = problems_of(cfg)
    line = next(p for p in msg.splitlines() if p.strip().startswith("raw_dirs:"))
    assert len(line) < 500
    assert line.strip().startswith("raw_dirs: {'dir0': '/data/0'") and line.endswith("is not of type 'array'")
    assert "characters ...]" in line


def test_check_config_runs_from_any_directory(tmp_path):
    """The schemas ship in the package (importlib.resources): the CLI needs no repository
    layout and no working directory, and counts the demo's jobs from anywhere."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "twolayer", "check-config", str(REPO / "config" / "demo.yaml")],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    plan = load(REPO / "config" / "demo.yaml")
    jobs = sum(len(s.models) for s in plan.studies.values())
    assert f"valid; {jobs} training jobs" in out.stdout
