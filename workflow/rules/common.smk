# Shared by every rule: the validated study plan (config -> grid points -> job specs),
# path helpers, and the code digests that make a rule rerun when the code it runs changes.

from pathlib import Path

from snakemake.exceptions import WorkflowError

from twolayer.config import ConfigError, validate
from twolayer.figures import NEEDS, figure_digest, figure_names
from twolayer.provenance import step_digest
from twolayer.tables import TABLES

try:
    PLAN = validate(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

CODE = {step: step_digest(step) for step in ("prepare", "train", "aggregate", "evaluate", "tables")}


wildcard_constraints:
    study=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    recipe=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    point=r"[a-z_]+~[^/~]+(?:/[a-z_]+~[^/~]+)*",
    figure=r"[a-z0-9_]+",
    table=r"[a-z0-9_]+",


def study_points(study):
    return [p.id for p in PLAN.study(study).points]


def data_file(wildcards):
    return PLAN.study(wildcards.study).data_file


def source_of(dataset):
    return PLAN.sources[dataset]


def all_targets():
    out = []
    for name, study in PLAN.studies.items():
        shape = source_of(study.dataset).image_shape
        out += expand("results/{study}/figures/{figure}.png", study=name, figure=figure_names(shape))
        out += expand("results/{study}/tables/{table}.csv", study=name, table=TABLES)
        out.append(f"results/{name}/test.json")
    return out


def raw_input(wildcards):
    if source_of(wildcards.dataset).format == "generated":
        return []
    return f"results/raw/{wildcards.dataset}/provenance.json"


def figure_inputs(wildcards):
    study = PLAN.study(wildcards.study)
    if wildcards.figure not in figure_names(source_of(study.dataset).image_shape):
        raise WorkflowError(f"study {wildcards.study} has no figure {wildcards.figure!r}")
    files = {
        "table": f"results/{wildcards.study}/table.csv",
        "winner": f"results/{wildcards.study}/winner.json",
        "test": f"results/{wildcards.study}/test.json",
        "data": study.data_file,
    }
    return {k: files[k] for k in NEEDS[wildcards.figure]}


def figure_args(wildcards, input):
    return " ".join(f"--{k} {v}" for k, v in input.items())
