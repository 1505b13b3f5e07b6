"""What a Snakemake command line asks for, where Snakemake does not tell the workflow.

Snakemake reads the Snakefile before it says what it will do with it: a workflow cannot ask
it whether this is a report (``--report``), so the command line is the only witness. This is
the one place that reads it (the Snakefile calls :func:`report_only` with ``sys.argv``).
"""

from __future__ import annotations

REPORT_OPTIONS = ("--report", "--reporter")  # each also as --report=FILE / --reporter=NAME
AFTER_RUN = "--report-after-run"  # a run that makes its report at the end: not a report only


def report_only(argv):
    """True if the command line ``argv`` (``sys.argv``: the program, then its arguments) asks
    Snakemake only for a report, i.e. names ``--report`` or ``--reporter`` and not
    ``--report-after-run``; false for a run, a dry run or anything else."""
    args = list(argv[1:])
    if AFTER_RUN in args:
        return False
    return any(a in REPORT_OPTIONS or a.startswith(tuple(o + "=" for o in REPORT_OPTIONS)) for a in args)
