"""What the figures show, tested through the arrays and labels their drawers compute (never pixels).

Each test compares a figure's arrays with an independent computation: the heat
map's cells with the table's val_acc pivoted by pandas, the decision-boundary
grid with the model's own predictions, the weight pictures with NumPy on the
stored weights. Drawing every figure also checks that no text in it is
smaller than the style's minimum size.
"""

import itertools
import json
from types import SimpleNamespace

import h5py
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import train_study_by_jobs
from matplotlib.text import Text

from twolayer.integrity import seal
from twolayer.study.analysis.aggregate import ranked, read_table, table_columns
from twolayer.study.report.figures import draw
from twolayer.study.report.figures.data_figs import boundary_grid, boundary_panels
from twolayer.study.report.figures.heatmap import (
    confusion_data,
    draw_confusion,
    draw_heatmap,
    heatmap_data,
)
from twolayer.study.render.labels import NBSP, describe, fmt_number, fmt_numbers
from twolayer.study.report.figures.report_figs import draw_w1_pca_report, draw_w2_report
from twolayer.study.report.figures.style import SMALL, TITLE_SIZE, style
from twolayer.study.report.figures.weights import (
    class_templates,
    draw_templates,
    draw_w1_images,
    draw_w1_pca,
    draw_w2,
    w1_images,
)

# ---------------------------------------------------------------- helpers


def plain(text):
    return text.replace(NBSP, " ")


def write_table(tmp_path, rows, name="table.csv"):
    """A study table (the aggregate's columns) from dicts of hyperparameters and outcomes."""
    base = {"status": "ok", "init": "cs231n", "optimizer": "sgd", "seed": 0, "n_params": 10}
    full = []
    for r in rows:
        r = {**base, **r}
        axes = ("model", "activation", "hidden", "steps_planned", "lr", "reg")
        r["point"] = "/".join(f"{k}~{r[k]}" for k in axes if r.get(k) is not None)
        if r["status"] != "ok":
            r["val_acc"] = None
        full.append(r)
    df = pd.DataFrame(full)
    for c in table_columns():
        if c not in df:
            df[c] = None
    path = tmp_path / name
    df[table_columns()].to_csv(path, index=False)
    return path


def small_texts(fig):
    """Every non-empty text of a drawn figure smaller than the style's minimum."""
    fig.canvas.draw()
    return [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text) if t.get_text().strip() and t.get_fontsize() < SMALL]


def spiral_table(tmp_path):
    """The spiral study's layout: a linear model at one λ, two-layer nets of two sizes at two λ, one diverged."""
    rows = [{"model": "linear", "steps_planned": 200, "lr": 1.0, "reg": 1e-3, "val_acc": 0.51}]
    rows += [{"model": "twolayer", "activation": "relu", "hidden": h, "steps_planned": 10000, "lr": 1.0, "reg": reg,
              "val_acc": 0.5 + h / 1000 + reg, "status": "diverged" if (h, reg) == (25, 1e-2) else "ok"}
             for h, reg in itertools.product([25, 100], [1e-3, 1e-2])]
    return write_table(tmp_path, rows)


def report_table(tmp_path):
    """The report's layout (activation x hidden x lr x reg) with diverged models and one point never run."""
    rng = np.random.default_rng(0)
    rows = []
    for act, h, lr, reg in itertools.product(["relu", "sigmoid"], [150, 200, 250], [1e-4, 1e-2, 5e-2], [1e-8, 1e-6]):
        if (act, h, lr, reg) == ("sigmoid", 250, 1e-4, 1e-8):
            continue  # never run
        status = "diverged" if act == "relu" and lr == 5e-2 else "ok"
        rows.append({"model": "twolayer", "activation": act, "hidden": h, "lr": lr, "reg": reg, "status": status,
                     "val_acc": rng.uniform(0.8, 0.99), "steps_planned": 240000, "batch_size": 1})
    return write_table(tmp_path, rows)


# ---------------------------------------------------------------- labels


def test_numbers_are_written_as_in_a_paper():
    assert [fmt_number(v) for v in (0.05, 1.0, 0.3, 1e-3, 5e-6, 1e6, 0)] == ["0.05", "1", "0.3", "10⁻³", "5×10⁻⁶", "10⁶", "0"]
    # one notation per axis: 0.01 follows 10⁻³
    assert fmt_numbers([1e-4, 5e-4, 1e-3, 1e-2, 5e-2]) == ["10⁻⁴", "5×10⁻⁴", "10⁻³", "10⁻²", "5×10⁻²"]
    assert fmt_numbers([0.3, 0.4, 0.5]) == ["0.3", "0.4", "0.5"]


def test_models_are_described_by_their_hyperparameters():
    two = {"model": "twolayer", "activation": "relu", "hidden": 100, "lr": 1.0, "reg": 1e-3}
    assert plain(describe(two, ["model", "hidden", "reg"])) == "Two-layer net (100 hidden units, λ = 10⁻³)"
    assert plain(describe(two)) == "Two-layer net (ReLU, 100 hidden units, η = 1, λ = 10⁻³)"
    lin = {"model": "linear", "activation": None, "hidden": np.nan, "lr": 1.0, "reg": 1e-3}
    assert plain(describe(lin, ["model", "hidden", "reg"])) == "Linear softmax (λ = 10⁻³)"  # no hidden units
    assert plain(describe({"activation": "sigmoid", "hidden": 150}, ["activation", "hidden"])) == "sigmoid, 150 hidden units"
    assert " " not in describe(two, ["reg"])  # one value never wraps across lines


# ---------------------------------------------------------------- heat map


def expected_pivot(df, index, columns):
    """val_acc (%) of the models that did not diverge, pivoted; and which cells hold any model."""
    ok = df[df["status"] == "ok"]
    acc = 100 * ok.pivot_table(index=index, columns=columns, values="val_acc", aggfunc="first", dropna=False)
    present = df.pivot_table(index=index, columns=columns, values="point", aggfunc="count", dropna=False)
    diverged = df[df["status"] != "ok"].pivot_table(index=index, columns=columns, values="point", aggfunc="count", dropna=False)
    return acc, present, diverged


def test_heatmap_of_the_report_grid_is_val_acc_pivoted_per_panel(tmp_path):
    df = read_table(report_table(tmp_path))
    hd = heatmap_data(df)
    assert (hd.row_axis, hd.col_axis, hd.facet_axes) == ("lr", "reg", ["activation", "hidden"])
    assert hd.row_labels == ["5×10⁻²", "10⁻²", "10⁻⁴"]  # largest step size on top
    assert hd.col_labels == ["10⁻⁸", "10⁻⁶"]
    assert [plain(p.title) for p in hd.panels][:2] == ["ReLU, 150 hidden units", "ReLU, 200 hidden units"]
    # one row of panels per activation, hidden sizes across
    assert hd.positions == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] and hd.shape == (2, 3)
    lrs, regs = [5e-2, 1e-2, 1e-4], [1e-8, 1e-6]
    for panel, (act, h) in zip(hd.panels, itertools.product(["relu", "sigmoid"], [150, 200, 250])):
        sub = df[(df["activation"] == act) & (df["hidden"] == h)]
        acc, present, diverged = (t.reindex(index=lrs, columns=regs) for t in expected_pivot(sub, "lr", "reg"))
        np.testing.assert_allclose(panel.acc, acc.to_numpy(dtype=float), equal_nan=True)
        np.testing.assert_array_equal(panel.not_run, present.fillna(0).to_numpy() == 0)
        np.testing.assert_array_equal(panel.diverged, diverged.fillna(0).to_numpy() > 0)
    last = hd.panels[-1]  # sigmoid, 250: the point never run is "not run", not diverged
    assert last.not_run[2, 0] and not last.diverged[2, 0] and np.isnan(last.acc[2, 0]) and last.not_run.sum() == 1
    assert sum(p.diverged.sum() for p in hd.panels) == (df["status"] == "diverged").sum() == 6
    ok = df.loc[df["status"] == "ok", "val_acc"]
    assert (hd.vmin, hd.vmax) == pytest.approx((100 * ok.min(), 100 * ok.max()))


def test_heatmap_of_the_spiral_grid_has_one_row_per_model(tmp_path):
    """The spiral's grid does not vary η: one panel, a row per model kind and size, columns λ."""
    df = read_table(spiral_table(tmp_path))
    hd = heatmap_data(df)
    assert (hd.row_axis, hd.col_axis, hd.facet_axes) == (None, "reg", [])
    assert hd.config_axes == ["model", "hidden", "steps_planned"]
    assert [plain(r) for r in hd.row_labels] == ["Linear softmax (200 steps)", "Two-layer net\n(25 hidden units, 10,000 steps)",
                                                 "Two-layer net\n(100 hidden units, 10,000 steps)"]
    assert hd.col_labels == ["10⁻³", "10⁻²"] and len(hd.panels) == 1
    assert plain(hd.fixed and describe(hd.fixed, ["activation", "lr"])) == "ReLU, η = 1"
    p = hd.panels[0]
    df = df.assign(config=[f"{m}{h}" for m, h in zip(df["model"], df["hidden"].fillna(0))])
    acc, present, diverged = (t.reindex(index=["linear0", "twolayer25", "twolayer100"], columns=[1e-3, 1e-2])
                              for t in expected_pivot(df, "config", "reg"))
    np.testing.assert_allclose(p.acc, acc.to_numpy(dtype=float), equal_nan=True)
    np.testing.assert_array_equal(p.not_run, present.fillna(0).to_numpy() == 0)
    np.testing.assert_array_equal(p.diverged, diverged.fillna(0).to_numpy() > 0)
    assert p.not_run.tolist() == [[False, True], [False, False], [False, False]]  # linear at λ = 0.01: not in the grid
    assert p.diverged.tolist() == [[False, False], [False, True], [False, False]]
    assert p.points[0, 0] == "model~linear/steps_planned~200/lr~1.0/reg~0.001"


def test_heatmap_when_only_the_step_size_varies(tmp_path):
    rows = [{"model": "linear", "lr": 1.0, "reg": 1e-3, "val_acc": 0.5},
            {"model": "twolayer", "hidden": 20, "activation": "relu", "lr": 1.0, "reg": 1e-3, "val_acc": 0.9},
            {"model": "twolayer", "hidden": 20, "activation": "relu", "lr": 1e6, "reg": 1e-3, "status": "diverged"}]
    hd = heatmap_data(read_table(write_table(tmp_path, rows)))
    assert (hd.row_axis, hd.col_axis, hd.col_labels) == (None, "lr", ["1", "10⁶"])
    assert [plain(r) for r in hd.row_labels] == ["Linear softmax", "Two-layer net"]
    p = hd.panels[0]
    np.testing.assert_allclose(p.acc, [[50.0, np.nan], [90.0, np.nan]])
    assert p.not_run.tolist() == [[False, True], [False, False]] and p.diverged.tolist() == [[False, False], [False, True]]


def test_heatmap_of_a_single_model(tmp_path):
    hd = heatmap_data(read_table(write_table(tmp_path, [{"model": "twolayer", "hidden": 5, "lr": 0.1, "reg": 0.0, "val_acc": 0.7}])))
    assert len(hd.panels) == 1 and hd.panels[0].acc.tolist() == [[70.0]] and (hd.row_axis, hd.col_axis) == (None, None)


def test_figures_when_every_model_diverged(tmp_path):
    rows = [{"model": "twolayer", "hidden": 5, "lr": lr, "reg": 0.1, "status": "diverged"} for lr in (1e3, 1e4)]
    table = write_table(tmp_path, rows)
    hd = heatmap_data(read_table(table))
    assert hd.panels[0].diverged.all() and np.isnan(hd.panels[0].acc).all() and (hd.vmin, hd.vmax) == (0.0, 100.0)
    (tmp_path / "winner.json").write_text(json.dumps({"study": "s", "point": None}))
    (tmp_path / "test.json").write_text(json.dumps({"study": "s", "point": None, "accuracy": None}))
    for name in ("heatmap", "curves", "confusion", "w2"):
        draw(name, tmp_path / f"{name}.png", study="s", table=table, winner=tmp_path / "winner.json",
             test=tmp_path / "test.json", data=fake_data(tmp_path / "d.h5", [28, 28], ["a", "b"]))
        assert (tmp_path / f"{name}.png").stat().st_size > 0
    draw("boundaries", tmp_path / "b.png", study="s", table=table, data=fake_data(tmp_path / "p.h5", [2], ["0", "1"]))
    assert (tmp_path / "b.png").stat().st_size > 0


@pytest.mark.parametrize("make", [spiral_table, report_table])
def test_heatmap_text_is_readable(tmp_path, make):
    with style():
        fig = draw_heatmap("s", make(tmp_path))
        assert small_texts(fig) == []
        texts = [t.get_text() for t in fig.findobj(Text)]
        assert "div." in texts and "n/a" in texts  # both kinds of empty cell are marked
        assert any("not run" in t for t in texts) and any("diverged" in t for t in texts)  # and explained in the legend
        assert fig._suptitle.get_fontsize() == TITLE_SIZE
        plt.close(fig)


# ---------------------------------------------------------------- confusion matrix


def test_confusion_rates_are_shares_of_the_true_class(tmp_path):
    cm = [[8, 2, 0], [1, 9, 0], [0, 0, 0]]
    rec = {"accuracy": 17 / 20, "n": 20, "classes": ["a", "b", "c"], "confusion_matrix": cm,
           "hyperparameters": {"model": "twolayer", "hidden": 10, "lr": 0.5, "reg": 1e-4}}
    cd = confusion_data(rec)
    np.testing.assert_allclose(cd.rates, [[80, 20, 0], [10, 90, 0], [0, 0, 0]])
    np.testing.assert_array_equal(cd.counts, cm)
    (tmp_path / "test.json").write_text(json.dumps(rec))
    with style():
        fig = draw_confusion("s", tmp_path / "test.json")
        assert small_texts(fig) == []
        assert "test accuracy 85.0%" in fig._suptitle.get_text()
        assert "10 hidden units" in plain(fig._suptitle.get_text())
        plt.close(fig)


# ---------------------------------------------------------------- a real spiral study: every figure


CONFIG = {
    "studies": {
        "s": {
            "dataset": "spiral",
            "recipe": "spiral",
            "model": {"std": 0.01, "reg_convention": "half", "dtype": "float64"},
            "training": {"batch_size": None, "sampling": "full", "steps": 300, "eval_every": 100, "log_every": 10},
            "grid": [{"model": ["linear"], "lr": [1.0], "reg": [1.0e-3]},
                     {"model": ["twolayer"], "hidden": [10, 20], "lr": [1.0], "reg": [1.0e-3]}],
        }
    }
}


@pytest.fixture(scope="module")
def spiral(tmp_path_factory):
    from twolayer.study.analysis.aggregate import aggregate
    from twolayer.study.analysis.evaluate import evaluate_winner

    tmp = tmp_path_factory.mktemp("spiral")
    data, metrics = train_study_by_jobs(CONFIG, tmp)
    aggregate("s", metrics, None, tmp / "table.csv", tmp / "winner.json")
    evaluate_winner(tmp / "winner.json", data, tmp / "test.json")
    return SimpleNamespace(dir=tmp, data=data, table=tmp / "table.csv", winner=tmp / "winner.json", test=tmp / "test.json")


def test_boundaries_are_the_models_predictions_on_the_grid(spiral):
    from twolayer.data.store import load_split
    from twolayer.study.run.modelio import ModelFile

    X, y = load_split(spiral.data, "train")
    df = read_table(spiral.table)
    panels = boundary_panels(df, X, y, n=50)
    assert [p.kind for p in panels] == ["linear", "twolayer"]
    xx, yy, pts = boundary_grid(X, n=50)
    assert pts.shape == (2500, 2) and xx.min() == pytest.approx(X[:, 0].min() - 0.2)
    for p in panels:
        row = df[df["point"] == p.point].iloc[0]
        net = ModelFile(row["model_file"]).build()
        np.testing.assert_array_equal(p.z, net.predict(pts).reshape(50, 50))
        np.testing.assert_array_equal(p.xx, xx)
        assert p.train_acc == pytest.approx(np.mean(net.predict(X.astype(np.float64)) == y))
        assert f"training accuracy {100 * p.train_acc:.1f}%" in p.title
    titles = [plain(p.title) for p in panels]
    assert titles[0].startswith("Linear softmax (λ = 10⁻³)\n")
    best = ranked(df[df["model"] == "twolayer"]).iloc[0]
    assert titles[1].startswith(f"Two-layer net ({best['hidden']} hidden units, λ = 10⁻³)\n")  # the hidden size varies, η does not
    assert "~" not in "".join(titles)  # no point names


@pytest.mark.parametrize("name", ["curves", "heatmap", "confusion", "samples", "boundaries"])
def test_every_spiral_figure_draws_with_readable_text(spiral, tmp_path, name, monkeypatch):
    from twolayer.study.report.figures import style as style_mod

    drawn = {}
    real_save = style_mod.save

    def keep(fig, path):
        assert small_texts(fig) == [], name
        assert fig._suptitle is not None and fig._suptitle.get_fontsize() == TITLE_SIZE
        drawn["title"] = fig._suptitle.get_text()
        real_save(fig, path)

    monkeypatch.setattr(style_mod, "save", keep)
    out = tmp_path / f"{name}.png"
    draw(name, out, study="s", table=spiral.table, winner=spiral.winner, test=spiral.test, data=spiral.data)
    assert out.stat().st_size > 0
    assert "~" not in drawn["title"]  # readable titles, never point names


# ---------------------------------------------------------------- weight pictures, on synthetic files


def fake_data(path, image_shape, classes):
    from twolayer.data.store import write_dataset

    d = int(np.prod(image_shape))
    rng = np.random.default_rng(0)
    splits = {s: (rng.uniform(0, 255, (4, d)).astype(np.float32), np.arange(4) % len(classes)) for s in ("train", "val", "test")}
    source = SimpleNamespace(classes=classes, image_shape=image_shape, describe=lambda: {})
    write_dataset(path, splits, dataset="fake", recipe_name="none", recipe={}, source=source, provenance={}, consts={}, meta={})
    return path


def fake_winner(tmp_path, params):
    """A model file with these weights and a winner record pointing at it."""
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as f:
        for k, v in params.items():
            f.create_dataset(f"params/{k}", data=v)
        for k in ("loss_steps", "loss", "lr", "eval_steps", "train_acc", "val_acc"):
            f.create_dataset(f"history/{k}", data=np.arange(3.0))
        f.attrs["format"] = "twolayer-model"
        f.attrs["model"] = json.dumps({"kind": "twolayer", "activation": "relu"})
        f.attrs["status"] = "ok"
        seal(f)  # its digests, as save_model writes them: every reader checks them
    hp = {"model": "twolayer", "activation": "relu", "hidden": params["W1"].shape[1], "lr": 1e-3, "reg": 0.5}
    winner = tmp_path / "winner.json"
    winner.write_text(json.dumps({"point": "h~x", "model_file": str(path), "hyperparameters": hp}))
    return winner


def test_w1_images_show_each_hidden_unit_of_colour_images(tmp_path):
    rng = np.random.default_rng(1)
    W1 = rng.normal(size=(32 * 32 * 3, 6))
    imgs = w1_images(W1, (32, 32, 3))
    assert imgs.shape == (6, 32, 32, 3)
    for k in range(6):
        col = W1[:, k].reshape(32, 32, 3)  # HWC rows, as the data
        np.testing.assert_allclose(imgs[k], (col - col.min()) / (col.max() - col.min()))
    winner = fake_winner(tmp_path, {"W1": W1, "b1": np.zeros(6), "W2": rng.normal(size=(6, 3)), "b2": np.zeros(3)})
    data = fake_data(tmp_path / "d.h5", [32, 32, 3], ["cat", "dog", "ship"])
    with style():
        fig = draw_w1_images("c", winner, data)
        assert small_texts(fig) == [] and "λ = 0.5" in plain(fig._suptitle.get_text())
        plt.close(fig)


def test_report_weight_figures(tmp_path):
    rng = np.random.default_rng(2)
    params = {"W1": rng.normal(size=(784, 12)), "W2": rng.normal(size=(12, 10))}
    np.testing.assert_allclose(class_templates(params), params["W1"] @ params["W2"])
    winner = fake_winner(tmp_path, params)
    data = fake_data(tmp_path / "d.h5", [28, 28], [str(c) for c in range(10)])
    with style():
        for drawer in (draw_w1_pca, draw_w2, draw_templates, draw_w1_pca_report, draw_w2_report):
            fig = drawer("m", winner, data)
            assert small_texts(fig) == [], drawer.__name__
            assert "Two-layer net (ReLU, 12 hidden units" in plain(fig._suptitle.get_text())
            plt.close(fig)
    # fewer hidden units than the report's 10 components: as many components as units
    small = fake_winner(tmp_path, {"W1": rng.normal(size=(784, 6)), "W2": rng.normal(size=(6, 10))})
    with style():
        fig = draw_w1_pca_report("m", small, data)
        assert "PCA(6).fit_transform" in " ".join(t.get_text() for t in fig.findobj(Text))
        plt.close(fig)
