"""One renderer for every table: a new table is one function returning a Table, and it gets its
CSV, Markdown, LaTeX (that compiles) and HTML page without a formatter of its own.

Each format is read back by its own means (the csv module, the Markdown pipe syntax, pdflatex
and pdftotext, Python's HTML parser) and compared with the table's values, not with the
renderer's own output.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pandas as pd
import pytest
from latex_helpers import compile_tex

from twolayer.study.plan import provenance
from twolayer.study.render import Table, write
from twolayer.study.render.numbers import KINDS, Kind

NAMES = ["alpha_1 & co", "beta 50%", "gamma|delta"]
STEPS = [5e-05, 0.05, 1e-06]
MODELS = [12000, 3, 60000]
ACCURACY = [0.97873, math.nan, 0.5]
MEAN_STD = [(0.9, 0.0123), 0.5, (0.25, 0.01)]


def step_sizes(seconds=None):
    """The throw-away analysis: one function, one Table value, no formatting."""
    frame = pd.DataFrame({"Name": NAMES, "Step size": STEPS, "Models": MODELS, "Accuracy (%)": ACCURACY,
                          "Val accuracy (%, mean ± std)": MEAN_STD})
    kinds = {"Step size": "number", "Models": "count", "Accuracy (%)": "percent", "Val accuracy (%, mean ± std)": "plus_minus"}
    if seconds is not None:
        frame["Time"] = seconds
        kinds["Time"] = "seconds"
    return Table(frame, kinds=kinds, title="s: Step sizes tried", caption="The step sizes tried, and what they gave.",
                 label="tab:s_step sizes")


def _pct(text):
    """A percentage cell back as a fraction (None for "diverged")."""
    return None if text == "diverged" else float(text) / 100


def _check_values(cells):
    """Cells read back from a file against the table's values (percentages to their two decimals)."""
    assert [r[0] for r in cells] == NAMES
    assert [float(r[1]) for r in cells] == STEPS
    assert [int(r[2]) for r in cells] == MODELS
    for got, want in zip((_pct(r[3]) for r in cells), ACCURACY):
        assert (got is None and math.isnan(want)) or got == pytest.approx(want, abs=5e-5)
    for cell, want in zip((r[4] for r in cells), MEAN_STD):
        parts = [_pct(p) for p in cell.split(" ± ")]
        assert parts == pytest.approx(list(want) if isinstance(want, tuple) else [want], abs=5e-5)


@pytest.fixture
def written(tmp_path):
    write(step_sizes(), tmp_path / "steps", formats=("csv", "md", "tex", "html"))
    return tmp_path


def test_the_csv_holds_the_values(written):
    with open(written / "steps.csv", newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    assert header == list(step_sizes().frame.columns)
    _check_values(rows)


def test_the_markdown_holds_the_values(written):
    title, blank, head, rule, *rows = (written / "steps.md").read_text().splitlines()
    assert (title, blank) == ("**s: Step sizes tried**", "")
    assert rule == "|" + "|".join(["---"] * 5) + "|"

    def cells(line):
        assert line.startswith("| ") and line.endswith(" |")
        return [c.replace("\\|", "|") for c in re.split(r"(?<!\\) \| ", line[2:-2])]

    assert cells(head) == list(step_sizes().frame.columns)
    _check_values([cells(r) for r in rows])


def _typeset(v):
    """How a paper prints ``v`` (pdftotext's reading of it): 5 × 10−5, 10−6, 0.05, 12 000."""
    if isinstance(v, int):
        return r"\s?".join(re.findall(r"^\d{1,3}(?=(?:\d{3})*$)|\d{3}", str(v)))
    mantissa, exponent = f"{v:e}".split("e")
    mantissa, exponent = mantissa.rstrip("0").rstrip("."), int(exponent)
    if exponent > -4:
        return re.escape(f"{v:g}")
    return (re.escape(mantissa) + r"\s*×\s*" if mantissa != "1" else "") + rf"10\s*−\s*{-exponent}"


def test_the_latex_compiles_and_reads_back(written, tmp_path):
    tex = (written / "steps.tex").read_text()
    assert tex.splitlines()[0] == r"% requires \usepackage{booktabs}" and r"\label{tab:s-step-sizes}" in tex
    out = tmp_path / "build"
    out.mkdir()
    pdf = compile_tex(written / "steps.tex", out)
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (apt-get install poppler-utils)")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True, timeout=120).stdout
    assert "The step sizes tried, and what they gave." in " ".join(text.split()) and "See Table 1." in text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    body = lines[[i for i, line in enumerate(lines) if line.startswith("Name")][0] + 1:][:len(NAMES)]
    for line, name, step, models, acc, pm in zip(body, NAMES, STEPS, MODELS, ACCURACY, MEAN_STD):
        assert re.match(re.escape(name).replace("_", "[_ ]"), line), (line, name)  # & % | set as text (\_ reads as a space)
        pm = pm if isinstance(pm, tuple) else (pm,)
        accuracy = "diverged" if math.isnan(acc) else f"{100 * acc:.2f}"
        parts = [_typeset(step), _typeset(models), re.escape(accuracy), r"\s*±\s*".join(f"{100 * v:.2f}" for v in pm)]
        assert re.search(r"\s+".join(parts), line), (line, parts)


class _Cells(HTMLParser):
    """The header and cells of the one table of a page, with each cell's class."""

    def __init__(self):
        super().__init__()
        self.rows, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = [dict(attrs).get("class"), ""]

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(tuple(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[1] += data


def test_the_html_page_shows_the_values(written):
    page = (written / "steps.html").read_text()
    assert "<title>s: Step sizes tried</title>" in page and "<script" not in page
    parser = _Cells()
    parser.feed(page)
    head, *rows = parser.rows
    assert [t for _, t in head] == list(step_sizes().frame.columns)
    _check_values([[t for _, t in r] for r in rows])
    # numbers right-aligned, text not (the ± column is text: "90.00 ± 1.23" is no number)
    assert [c for c, _ in head] == [None, "num", "num", "num", None]
    assert all([c for c, _ in r] == [None, "num", "num", "num", None] for r in rows)
    assert "Download the CSV" in page and "steps.csv" in page


def test_a_new_column_kind_is_one_entry(monkeypatch, tmp_path):
    monkeypatch.setitem(KINDS, "seconds", Kind(lambda v, missing="": f"{v:.1f} s", numeric=True))
    write(step_sizes(seconds=[1.25, 60.0, 0.04]), tmp_path / "t", formats=("csv", "md", "tex"))
    assert pd.read_csv(tmp_path / "t.csv")["Time"].tolist() == ["1.2 s", "60.0 s", "0.0 s"]
    assert "| 60.0 s |" in (tmp_path / "t.md").read_text()
    assert r"1.2 s \\" in (tmp_path / "t.tex").read_text()
    with pytest.raises(KeyError, match="unknown column kind 'minutes'.*KINDS"):
        Table(pd.DataFrame({"a": [1]}), kinds={"a": "minutes"})
    with pytest.raises(KeyError, match="column 'b'"):
        Table(pd.DataFrame({"a": [1]}), kinds={"b": "count"})


def test_a_template_edit_reruns_the_pages(monkeypatch, tmp_path):
    """The pages' templates are package data, not Python: the html step's code digest reads them too."""
    pkg = tmp_path / "twolayer"
    shutil.copytree(provenance._package_dir(), pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "_package_dir", lambda: pkg)
    provenance.code_digest.cache_clear()
    before, tables = provenance.step_digest("html"), provenance.step_digest("train")
    css = pkg / "study" / "render" / "templates" / "style.css"
    css.write_text(css.read_text().replace("#0f766e", "#0f766f"))
    provenance.code_digest.cache_clear()
    try:
        assert provenance.step_digest("html") != before
        assert provenance.step_digest("train") == tables  # no retraining for a colour
    finally:
        provenance.code_digest.cache_clear()
