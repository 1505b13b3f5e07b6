"""Are two runs' results the same? Compare two working directories of the workflow.

    python benchmarks/compare_results.py DIR_A DIR_B [--study NAME ...]

For every study found in both (or those named): every model's weights and training
history, ``winner.json`` and ``test.json``, every paper table (.csv, .md, .tex) byte for
byte, and ``table.csv`` value for value (the measured-cost columns left out, since they
differ between any two runs; a different column order is reported, not counted).
Exits 1 and lists what differs, or 0. Used to check that a refactor changes no result:
run the demo with the old and the new code into two directories, then compare them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import pandas as pd

from twolayer.study.analysis.aggregate import RUNTIME_COLUMNS


def compare_study(ra, rb):
    diffs, notes = [], []
    ta = pd.read_csv(ra / "table.csv").drop(columns=RUNTIME_COLUMNS)
    tb = pd.read_csv(rb / "table.csv").drop(columns=RUNTIME_COLUMNS)
    if sorted(ta.columns) != sorted(tb.columns) or not ta.equals(tb[ta.columns]):
        diffs.append("table.csv values")
    elif list(ta.columns) != list(tb.columns):
        notes.append("table.csv: same values, columns in another order")
    for f in ("winner.json", "test.json"):
        if json.loads((ra / f).read_text()) != json.loads((rb / f).read_text()):
            diffs.append(f)
    for t in sorted((ra / "tables").glob("*")):
        other = rb / "tables" / t.name
        if not other.exists() or t.read_bytes() != other.read_bytes():
            diffs.append(f"tables/{t.name}")
    n = 0
    for m in sorted(ra.glob("models/**/model.h5")):
        m2 = rb / m.relative_to(ra)
        if not m2.exists():
            diffs.append(f"{m.relative_to(ra)} missing")
            continue
        with h5py.File(m) as f, h5py.File(m2) as g:
            for group in ("params", "history"):
                for k in f[group]:
                    if f[group][k][()].tobytes() != g[group][k][()].tobytes():
                        diffs.append(f"{m.relative_to(ra)}: {group}/{k}")
        n += 1
    return diffs, notes, n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--study", action="append")
    args = ap.parse_args(argv)
    a, b = Path(args.a) / "results", Path(args.b) / "results"
    studies = args.study or sorted(p.parent.name for p in a.glob("*/table.csv") if (b / p.parent.name / "table.csv").exists())
    bad = 0
    for s in studies:
        diffs, notes, n = compare_study(a / s, b / s)
        print(f"{s}: {n} model files (weights, histories), winner, test, tables: " + ("identical" if not diffs else f"{len(diffs)} differ"))
        for d in diffs:
            print(f"  differs: {d}")
        for note in notes:
            print(f"  note: {note}")
        bad += len(diffs)
    return 1 if bad or not studies else 0


if __name__ == "__main__":
    sys.exit(main())
