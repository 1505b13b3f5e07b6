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
import json
import os
import sys

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
    from .data.fetch import DEFAULT_SEARCH_DIRS, fetch_dataset

    dirs = tuple(args.search_dir) if args.search_dir else DEFAULT_SEARCH_DIRS
    fetch_dataset(_source(args), args.out_dir, dirs, timeout=args.timeout, retries=args.retries, backoff=args.backoff)


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


def build_parser():
    p = argparse.ArgumentParser(prog="twolayer", description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: leave the environment as is)")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fetch", help="obtain and verify a dataset's archives")
    f.add_argument("dataset")
    f.add_argument("--out-dir", required=True)
    f.add_argument("--search-dir", action="append", help="local raw directory (repeatable)")
    f.add_argument("--source-json", help="the dataset's source description (for datasets defined in a config)")
    f.add_argument("--timeout", type=float, default=30.0, help="seconds per connection attempt and read")
    f.add_argument("--retries", type=int, default=2, help="retries per URL for transient errors")
    f.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds (doubles)")
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

    return p


def user_errors():
    """The exception types that mean 'fix your input', not 'bug'."""
    from .data.fetch import FetchError
    from .data.idx import FormatError
    from .data.store import DataFileError
    from .data.verify import VerificationError
    from .errors import UserError

    return (FetchError, FormatError, DataFileError, VerificationError, UserError, ValueError, FileNotFoundError, KeyError)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)
    try:
        args.func(args)
    except user_errors() as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
