"""Replicates: seeds per source by SeedSequence spawning, a single run unchanged, the refine stage
through a Snakemake checkpoint, and the statistics of the certainty tables against independent
computations on hand-made results."""

import copy
import hashlib
import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import dry_run, run_snakemake

from twolayer.integrity import sealed_record
from twolayer.study.analysis.aggregate import build_table, point_table, select_top, winner_record
from twolayer.errors import ConfigError
from twolayer.study.plan.config import validate
from twolayer.study.plan.naming import model_id, split_model_id
from twolayer.study.analysis.replication import (
    certainty_frame,
    expected_max_frame,
    variance_frame,
)
from twolayer.study.run.runner import job_seeds
from twolayer.schemas import schema_file

SCHEMA = schema_file("config")  # the package's


def spiral_study(**extra):
    study = {
        "dataset": "spiral", "recipe": "spiral_small", "seed": 3,
        "model": {"init": "cs231n", "std": 0.01, "reg_convention": "half", "dtype": "float64", "activation": "relu"},
        "training": {"batch_size": 20, "sampling": "with_replacement", "log_every": 10, "eval_every": 100, "steps": 300},
        "grid": {"model": ["twolayer"], "hidden": [8, 16], "lr": [0.5, 1.0], "reg": [1.0e-3]},
        **extra,
    }
    return {
        "recipes": {"spiral_small": {"split": {"kind": "generated", "train": 40, "val": 40, "test": 40, "seed": 0},
                                     "normalise": {"kind": "none"}}},
        "studies": {"rep": study},
    }


# ---------------------------------------------------------------- models and seeds


def test_replicate_models_are_named_after_their_point():
    assert model_id("h~8/lr~1.0", 0) == "h~8/lr~1.0"  # replicate 0 is the point itself
    assert model_id("h~8/lr~1.0", 3) == "h~8/lr~1.0/rep~3"
    assert model_id("h~8/lr~1.0", 2, ("init",)) == "h~8/lr~1.0/rep~2/vary~init"
    assert split_model_id("h~8/lr~1.0/rep~2/vary~init") == ("h~8/lr~1.0", 2, ("init",))
    assert split_model_id("h~8/lr~1.0") == ("h~8/lr~1.0", 0, None)
    with pytest.raises(ConfigError, match="a source other than init, order"):
        split_model_id("h~8/rep~1/vary~split")


def test_n_1_leaves_the_job_specs_as_they_were_and_n_adds_replicates():
    plain = validate(spiral_study(), SCHEMA).study("rep")
    one = validate(spiral_study(replicates={"n": 1}), SCHEMA).study("rep")
    three = validate(spiral_study(replicates={"n": 3, "vary": ["order"]}), SCHEMA).study("rep")
    assert plain.models == one.models == [p.id for p in plain.points]
    assert all(plain.spec(p) == one.spec(p) == three.spec(p) for p in plain.models)  # replicate 0: the same job
    assert len(three.models) == 3 * len(plain.points)
    mid = model_id(plain.points[0].id, 2)
    assert three.spec(mid)["replicate"] == {"index": 2, "vary": ["order"], "set": "study"}
    assert set(plain.models) < set(three.models)  # raising n trains only the new replicates


def test_refine_adds_the_top_points_replicates_and_the_winners_sources():
    st = validate(spiral_study(refine={"top": 2, "replicates": 4}), SCHEMA).study("rep")
    top = [st.points[1].id, st.points[3].id]
    more = st.refine_models(top, top[0])
    assert [m for m in more if "vary~" not in m] == [model_id(p, k) for p in top for k in (1, 2, 3)]
    assert [m for m in more if "vary~" in m] == [model_id(top[0], k, (s,)) for s in ("init", "order") for k in (1, 2, 3)]
    with pytest.raises(ConfigError, match="refine.replicates"):
        validate(spiral_study(replicates={"n": 4}, refine={"top": 2, "replicates": 4}), SCHEMA)
    with pytest.raises(ConfigError, match="refine.top: 9 points of a grid of 4"):
        validate(spiral_study(refine={"top": 9, "replicates": 4}), SCHEMA)


def _state(ss):
    return tuple(ss.generate_state(4))


def test_seeds_come_from_seedsequence_spawning_per_source():
    spec = {"seed": 7}
    init0, train0, rec0 = job_seeds(spec)
    root = np.random.SeedSequence(7)
    a, b = root.spawn(2)
    assert (_state(init0), _state(train0)) == (_state(a), _state(b))  # a single run: today's seeds
    assert "replicate" not in rec0
    for k, vary in itertools.product((1, 4), (["init", "order"], ["init"], ["order"])):
        init, train, rec = job_seeds({"seed": 7, "replicate": {"index": k, "vary": vary, "set": "study"}})
        spawned = np.random.SeedSequence(7).spawn(3)[2].spawn(k + 1)[k].spawn(2)  # (init, order) of replicate k
        assert _state(init) == _state(spawned[0] if "init" in vary else a)
        assert _state(train) == _state(spawned[1] if "order" in vary else b)
        assert rec["replicate"] == k and rec["vary"] == vary
        assert rec["init_spawn_key"] == list((spawned[0] if "init" in vary else a).spawn_key)
    i1, _, _ = job_seeds({"seed": 7, "replicate": {"index": 1, "vary": ["init"], "set": "source"}})
    i2, _, _ = job_seeds({"seed": 7, "replicate": {"index": 2, "vary": ["init"], "set": "source"}})
    assert _state(i1) != _state(i2)


# ---------------------------------------------------------------- the tables, on hand-made results


def _metrics(tmp_path, rows):
    files = []
    for i, r in enumerate(rows):
        rec = {"study": "s", "point": r["point"], "hidden": r.get("hidden", 8), "n_params": 10, "status": r.get("status", "ok"),
               "val_acc": r["val_acc"], "train_acc": r["val_acc"], "final_loss": 0.1}
        if r.get("replicate"):
            rec.update(replicate=r["replicate"], vary=r.get("vary", "init+order"), replicate_set=r.get("set", "study"))
        f = tmp_path / f"m{i}" / "metrics.json"
        f.parent.mkdir()
        f.write_text(json.dumps(sealed_record(rec)))  # with its digest, as a training job writes it
        files.append(f)
    return files


VALS = {"a": [0.90, 0.92, 0.91, 0.95], "b": [0.89, 0.93, 0.90], "c": [0.70, 0.72, 0.69, 0.71], "d": [0.95]}


def _replicated(tmp_path):
    rows = []
    for p, vals in VALS.items():
        rows += [{"point": p, "val_acc": v, "replicate": k} for k, v in enumerate(vals)]
    rows += [{"point": "a", "val_acc": v, "replicate": k, "vary": "init", "set": "source"} for k, v in ((1, 0.80), (2, 0.85))]
    rows.append({"point": "b", "val_acc": 0.1, "replicate": 3, "status": "diverged"})
    return build_table(_metrics(tmp_path, rows))


def test_point_table_means_std_and_t_interval(tmp_path):
    models = _replicated(tmp_path)
    t = point_table(models).set_index("point")
    a = np.array(VALS["a"])
    assert t.loc["a", "val_acc"] == pytest.approx(a.mean()) and t.loc["a", "val_acc_std"] == pytest.approx(a.std(ddof=1))
    half = 3.182446 * a.std(ddof=1) / 2  # t_{0.975, 3} from a table
    assert t.loc["a", "val_acc_ci_low"] == pytest.approx(a.mean() - half, abs=1e-6)
    assert t.loc["a", "replicates"] == 4 and t.loc["a", "val_acc_run0"] == 0.90  # the source-alone models are not in it
    assert t.loc["b", "replicates"] == 4 and t.loc["b", "replicates_ok"] == 3  # the diverged one is left out of the mean
    assert t.loc["b", "val_acc"] == pytest.approx(np.mean(VALS["b"]))
    # the winner: the best mean among the points with the most replicates (d's single 0.95 does not compete)
    rec = winner_record(point_table(models), "s", models)
    assert rec["point"] == "a" and len(rec["replicate_model_files"]) == 4


def test_certainty_frame_is_the_pairwise_probability(tmp_path):
    models = _replicated(tmp_path)
    table = point_table(models)
    cert = certainty_frame(table, models, {"point": "a"}, seed=0).set_index("point")
    a, b, c = (np.array(VALS[p]) for p in "abc")
    brute = np.mean([1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b])  # all 12 pairs (b: 3 did not diverge)
    assert cert.loc["b", "p_winner_better"] == pytest.approx(brute)
    assert cert.loc["c", "p_winner_better"] == 1.0 and cert.loc["c", "verdict"] == "winner better"
    assert cert.loc["b", "verdict"] == "cannot be told apart"
    assert cert.loc["a", "verdict"] == "winner" and list(cert.index) == ["a", "b", "c"]


def test_variance_by_source_groups_the_winners_replicates(tmp_path):
    var = variance_frame(_replicated(tmp_path), "a").set_index("source")
    init = np.array([0.90, 0.80, 0.85])  # replicate 0 and the two init-alone replicates
    assert var.loc["initial weights alone", "std"] == pytest.approx(init.std(ddof=1))
    assert var.loc["both", "mean"] == pytest.approx(np.mean(VALS["a"])) and var.loc["both", "models"] == 4
    assert "example order alone" not in var.index  # none trained


def test_expected_max_uses_the_grids_single_runs(tmp_path):
    table = point_table(_replicated(tmp_path))
    df = expected_max_frame(table)
    runs = sorted([VALS[p][0] for p in "abcd"])  # replicate 0 of each point
    for k in (1, 2, 3):
        brute = np.mean([max(t) for t in itertools.product(runs, repeat=k)])
        assert df.loc[df["k"] == k, "expected_max_val_acc"].item() == pytest.approx(brute)


def test_select_top_ranks_the_grid(tmp_path):
    files = _metrics(tmp_path, [{"point": p, "val_acc": v} for p, v in (("x", 0.5), ("y", 0.9), ("z", 0.7))])
    rec = select_top("s", files, 2, tmp_path / "refine.json")
    assert rec["top"] == ["y", "z"] and rec["grid_winner"] == "y"


# ---------------------------------------------------------------- a real Snakemake run


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.integration
def test_replicates_and_refine_in_snakemake(tmp_path):
    """n: 1, then n: 2 (only the new replicates train; replicate 0 stays bit-identical), then a
    refine stage through the checkpoint: the top points' replicates and the sources alone."""
    cfg = spiral_study()
    # the files this test reads (the figures but one, the replay and the pages add jobs only)
    run_snakemake(tmp_path, cfg, "--cores", "2", "results/rep/table.csv")
    base = {p: _sha(tmp_path / "results/rep/models" / p / "model.h5")
            for p in validate(cfg, SCHEMA).study("rep").models}
    table1 = pd.read_csv(tmp_path / "results/rep/table.csv")
    assert "replicates" not in table1  # a single run: the table as before

    cfg2 = copy.deepcopy(cfg)
    cfg2["studies"]["rep"]["replicates"] = {"n": 2}
    counts, _ = dry_run(tmp_path, cfg2)
    assert counts["train"] == 4  # one new replicate per point, nothing retrained

    cfg3 = copy.deepcopy(cfg2)
    cfg3["studies"]["rep"]["refine"] = {"top": 2, "replicates": 3}
    run_snakemake(tmp_path, cfg3, "--cores", "2", *(f"results/rep/{f}" for f in (
        "test.json", "certainty/certainty.csv", "certainty/variance.csv", "figures/certainty.png")))
    assert all(_sha(tmp_path / "results/rep/models" / p / "model.h5") == h for p, h in base.items())  # replicate 0 kept
    chosen = json.loads((tmp_path / "results/rep/refine.json").read_text())
    models = pd.read_csv(tmp_path / "results/rep/replicates.csv")
    # the grid: 4 points x 2; refine: 2 top points x 1 more, the grid winner 2 x 2 sources alone
    assert len(models) == 8 + 2 + 4
    assert set(models[models["replicate"] == 2]["point"]) == set(chosen["top"])
    table = pd.read_csv(tmp_path / "results/rep/table.csv").set_index("point")
    assert all(table.loc[p, "replicates"] == 3 for p in chosen["top"])
    winner = json.loads((tmp_path / "results/rep/winner.json").read_text())
    assert winner["point"] in chosen["top"]
    assert winner["val_acc"] == pytest.approx(table.loc[chosen["top"], "val_acc"].max())
    test = json.loads((tmp_path / "results/rep/test.json").read_text())
    assert test["replicates"]["n"] == 3 and test["accuracy"] == test["replicates"]["accuracies"][0]
    cert = pd.read_csv(tmp_path / "results/rep/certainty/certainty.csv")
    assert len(cert) == 2 and cert["verdict"].iloc[0] == "winner"
    var = pd.read_csv(tmp_path / "results/rep/certainty/variance.csv")
    assert list(var["source"]) == ["initial weights alone", "example order alone", "both"]
    assert (tmp_path / "results/rep/figures/certainty.png").stat().st_size > 0
    counts, _ = dry_run(tmp_path, cfg3)
    assert counts.get("train", 0) == 0  # nothing left to do


def test_the_console_board_counts_the_refine_stages_jobs_and_says_done_once(tmp_path):
    from twolayer.study.run.board import Board

    m = tmp_path / "metrics.json"
    m.write_text(json.dumps({"status": "ok", "val_acc": 0.5}))
    # a grid of 2 points whose refine stage adds 2 models once its checkpoint has chosen them
    board = Board({"s": 4}, clock=iter(range(100)).__next__, pending_refine=2)
    board.run_started(2, checkpoints=1)  # Snakemake's job stats before the checkpoint: the grid's 2 jobs
    board.job_started()
    lines = [board.job_finished("s", p, m) for p in ("a", "b", "a/rep~1", "b/rep~1")]
    assert [re.search(r"this run: (\d+)/(\d+) trained", line).groups() for line in lines] == [
        ("1", "4"), ("2", "4"), ("3", "4"), ("4", "4")]
    assert [line.endswith(", done") for line in lines] == [False, False, False, True]
    assert [re.search(r"s: (\d+)/(\d+) models", line).groups() for line in lines] == [
        ("1", "4"), ("2", "4"), ("3", "4"), ("4", "4")]


def test_the_console_board_counts_every_model_on_disk_refine_stage_included(tmp_path):
    """A rerun that reuses a refine stage's replicates starts from every model of the study."""
    from twolayer.study.run.board import Board
    from twolayer.study.plan.config import validate

    cfg = {"studies": {"s": {"dataset": "spiral", "recipe": "spiral", "model": {"hidden": 4},
                             "training": {"steps": 5, "batch_size": 10},
                             "refine": {"top": 2, "replicates": 3},
                             "grid": {"lr": [0.1, 0.2, 0.3], "reg": [0.0]}}}}
    plan = validate(cfg, SCHEMA)
    study = plan.study("s")
    assert study.refine_count == 2 * 2 + 2 * 2  # top 2 to 3 replicates; the winner 2 more per source
    top = [study.points[0].id, study.points[1].id]
    extra = study.refine_models(top, top[0])
    res = tmp_path / "results" / "s"
    for mid in [*study.models, *extra]:
        (res / "models" / mid).mkdir(parents=True)
        (res / "models" / mid / "metrics.json").write_text(json.dumps({"val_acc": 0.5}))
    board = Board.from_plan(plan, tmp_path)
    assert board.totals["s"] == 3 + 8 and len(board.done["s"]) == 3  # refine.json not written: its models unknown
    assert board.pending_refine == 8
    (res / "refine.json").write_text(json.dumps({"top": top, "grid_winner": top[0]}))
    board = Board.from_plan(plan, tmp_path)
    assert len(board.done["s"]) == 11 and board.pending_refine == 0
    assert board.line("s").startswith("[twolayer] s: 11/11 models")


def test_the_schema_names_the_sources_the_seeds_know():
    import yaml

    from twolayer.study.plan.axes import SOURCES

    schema = yaml.safe_load(SCHEMA.read_text())
    vary = schema["$defs"]["study"]["properties"]["replicates"]["properties"]["vary"]["items"]["enum"]
    assert tuple(vary) == SOURCES


def test_replicate_tables_typeset_in_latex(tmp_path):
    import shutil
    import subprocess

    from latex_helpers import compile_tex

    from twolayer.study.analysis.aggregate import write_table
    from twolayer.study.analysis.replication import write_replication
    from twolayer.study.analysis.tables import write_tables

    models = _replicated(tmp_path)
    models["lr"], models["reg"], models["activation"] = 0.05, 1e-5, "sigmoid"
    table = point_table(models)
    write_table(table, tmp_path / "table.csv")
    write_table(models, tmp_path / "replicates.csv")
    (tmp_path / "winner.json").write_text(json.dumps(winner_record(table, "s", models)))
    write_replication("s", tmp_path / "table.csv", tmp_path / "replicates.csv", tmp_path / "winner.json", tmp_path / "c",
                      axes=["activation", "hidden", "lr", "reg"])
    write_tables("table2", "s", tmp_path / "table.csv", ["hidden", "lr", "reg"], tmp_path / "c" / "table2")
    md = (tmp_path / "c" / "certainty.md").read_text()
    assert "| a | 4 | 92.00 ± 2.16 |  | winner |" in md  # a = [.90, .92, .91, .95]: mean, std; no axis varies: point names
    assert "| c | 4 | 70.50 ± 1.29 | 1.00 [1.00, 1.00] | worse |" in md
    assert "Accuracy (Val Set, %, mean ± std)" in (tmp_path / "c" / "table2.md").read_text()
    for name in ("certainty", "variance", "table2"):
        out = tmp_path / f"build-{name}"
        out.mkdir()
        pdf = compile_tex(tmp_path / "c" / f"{name}.tex", out)
        if shutil.which("pdftotext"):
            text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True,
                                  timeout=120).stdout
            assert "±" in text, name
