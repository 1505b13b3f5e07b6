"""twolayer: raw archives -> HDF5 -> one job per grid point -> tables, figures, report.

    snakemake --cores 8                                  # every study of config/config.yaml
    snakemake --cores 2 --configfile config/demo.yaml   # the offline demo
    snakemake --report results/report.html               # the HTML report

The rules only wire files together; every number is computed by the
``twolayer`` package (src/twolayer), which the rules call through its CLI.
"""

from snakemake.utils import min_version

min_version("9.0")

# The default studies, unless a --configfile is given (Snakemake would otherwise
# merge that file into these, and a small config would still run every study).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# On a cluster, only prepare and train are submitted; these run where Snakemake runs
# (fetch needs the internet, which compute nodes often lack; the rest take seconds).
localrules:
    all,
    fetch,
    aggregate,
    evaluate,
    figure,
    table,


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/tables.smk"


rule all:
    input:
        all_targets(),
    default_target: True
