"""The numbers the docs quote from a run, regenerated from a fresh demo and checked by a test.

A run-derived number in README.md or docs/*.md stands between two marker lines::

    <!-- generated: NAME -->
    ...
    <!-- end: NAME -->

and this tool writes what stands between them, from a demo's working directory:

    python tools/docblocks.py                 # a fresh copy of the repository, the demo and its report, then the docs
    python tools/docblocks.py --from DIR      # from a demo already run in DIR (with its report)
    python tools/docblocks.py --from DIR --check   # say which blocks differ, change nothing

``tests/docs/test_readme.py`` renders the blocks from the README walk's own demo and compares
them with the docs: exactly, except the run time (measured, so it differs between runs) and
the report's size (its embedded run statistics vary a little: within 10%).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK_RE = re.compile(r"^<!-- generated: ([a-z0-9-]+) -->\n(.*?)^<!-- end: \1 -->$", re.S | re.M)
DEMO = "config/demo.yaml"
MEASURED = {"demo-run": re.compile(r"in about [0-9][0-9.,]* (?:s|min)\b")}  # the run time, masked when checked


def _plan(work):
    sys.path.insert(0, str(REPO / "src"))
    from twolayer.study.plan.config import load

    return load(Path(work) / DEMO)  # by the package's schema


def machine():
    """This CPU as the compiled training loop sees it (its code, and so a float32 run's last bits,
    depend on it): LLVM's name for the host CPU and a digest of its features."""
    import hashlib

    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    features = llvm.get_host_cpu_features().flatten()
    return f"{llvm.get_host_cpu_name()} {hashlib.sha256(features.encode()).hexdigest()[:8]}"


# Blocks whose numbers come from float32 training: generated on one CPU, they hold on that CPU model.
ON_CPU = ("demo-run", "demo-scorecard", "demo-certainty")
ON_RE = re.compile(r"\n<!-- on: (.+) -->$")


def _duration(seconds):
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def run_log(work):
    """``(jobs, seconds)`` of the demo's run: of Snakemake's logs in ``work`` that finished every
    step, the one with the most (later runs there, e.g. a forced table, redo a few)."""
    runs = []
    for log in (Path(work) / ".snakemake" / "log").glob("*.snakemake.log"):
        text = log.read_text()
        m = re.search(r"^(\d+) of \1 steps \(100%\) done$", text, re.M)
        t = re.search(r"^Elapsed time: (\d+):(\d\d):(\d\d(?:\.\d+)?)$", text, re.M)
        if m and t:
            runs.append((int(m.group(1)), 3600 * int(t.group(1)) + 60 * int(t.group(2)) + float(t.group(3))))
    if not runs:
        raise SystemExit(f"no complete run in {work}/.snakemake/log: run the demo there first")
    return max(runs)


def blocks(work):
    """NAME -> the text between its markers, from the demo run in ``work``."""
    work = Path(work)
    res = work / "results"
    plan = _plan(work)
    grid = sum(len(s.models) for s in plan.studies.values())
    refine = sum(s.refine_count for s in plan.studies.values())
    trained = len(list(res.glob("*/models/**/metrics.json")))
    if trained != grid + refine:
        raise SystemExit(f"{work}: {trained} models trained, the demo has {grid + refine}: rerun the demo")
    jobs, seconds = run_log(work)
    refined = [s for s in plan.studies.values() if s.refine]
    test = json.loads((res / refined[0].name / "test.json").read_text())
    rep = test["replicates"]
    out = {
        "demo-run": (
            f"It runs {jobs} jobs ({grid + refine} of them training: {grid} for the grids, {refine} in the "
            f"Fashion-MNIST study's refine stage) in about {_duration(seconds)} on 2 cores. The Fashion-MNIST demo "
            f"winner reaches {100 * test['accuracy']:.2f}% test accuracy ({100 * rep['mean']:.2f} ± "
            f"{100 * (rep['ci_high'] - rep['mean']):.2f}% over its {rep['n']} replicates)."
        ),
    }
    card = (res / "scorecard.md").read_text().splitlines()
    header = card[:2]
    compared = [line for line in card[2:] if line.startswith("| ") and "| not run" not in line]
    not_run = sum("| not run" in line for line in card)
    out["demo-scorecard"] = "\n".join([*header, *compared]) + (
        f"\n\nOnly the spiral's rows are compared by the demo; the {not_run} others are `not run`, and each says "
        "which archives to put where.")
    cert = res / refined[0].name / "certainty"
    out["demo-certainty"] = "\n\n".join((cert / f"{n}.md").read_text().strip() for n in ("certainty", "variance"))
    mb = (res / "report.html").stat().st_size / 1e6
    out["report-size"] = f"The report is one self-contained file, readable without network: about {mb:.1f} MB for the demo."
    on = machine()
    for name in ON_CPU:
        out[name] += f"\n<!-- on: {on} -->"
    return out


def same(name, docs, run):
    """Whether a block of the docs says what the demo ``run`` gave: exactly, but for the run time
    (masked), the report's size (within 10%), and, where the docs' numbers were generated on
    another CPU, every number (masked: the same rows and words, the last bits may differ)."""
    if name == "report-size":
        mb = [float(m) for t in (docs, run) for m in re.findall(r"about ([0-9.]+) MB", t)]
        return len(mb) == 2 and abs(mb[0] - mb[1]) <= 0.1 * mb[1]
    if name in MEASURED:
        docs, run = (MEASURED[name].sub("in about (time)", t) for t in (docs, run))
    cpu = [ON_RE.search(t) for t in (docs, run)]
    if all(cpu) and cpu[0].group(1) != cpu[1].group(1):
        docs, run = (re.sub(r"[0-9]+(?:\.[0-9]+)?", "#", ON_RE.sub("", t)) for t in (docs, run))
    return docs == run


def in_docs(files=DOCS):
    """[(file, NAME, text)] of every generated block of the docs."""
    return [(f, m.group(1), m.group(2).rstrip("\n")) for f in files for m in BLOCK_RE.finditer(f.read_text())]


def rewrite(new, files=DOCS):
    """Write ``new`` (NAME -> text) into the docs' blocks; return the files changed."""
    changed = []
    for f in files:
        text = f.read_text()
        out = BLOCK_RE.sub(lambda m: f"<!-- generated: {m.group(1)} -->\n{new.get(m.group(1), m.group(2).rstrip(chr(10)))}\n"
                           f"<!-- end: {m.group(1)} -->", text)
        if out != text:
            f.write_text(out)
            changed.append(f)
    return changed


def fresh_demo(dst):
    """A copy of the repository as a clone has it, the demo and its report run in it."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    for rel in files:
        if (REPO / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dst / rel)
    t0 = time.perf_counter()
    subprocess.run(["snakemake", "--cores", "2", "--configfile", DEMO], cwd=dst, check=True)
    print(f"the demo took {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    subprocess.run(["snakemake", "--report", "results/report.html"], cwd=dst, check=True)
    return dst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="work", help="a directory where the demo and its report have run")
    ap.add_argument("--check", action="store_true", help="only say which blocks differ")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="twolayer-demo-") as tmp:
        work = Path(args.work) if args.work else fresh_demo(Path(tmp))
        new = blocks(work)
        unknown = sorted({name for _, name, _ in in_docs()} - set(new))
        if unknown:
            raise SystemExit(f"blocks this tool does not make: {unknown}")
        if args.check:
            stale = [(f.name, n) for f, n, text in in_docs() if not same(n, text, new[n])]
            print("\n".join(f"{f}: {n} differs" for f, n in stale) or "every block is up to date")
            return 1 if stale else 0
        for f in rewrite(new):
            print(f"rewrote {f.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
