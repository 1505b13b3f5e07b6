"""The paper tables' LaTeX: booktabs, right-aligned numbers, labels, plain captions, and it compiles.

The aggregate tables here are built the way the workflow builds them
(metrics records -> :func:`twolayer.study.analysis.aggregate.aggregate` -> ``table.csv``),
with diverged models, step sizes and L2 strengths such as 5e-05 and 1e-06,
and a ``test.json`` as :func:`twolayer.study.analysis.evaluate.evaluate_winner` writes it.

The compile test runs Debian's ``pdflatex`` (apt packages
``texlive-latex-base texlive-latex-recommended``; ``poppler-utils`` for the
optional text check). It is skipped when ``pdflatex`` is missing, unless
``TWOLAYER_REQUIRE_LATEX=1``, in which case it fails."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
from latex_helpers import compile_tex, need_tool, tex_packages

from twolayer.integrity import sealed_record
from twolayer.study.analysis.aggregate import aggregate, read_table, table_columns
from twolayer.study.render.latex import to_latex
from twolayer.study.render.markdown import to_markdown
from twolayer.study.analysis.tables import (
    BUILDERS,
    CAPTIONS,
    TABLES,
    write_tables,
)


# ---------------------------------------------------------------- studies --


FASHION_AXES = ["activation", "hidden", "lr", "reg"]


SPIRAL_AXES = ["model", "hidden", "steps", "lr", "reg"]


SCENARIOS = ("fashion_demo", "spiral_case", "all_diverged", "mnist_paper")


DATASETS = {"fashion_demo": "fashion_mnist", "spiral_case": "spiral", "all_diverged": "fashion_mnist", "mnist_paper": "mnist"}


DATASET_WORDS = {"fashion_mnist": "Fashion-MNIST", "spiral": "spiral", "mnist": "MNIST"}


def _record(study, point, **kw):
    rec = dict.fromkeys(table_columns())
    rec.update(study=study, point=point, init="report", optimizer="sgd", batch_size=1, seed=0, steps_planned=60000,
               n_params=79510, status="ok", steps=60000, final_loss=0.4, best_val_acc=kw.get("val_acc"),
               seconds=12.5, train_seconds=11.0, eval_seconds=1.0, load_seconds=0.5, peak_rss_mb=300.0)
    rec.update(kw)
    if rec["status"] != "ok":
        rec.update(train_acc=None, val_acc=None, best_val_acc=None, final_loss=None)
    return rec


def _fashion_records(study="fashion_demo", every_model_diverges=False):
    recs = []
    accs = iter([0.9787, 0.9731, 0.9702, 0.9655, 0.9612, 0.9588, 0.9501, 0.9433, 0.9399, 0.9321, 0.9287, 0.9104, 0.9003, 0.8998])
    for act, hidden, lr, reg in itertools.product(["relu", "sigmoid"], [100, 200], [5e-05, 0.05], [1e-06, 1e-05]):
        point = f"act~{act}/h~{hidden}/lr~{lr:g}/reg~{reg:g}"
        diverged = every_model_diverges or (act == "relu" and lr == 0.05 and reg == 1e-06)
        if diverged:
            recs.append(_record(study, point, activation=act, hidden=hidden, lr=lr, reg=reg, status="diverged",
                                diverged_step=12 if hidden == 100 else 1234, steps=12))
        else:
            val = next(accs)
            recs.append(_record(study, point, activation=act, hidden=hidden, lr=lr, reg=reg, train_acc=val + 0.0101, val_acc=val,
                                n_params=hidden * 795 + 10))
    return recs


def _spiral_records(study="spiral_case"):
    base = dict(init="cs231n", optimizer="sgd", batch_size=None, activation="relu")
    recs = [_record(study, "model~linear/steps~200/lr~1.0/reg~0.001", model="linear", hidden=None, steps_planned=200, steps=200,
                    lr=1.0, reg=0.001, train_acc=0.5233, val_acc=0.5167, n_params=9, **base)]
    for hidden, reg in itertools.product([25, 100], [0.001, 0.01]):
        val = {25: 0.9633, 100: 0.99}[hidden] - (0.02 if reg == 0.01 else 0.0)
        recs.append(_record(study, f"model~twolayer/h~{hidden}/steps~10000/lr~1.0/reg~{reg:g}", model="twolayer", hidden=hidden,
                            steps_planned=10000, steps=10000, lr=1.0, reg=reg, train_acc=val + 0.005, val_acc=val,
                            n_params=hidden * 6 + 3, **base))
    return recs


def _mnist_paper_records(study="mnist_paper"):
    """The report's 336-model grid (a listing longer than a page)."""
    recs = []
    grid = itertools.product(["relu", "sigmoid"], [150, 180, 200, 225, 250, 275, 300],
                             [1.0e-4, 5.0e-4, 1.0e-3, 1.0e-2, 5.0e-2, 1.0e-1], [1.0e-8, 1.0e-7, 1.0e-6, 1.0e-5])
    for i, (act, hidden, lr, reg) in enumerate(grid):
        point = f"act~{act}/h~{hidden}/lr~{lr:g}/reg~{reg:g}"
        if act == "sigmoid" and lr == 1.0e-1 and reg == 1.0e-8:
            recs.append(_record(study, point, activation=act, hidden=hidden, lr=lr, reg=reg, status="diverged", diverged_step=40 + i, steps=40 + i))
        else:
            val = 0.9 + (i * 37 % 336) / 336 * 0.0887
            recs.append(_record(study, point, activation=act, hidden=hidden, lr=lr, reg=reg, train_acc=min(val + 0.01, 1.0), val_acc=val,
                                n_params=hidden * 795 + 10))
    return recs


def _test_json(study, dataset, winner_json, accuracy):
    winner = json.loads(winner_json.read_text())
    rec = {"study": study, "point": winner.get("point"), "data_file": f"results/data/{dataset}/report.h5"}
    if winner.get("point") is None:
        rec.update(accuracy=None, reason=winner.get("reason", "no winner"))
    else:
        rec.update(model_file=winner["model_file"], hyperparameters=winner["hyperparameters"], val_acc=winner["val_acc"],
                   accuracy=accuracy, n=10000, classes=[str(c) for c in range(10)])
    return rec


def make_study(tmp_path, study):
    """``table.csv``, ``winner.json`` and ``test.json`` of one study, in ``tmp_path``; returns (dir, axes)."""
    recs = {"fashion_demo": _fashion_records, "spiral_case": _spiral_records, "mnist_paper": _mnist_paper_records,
            "all_diverged": lambda: _fashion_records("all_diverged", every_model_diverges=True)}[study]()
    axes = SPIRAL_AXES if study == "spiral_case" else FASHION_AXES
    d = tmp_path / study
    (d / "metrics").mkdir(parents=True)
    files = []
    for i, rec in enumerate(recs):
        f = d / "metrics" / f"{i:04d}.json"
        f.write_text(json.dumps(sealed_record(rec)))  # with its digest, as a training job writes it
        files.append(f)
    aggregate(study, files, None, d / "table.csv", d / "winner.json")
    (d / "test.json").write_text(json.dumps(_test_json(study, DATASETS[study], d / "winner.json", 0.97873)))
    (d / "tables").mkdir()
    return d, axes


def write_all(d, study, axes):
    return {name: write_tables(name, study, d / "table.csv", axes, d / "tables" / name, test_json=d / "test.json") for name in TABLES}


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """study -> (study, dir, axes, {table: DataFrame}), every table written once per study."""
    cache = {}

    def _build(study):
        if study not in cache:
            d, axes = make_study(tmp_path_factory.mktemp("tables"), study)
            cache[study] = study, d, axes, write_all(d, study, axes)
        return cache[study]

    return _build


@pytest.fixture(params=SCENARIOS)
def written(request, build):
    return build(request.param)


@pytest.fixture
def fashion(build):
    return build("fashion_demo")


# ---------------------------------------------------------- LaTeX parsing --


def _spec(tex):
    m = re.search(r"\\begin\{(?:tabular|longtable)\}(?:\[[a-z]\])?\{([^\n]*)\}\n", tex)
    assert m, tex
    return m.group(1).replace("@{}", "")


def _header(tex):
    """Each column's header: the header rows between ``\\toprule`` and ``\\midrule``, joined column by column."""
    block = tex.split("\\toprule\n", 1)[1].split("\\midrule\n", 1)[0]
    rows = []
    for line in block.splitlines():
        if line.startswith(r"\cmidrule"):
            continue
        assert line.endswith(r" \\"), line
        cells = []
        for cell in line[: -len(r" \\")].split(" & "):
            cell = cell.strip()
            m = re.fullmatch(r"\\multicolumn\{(\d+)\}\{[^}]*\}\{(.*)\}", cell)
            m2 = re.fullmatch(r"\\twolayerhead\{\\ragged(?:left|right)\}\{.*?\}\{.*?\}\{(.*)\}", cell)
            if m:
                cells += [m.group(2)] * int(m.group(1))
            else:
                cells.append(m2.group(1) if m2 else cell)
        rows.append(cells)
    assert len({len(r) for r in rows}) == 1, rows
    return [" ".join(c for c in col if c) for col in zip(*rows)]


def _caption(tex):
    """The caption's text (braces balanced)."""
    start = tex.index("\\caption{") + len("\\caption{")
    depth = 1
    for i, ch in enumerate(tex[start:], start):
        depth += {"{": 1, "}": -1}.get(ch, 0) if tex[i - 1] != "\\" else 0
        if depth == 0:
            return tex[start:i]
    raise AssertionError(f"unbalanced caption: {tex}")


NUMERIC_HEADERS = {"Hidden units", "Step size", r"$\lambda$", "Steps", "Accuracy (Val Set, \\%)", "Accuracy (Test Set, \\%)",
                   "Accuracy (\\%) Train", "Accuracy (\\%) Validation", "Test examples"}


TEXT_HEADERS = {"Model", "Activation", "Status", "Hyperparameter", "Values", "Result"}


# ------------------------------------------------------------ properties --


def test_latex_is_paper_grade(written):
    study, d, axes, frames = written
    for name in TABLES:
        tex = (d / "tables" / f"{name}.tex").read_text()
        assert "booktabs" in tex_packages(tex)
        for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
            assert tex.count(rule) >= 1, (name, rule)
        assert not re.search(r"\d(\.\d+)?e[-+]\d", tex), f"{name}: a number in e-notation is left: {tex}"
        label = re.findall(r"\\label\{([^}]*)\}", tex)
        assert label == [f"tab:{study.replace('_', '-')}-{name}"], label
        assert re.fullmatch(r"[A-Za-z0-9:-]+", label[0])
        caption = _caption(tex)
        assert study not in caption and study.replace("_", r"\_") not in caption, caption
        assert "_" not in caption and caption[0].isupper() and caption.endswith("."), caption
        assert DATASET_WORDS[DATASETS[study]] in caption, caption
        header, spec = _header(tex), _spec(tex)
        assert len(spec) == len(header) == len(frames[name].columns), (spec, header)
        assert "lambda" not in [h.lower() for h in header]
        for h, col in zip(header, spec):
            if h in NUMERIC_HEADERS:
                assert col in "rS", f"{name}: numeric column {h!r} is {col!r}"
            else:
                assert h in TEXT_HEADERS and col == "l", f"{name}: column {h!r} is {col!r}"
        if "reg" in axes and name != "table1" and frames[name].columns[0] != "Result":
            assert r"$\lambda$" in header
    listing = (d / "tables" / "listing.tex").read_text()
    assert "longtable" in tex_packages(listing) and r"\endhead" in listing  # a listing may be longer than a page


def test_numbers_are_typeset(fashion):
    study, d, axes, frames = fashion
    t1 = (d / "tables" / "table1.tex").read_text()
    assert r"$5 \times 10^{-5}$, 0.05" in t1 and r"$10^{-6}$, $10^{-5}$" in t1
    assert r"L2 strength $\lambda$ & $10^{-6}$" in t1
    listing = (d / "tables" / "listing.tex").read_text()
    assert r"relu & 100 & 0.05 & $10^{-6}$ & diverged & diverged & diverged at step 12 \\" in listing
    assert r"sigmoid & 200 & $5 \times 10^{-5}$ & $10^{-5}$ & " in listing
    test = (d / "tables" / "test.tex").read_text()
    assert r"& 97.87 & 97.87 & 10\,000 \\" in test
    assert _caption((d / "tables" / "table2.tex").read_text()) == "Top five models by validation accuracy on Fashion-MNIST."


def test_csv_and_markdown_keep_their_content(written):
    """The CSV (read by other code) keeps its columns and values: "lambda", 1e-06, "diverged"."""
    study, d, axes, frames = written
    for name in TABLES:
        csv = pd.read_csv(d / "tables" / f"{name}.csv", dtype=str, keep_default_na=False)
        expected = frames[name].astype(str)
        assert list(csv.columns) == list(expected.columns)
        assert csv.values.tolist() == expected.values.tolist()
        assert (d / "tables" / f"{name}.md").read_text() == f"**{study}: {CAPTIONS[name]}**\n\n" + to_markdown(frames[name])
    if study == "fashion_demo":
        t1 = pd.read_csv(d / "tables" / "table1.csv")
        assert dict(zip(t1["Hyperparameter"], t1["Values"])) == {
            "Activation": "relu, sigmoid", "Hidden units": "100, 200", "Step size": "5e-05, 0.05", "lambda": "1e-06, 1e-05",
            "Models trained": "16"}
        listing = pd.read_csv(d / "tables" / "listing.csv", dtype=str, keep_default_na=False)
        assert list(listing.columns) == ["Activation", "Hidden units", "Step size", "lambda", "Train accuracy (%)", "Val accuracy (%)", "Status"]
        assert listing.iloc[2].tolist() == ["relu", "100", "0.05", "1e-06", "diverged", "diverged", "diverged at step 12"]
        assert "| Activation | Hidden units | Step size | lambda |" in (d / "tables" / "listing.md").read_text()
        test = pd.read_csv(d / "tables" / "test.csv", dtype=str)
        assert test.iloc[0].tolist() == ["relu", "100", "5e-05", "1e-06", "97.87", "97.87", "10000"]


def test_to_latex_on_its_own():
    df = pd.DataFrame({"Name": ["x_y", "50%"], "lambda": ["1e-06", "diverged"], "n": ["12000", "3"]})
    tex = to_latex(df)
    assert tex.splitlines()[0] == r"% requires \usepackage{booktabs}"
    assert "x\\_y" in tex and "50\\%" in tex and r"$10^{-6}$" in tex and r"12\,000" in tex
    assert _spec(tex) == "lrr" and _header(tex) == ["Name", r"$\lambda$", "n"]
    assert r"\label" not in tex and r"\caption" not in tex  # a bare tabular without caption and label
    tex = to_latex(df, caption="A caption", label="tab:a_b c")
    assert r"\caption{A caption}" in tex and r"\label{tab:a-b-c}" in tex
    assert to_markdown(df).splitlines()[0] == "| Name | lambda | n |"
    assert set(BUILDERS) == set(TABLES)


def test_dataset_in_words_without_test_json(tmp_path):
    d, axes = make_study(tmp_path, "fashion_demo")
    write_tables("table1", "fashion_demo", d / "table.csv", axes, d / "tables" / "t1")
    assert _caption((d / "tables" / "t1.tex").read_text()) == "Hyperparameters tested."  # no dataset known: no id either
    write_tables("table1", "fashion_demo", d / "table.csv", axes, d / "tables" / "t1", dataset="cifar10")
    assert _caption((d / "tables" / "t1.tex").read_text()) == "Hyperparameters tested on CIFAR-10."
    assert len(read_table(d / "table.csv")) == 16


# --------------------------------------------------------------- compile --


def test_missing_latex_skips_unless_required(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("TWOLAYER_REQUIRE_LATEX", raising=False)
    with pytest.raises(pytest.skip.Exception, match="pdflatex is not installed"):
        need_tool("pdflatex")
    monkeypatch.setenv("TWOLAYER_REQUIRE_LATEX", "1")
    with pytest.raises(pytest.fail.Exception, match="TWOLAYER_REQUIRE_LATEX=1"):
        need_tool("pdflatex")


def test_every_table_compiles(written, tmp_path):
    study, d, axes, frames = written
    for name in TABLES:
        out = tmp_path / name
        out.mkdir()
        pdf = compile_tex(d / "tables" / f"{name}.tex", out)
        if shutil.which("pdftotext") is None:
            continue
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True, timeout=120).stdout
        caption = " ".join(text.split("Table 1:", 1)[1].split("\n\n", 1)[0].split())
        assert DATASET_WORDS[DATASETS[study]] in caption, text
        assert "See Table 1." in text
        if study == "fashion_demo" and name in ("table2", "test"):
            assert "97.87" in text, text
        if study == "fashion_demo" and name == "listing":
            assert "diverged at step 12" in text and "10−6" in text, text
        if study == "mnist_paper" and name == "listing":
            assert text.count("\f") >= 3 and text.count("Activation") >= 3, "the listing spans pages, the header repeats"
