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
links, which call the report's own app. Every text that comes from a file or
the config is escaped (:func:`html.escape`), and every file is written
atomically. The paper tables' pages and the summary hold nothing measured (run
times, memory), so they are the same for two runs of the same config; the
study table's page shows table.csv's measured columns, as the CSV does.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from pathlib import Path

from ..atomic import write_text
from ..errors import InputError
from .scorecard import HEADER, display_rows, read_scorecard, summary_line

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 28px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
       "DejaVu Sans", Arial, sans-serif; color: #1e293b; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 4px; }
h3 { font-size: 14px; margin: 18px 0 6px; color: #334155; text-transform: uppercase; letter-spacing: .04em; }
p { margin: 6px 0; }
.muted { color: #64748b; }
code { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #f1f5f9;
       padding: 1px 4px; border-radius: 3px; word-break: break-all; }
a { color: #0f766e; }
.scroll { overflow: auto; width: fit-content; max-width: 100%; border: 1px solid #e2e8f0; border-radius: 6px;
          margin: 8px 0; }
.scroll.tall { max-height: 78vh; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid #e2e8f0; text-align: left; white-space: nowrap; }
thead th { position: sticky; top: 0; background: #f1f5f9; font-weight: 600; border-bottom: 2px solid #cbd5e1; }
tbody tr:nth-child(even) td { background: #f8fafc; }
tbody tr.winner td { background: #ecfdf5; font-weight: 600; }
td.num, th.num { text-align: right; }
td.wrap { white-space: normal; min-width: 16em; }
tr.diverged td { color: #b91c1c; }
td.status { white-space: normal; min-width: 14em; }
td.status.ok strong { color: #047857; }
td.status.bad strong { color: #b91c1c; }
td.status.muted strong { color: #64748b; }
.scroll:has(> table.scorecard) { width: auto; }
table.scorecard { width: 100%; }
table.scorecard td.wrap { min-width: 9em; }
table.scorecard td.status { min-width: 9em; }
table.wide td:first-child, table.wide th:first-child { position: sticky; left: 0; z-index: 1; background: #fff;
  border-right: 1px solid #e2e8f0; }
table.wide thead th:first-child { z-index: 2; background: #f1f5f9; }
.study { border-top: 3px solid #0f766e; padding-top: 14px; margin-top: 28px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 10px 0; }
.card { border: 1px solid #e2e8f0; border-radius: 8px; padding: 8px 14px; min-width: 150px; background: #f8fafc; }
.card .v { font-size: 26px; font-weight: 700; color: #0f766e; }
.card .k { font-size: 12px; color: #64748b; }
dl.hp { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; margin: 6px 0; }
dl.hp dt { color: #64748b; }
dl.hp dd { margin: 0; font-weight: 600; }
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 14px; align-items: start; }
figure { margin: 0; border: 1px solid #e2e8f0; border-radius: 6px; padding: 8px; }
figure img { display: block; max-width: 100%; max-height: 440px; width: auto; height: auto; margin: 0 auto; }
figcaption { font-size: 12px; color: #475569; margin-top: 4px; }
nav.toc a { margin-right: 14px; }
pre.config { background: #f8fafc; border: 1px solid #e2e8f0; border-radius: 6px; padding: 10px; font-size: 12px;
             max-height: 50vh; overflow: auto; }
"""

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


def esc(value):
    return html.escape("" if value is None else str(value), quote=True)


def pct(v):
    """An accuracy as the paper tables print it: a percentage with two decimals."""
    return "diverged" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


def num(v):
    """A hyperparameter value as the paper tables print it."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def page(title, body):
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def read_csv(path):
    """(header, rows) of a CSV file, every cell the exact text written (no number parsing)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the table ({exc.strerror}); rerun the workflow to rebuild it") from None
    if not rows:
        raise InputError(f"{path}: empty table (not even a header); rerun the workflow to rebuild it")
    header, body = rows[0], rows[1:]
    return header, [r + [""] * (len(header) - len(r)) for r in body]


def _load_json(path, what):
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror}); rerun the workflow") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: the {what} is not valid JSON ({exc}); rerun the workflow") from None


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric_columns(header, rows):
    out = []
    for j in range(len(header)):
        cells = [r[j] for r in rows if r[j] not in ("", "diverged")]
        out.append(bool(cells) and all(_is_number(c) for c in cells))
    return out


def _row_class(header, row, highlight=None):
    if highlight is not None and highlight[0] in header and row[header.index(highlight[0])] == highlight[1]:
        return "winner"
    if any(c == "diverged" or c.startswith("diverged at step") for c in row):
        return "diverged"
    return None


def table_html(header, rows, highlight=None, wide=False):
    """An HTML table of the given cells; numeric columns right-aligned.

    ``highlight``: ``(column, value)``; the row holding ``value`` there is marked as the winner.
    ``wide``: the first column stays in view when the table scrolls sideways."""
    numeric = _numeric_columns(header, rows)
    num_cls = ' class="num"'
    head = "".join(f'<th{num_cls if n else ""} scope="col">{esc(h)}</th>' for h, n in zip(header, numeric))
    lines = []
    for row in rows:
        cls = _row_class(header, row, highlight)
        cells = "".join(f'<td{num_cls if n else ""}>{esc(c)}</td>' for c, n in zip(row, numeric))
        row_cls = f' class="{cls}"' if cls else ""
        lines.append(f"<tr{row_cls}>{cells}</tr>")
    open_tag = '<table class="wide">' if wide else "<table>"
    return f"{open_tag}\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(lines) + "\n</tbody>\n</table>"


def data_uri(path, mime):
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


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


def outcome_first(header, rows):
    order = [header.index(c) for c in OUTCOME_FIRST if c in header]
    order += [i for i, c in enumerate(header) if i not in order and c != "study"]
    return [header[i] for i in order], [[r[i] for i in order] for r in rows]


def table_title(study, name):
    from .tables import CAPTIONS

    return f"{study}: {'Every model' if name == 'table' else CAPTIONS.get(name, name)}"


def write_table_page(csv_path, out, *, study, name, winner=None):
    """``out``: table ``name`` of ``study`` (``csv_path``) as a self-contained HTML page.

    The cells are shown exactly as the CSV holds them (so a percentage reads as in the
    paper tables); ``winner`` (winner.json) highlights the winner's row where the table
    has a ``point`` column. The page also offers the CSV itself (embedded as a data URI)."""
    header, rows = read_csv(csv_path)
    if name == "table":
        header, rows = outcome_first(header, rows)
    highlight = None
    if winner is not None:
        point = _load_json(winner, "winner record").get("point")
        highlight = ("point", point) if point is not None else None
    csv_path = Path(csv_path)
    siblings = [s for s in (".csv", ".md", ".tex") if csv_path.with_suffix(s).exists()]
    files = ", ".join(f"<code>{esc(csv_path.with_suffix(s))}</code>" for s in siblings)
    title = table_title(study, name)
    body = [f"<h1>{esc(title)}</h1>"]
    if name in TABLE_NOTES:
        body.append(f'<p class="muted">{esc(TABLE_NOTES[name])}</p>')
    wide = len(header) > 10
    body.append(f'<div class="scroll{" tall" if len(rows) > 25 else ""}">{table_html(header, rows, highlight, wide)}</div>')
    rows_txt = f"{len(rows)} row{'s' if len(rows) != 1 else ''}"
    body.append(
        f'<p class="muted">{rows_txt}. Files: {files}. '
        f'<a download="{esc(csv_path.name)}" href="{data_uri(csv_path, "text/csv")}">Download the CSV</a>.</p>'
    )
    write_text(out, page(title, "\n".join(body)))


# -- the summary ---------------------------------------------------------------------------


def winner_settings(winner, axes):
    """[(label, value)] of the winner's hyperparameters: the study's grid axes (named and
    written as in the paper tables), then its number of parameters."""
    from .axes import AXES

    hp = winner.get("hyperparameters") or {}
    out = []
    for axis in axes:
        v = hp.get(AXES[axis].column)
        if v is not None:
            out.append((AXES[axis].label, num(v)))
    if hp.get("n_params") is not None:
        out.append(("Parameters", f"{hp['n_params']:,}"))
    return out


def _val_range(table_csv):
    header, rows = read_csv(table_csv)
    if "val_acc" not in header or "status" not in header:
        return None
    i, s = header.index("val_acc"), header.index("status")
    vals = [float(r[i]) for r in rows if r[s] == "ok" and _is_number(r[i])]
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
        "top": read_csv(st["top"]) if st.get("top") else None,
        "figures": [(name, path) for name, path in st.get("figures") or []],
        "page": st.get("page") or f"results/{st['name']}/summary.html",
    }
    return rec


def _winner_text(rec, size=True):
    if rec["point"] is None:
        return "no winner: every model diverged"
    settings = rec["settings"] if size else [(k, v) for k, v in rec["settings"] if k != "Parameters"]
    return ", ".join(f"{k} {v}" for k, v in settings) or rec["point"]


def _overview(recs):
    rows = []
    for r in recs:
        won = r["point"] is not None
        rows.append(
            f'<tr><td>{esc(r["name"])}</td><td>{esc(r["dataset"])}</td>'
            f'<td class="num">{esc(r["models"])}</td>'
            f'<td class="num">{esc(pct(r["val"]) if won else "")}{_mean_mark(r)}</td>'
            f'<td class="num">{esc(pct(r["test"]) if won else "")}{_mean_mark(r)}</td>'
            f'<td class="wrap">{esc(_winner_text(r))}</td></tr>'
        )
    head = ('<tr><th scope="col">Study</th><th scope="col">Dataset</th><th class="num" scope="col">Models</th>'
            '<th class="num" scope="col">Accuracy (Val Set, %)</th><th class="num" scope="col">Accuracy (Test Set, %)</th>'
            '<th scope="col">Winner</th></tr>')
    return f'<div class="scroll"><table>\n<thead>{head}</thead>\n<tbody>\n' + "\n".join(rows) + "\n</tbody>\n</table></div>"


def _study_section(r, max_figures=None):
    out = [f'<section class="study" id="study-{esc(r["name"])}">', f'<h2>{esc(r["name"])}</h2>']
    if r["description"]:
        out.append(f"<p>{esc(r['description'])}</p>")
    div = f", {r['diverged']} diverged" if r["diverged"] else ", none diverged"
    out.append(
        f'<p class="muted">Dataset <code>{esc(r["dataset"])}</code>, recipe <code>{esc(r["recipe"])}</code>; '
        f"{esc(r['models'])} models trained{esc(div)}.</p>"
    )
    if r["point"] is None:
        out.append("<p><strong>No winner: every model diverged.</strong></p>")
    else:
        mean = f", mean of {r['replicates']} replicates" if r.get("replicates") else ""
        cards = [(f"Accuracy (Val Set, %{mean})", pct(r["val"])), (f"Accuracy (Test Set, %{mean})", pct(r["test"]))]
        if r.get("replicates"):
            cards.append(("Accuracy (Test Set, %, its single run)", pct(r["test_run0"])))
        if r["val_range"]:
            lo, hi = r["val_range"]
            cards.append(("Validation accuracy over the grid (%)", f"{pct(lo)}–{pct(hi)}"))
        out.append('<div class="cards">' + "".join(
            f'<div class="card"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>' for k, v in cards
        ) + "</div>")
        n_test = f"{r['n_test']:,}" if isinstance(r["n_test"], int) else r["n_test"]
        out.append(f'<p class="muted">Test accuracy measured once, on {esc(n_test)} test examples.</p>')
        out.append("<h3>The winner</h3>")
        out.append('<dl class="hp">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in r["settings"]) + "</dl>")
        out.append(f'<p class="muted">Grid point <code>{esc(r["point"])}</code></p>')
        if r["per_class"] and len(r["per_class"]) <= 20:
            classes = [c for c in r["classes"] if c in r["per_class"]] or list(r["per_class"])
            out.append("<h3>Test accuracy per class (%)</h3>")
            out.append('<div class="scroll">' + table_html(classes, [[pct(r["per_class"][c]) for c in classes]]) + "</div>")
    if r["top"] is not None:
        header, rows = r["top"]
        out.append("<h3>Top models by validation accuracy</h3>")
        out.append('<div class="scroll">' + table_html(header, rows) + "</div>")
    shown = r["figures"] if max_figures is None else r["figures"][:max_figures]
    if shown:
        out.append("<h3>Figures</h3>")
        figs = []
        for name, path in shown:
            title = FIGURE_TITLES.get(name, name)
            figs.append(
                f'<figure><img src="{thumbnail_uri(path)}" alt="{esc(title)}">'
                f"<figcaption>{esc(title)}<br><code>{esc(path)}</code></figcaption></figure>"
            )
        out.append('<div class="figs">' + "".join(figs) + "</div>")
    if len(shown) < len(r["figures"]):
        left = ", ".join(name for name, _ in r["figures"][len(shown):])
        out.append(f'<p class="muted">Not shown here, to keep this page small enough for a browser to open it: '
                   f"{esc(left)}.</p>")
    out.append(
        '<p class="muted">Every figure (at full size) and table of this study is in the report under '
        f"<strong>{esc(r['name'])}</strong> (Figures, Tables).</p>"
    )
    out.append("</section>")
    return "\n".join(out)


def study_page(rec):
    """One study's summary page: its winner, accuracy, top models and main figures, as many of
    them as keep the page within :data:`PAGE_BUDGET`."""
    title = f"Summary of {rec['name']}"
    for n in range(len(rec["figures"]), -1, -1):
        text = page(title, _study_section(rec, max_figures=n))
        if len(text.encode("utf-8")) <= PAGE_BUDGET:
            return text
    raise InputError(f"the summary of study {rec['name']!r} is over {PAGE_BUDGET:,} bytes even without figures")


def summary_page(recs, config_yaml=None, scorecard=None):
    body = [
        "<h1>Summary of every study</h1>",
        *([f"<p><strong>Scorecard.</strong> {esc(summary_line(scorecard))}: the numbers and their sources are on "
           "the scorecard's page (\u2605 Summary, Scorecard).</p>"] if scorecard else []),
        '<p class="muted">For each study: the winner (the best validation accuracy among the models that did not '
        "diverge; ties go to fewer parameters, then to the point name), its accuracy on the validation set and, "
        "measured once, on the test set.</p>",
        _overview(recs),
        '<p class="muted">Each study has a page of its own under <strong>\u2605 Summary</strong> in the menu: its '
        "winner's hyperparameters, its test accuracy per class, its top models and main figures.</p>",
    ]
    if config_yaml is not None:
        body.append('<section class="study" id="config"><h2>The config of this run</h2>'
                    '<p class="muted">As Snakemake read it (written to <code>results/config.yaml</code>).</p>'
                    f'<pre class="config">{esc(config_yaml)}</pre></section>')
    return page("Summary of every study", "\n".join(body))


def _open_page(path):
    """Script for the report's app: show the HTML result ``path`` inline (as its menu does)."""
    p = json.dumps(str(path))
    return f"app.setView({{content: 'html', contentPath: results[{p}].data_uri, resultPath: {p}}})"


def _js_link(text, code):
    """A link that runs ``code`` in the report page (``javascript:`` URLs are percent-decoded first)."""
    return f'<a href="{esc("javascript:" + code.replace("%", "%25"))}">{esc(text)}</a>'


def front_fragment(recs, summary_path, scorecard=None, scorecard_path="results/scorecard.html"):
    """HTML for the report's front page (included by workflow/report/workflow.rst).

    The page it lands in is Snakemake's report app: the links call its ``app`` with the
    ``results`` it embeds, the way the report's own cross-references do."""
    open_summary = _open_page(summary_path)
    rows = []
    for r in recs:
        rows.append(
            f"<tr><td>{_js_link(r['name'], _open_page(r['page']))}</td><td>{esc(_winner_text(r, size=False))}</td>"
            f"<td>{esc(pct(r['val']) if r['point'] else '')}{_mean_mark(r)}</td>"
            f"<td>{esc(pct(r['test']) if r['point'] else '')}{_mean_mark(r)}</td></tr>"
        )
    note = ("<p><small>* the mean over the winner's replicates (its validation accuracies, and each replicate tested "
            "once): see the study's certainty table.</small></p>\n" if any(r.get("replicates") for r in recs) else "")
    card = ""
    if scorecard:
        card = _front_scorecard(scorecard, scorecard_path)
    return (
        '<div class="twolayer-summary">\n'
        + card
        + "<p><strong>Results.</strong> The winner of every study (the best validation accuracy among the models "
        "that did not diverge) and its accuracy, in %, on the validation set and, measured once, on the test set:</p>\n"
        "<table>\n<thead><tr><th>Study</th><th>Winner</th><th style=\"white-space: nowrap\">Val %</th>"
        "<th style=\"white-space: nowrap\">Test %</th></tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>\n"
        + note
        + f"<p>{_js_link('Open the summary', open_summary)}: every study's winner and accuracy on one page. A "
        "study's name opens its own summary: the winner's hyperparameters, top models and main figures (its "
        "figures and tables are under its name in the menu).</p>\n"
        "</div>\n"
    )


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


# -- the scorecard (twolayer.study.scorecard) ---------------------------------------------------------
def scorecard_html(rows):
    """The scorecard's page: every row, the numbers compared first."""
    cls = {"reproduced": "ok", "differs": "bad", "not compared": "muted", "not run": "muted"}
    rows = sorted(rows, key=lambda r: r["status"] == "not run")  # the numbers compared first, in their order
    trs = []
    table_cells, notes = display_rows(rows)
    for r, cells in zip(rows, table_cells):
        tds = "".join(
            f'<td class="{"num" if i in (2, 3, 4, 5) and r["unit"] != "point" else "wrap"}">{esc(c)}</td>'
            for i, c in enumerate(cells[:-1])
        )
        mark = cells[-1][len(r["status"]):]
        trs.append(f'<tr>{tds}<td class="status {cls[r["status"]]}"><strong>{esc(r["status"])}</strong>{esc(mark)}</td></tr>')
    num = ' class="num"'
    head = "".join(f'<th scope="col"{num if i in (2, 3, 4, 5) else ""}>{esc(h)}</th>' for i, h in enumerate(HEADER))
    table = (f'<div class="scroll"><table class="scorecard">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
             + "\n".join(trs) + "\n</tbody>\n</table></div>" + _notes_html(notes))
    intro = (f"<p><strong>Scorecard.</strong> Every number the source documents publish, beside this run's "
             f"reproduction: {esc(summary_line(rows))}. Differences are reproduced − published; a number is "
             "reproduced when the difference is within the tolerance (why: <code>config/published.yaml</code>).</p>")
    return page("Scorecard: the sources' numbers, reproduced", "<h1>Scorecard</h1>\n" + intro + "\n" + table)


def write_scorecard_page(rows, out):
    write_text(out, scorecard_html(rows))


def _mean_mark(r):
    return "*" if r.get("replicates") and r.get("point") else ""


def _front_scorecard(rows, scorecard_path="results/scorecard.html"):
    """The scorecard on the report's front page (Snakemake's styles, a narrow column): the
    numbers this run compared, in a table; those it did not run, one line per reason; and a
    link to the whole scorecard (every row, with difference and tolerance)."""
    compared = [r for r in rows if r["status"] != "not run"]
    cells, _ = display_rows(compared)
    trs = []
    for r, c in zip(compared, cells):
        color = {"reproduced": "#047857", "differs": "#b91c1c"}.get(r["status"], "#64748b")
        unit = " (%)" if r["unit"] == "%" else ""
        where = f"{c[0]}, study {r['study']}: {r['quantity']}{unit}"
        detail = f"difference {c[4]}, tolerance {c[5]}" if c[4] else "not compared: other data"
        trs.append(f'<tr><td title="{esc(where)}">{esc(r["quantity"] + unit)}</td>'
                   f'<td style="text-align: right">{esc(c[2])}</td><td style="text-align: right">{esc(c[3])}</td>'
                   f'<td title="{esc(detail)}"><strong style="color: {color}">{esc(r["status"])}</strong></td></tr>')
    waiting = {}
    for r in rows:
        if r["status"] == "not run":
            waiting.setdefault(r["reason"], {}).setdefault(r["study"], 0)
            waiting[r["reason"]][r["study"]] += 1
    lines = "".join(
        "<li>" + esc(", ".join(f"{st} ({n})" for st, n in studies.items())) + f": {esc(reason)}</li>"
        for reason, studies in waiting.items()
    )
    link = _js_link("Open the scorecard", _open_page(scorecard_path))
    out = [f"<p><strong>Scorecard.</strong> The source documents' numbers, beside this run's reproduction: "
           f"{esc(summary_line(rows))}. Differences are reproduced − published.</p>"]
    if trs:
        out.append("<table>\n<thead><tr><th>Quantity</th><th>Published</th><th>Reproduced</th>"
                   "<th>Status</th></tr></thead>\n<tbody>\n" + "\n".join(trs) + "\n</tbody>\n</table>"
                   "<p><small>Hover over a quantity for its source, over a status for the difference and the "
                   "tolerance.</small></p>")
    if lines:
        out.append(f"<p>Not run, numbers per study:</p><ul>{lines}</ul>")
    out.append(f"<p>{link}: every published number with its source, tolerance and why "
               "(<code>config/published.yaml</code>).</p>")
    return "\n".join(out) + "\n"


def _notes_html(notes):
    if not notes:
        return ""
    return '<ul class="notes" style="list-style: none; padding-left: 0; font-size: 90%">' + "".join(
        f"<li>[{i}] {esc(n)}</li>" for i, n in enumerate(notes, 1)) + "</ul>\n"
