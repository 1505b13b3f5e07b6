"""The README's commands, and those of the pages it links, work literally as printed, in order.

Every fenced block of README.md, of the pages in docs/ (but docs/performance.md, which
benchmarks/run.py writes) and of profiles/slurm/README.md that holds a command is tagged on
the line above it:

* ``<!-- readme: offline -->``: run by :func:`test_the_readme_offline_commands_run_as_printed`,
  line by line, in a fresh copy of the repository (what ``git clone`` gives): the README's
  blocks in order, then each docs page's, pages by name;
* ``<!-- readme: not run (<why>) -->``: needs the network, a cluster, a venv, or an hour.

Lines that install (``pip install``, ``apt-get``) are what CI has just done on this machine,
and ``pytest`` is this very run; they are checked for form, not run. The same walk is the
offline demo's test: its results are checked against the case study's published outcome, and
the demo's numbers the docs show against what it wrote.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REALDATA_DIR
from report_helpers import check_every_page_renders, report_results
from workflow_helpers import REPO

README = REPO / "README.md"
# the pages whose command blocks are tagged; the walk runs their offline blocks in this order
DOC_PAGES = sorted(p for p in (REPO / "docs").glob("*.md") if p.name != "performance.md")  # performance.md: generated
PAGES = [README, *DOC_PAGES, REPO / "profiles" / "slurm" / "README.md"]
TAG_RE = re.compile(r"^<!-- readme: (offline|not run \(.+\)) -->$")
COMMANDS = ("snakemake", "twolayer", "pip", "pytest", "python", "apt-get")
NOT_RUN_HERE = ("pip install", "apt-get", "pytest")  # done by CI before the tests / this run


def readme_blocks(text=None, page=README):
    """[(tag or None, first line number, language, [command lines])] of every fenced block of a page."""
    lines = (page.read_text() if text is None else text).splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].startswith("```"):
            lang = lines[i][3:].strip()
            start = i
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            above = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
            m = TAG_RE.match(above.strip())
            blocks.append((m.group(1) if m else None, start + 1, lang, commands(body)))
        i += 1
    return blocks


def commands(body):
    """The command lines of a block: comments and blank lines dropped, continuations joined."""
    out, pending = [], ""
    for raw in body:
        line = raw.rstrip()
        if pending:
            line = pending + " " + line.lstrip()
            pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        code = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
        if code and not code.startswith("#"):
            out.append(code)
    return out


def is_command(line):
    return line.split()[0] in COMMANDS


def test_every_command_block_says_whether_the_readme_test_runs_it():
    for page in PAGES:
        untagged = [(n, cmds) for tag, n, lang, cmds in readme_blocks(page=page) if lang != "python" and tag is None and any(map(is_command, cmds))]
        assert not untagged, (
            f"{page.relative_to(REPO)}: blocks with commands need '<!-- readme: offline -->' or "
            f"'<!-- readme: not run (why) -->' on the line above: blocks at lines {[n for n, _ in untagged]}"
        )


def test_the_quick_start_installs_what_the_tests_need():
    """The README's first commands set up what its tests need: a venv and the test extra, and no
    other install comes before the README's first pytest."""
    blocks = [cmds for tag, n, lang, cmds in readme_blocks() if cmds]
    setup = blocks[0]
    assert setup[0].startswith("python3 -m venv") and any(c.startswith("pip install -e '.[test]'") for c in setup), setup
    lines = [c for cmds in blocks for c in cmds]
    assert any(c.startswith("pytest") for c in lines), "the README says how to run the tests"
    before = lines[: next(i for i, c in enumerate(lines) if c.startswith("pytest"))]
    assert [c for c in before if c.startswith("pip install")] == [c for c in setup if c.startswith("pip install")], before
    ci = (REPO / ".ci" / "run").read_text()
    assert "'.[test" in ci and re.search(r"^\S*.*\bpytest\b", ci, re.M)


def test_the_block_parser():
    text = "x\n<!-- readme: offline -->\n```\na --b \\\n  c   # comment\n# only a comment\n\nd\n```\n```\nsnakemake -n\n```\n"
    assert readme_blocks(text) == [("offline", 3, "", ["a --b c", "d"]), (None, 10, "", ["snakemake -n"])]


def fresh_clone(dst):
    """The files a clone of this checkout has (tracked, plus new files not yet committed)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True)
    for rel in files.stdout.splitlines():
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    """The README's offline commands, run in order in a fresh copy; returns (directory, [(command, output)])."""
    if not REALDATA_DIR.is_dir():
        if os.environ.get("TWOLAYER_REQUIRE_REALDATA") == "1":
            pytest.fail("Debian's dataset-fashion-mnist is not installed: apt-get install -y dataset-fashion-mnist")
        pytest.skip("the README's offline demo needs Debian's dataset-fashion-mnist")
    work = fresh_clone(tmp_path_factory.mktemp("clone"))
    ran = []
    for page in (README, *DOC_PAGES):
        for tag, n, lang, cmds in readme_blocks(page=page):
            if tag != "offline" or lang == "python":  # the Python example has its own test
                continue
            for cmd in cmds:
                if cmd.startswith(NOT_RUN_HERE):
                    continue
                r = subprocess.run(["bash", "-c", cmd], cwd=work, capture_output=True, text=True, timeout=1800)
                where = f"{page.relative_to(REPO)} line {n}"
                assert r.returncode == 0, f"{where}: {cmd!r} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
                ran.append((cmd, r.stdout + r.stderr))
    return work, ran




def test_the_python_examples_print_what_their_comments_say(tmp_path):
    """Python blocks tagged offline run as printed; a print whose line ends in '# 0.99, 0.245'
    must print those numbers."""
    text = README.read_text().splitlines()
    examples = [(n, lang) for tag, n, lang, _ in readme_blocks() if tag == "offline" and lang == "python"]
    assert examples, "the README's library example is tagged '<!-- readme: offline -->'"
    for n, _ in examples:
        body = []
        for line in text[n:]:
            if line.startswith("```"):
                break
            body.append(line)
        r = subprocess.run([sys.executable, "-c", "\n".join(body)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"README line {n}: the example fails:\n{r.stderr[-3000:]}"
        printed = r.stdout.splitlines()
        claims = [re.split(r"\s#\s", line, maxsplit=1)[1] for line in body if line.startswith("print(") and re.search(r"\s#\s", line)]
        assert len(claims) == len(printed), (claims, printed)
        for claim, out in zip(claims, printed):
            for number in re.findall(r"\d+\.\d+", claim):
                assert number in out, f"README line {n}: the example prints {out!r}, its comment says {claim!r}"


@pytest.mark.integration
@pytest.mark.realdata
def test_the_readme_offline_commands_run_as_printed(walked):
    work, ran = walked
    run = [c for c, _ in ran]
    # the walk covers the first hour: the demo, the report, the CLI by hand
    assert any(c.startswith("snakemake") and "config/demo.yaml" in c for c in run), run
    assert any("--report" in c for c in run), run
    assert any(c.startswith("twolayer info") for c in run), run
    # the skipped lines are the installs and the tests, and every install says what it installs
    for page in PAGES:
        for tag, n, lang, cmds in readme_blocks(page=page):
            for cmd in cmds:
                if cmd.startswith("pip install"):
                    assert any(a.startswith(".[") for a in shlex.split(cmd)), (page, cmd)


@pytest.mark.integration
@pytest.mark.realdata
def test_the_demo_reproduces_the_case_study_and_uses_debians_copy(walked):
    work, _ = walked
    spiral = pd.read_csv(work / "results/spiral/table.csv")
    best = spiral.sort_values("val_acc").iloc[-1]
    linear = spiral[spiral["model"] == "linear"].iloc[0]
    # the case study's result: the two-layer net separates the spirals, the linear model cannot
    assert best["model"] == "twolayer" and best["val_acc"] >= 0.95 and linear["val_acc"] <= 0.6
    fashion = json.loads((work / "results/fashion_demo/test.json").read_text())
    assert fashion["n"] == 10000 and fashion["accuracy"] > 0.8
    prov = json.loads((work / "results/raw/fashion_mnist/provenance.json").read_text())
    assert all(r["origin"].startswith(f"local:{REALDATA_DIR}/") for r in prov["files"].values())


def docblocks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("docblocks", REPO / "tools" / "docblocks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.integration
@pytest.mark.realdata
def test_the_docs_numbers_are_the_demos(walked):
    """Every generated block of the README and docs/ says what the walk's own demo wrote
    (tools/docblocks.py renders them from it): the job counts, the winner's accuracies, the
    scorecard's rows, the certainty tables, the report's size."""
    work, _ = walked
    tool = docblocks()
    made = tool.blocks(work)
    shown = tool.in_docs()
    assert {name for _, name, _ in shown} == set(made), "every block the tool makes stands in the docs, once"
    stale = [(f.name, name) for f, name, text in shown if not tool.same(name, text, made[name])]
    assert not stale, f"generated blocks that differ from the demo (rerun python tools/docblocks.py): {stale}"
    # what the blocks hold, read from the demo's files directly
    test = json.loads((work / "results/fashion_demo/test.json").read_text())
    assert f"{100 * test['accuracy']:.2f}% test accuracy" in made["demo-run"]
    written = (work / "results/scorecard.md").read_text().splitlines()
    rows = [line for line in made["demo-scorecard"].splitlines() if line.startswith("| 003_")]
    assert len(rows) == 6 and all(line in written for line in rows), rows
    not_run = sum("| not run [" in line for line in written)
    assert f"the {not_run} others are `not run`" in made["demo-scorecard"]
    for name in ("certainty", "variance"):
        assert (work / f"results/fashion_demo/certainty/{name}.md").read_text().strip() in made["demo-certainty"]


def test_a_generated_block_is_checked_exactly_on_its_cpu_and_by_its_words_on_another():
    tool = docblocks()
    here = "Val 85.65 ± 0.20\n<!-- on: rocketlake 43bb2171 -->"
    assert tool.same("demo-certainty", here, here)
    assert not tool.same("demo-certainty", here, here.replace("85.65", "85.66"))  # same CPU: every digit
    other = here.replace("rocketlake 43bb2171", "znver3 0a1b2c3d")
    assert tool.same("demo-certainty", other, here.replace("85.65", "85.66"))  # another CPU: the words
    assert not tool.same("demo-certainty", other, here.replace("Val", "Test"))
    run = "It runs 79 jobs (28 of them training) in about 46 s on 2 cores."
    assert tool.same("demo-run", run, run.replace("46 s", "1.5 min"))  # the time is measured
    assert not tool.same("demo-run", run, run.replace("79 jobs", "77 jobs"))
    size = "about {} MB for the demo."
    assert tool.same("report-size", size.format("7.3"), size.format("7.9"))
    assert not tool.same("report-size", size.format("7.3"), size.format("9.0"))


@pytest.mark.integration
@pytest.mark.realdata
def test_every_page_of_the_demos_report_renders(walked, chromium, tmp_path):
    """The demo's real report, made by the README's command: every page its menu offers opens
    in Chromium (front page, summaries, scorecard, each study's tables and figures pages)."""
    work, _ = walked
    report = work / "results" / "report.html"
    pages = check_every_page_renders(chromium, report, report_results(report), tmp_path)
    assert {"results/summary.html", "results/fashion_demo/summary.html", "results/spiral/summary.html",
            "results/scorecard.html", "results/fashion_demo/tables/table2.html"} <= set(pages)


@pytest.mark.integration
@pytest.mark.realdata
def test_the_commands_by_hand_leave_the_workflows_results_up_to_date(walked):
    """After the whole walk (the demo, then fetch/prepare/info by hand into results/), the
    demo's results are still up to date: re-checking the archives rewrote nothing."""
    work, _ = walked
    r = subprocess.run(["snakemake", "-n", "--configfile", "config/demo.yaml"], cwd=work, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
    assert not (work / "fm.h5").exists()  # nothing by hand lands outside results/ (ignored by git)


def test_every_relative_link_of_the_docs_resolves():
    """Every link of README.md, docs/*.md, config/README.md and profiles/*/README.md to a file
    of the repository names a file that exists."""
    pages = [README, *sorted((REPO / "docs").glob("*.md")), REPO / "config" / "README.md",
             *sorted((REPO / "profiles").glob("*/README.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor of the same page
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert not broken, broken


def test_every_test_the_docs_name_is_where_they_say():
    """Every test the docs cite (``tests/room/test_x.py``, or ``test_x.py::test_name``) is a file of
    tests/ that holds that test, so a reader who looks for a promise's test finds it."""
    pages = [README, *sorted((REPO / "docs").glob("*.md")), REPO / "config" / "README.md",
             *sorted((REPO / "profiles").glob("*/README.md")), REPO / "config" / "published.yaml"]
    files = {p.name: p for p in (REPO / "tests").rglob("test_*.py")}
    cited, wrong = 0, []
    for page in pages:
        text = page.read_text()
        for path in re.findall(r"\btests/[\w/]+\.py\b", text):
            cited += 1
            if not (REPO / path).is_file():
                wrong.append(f"{page.relative_to(REPO)}: {path}")
        for name, test in re.findall(r"\b(test_\w+\.py)::(test_\w+)", text):
            cited += 1
            if name not in files or not re.search(rf"^def {test}\(", files[name].read_text(), re.M):
                wrong.append(f"{page.relative_to(REPO)}: {name}::{test}")
    assert cited > 20 and not wrong, wrong
