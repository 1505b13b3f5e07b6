"""twolayer: raw archives -> HDF5 -> one job per grid point -> tables, figures, report.

    snakemake --cores 8                                  # every study of config/config.yaml
    snakemake --cores 2 --configfile config/demo.yaml   # the offline demo
    snakemake --report results/report.html               # the HTML report

The rules only wire files together; every number is computed by the
``twolayer`` package (src/twolayer), which the rules call through its CLI.
"""

import sys
from pathlib import Path

from snakemake.utils import min_version

from twolayer.study.plan.invocation import report_only

min_version("9.0")

# The config of the last complete run, recorded by rule summary (workflow/rules/report.smk).
RUN_CONFIG = "results/config.yaml"
# Only a report is asked for (`--report`, not `--report-after-run`): Snakemake does not tell
# the workflow, so its command line is read, in this one function.
REPORT_ONLY = report_only(sys.argv)

# The default studies, unless a --configfile is given (Snakemake would otherwise
# merge that file into these, and a small config would still run every study).
# A report without --configfile shows the results that exist: those of the last complete
# run, whatever its config (`snakemake --cores 2 --configfile config/demo.yaml` and then
# `snakemake --report results/report.html` reports on the demo).
if not workflow.overwrite_configfiles:
    if REPORT_ONLY and Path(RUN_CONFIG).is_file():

        configfile: RUN_CONFIG

    else:

        configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# On a cluster, only prepare and train are submitted; these run where Snakemake runs
# (fetch needs the internet, which compute nodes often lack; the rest take seconds, the
# winner's replay of rule trace one model's training: once per study, not worth a queue).
localrules:
    all,
    fetch,
    aggregate,
    evaluate,
    trace,
    figure,
    table,


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/scorecard.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True


# A report needs every result of its config; say which are missing, and what to run.
if REPORT_ONLY:
    _missing = [f for f in all_targets() if not Path(f).exists()]
    if _missing:
        raise WorkflowError(
            f"cannot make the report: {len(_missing)} results of the studies in "
            f"{', '.join(map(str, workflow.configfiles))} are missing (e.g. {_missing[0]}). "
            "Run the workflow first (snakemake --cores 2, with the same --configfile); without "
            f"--configfile, the report shows the last complete run, recorded in {RUN_CONFIG}."
        )
