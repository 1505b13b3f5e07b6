"""The HTML report as a reader sees it: built by the real snakemake, opened in real headless Chromium.

The README's commands, literally and in order: a run with ``--configfile``, then
``snakemake --report results/report.html`` with no ``--configfile`` (while a default
``config/config.yaml`` with other studies sits in the working directory). Then, in
Chromium: the report opens on the summary (the front page shows the winner's test
accuracy, and the summary comes first in the menu); its link opens the summary page
inline; every table opens inline (no download) and its header and cells are in the
rendered text, as is the winner's test accuracy on the summary page.

Snakemake's report is a single-page app that embeds each result as a data URI, so
the tests either drive the app (a script added to a copy of the report clicks what a
reader would click and records what the page then holds), or decode an embedded page
and read its rendered text (``innerText``: what the layout shows). Screenshots of the
front page, the summary and a table go to ``$TWOLAYER_REPORT_SCREENSHOTS`` if set.

Skipped without Chromium, unless ``TWOLAYER_REQUIRE_CHROMIUM=1`` (then it fails)."""

from __future__ import annotations

import base64
import csv
import html
import json
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import TINY_DESCRIPTION as DESCRIPTION
from report_helpers import check_every_page_renders, decoded, pane_shows_something, probe, report_results, screenshot
from workflow_helpers import REPO, run_snakemake

pytestmark = pytest.mark.integration


TABLE_NAMES = {"table1", "table2", "listing", "test", "all models"}


@pytest.fixture
def reported(tiny_run):
    """The working directory of the session's tiny run, after `snakemake --cores 2 --configfile ...`
    and then `snakemake --report` alone (conftest.tiny_run): (work, report, its embedded results)."""
    work, _, report, _ = tiny_run
    return work, report, report_results(report)


def winner_test_accuracy(work):
    test = json.loads((work / "results/spiral/test.json").read_text())
    acc = f"{100 * test['accuracy']:.2f}"
    with open(work / "results/spiral/tables/test.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert row["Accuracy (Test Set, %)"] == acc  # the summary prints it as the table does
    return acc


def test_every_table_is_an_html_page_and_the_summary_a_result(reported):
    work, _, results = reported
    mimes = {r["mime_type"] for r in results.values()}
    assert mimes <= {"image/png", "text/html"}, mimes  # nothing the report can only download
    tables = {r["labels"]["table"]: p for p, r in results.items() if "table" in (r["labels"] or {})}
    assert set(tables) == TABLE_NAMES
    assert all(results[p]["mime_type"] == "text/html" for p in tables.values())
    assert results["results/summary.html"]["mime_type"] == "text/html"
    # the CSV, Markdown and LaTeX files are still written
    for t in ("table1", "table2", "listing", "test"):
        for ext in ("csv", "md", "tex"):
            assert (work / "results/spiral/tables" / f"{t}.{ext}").stat().st_size > 0
    # the report used the config of the run (recorded by the workflow), not config/config.yaml
    recorded = (work / "results" / "config.yaml").read_text()
    assert "spiral" in recorded and "mnist_paper" not in recorded


def test_the_report_opens_on_the_summary(chromium, reported, tmp_path):
    work, report, _ = reported
    acc = winner_test_accuracy(work)
    page = report.read_text()
    out = probe(chromium, page, """
        await sleep(300);
        const before = document.querySelector('#app').innerText;
        const link = [...document.querySelectorAll('a')].find(a => a.textContent === 'Open the summary');
        if (!link) return {before, opened: null};
        link.click();
        await sleep(500);
        const frame = document.querySelector('iframe');
        return {before, opened: frame ? frame.getAttribute('src') : null,
                summary: results['results/summary.html'].data_uri};
    """, tmp_path / "front.html")
    card = probe(chromium, page, """
        await sleep(300);
        const link = [...document.querySelectorAll('a')].find(a => a.textContent === 'Open the scorecard');
        if (!link) return {opened: 'no link'};
        link.click();
        await sleep(500);
        const frame = document.querySelector('iframe');
        return {opened: frame ? frame.getAttribute('src') : null, scorecard: results['results/scorecard.html'].data_uri};
    """, tmp_path / "card.html")
    front = out["before"]
    # the report opens on the scorecard: the numbers of this run's studies, those it did not run by reason
    assert front.index("Scorecard.") < front.index("Study\tWinner"), front[:3000]
    assert "of 38 comparisons with published numbers" in front and "mnist_paper (9), mnist_bias (1): needs mnist" in front, front[:3000]
    assert card["opened"] == card["scorecard"], (card["opened"] or "")[:80]
    # the front page: the summary of every study, with the winner's test accuracy
    assert "Open the summary" in front and "Study\tWinner" in front, front[:3000]
    row = next(line for line in front.splitlines() if line.startswith("spiral\t"))
    assert row.split("\t")[-1] == acc, row
    # the menu lists the summary first among the results
    results_menu = front.split("RESULTS", 1)[1].strip().splitlines()
    studies = sorted(yaml.safe_load((work / "results" / "config.yaml").read_text())["studies"])
    assert results_menu[0] == "\u2605 Summary" and results_menu[1:1 + len(studies)] == studies, results_menu[:5]
    # its link opens the summary inline
    assert out["opened"] == out["summary"], (out["opened"] or "")[:80]
    screenshot(chromium, page, tmp_path / "report-front.png")
    screenshot(chromium, page, tmp_path / "report-summary.png", script=(
        "window.addEventListener('load', () => setTimeout(() => [...document.querySelectorAll('a')]"
        ".find(a => a.textContent === 'Open the summary').click(), 300));"
    ))


def test_every_page_the_menu_offers_renders(chromium, reported, tmp_path):
    """The report's own pages and the spiral study's: the tiny and fashion studies' pages are
    of the same kinds, and the demo's report is opened page by page in tests/docs/test_readme.py."""
    _, report, results = reported
    pages = check_every_page_renders(chromium, report, results, tmp_path, skip=("results/tiny/", "results/fashion/"))
    assert {"results/summary.html", "results/spiral/summary.html", "results/scorecard.html"} <= set(pages)


def test_a_blank_pane_is_told_from_a_page():
    """The screenshot check itself: a white pane is blank; the same pane with a line of text is not."""
    from PIL import Image, ImageDraw

    with tempfile.TemporaryDirectory() as d:
        im = Image.new("RGB", (1400, 1000), "white")
        ImageDraw.Draw(im).rectangle((0, 0, 280, 1000), fill=(80, 90, 100))  # the menu
        im.save(Path(d) / "blank.png")
        ImageDraw.Draw(im).text((320, 40), "Summary of spiral: accuracy 97.00", fill="black")
        im.save(Path(d) / "page.png")
        assert not pane_shows_something(Path(d) / "blank.png")
        assert pane_shows_something(Path(d) / "page.png")


def test_summary_pages_stay_within_what_a_browser_opens(tmp_path):
    """A study with many large figures: its page keeps the figures that fit the budget, says
    which it left out, and stays under Chromium's URL limit once Snakemake embeds it."""
    import numpy as np
    from PIL import Image

    from twolayer.study.report.pages import PAGE_BUDGET, URL_LIMIT, data_url_length, study_page, study_record

    rng = np.random.default_rng(0)
    figures = []
    for k in range(8):  # noise does not compress: ~600 kB a figure even at the page's width
        path = tmp_path / f"f{k}.png"
        Image.fromarray(rng.integers(0, 256, (600, 1000, 3), dtype=np.uint8)).save(path)
        figures.append([f"fig{k}", str(path)])
    (tmp_path / "winner.json").write_text(json.dumps({"study": "s", "point": "h~1", "models": 1, "models_diverged": 0,
                                                      "val_acc": 0.5, "hyperparameters": {"hidden": 1}}))
    (tmp_path / "test.json").write_text(json.dumps({"study": "s", "point": "h~1", "accuracy": 0.5, "n": 10}))
    (tmp_path / "table.csv").write_text("study,point,status,val_acc\ns,h~1,ok,0.5\n")
    rec = study_record({"name": "s", "winner": str(tmp_path / "winner.json"), "test": str(tmp_path / "test.json"),
                        "table": str(tmp_path / "table.csv"), "axes": ["hidden"], "figures": figures})
    text = study_page(rec)
    shown = text.count('<img src="data:image/png;base64,')
    assert 0 < shown < 8 and len(text.encode()) <= PAGE_BUDGET
    assert data_url_length(text) < URL_LIMIT
    assert "Not shown here" in text and f"fig{shown}" in text.split("Not shown here", 1)[1]
    # the data URL length is what base64 gives
    assert data_url_length(text) == len("data:text/html;charset=utf8;base64,") + len(base64.b64encode(text.encode()))


def test_the_summary_page_shows_the_winner(chromium, reported, tmp_path):
    work, _, results = reported
    acc = winner_test_accuracy(work)
    overview = probe(chromium, decoded(results, "results/summary.html"), "return document.body.innerText;",
                     tmp_path / "overview.html")
    assert "spiral" in overview and acc in overview
    page = decoded(results, "results/spiral/summary.html")
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page  # nothing fetched
    assert html.escape(DESCRIPTION) in page and DESCRIPTION not in page  # escaped
    text = probe(chromium, page, "return document.body.innerText;", tmp_path / "summary.html")
    winner = json.loads((work / "results/spiral/winner.json").read_text())
    assert DESCRIPTION in text  # shown as text
    assert "Accuracy (Test Set, %)" in text and acc in text
    assert f"{100 * winner['val_acc']:.2f}" in text
    hidden = winner["hyperparameters"]["hidden"]
    if hidden is not None:  # the winner's hyperparameters, named as in the paper tables
        assert f"Hidden units\n{hidden}" in text or f"Hidden units\t{hidden}" in text, text[:2000]
    assert "Top models by validation accuracy".upper() in text.upper()
    assert page.count('<img src="data:image/png;base64,') >= 3  # the figures are in the page


def test_every_table_opens_inline_with_its_text(chromium, reported, tmp_path):
    work, report, results = reported
    acc = winner_test_accuracy(work)
    page = report.read_text()
    # what a reader does: Results > spiral > Tables, then the eye of each table
    out = probe(chromium, page, """
        await sleep(300);
        app.setView({navbarMode: 'subcategory', category: 'spiral', subcategory: 'Tables'});
        await sleep(300);
        const rows = [...document.querySelectorAll('tr')].filter(tr => tr.querySelector('a[iconname="eye"]'));
        const seen = {};
        for (const tr of rows) {
            const eye = tr.querySelector('a[iconname="eye"]');
            const label = tr.innerText.trim();
            const download = eye.hasAttribute('download');
            eye.click();
            await sleep(300);
            const frame = document.querySelector('iframe');
            seen[label] = {download, src: frame ? frame.getAttribute('src').slice(0, 40) : null};
        }
        return seen;
    """, tmp_path / "tables.html")
    assert set(out) == TABLE_NAMES, out
    for label, seen in out.items():
        assert not seen["download"] and (seen["src"] or "").startswith("data:text/html"), (label, seen)
    # each page's rendered text holds its header and its cells, as the CSV has them
    pages = {r["labels"]["table"]: p for p, r in results.items()
             if "table" in (r["labels"] or {}) and p.startswith("results/spiral/")}
    assert set(pages) == TABLE_NAMES
    for label, path in sorted(pages.items()):
        text = probe(chromium, decoded(results, path), "return document.body.innerText;", tmp_path / f"{label}.html")
        csv_path = work / path.replace(".html", ".csv")
        with open(csv_path, newline="") as f:
            header, *rows = list(csv.reader(f))
        for cell in [*header, *rows[0]]:
            if cell and cell != "spiral":  # the study column is the page's title
                assert cell in text, (label, cell, text[:1500])
        if label == "test":
            assert "Accuracy (Test Set, %)" in text and acc in text
    screenshot(chromium, page, tmp_path / "report-table.png", script=(
        "window.addEventListener('load', () => setTimeout(() => {"
        " app.setView({navbarMode: 'subcategory', category: 'spiral', subcategory: 'Tables'});"
        " setTimeout(() => [...document.querySelectorAll('tr')].find(tr => tr.innerText.trim() === 'test')"
        ".querySelector('a[iconname=\"eye\"]').click(), 300); }, 300));"
    ))


def test_a_report_without_results_says_what_to_run(tmp_path):
    work = tmp_path / "empty"
    (work / "config").mkdir(parents=True)
    shutil.copy(REPO / "config" / "config.yaml", work / "config" / "config.yaml")
    r = run_snakemake(work, None, "--report", "results/report.html", check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "cannot make the report" in out and "config/config.yaml" in out, out[-3000:]
    assert "Traceback" not in out and not (work / "results" / "report.html").exists()


def test_pages_escape_what_they_show_and_mark_diverged_models(tmp_path):
    """The page builders alone (no snakemake, no browser): escaping, diverged rows, no winner."""
    from twolayer.study.report.pages import write_study_summary, write_summary, write_table_page

    listing = tmp_path / "listing.csv"
    listing.write_text('Hidden units,Val accuracy (%),Status\n1,50.00,ok\n2,diverged,diverged at step 12\n')
    write_table_page(listing, tmp_path / "listing.html", study="s", name="listing")
    page = (tmp_path / "listing.html").read_text()
    assert '<tr class="diverged"><td class="num">2</td><td class="num">diverged</td><td>diverged at step 12</td></tr>' in page
    assert "<th scope=\"col\">Status</th>" in page and "50.00" in page  # cells as the CSV has them
    table = tmp_path / "table.csv"
    table.write_text("study,point,status,val_acc\ns,h~1,diverged,\ns,h~2,diverged,\n")
    (tmp_path / "winner.json").write_text(json.dumps({"study": "s", "point": None, "models": 2, "models_diverged": 2}))
    (tmp_path / "test.json").write_text(json.dumps({"study": "s", "point": None, "accuracy": None}))
    spec = {"studies": [{"name": "s", "description": "<script>alert(1)</script>", "dataset": "d", "recipe": "r",
                         "axes": ["hidden"], "winner": str(tmp_path / "winner.json"), "test": str(tmp_path / "test.json"),
                         "table": str(table), "top": str(listing), "figures": []}]}
    write_summary(spec, tmp_path / "summary.html", front=tmp_path / "front.html", config={"lr": 1.0e-6}, config_out=tmp_path / "c.yaml")
    write_study_summary(spec["studies"][0], tmp_path / "s.html")
    summary = (tmp_path / "s.html").read_text()
    assert "<script>" not in summary and "&lt;script&gt;alert(1)&lt;/script&gt;" in summary
    assert "No winner: every model diverged." in summary
    assert "no winner: every model diverged" in (tmp_path / "summary.html").read_text()
    assert "no winner: every model diverged" in (tmp_path / "front.html").read_text()
    assert (tmp_path / "c.yaml").read_text() == "lr: 1.0e-06\n"  # read back as the same float
    assert not list(tmp_path.glob(".*.tmp-*"))  # written atomically, nothing left over


@pytest.mark.parametrize("argv, only", [
    (["snakemake", "--report", "results/report.html"], True),
    (["snakemake", "--report=results/report.html"], True),
    (["snakemake", "--reporter", "html", "--report", "r.html"], True),
    (["snakemake", "--reporter=html"], True),
    (["snakemake", "--cores", "2", "--report-after-run", "--report", "r.html"], False),
    (["snakemake", "--cores", "2"], False),
    (["snakemake", "-n", "--configfile", "config/demo.yaml"], False),
    (["snakemake", "--report-stylesheet", "s.css", "--cores", "1"], False),
    (["--report"], False),  # the program's own name is not an argument
])


def test_report_mode_is_read_from_the_command_line_in_one_function(argv, only):
    from twolayer.study.plan.invocation import report_only

    assert report_only(argv) is only


def test_only_that_function_reads_the_command_line():
    places = [p for p in [REPO / "Snakefile", *sorted((REPO / "workflow").rglob("*.smk"))] if "sys.argv" in p.read_text()]
    assert places == [REPO / "Snakefile"]
    assert (REPO / "Snakefile").read_text().count("sys.argv") == 1
