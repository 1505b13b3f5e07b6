"""The ``twolayer`` command line, which the workflow's rules call.

Each subcommand is a thin shell around a library function. ``--threads``
(before the subcommand) sets the BLAS thread count *before* NumPy is
imported, so a job given one core uses one core.

Errors a user can fix (a bad file, a bad setting, no network) are printed
as one ``error:`` message naming the file or key and what to do, with exit
status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
from pathlib import Path

from .errors import Stopped, UserError

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def limit_threads(n):
    """Limit BLAS/OpenMP threads to ``n`` (effective only before NumPy is imported)."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)


def _json_arg(text, what):
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"error: --{what} is not valid JSON ({exc})") from None


def _source(args):
    from .data.sources import get_source, source_from_dict

    spec = _json_arg(args.source_json, "source-json")
    if spec is not None:
        return source_from_dict(args.dataset, spec)
    return get_source(args.dataset)


def cmd_fetch(args):
    from .data.fetch import DEFAULT_SEARCH_DIRS, DOWNLOAD_DEFAULTS, fetch_dataset

    dirs = tuple(args.search_dir) if args.search_dir else DEFAULT_SEARCH_DIRS
    given = {k: getattr(args, k) for k in DOWNLOAD_DEFAULTS if getattr(args, k) is not None}
    fetch_dataset(_source(args), args.out_dir, dirs, **given)


def cmd_prepare(args):
    from .data.prepare import prepare_dataset
    from .data.preprocess import check_recipe, get_recipe

    spec = _json_arg(args.recipe_json, "recipe-json")
    recipe = check_recipe(args.recipe, spec) if spec is not None else get_recipe(args.recipe)
    prepare_dataset(_source(args), args.recipe, recipe, args.raw_dir, args.out)


def cmd_info(args):
    from .data.store import info

    for path in args.files:
        print(info(path))


def plural(n, word, many=None):
    """``1 study``, ``2 studies``: a count with its noun."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def cmd_check_config(args):
    from .study.plan.config import load

    plan = load(args.config, args.schema)
    total = refine = 0
    for name, study in plan.studies.items():
        total += len(study.models)
        reps = f" x {study.replicates} replicates ({plural(len(study.models), 'model')})" if study.replicates > 1 else ""
        line = (f"{name}: {study.dataset} / {study.recipe}: {plural(len(study.points), 'point')} over "
                f"{', '.join(study.axes)}{reps}")
        if study.refine:
            refine += study.refine_count
            line += (f"; then its best {study.refine['top']} to {study.refine['replicates']} replicates: "
                     f"{plural(study.refine_count, 'model')} more")
        print(line)
    after = f" (and {refine:,} in refine stages)" if refine else ""
    print(f"{args.config}: valid; {plural(total, 'training job')}{after} in "
          f"{plural(len(plan.studies), 'study', 'studies')}; every job's settings checked")


def cmd_schema(args):
    from .schemas import schema_path
    from .errors import ConfigError
    from .study.plan.schema import schema_with_axes

    path = schema_path(args.schema, "config")
    text = path.read_text()
    fresh = schema_with_axes(text)
    if fresh == text:
        print(f"{path}: its grid block is that of the axes (twolayer.study.plan.axes)")
    elif args.write:
        from .atomic import write_text

        write_text(path, fresh)
        print(f"{path}: grid block written anew from the axes")
    else:
        raise ConfigError(f"{path}: its grid block is not that of the axes (twolayer.study.plan.axes); "
                          "write it anew: twolayer schema --write")


def cmd_train(args):
    # the runner imports NumPy & co. before the memory budget applies
    from .study.plan.resources import apply_limits, release_limits
    from .study.run.runner import run_job

    spec = _json_arg(args.spec, "spec")
    apply_limits(args.mem_mb, args.runtime_min)
    try:
        run_job(spec, args.data, args.model, args.metrics, mem_mb=args.mem_mb)
    finally:
        release_limits()


def cmd_aggregate(args):
    from .study.analysis.aggregate import aggregate

    df, winner = aggregate(args.study, args.metrics, args.benchmarks, args.table, args.winner, args.replicates)
    ok = int((df["status"] == "ok").sum())
    print(f"{args.study}: {len(df)} points ({ok} ok, {len(df) - ok} diverged), {len(args.metrics)} models; "
          f"winner {winner.get('point')}", file=sys.stderr)


def cmd_select_top(args):
    from .study.analysis.aggregate import select_top

    rec = select_top(args.study, args.metrics, args.top, args.out)
    print(f"{args.study}: the grid's best {len(rec['top'])} points, to replicate: {', '.join(rec['top'])}", file=sys.stderr)


def cmd_evaluate(args):
    from .study.analysis.evaluate import evaluate_winner

    rec = evaluate_winner(args.winner, args.data, args.out)
    acc = rec.get("accuracy")
    print(f"{rec['study']}: test accuracy {'n/a' if acc is None else f'{100 * acc:.2f}%'} ({rec.get('point')})", file=sys.stderr)


def cmd_figure(args):
    from .study.report.figures import draw

    draw(args.name, args.out, study=args.study, table=args.table, winner=args.winner, test=args.test, data=args.data,
         trace=args.trace, certainty=args.certainty)


def cmd_certainty(args):
    from .study.analysis.replication import write_expected_max, write_replication

    if args.expected_max:
        write_expected_max(args.table, args.expected_max)
    if args.out_dir:
        cert, var = write_replication(args.study, args.table, args.replicates, args.winner, args.out_dir, seed=args.seed,
                                      axes=[a for a in (args.axes or "").split(",") if a], refine_json=args.refine)
        apart = int((cert["verdict"] == "cannot be told apart").sum()) if "verdict" in cert else 0
        print(f"{args.study}: {len(cert)} points compared; {apart} cannot be told apart from the winner", file=sys.stderr)


def cmd_trace(args):
    from .study.run.trace import trace_winner

    r = trace_winner(args.winner, args.data, args.out)
    if r is not None:
        print(f"trace: {len(r['step'])} points; training {r['train_seconds']:.1f} s, whole-set evaluations "
              f"{r['full_eval_seconds']:.1f} s; max |weight - winner's| = {r['max_weight_diff']:.3g}", file=sys.stderr)


def cmd_table(args):
    from .study.analysis.tables import write_tables

    axes = [a for a in args.axes.split(",") if a]
    write_tables(args.name, args.study, args.table, axes, args.out, test_json=args.test)


def cmd_html(args):
    from .study.report.pages import write_study_summary, write_summary, write_table_page

    if args.kind == "table":
        if not (args.csv and args.study and args.name):
            raise SystemExit("error: 'twolayer html table' needs --csv, --study and --name")
        write_table_page(args.csv, args.out, study=args.study, name=args.name, winner=args.winner)
    elif args.kind == "study":
        spec = _json_arg(args.spec, "spec")
        if spec is None:
            raise SystemExit("error: 'twolayer html study' needs --spec (the study's entry of the summary spec)")
        write_study_summary(spec, args.out)
    else:
        spec = _json_arg(args.spec, "spec")
        if spec is None:
            raise SystemExit("error: 'twolayer html summary' needs --spec")
        write_summary(spec, args.out, front=args.front, config=_json_arg(args.config_json, "config-json"), config_out=args.config_out)


def cmd_scorecard(args):
    from .study.report.pages import write_scorecard_page
    from .study.analysis.scorecard import summary_line, write_scorecard

    run = _json_arg(args.run, "run")
    rows = write_scorecard(args.published, run, args.out_dir, schema_path=args.schema)
    write_scorecard_page(rows, Path(args.out_dir) / "scorecard.html")
    print(f"scorecard: {summary_line(rows)}; written to {args.out_dir}/scorecard.{{csv,md,tex,html}}", file=sys.stderr)


def build_parser():
    p = argparse.ArgumentParser(prog="twolayer", description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: leave the environment as is)")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fetch", help="obtain and verify a dataset's archives")
    f.add_argument("dataset")
    f.add_argument("--out-dir", required=True)
    f.add_argument("--search-dir", action="append", help="local raw directory (repeatable)")
    f.add_argument("--source-json", help="the dataset's source description (for datasets defined in a config)")
    f.add_argument("--timeout", type=float, default=None, help="seconds per connection attempt and read (default 30)")
    f.add_argument("--retries", type=int, default=None, help="retries per URL for transient errors (default 2)")
    f.add_argument("--backoff", type=float, default=None, help="first retry delay in seconds, doubling (default 1)")
    f.add_argument("--deadline", type=float, default=None,
                   help="seconds one file's download from one URL may take in all, retries included (default 3600)")
    f.add_argument("--max-bytes", type=int, default=None,
                   help="bytes a download may have when its file records no size (default 2 GiB)")
    f.set_defaults(func=cmd_fetch)

    pr = sub.add_parser("prepare", help="parse, split, normalise and store a dataset as HDF5")
    pr.add_argument("dataset")
    pr.add_argument("--recipe", required=True)
    pr.add_argument("--recipe-json", help="the recipe's settings (default: the built-in recipe of that name)")
    pr.add_argument("--source-json")
    pr.add_argument("--raw-dir", default=None, help="where 'fetch' put the archives")
    pr.add_argument("--out", required=True)
    pr.set_defaults(func=cmd_prepare)

    i = sub.add_parser("info", help="print shapes, class counts and provenance of dataset files")
    i.add_argument("files", nargs="+")
    i.set_defaults(func=cmd_info)

    c = sub.add_parser("check-config", help="validate a config and count its jobs")
    c.add_argument("config")
    c.add_argument("--schema", default=None, help="a config schema (default: the package's)")
    c.set_defaults(func=cmd_check_config)

    sch = sub.add_parser("schema", help="check (or write anew) the config schema's grid block, generated from the axes")
    sch.add_argument("--schema", default=None, help="the schema file (default: the package's)")
    sch.add_argument("--write", action="store_true", help="write the grid block anew (default: only check it)")
    sch.set_defaults(func=cmd_schema)

    t = sub.add_parser("train", help="train one grid point (a job spec) and write its model and metrics")
    t.add_argument("--spec", required=True, help="the job spec as JSON (the workflow builds it from the config)")
    t.add_argument("--data", required=True)
    t.add_argument("--model", required=True)
    t.add_argument("--metrics", required=True)
    t.add_argument("--mem-mb", type=int, default=None, help="memory budget in MB (as Snakemake's mem_mb): the job stops beyond it")
    t.add_argument("--runtime-min", type=float, default=None, help="time budget (minutes): the job stops after it")
    t.set_defaults(func=cmd_train)

    a = sub.add_parser("aggregate", help="one table per study, and its winner")
    a.add_argument("--study", required=True)
    a.add_argument("--metrics", nargs="+", required=True)
    a.add_argument("--benchmarks", nargs="*", default=None)
    a.add_argument("--table", required=True)
    a.add_argument("--winner", required=True)
    a.add_argument("--replicates", help="also write one row per model (replicates.csv)")
    a.set_defaults(func=cmd_aggregate)

    st = sub.add_parser("select-top", help="the grid's best points, which a refine stage replicates")
    st.add_argument("--study", required=True)
    st.add_argument("--top", type=int, required=True)
    st.add_argument("--metrics", nargs="+", required=True)
    st.add_argument("--out", required=True)
    st.set_defaults(func=cmd_select_top)

    e = sub.add_parser("evaluate", help="the winner, once, on the test set")
    e.add_argument("--winner", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--out", required=True)
    e.set_defaults(func=cmd_evaluate)

    fg = sub.add_parser("figure", help="draw one figure of a study")
    fg.add_argument("name")
    fg.add_argument("--study", required=True)
    fg.add_argument("--out", required=True)
    for opt in ("table", "winner", "test", "data", "trace", "certainty"):
        fg.add_argument(f"--{opt}")
    fg.set_defaults(func=cmd_figure)

    ce = sub.add_parser("certainty", help="how sure the winner is, the variance by source, the expected best for k trials")
    ce.add_argument("--study", required=True)
    ce.add_argument("--table", required=True, help="table.csv (one row per point)")
    ce.add_argument("--replicates", help="replicates.csv (one row per model)")
    ce.add_argument("--winner", help="winner.json")
    ce.add_argument("--refine", help="refine.json (the grid's winner, for the variance by source)")
    ce.add_argument("--axes", help="the study's axes (columns), comma-separated, to name the points")
    ce.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (the workflow passes the study's)")
    ce.add_argument("--out-dir", help="where certainty.{csv,md,tex} and variance.{csv,md,tex} go")
    ce.add_argument("--expected-max", help="also write the expected best for k trials (CSV) here")
    ce.set_defaults(func=cmd_certainty)

    tr = sub.add_parser("trace", help="replay the winner's training, watched on the whole sets (the report's Fig. 2)")
    tr.add_argument("--winner", required=True, help="winner.json")
    tr.add_argument("--data", required=True, help="the study's HDF5 data file")
    tr.add_argument("--out", required=True, help="the trace to write (HDF5)")
    tr.set_defaults(func=cmd_trace)

    tb = sub.add_parser("table", help="write one paper table of a study as CSV, Markdown and LaTeX")
    tb.add_argument("name")
    tb.add_argument("--study", required=True)
    tb.add_argument("--table", required=True, help="the study's aggregate table (CSV)")
    tb.add_argument("--axes", required=True, help="comma-separated grid axes")
    tb.add_argument("--test", help="test.json (for the 'test' table)")
    tb.add_argument("--out", required=True, help="output prefix; .csv, .md and .tex are added")
    tb.set_defaults(func=cmd_table)

    h = sub.add_parser("html", help="HTML pages for the report: one table, one study's summary, or every study's")
    h.add_argument("kind", choices=("table", "study", "summary"))
    h.add_argument("--out", required=True, help="the page to write")
    h.add_argument("--csv", help="table: the CSV to show")
    h.add_argument("--study", help="table: the study it belongs to")
    h.add_argument("--name", help="table: its name (table1, table2, listing, test; 'table' for every model)")
    h.add_argument("--winner", help="table: winner.json, to highlight the winner's row")
    h.add_argument("--spec", help="summary: the studies and their files, as JSON (the workflow builds it); "
                   "study: one study's entry of it")
    h.add_argument("--front", help="summary: also write the fragment the report's front page includes")
    h.add_argument("--config-json", help="summary: the config of the run, shown on the page")
    h.add_argument("--config-out", help="summary: also write that config as YAML (read by 'snakemake --report')")
    h.set_defaults(func=cmd_html)

    sc = sub.add_parser("scorecard", help="every published number beside this run's reproduction")
    sc.add_argument("--published", default="config/published.yaml", help="the published numbers (YAML)")
    sc.add_argument("--run", required=True, help="what ran: studies and their result files, as JSON (the workflow builds it)")
    sc.add_argument("--out-dir", default="results", help="where scorecard.{csv,md,tex,html} go")
    sc.add_argument("--schema", default=None, help="the schema of the published numbers (default: the package's)")
    sc.set_defaults(func=cmd_scorecard)
    return p


def _stop_on(*signums):
    """Turn these signals into :class:`Stopped` (one line in the log, nothing written)."""
    def handler(signum, frame):
        raise Stopped(signal.Signals(signum).name, signum)

    for s in signums:
        signal.signal(s, handler)


DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def disk_full(exc):
    """Whether ``exc`` (or what caused it: h5py wraps HDF5's write errors) is a full disk or a file-size limit."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            return True
        text = str(exc)
        if any(f"errno = {e}," in text or os.strerror(e) in text for e in DISK_FULL):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _unraisable(u):
    """h5py closes a file whose write failed in a destructor, which can only print: a full disk
    is said once, by :func:`main`; anything else as Python says it."""
    if not disk_full(u.exc_value):
        sys.__unraisablehook__(u)


def _excepthook(kind, value, tb):
    """The same for the errors h5py's destructors print through ``sys.excepthook``."""
    if not disk_full(value):
        sys.__excepthook__(kind, value, tb)


def _outputs(args):
    return [str(v) for k in ("out", "model", "metrics", "out_dir", "front", "config_out") if (v := getattr(args, k, None))]


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)
    _stop_on(signal.SIGTERM, signal.SIGINT)
    sys.unraisablehook, sys.excepthook = _unraisable, _excepthook
    try:
        args.func(args)
    except (OSError, RuntimeError) as exc:  # h5py reports a failed write as either
        if not disk_full(exc):
            raise
        where = getattr(exc, "filename", None) or " or ".join(_outputs(args)) or "its output"
        print(f"error: could not write {where}: no space left on the device or the file is over its size limit "
              f"({(exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)).splitlines()[0][:200]}); "
              "nothing was written: free space "
              "(or raise the limit) and run again", file=sys.stderr)
        # HDF5 cannot close a file whose write failed: leave now, before the interpreter's
        # teardown makes it try (the temporary file is already gone: twolayer.atomic)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(4)
    except MemoryError:  # a real allocation failure (the machine, not the budget)
        from .study.plan.resources import memory_message

        print(f"error: {memory_message(getattr(args, 'mem_mb', None))}", file=sys.stderr)
        return 3
    except UserError as exc:  # anything else is a bug, and keeps its traceback
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
