"""HTML pages for Snakemake's report: every table as a page, and a summary of every study.

Snakemake's HTML report (``snakemake --report``) shows a result inline only
if it is an image, a PDF or an HTML page (the last two in an iframe); any
other file, CSV included, is offered as a download. So each table the
workflow writes as CSV also gets an HTML rendering (:func:`write_table_page`),
which is what the report shows, and the study as a whole gets a summary
(:func:`write_summary`): every study's winner with its hyperparameters, its
validation and test accuracy, its top-5 models and its main figures. The
summary also writes the fragment the report's front page includes
(``workflow/report/workflow.rst``) and the config the summarised run used,
which ``snakemake --report`` reads when it is given no ``--configfile``.

Pages are self-contained: inline CSS, figures (and each table's CSV) embedded
as data URIs, no script, nothing fetched; only the front-page fragment has
links, which call the report's own app. This module says what each page
shows (its tables are :class:`~twolayer.study.render.Table` values); the
pages themselves are the templates of :mod:`twolayer.study.render.html`,
which escape every text that comes from a file or the config
(:func:`html.escape`). Every file is written atomically. The paper tables' pages and the summary hold nothing measured (run
times, memory), so they are the same for two runs of the same config; the
study table's page shows table.csv's measured columns, as the CSV does.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from markupsafe import Markup

from ...atomic import write_text
from ...errors import InputError
from ..render import Table
from ..render.csv import read_csv
from ..render.html import esc, is_number, render, table_page, table_view
from ..render.numbers import grouped, number, percent, percent_range
from ..analysis.scorecard import HEADER, read_scorecard, scorecard_table, summary_line

# What each embedded figure shows (the report's own captions, in workflow/report/figure.rst, say more).
FIGURE_TITLES = {
    "curves": "Training curves of the winner (loss; training and validation accuracy)",
    "heatmap": "Validation accuracy of every model over the grid (hatched: diverged)",
    "confusion": "Confusion matrix of the winner on the test set",
    "samples": "Training examples of every class",
    "boundaries": "Decision boundaries: the best linear classifier and the best two-layer net",
    "templates": "Class templates W1 W2 of the winner",
    "w1": "First-layer weights of the winner",
    "w1_pca": "First-layer weights of the winner, PCA to 10 components",
    "w2": "Second-layer weights of the winner",
    "curves_report": "The report's Fig. 2: the winner on the whole training and validation sets, 51 points",
    "w1_pca_report": "The report's Fig. 3: PCA(10).fit_transform(W1), pixels as samples",
    "w2_report": "The report's Fig. 4: each column of W2 as a 16x17 image",
    "expected_max": "Expected best validation accuracy for a budget of k trials (Dodge et al.)",
    "certainty": "How sure is the winner: the top points' replicates and P(winner better)",
}


def _load_json(path, what):
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror}); rerun the workflow") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: the {what} is not valid JSON ({exc}); rerun the workflow") from None


# Snakemake's report embeds every page as a base64 data URL, which Chromium opens only up to
# 2 MiB (its URL limit): a page of B bytes becomes a URL of about 4B/3 + 22 characters. The
# summary pages stay below PAGE_BUDGET (a URL of about 1.6 MB) by showing their figures at
# the width the page gives them (the full figures are under the study's Figures).
PAGE_BUDGET = 1_200_000  # bytes of HTML
URL_LIMIT = 2 * 1024 * 1024  # Chromium's longest URL, in characters
THUMB_WIDTH = 1000  # pixels: a figure card is at most ~700 CSS px wide at the report's width


def data_url_length(text):
    """The length of the data URL Snakemake's report makes of a page ``text``."""
    n = len(text.encode("utf-8"))
    return len("data:text/html;charset=utf8;base64,") + 4 * ((n + 2) // 3)


def thumbnail_uri(path, width=THUMB_WIDTH):
    """A PNG figure as a data URI, at most ``width`` pixels wide (256 colours); the file's own
    bytes where that is not smaller. Deterministic: the same figure gives the same bytes."""
    import io

    from PIL import Image

    raw = Path(path).read_bytes()
    with Image.open(io.BytesIO(raw)) as im:
        w, h = im.size
        if w > width:
            im = im.convert("RGB").resize((width, max(1, round(h * width / w))), Image.LANCZOS)
        small = io.BytesIO()
        im.convert("RGB").quantize(256).save(small, "PNG", optimize=True)
    data = min(raw, small.getvalue(), key=len)
    return f"data:image/png;base64,{base64.b64encode(data).decode('ascii')}"


# What each table page says under its title (the paper tables' titles are tables.CAPTIONS).
TABLE_NOTES = {
    "table": "Every model of the study: its status, final validation and training accuracy (fractions; diverged "
    "models have empty cells) and final loss, its hyperparameters, the steps done and the measured cost. "
    "The winner is highlighted.",
    "table1": "The hyperparameters tested (the report's Table 1).",
    "table2": "The five models with the best validation accuracy (the report's Table 2).",
    "listing": "Every model with its training and validation accuracy, as the CS231n notebook prints them.",
    "test": "The winner (best validation accuracy among models that did not diverge) and its accuracy on the "
    "test set, measured once.",
}


# The study table (one row per model) is wide: on its page the outcome comes right after the
# point's name, and the study column (the same in every row; the page's title) is left out.
OUTCOME_FIRST = ("point", "status", "val_acc", "train_acc", "final_loss")


def outcome_first(table):
    """``table`` (the study table) with the outcome first and the study column left out."""
    cols = list(table.frame.columns)
    order = [c for c in OUTCOME_FIRST if c in cols] + [c for c in cols if c not in OUTCOME_FIRST and c != "study"]
    return Table(table.frame[order], title=table.title)


def table_title(study, name):
    from ..analysis.tables import CAPTIONS

    return f"{study}: {'Every model' if name == 'table' else CAPTIONS.get(name, name)}"


def write_table_page(csv_path, out, *, study, name, winner=None):
    """``out``: table ``name`` of ``study`` (``csv_path``) as a self-contained HTML page.

    The cells are shown exactly as the CSV holds them (so a percentage reads as in the
    paper tables); ``winner`` (winner.json) highlights the winner's row where the table
    has a ``point`` column. The page also offers the CSV itself (embedded as a data URI)."""
    table = Table.from_csv(csv_path, title=table_title(study, name))
    if name == "table":
        table = outcome_first(table)
    highlight = None
    if winner is not None:
        point = _load_json(winner, "winner record").get("point")
        highlight = ("point", point) if point is not None else None
    write_text(out, table_page(table, csv_path, note=TABLE_NOTES.get(name), highlight=highlight))


# -- the summary ---------------------------------------------------------------------------


def winner_settings(winner, axes):
    """[(label, value)] of the winner's hyperparameters: the study's grid axes (named and
    written as in the paper tables), then its number of parameters."""
    from ..plan.axes import AXES

    hp = winner.get("hyperparameters") or {}
    out = []
    for axis in axes:
        v = hp.get(AXES[axis].column)
        if v is not None:
            out.append((AXES[axis].label, number(v)))
    if hp.get("n_params") is not None:
        out.append(("Parameters", grouped(hp["n_params"])))
    return out


def _val_range(table_csv):
    header, rows = read_csv(table_csv)
    if "val_acc" not in header or "status" not in header:
        return None
    i, s = header.index("val_acc"), header.index("status")
    vals = [float(r[i]) for r in rows if r[s] == "ok" and is_number(r[i])]
    return (min(vals), max(vals)) if vals else None


def study_record(st):
    """What the summary shows of one study (``st``: its entry of the summary spec)."""
    winner = _load_json(st["winner"], "winner record")
    test = _load_json(st["test"], "test record")
    rec = {
        "name": st["name"],
        "description": st.get("description") or "",
        "dataset": st.get("dataset"),
        "recipe": st.get("recipe"),
        "models": winner.get("models"),
        "diverged": winner.get("models_diverged"),
        "point": winner.get("point"),
        "settings": winner_settings(winner, st.get("axes") or []) if winner.get("point") else [],
        "val": winner.get("val_acc"),  # with replicates: the mean over the winner's replicates ...
        "test": (test.get("replicates") or {}).get("mean", test.get("accuracy")),  # ... and so is this
        "replicates": (test.get("replicates") or {}).get("n"),
        "test_run0": test.get("accuracy"),
        "n_test": test.get("n"),
        "per_class": test.get("per_class_accuracy") or {},
        "classes": [str(c) for c in test.get("classes") or []],  # in class order (per_class is sorted by name)
        "val_range": _val_range(st["table"]),
        "top": Table.from_csv(st["top"]) if st.get("top") else None,
        "figures": [(name, path) for name, path in st.get("figures") or []],
        "page": st.get("page") or f"results/{st['name']}/summary.html",
    }
    return rec


def _winner_text(rec, size=True):
    if rec["point"] is None:
        return "no winner: every model diverged"
    settings = rec["settings"] if size else [(k, v) for k, v in rec["settings"] if k != "Parameters"]
    return ", ".join(f"{k} {v}" for k, v in settings) or rec["point"]


def _mean_mark(r):
    return "*" if r.get("replicates") and r.get("point") else ""


def _accuracy(r, key):
    """A winner's accuracy as the summary prints it: "" without a winner, "*" for a mean over replicates."""
    return percent(r[key]) + _mean_mark(r) if r["point"] is not None else _mean_mark(r)


def overview_table(recs):
    """The summary's table: every study's winner and its accuracy."""
    import pandas as pd

    frame = pd.DataFrame([{"Study": r["name"], "Dataset": r["dataset"], "Models": r["models"],
                           "Accuracy (Val Set, %)": _accuracy(r, "val"), "Accuracy (Test Set, %)": _accuracy(r, "test"),
                           "Winner": _winner_text(r)} for r in recs], dtype=object)
    return Table(frame, kinds={"Study": "text", "Dataset": "text", "Models": "count", "Accuracy (Val Set, %)": "percent",
                               "Accuracy (Test Set, %)": "percent", "Winner": "prose"})


def per_class_table(r):
    """The winner's test accuracy per class, a column per class (None for more than 20 classes)."""
    import pandas as pd

    if not r["per_class"] or len(r["per_class"]) > 20:
        return None
    classes = [c for c in r["classes"] if c in r["per_class"]] or list(r["per_class"])
    return Table(pd.DataFrame([[r["per_class"][c] for c in classes]], columns=classes), kinds=dict.fromkeys(classes, "percent"))


def _study_page(r, title, figures):
    """The page of one study's summary, with the first of its figures (``figures``: (title, path, data URI))."""
    cards = []
    if r["point"] is not None:
        mean = f", mean of {r['replicates']} replicates" if r.get("replicates") else ""
        cards = [(f"Accuracy (Val Set, %{mean})", percent(r["val"])), (f"Accuracy (Test Set, %{mean})", percent(r["test"]))]
        if r.get("replicates"):
            cards.append(("Accuracy (Test Set, %, its single run)", percent(r["test_run0"])))
        if r["val_range"]:
            cards.append(("Validation accuracy over the grid (%)", percent_range(r["val_range"])))
    per_class = per_class_table(r) if r["point"] is not None else None
    return render("study.html", title=title, r=r, cards=cards,
                  diverged=f", {r['diverged']} diverged" if r["diverged"] else ", none diverged",
                  n_test=grouped(r["n_test"]) if isinstance(r["n_test"], int) else r["n_test"],
                  per_class=table_view(per_class, marks=False) if per_class else None,
                  top=table_view(r["top"]) if r["top"] is not None else None, figures=figures,
                  left=", ".join(name for name, _ in r["figures"][len(figures):]))


def study_page(rec):
    """One study's summary page: its winner, accuracy, top models and main figures, as many of
    them as keep the page within :data:`PAGE_BUDGET`."""
    title = f"Summary of {rec['name']}"
    figures = [(FIGURE_TITLES.get(name, name), path, thumbnail_uri(path)) for name, path in rec["figures"]]
    for n in range(len(figures), -1, -1):
        text = _study_page(rec, title, figures[:n])
        if len(text.encode("utf-8")) <= PAGE_BUDGET:
            return text
    raise InputError(f"the summary of study {rec['name']!r} is over {PAGE_BUDGET:,} bytes even without figures")


def summary_page(recs, config_yaml=None, scorecard=None):
    return render("summary.html", title="Summary of every study", overview=table_view(overview_table(recs), marks=False),
                  scorecard=summary_line(scorecard) if scorecard else None, config_yaml=config_yaml)


def _open_page(path):
    """Script for the report's app: show the HTML result ``path`` inline (as its menu does)."""
    p = json.dumps(str(path))
    return f"app.setView({{content: 'html', contentPath: results[{p}].data_uri, resultPath: {p}}})"


def _js_link(text, code):
    """A link that runs ``code`` in the report page (``javascript:`` URLs are percent-decoded first)."""
    return Markup(f'<a href="{esc("javascript:" + code.replace("%", "%25"))}">{esc(text)}</a>')


def front_fragment(recs, summary_path, scorecard=None, scorecard_path="results/scorecard.html"):
    """HTML for the report's front page (included by workflow/report/workflow.rst).

    The page it lands in is Snakemake's report app: the links call its ``app`` with the
    ``results`` it embeds, the way the report's own cross-references do."""
    rows = [{"link": _js_link(r["name"], _open_page(r["page"])), "winner": _winner_text(r, size=False),
             "val": _accuracy(r, "val") if r["point"] else _mean_mark(r),
             "test": _accuracy(r, "test") if r["point"] else _mean_mark(r)} for r in recs]
    return render("front.html", rows=rows, replicates=any(r.get("replicates") for r in recs),
                  card=_front_scorecard(scorecard, scorecard_path) if scorecard else None,
                  open_summary=_js_link("Open the summary", _open_page(summary_path)))


def write_study_summary(st, out):
    """The summary page ``out`` of one study (``st``: its entry of the summary spec)."""
    write_text(out, study_page(study_record(st)))


def write_summary(spec, out, front=None, config=None, config_out=None):
    """The summary page ``out`` of the studies in ``spec`` ({"studies": [...]}, built by the workflow).

    ``front``: the fragment for the report's front page. ``config`` (a dict) and
    ``config_out``: the config of the run, shown on the page and written as YAML."""
    studies = spec.get("studies") or []
    if not studies:
        raise InputError("the summary spec names no study")
    recs = [study_record(st) for st in studies]
    config_yaml = None
    if config is not None:
        import yaml

        config_yaml = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    scorecard = read_scorecard(spec["scorecard"]) if spec.get("scorecard") else None
    write_text(out, summary_page(recs, config_yaml, scorecard))
    if front is not None:
        write_text(front, front_fragment(recs, str(out), scorecard, spec.get("scorecard_page", "results/scorecard.html")))
    if config_out is not None and config_yaml is not None:
        write_text(config_out, config_yaml)
    return recs


# -- the scorecard (twolayer.study.analysis.scorecard) ---------------------------------------------------------
STATUS_CLASSES = {"reproduced": "ok", "differs": "bad", "not compared": "muted", "not run": "muted"}
MEASURED = ("Published", "Reproduced", "Difference", "Tolerance")  # right-aligned, but for a grid point


def scorecard_html(rows):
    """The scorecard's page: every row, the numbers compared first."""
    rows = sorted(rows, key=lambda r: r["status"] == "not run")  # the numbers compared first, in their order
    table = scorecard_table(rows)
    shown = []
    for r, cells in zip(rows, table.cells().itertuples(index=False)):
        tds = [{"text": c, "cls": "num" if h in MEASURED and r["unit"] != "point" else "wrap"} for h, c in zip(HEADER, cells[:-1])]
        shown.append({"cells": tds, "cls": STATUS_CLASSES[r["status"]], "status": r["status"], "mark": cells[-1][len(r["status"]):]})
    return render("scorecard.html", title="Scorecard: the sources' numbers, reproduced", line=summary_line(rows), rows=shown,
                  head=[{"text": h, "num": h in MEASURED} for h in HEADER], notes=table.notes)


def write_scorecard_page(rows, out):
    write_text(out, scorecard_html(rows))


def _front_scorecard(rows, scorecard_path="results/scorecard.html"):
    """The scorecard on the report's front page (Snakemake's styles, a narrow column): the
    numbers this run compared, in a table; those it did not run, one line per reason; and a
    link to the whole scorecard (every row, with difference and tolerance)."""
    compared = [r for r in rows if r["status"] != "not run"]
    shown = []
    for r, c in zip(compared, scorecard_table(compared).cells().itertuples(index=False)):
        unit = " (%)" if r["unit"] == "%" else ""
        shown.append({"where": f"{c[0]}, study {r['study']}: {r['quantity']}{unit}", "quantity": r["quantity"] + unit,
                      "published": c[2], "reproduced": c[3], "status": r["status"],
                      "detail": f"difference {c[4]}, tolerance {c[5]}" if c[4] else "not compared: other data",
                      "color": {"reproduced": "#047857", "differs": "#b91c1c"}.get(r["status"], "#64748b")})
    waiting = {}
    for r in rows:
        if r["status"] == "not run":
            waiting.setdefault(r["reason"], {}).setdefault(r["study"], 0)
            waiting[r["reason"]][r["study"]] += 1
    return {"line": summary_line(rows), "rows": shown, "link": _js_link("Open the scorecard", _open_page(scorecard_path)),
            "waiting": [(reason, ", ".join(f"{st} ({n})" for st, n in studies.items())) for reason, studies in waiting.items()]}
