"""The reproduction scorecard: every published number (``config/published.yaml``) beside what this run reproduced.

A row's ``status``:

* ``reproduced``: |reproduced - published| <= tolerance (for a grid point: the same point);
* ``differs``: the study ran on the published data, and the number is farther than that
  (or the model diverged);
* ``not compared``: the study of that name ran on other data (another dataset definition
  or recipe, e.g. a subset); the reproduced number is shown, the difference is not;
* ``not run``: the study is not in this run's config, or has no such grid point, or the
  measure needs what it did not record; the reason says what to do.

Measures (:data:`MEASURES`) read the study's results: ``table.csv`` (one row per grid
point), ``winner.json``, ``test.json`` and, for a loss, the point's model file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import yaml

from ...errors import InputError
from ...schemas import schema_file
from ...schemas import schema_path as as_schema_path
from ..render import Table, write
from ..render.numbers import point_text

STATUSES = ("reproduced", "differs", "not compared", "not run")
COLUMNS = ("source", "where", "study", "quantity", "published", "reproduced", "difference", "tolerance", "unit",
           "status", "reason")
SCHEMA = schema_file("published")


class Unavailable(Exception):
    """A measure cannot be read from these results; the message says why."""


# -- reading published.yaml ---------------------------------------------------------------------
def load_published(path, schema_path=SCHEMA):
    """``config/published.yaml`` as a dict, checked by its schema and against :data:`MEASURES`."""
    from ..plan.schema import schema_problems

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (the published numbers; see config/published.yaml)") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    schema = yaml.safe_load(as_schema_path(schema_path, "published").read_text())
    problems = schema_problems(data, schema)
    for i, n in enumerate(data.get("numbers") or [] if not problems else []):
        where = f"numbers[{i}]"
        if n["measure"] not in MEASURES:
            problems.append(f"{where}.measure: unknown {n['measure']!r}; measures are {', '.join(MEASURES)}")
            continue
        need = MEASURES[n["measure"]].needs
        for key in need:
            if key not in n:
                problems.append(f"{where}: measure {n['measure']!r} needs '{key}'")
        if n["source"] not in data["sources"]:
            problems.append(f"{where}.source: {n['source']!r} is not under 'sources'")
        if n["study"] not in data["studies"]:
            problems.append(f"{where}.study: {n['study']!r} is not under 'studies' (say which data it was published on)")
        if (n["unit"] == "point") != (n["measure"] == "winner"):
            problems.append(f"{where}: unit 'point' goes with measure 'winner', and only with it")
    if problems:
        raise InputError(f"invalid published numbers in {path}:\n  " + "\n  ".join(problems))
    return data


# -- the measures ---------------------------------------------------------------------------------
class Results:
    """One study's results, read lazily: its table, winner, test record, model files."""

    def __init__(self, spec):
        self.spec = spec
        self._table = self._winner = self._test = None

    @property
    def table(self):
        if self._table is None:
            import pandas as pd

            self._table = pd.read_csv(self.spec["table"])
        return self._table

    @property
    def winner(self):
        if self._winner is None:
            self._winner = json.loads(Path(self.spec["winner"]).read_text())
        return self._winner

    @property
    def test(self):
        if self._test is None:
            self._test = json.loads(Path(self.spec["test"]).read_text())
        return self._test

    def row(self, point):
        """The one table row whose columns equal ``point`` (numbers to 1e-9 relative)."""
        df = self.table
        mask = np.ones(len(df), dtype=bool)
        for col, want in point.items():
            if col not in df.columns:
                raise Unavailable(f"the study's table has no column {col!r}")
            mask &= np.array([_same(v, want) for v in df[col]])
        hits = df[mask]
        text = point_text(point)
        if len(hits) == 0:
            raise Unavailable(f"no grid point with {text} in the study")
        if len(hits) > 1:
            raise Unavailable(f"{len(hits)} grid points match {text}: say more of the point")
        return hits.iloc[0]


def _same(v, want):
    if isinstance(want, str) or isinstance(v, str):
        return str(v) == str(want)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return False
    return not math.isnan(v) and math.isclose(v, float(want), rel_tol=1e-9, abs_tol=0.0)


def _ok(row):
    if row["status"] != "ok":
        raise Diverged(f"the model diverged at step {row['diverged_step']}")
    return row


class Diverged(Exception):
    pass


def _acc(col):
    def read(res, n):
        return 100.0 * float(_ok(res.row(n["point"]))[col])

    return read


def _winner_field(key):
    def read(res, n):
        w = res.winner
        if w.get("point") is None:
            raise Diverged("every model diverged: no winner")
        if key == "test":
            return 100.0 * float(res.test["accuracy"])
        return 100.0 * float(w[key])

    return read


def _winner_point(res, n):
    w = res.winner
    if w.get("point") is None:
        raise Diverged("every model diverged: no winner")
    row = res.table[res.table["point"] == w["point"]].iloc[0]
    return {col: _plain(row[col]) for col in n["value"]}


def _plain(v):
    if isinstance(v, (np.integer, np.floating)):
        v = v.item()
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1:
        return int(v)
    return v


def _loss(res, n):
    """The loss the source printed at iteration i: this project's logged step i + 1 (its loss is
    computed in that step's forward pass, before its update)."""
    from ..run.modelio import ModelFile

    row = _ok(res.row(n["point"]))
    h = ModelFile(row["model_file"]).history
    step = int(n["iteration"]) + 1
    hit = np.flatnonzero(h["loss_steps"] == step)
    every = int(h["loss_steps"][1] - h["loss_steps"][0]) if len(h["loss_steps"]) > 1 else None
    if hit.size == 0 or every != 1:
        raise Unavailable(f"the study logs the loss every {every} steps, not every step (set training.log_every: 1)")
    return float(h["loss"][hit[0]])


def _models(res, n):
    return int(len(res.table))


class Measure:
    def __init__(self, read, needs, doc):
        self.read, self.needs, self.doc = read, needs, doc


# measure name -> how to read it (the keys of a number it needs, besides the common ones)
MEASURES = {
    "val_acc": Measure(_acc("val_acc"), ("point",), "validation accuracy of a grid point (%)"),
    "train_acc": Measure(_acc("train_acc"), ("point",), "final training accuracy of a grid point, on all of it (%)"),
    "loss": Measure(_loss, ("point", "iteration"), "training loss printed at an iteration (needs log_every: 1)"),
    "winner": Measure(_winner_point, (), "the grid point with the best validation accuracy"),
    "winner_val_acc": Measure(_winner_field("val_acc"), (), "validation accuracy of the winner (%)"),
    "winner_test_acc": Measure(_winner_field("test"), (), "test accuracy of the winner, measured once (%)"),
    "models": Measure(_models, (), "number of models in the study's grid"),
}


# -- comparing ----------------------------------------------------------------------------------
def _not_run_reason(study, protocol, run_studies, datasets):
    ds = protocol["dataset"]
    info = datasets.get(ds) or {}
    if study in run_studies:
        return None
    if info.get("downloaded"):
        files = ", ".join(info.get("files") or [])
        return f"needs {ds}: put {files} into resources/raw/{info.get('dirname', ds)}/, then snakemake --cores 8"
    return f"study {study} is not in this run's config (it is in config/config.yaml)"


def score(published, run):
    """The scorecard rows (dicts with :data:`COLUMNS`).

    ``run``: what the workflow ran, ``{"studies": {name: {dataset, recipe, published_data,
    table, winner, test}}, "datasets": {name: {downloaded, files, dirname}}}``."""
    studies = run.get("studies") or {}
    datasets = run.get("datasets") or {}
    cache = {}
    rows = []
    for n in published["numbers"]:
        protocol = published["studies"][n["study"]]
        row = {
            "source": n["source"],
            "where": n["where"],
            "study": n["study"],
            "quantity": n["quantity"],
            "published": n["value"],
            "reproduced": None,
            "difference": None,
            "tolerance": n["tolerance"],
            "unit": n["unit"],
            "status": "not run",
            "reason": "",
        }
        rows.append(row)
        reason = _not_run_reason(n["study"], protocol, studies, datasets)
        if reason:
            row["reason"] = reason
            continue
        st = studies[n["study"]]
        res = cache.setdefault(n["study"], Results(st))
        try:
            got = MEASURES[n["measure"]].read(res, n)
        except Unavailable as exc:
            row["reason"] = str(exc)
            continue
        except Diverged as exc:
            row.update(status="differs", reproduced="diverged", reason=str(exc))
            continue
        row["reproduced"] = got
        other = [f"{k} {st[k]!r} (published: {protocol[k]!r})" for k in ("dataset", "recipe") if st[k] != protocol[k]]
        if not st.get("published_data", True):
            other.append(f"the dataset definition of {st['dataset']!r} is not the built-in one")
        if other:
            row.update(status="not compared", reason="ran on other data: " + "; ".join(other))
            continue
        if n["unit"] == "point":
            same = all(_same(got.get(k), v) for k, v in n["value"].items())
            row["status"] = "reproduced" if same else "differs"
            continue
        diff = float(got) - float(n["value"])
        row["difference"] = diff
        row["status"] = "reproduced" if abs(diff) <= float(n["tolerance"]) + 1e-12 else "differs"
    return rows


# -- writing --------------------------------------------------------------------------------------
HEADER = ["Source", "Quantity", "Published", "Reproduced", "Difference", "Tolerance", "Status"]
KINDS = {"Source": "prose", "Quantity": "prose", "Published": "measured", "Reproduced": "measured", "Difference": "signed",
         "Tolerance": "tolerance"}
# The LaTeX: paragraph columns of these widths, headed short, in a longtable that fits the page.
WIDTHS = {"Source": "2.3cm", "Quantity": "1.9cm", "Published": "1.45cm", "Reproduced": "1.45cm", "Difference": "1.4cm",
          "Tolerance": "1.1cm", "Status": "1.5cm"}
SHORT = {"Reproduced": "Reprod.", "Difference": "Diff.", "Tolerance": "Tol."}


def counts(rows):
    return {s: sum(r["status"] == s for r in rows) for s in STATUSES}


def summary_line(rows):
    c = counts(rows)
    return ", ".join(f"{v} {k}" for k, v in c.items() if v) + f" (of {len(rows)} comparisons with published numbers)"


def _csv_value(v):
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return v


def scorecard_table(rows):
    """The scorecard as a table: a row per published number, its reason written once, as a
    numbered note (``not run [1]``), however many rows share it. Its CSV holds the rows themselves."""
    import pandas as pd

    notes, shown = [], []
    for r in rows:
        unit, status = r["unit"], r["status"]
        if r["reason"]:
            if r["reason"] not in notes:
                notes.append(r["reason"])
            status += f" [{notes.index(r['reason']) + 1}]"
        shown.append([
            f"{r['source']}_ {r['where']}", f"{r['study']}: {r['quantity']}" + (f" ({unit})" if unit == "%" else ""),
            (r["published"], unit), (r["reproduced"], unit),
            (None if r["status"] == "not compared" else r["difference"], unit), (r["tolerance"], unit), status,
        ])
    data = pd.DataFrame(
        [{**r, "published": _csv_value(r["published"]), "reproduced": _csv_value(r["reproduced"])} for r in rows],
        columns=list(COLUMNS),
    )
    line = summary_line(rows)
    return Table(pd.DataFrame(shown, columns=HEADER, dtype=object), kinds=KINDS, label="tab:scorecard", data=data,
                 caption=f"Published numbers and their reproduction ({line}). Diff.: reproduced − published; Tol.: the "
                         "largest difference counted as reproduced.",
                 notes=tuple(notes), footer=f"{line}.", widths=WIDTHS, short=SHORT, aligned=True, missing="")


def write_scorecard(published_path, run, out_dir, schema_path=None):
    """Score and write ``scorecard.{csv,md,tex}`` into ``out_dir``; returns the rows (the HTML
    page is :func:`twolayer.study.report.pages.write_scorecard_page`)."""
    rows = score(load_published(published_path, schema_path or SCHEMA), run)
    write(scorecard_table(rows), Path(out_dir) / "scorecard")
    return rows


def read_scorecard(csv_path):
    """The rows of a written ``scorecard.csv`` (published/reproduced points back as dicts)."""
    import pandas as pd

    df = pd.read_csv(csv_path, dtype={"source": str}, keep_default_na=False)
    rows = []
    for rec in df.to_dict("records"):
        for k in ("published", "reproduced", "difference", "tolerance"):
            rec[k] = _parse(rec[k])
        rows.append(rec)
    return rows


def _parse(v):
    if v == "" or v is None:
        return None
    if isinstance(v, str):
        if v.startswith("{"):
            return json.loads(v)
        try:
            return float(v)
        except ValueError:
            return v
    return v
