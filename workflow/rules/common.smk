# Shared by every rule: the validated study plan (config -> grid points -> job specs),
# path helpers, and the code digests that make a rule rerun when the code it runs changes.

import json
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError

from twolayer.data.formats import FORMATS
from twolayer.study.run.board import register as register_board
from twolayer.errors import UserError
from twolayer.errors import ConfigError
from twolayer.study.plan.config import validate
from twolayer.study.report.figures import NEEDS, figure_digest, figure_names
from twolayer.study.plan.provenance import step_digest
from twolayer.study.analysis.scorecard import load_published
from twolayer.study.analysis.tables import TABLES

try:
    PLAN = validate(config)  # by the package's schema (twolayer/schemas/config.schema.yaml)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

# The published numbers the scorecard compares this run with (workflow/rules/scorecard.smk).
PUBLISHED = str(Path(workflow.basedir) / "config" / "published.yaml")
try:
    PUBLISHED_NUMBERS = load_published(PUBLISHED)
except UserError as exc:
    raise WorkflowError(str(exc)) from None

# per-study progress lines on the console (the logger plugin of profiles/default reads it)
register_board(PLAN)

CODE = {
    step: step_digest(step)
    for step in ("prepare", "train", "aggregate", "evaluate", "tables", "html", "scorecard", "trace", "certainty")
}


wildcard_constraints:
    study=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    recipe=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    point=r"[a-z_]+~[^/~]+(?:/[a-z_]+~[^/~]+)*",
    figure=r"[a-z0-9_]+",
    table=r"[a-z0-9_]+",


def study_models(study):
    """The models of a study's grid stage: every point and its replicates (config: replicates.n)."""
    return PLAN.study(study).models


def refine_models(wildcards):
    """The grid stage's models, and those of the refine stage once checkpoint select_top has
    chosen the grid's best points (config: refine; workflow/rules/aggregate.smk)."""
    study = PLAN.study(wildcards.study)
    models = list(study.models)
    if study.refine:
        chosen = json.loads(Path(checkpoints.select_top.get(study=wildcards.study).output[0]).read_text())
        models += study.refine_models(chosen["top"], chosen["grid_winner"])
    return models


def data_file(wildcards):
    return PLAN.study(wildcards.study).data_file


def source_of(dataset):
    return PLAN.sources[dataset]


def all_targets():
    out = []
    for name, study in PLAN.studies.items():
        shape = source_of(study.dataset).image_shape
        out += expand("results/{study}/figures/{figure}.png", study=name, figure=figure_names(shape, study.replicated))
        if study.replicated:
            out += expand("results/{study}/certainty/{table}.{ext}", study=name, table=("certainty", "variance"),
                          ext=("csv", "md", "tex"))
        out += expand("results/{study}/tables/{table}.{ext}", study=name, table=TABLES, ext=("csv", "html"))
        out += [f"results/{name}/test.json", f"results/{name}/table.html"]
    out += [SUMMARY, *SCORECARD.values()]
    return out


# -- the report (workflow/rules/report.smk) ---------------------------------------------------
# Snakemake's report shows images and HTML pages inline; a CSV it only offers as a download. So
# every table also gets an HTML page, and the report opens on a summary of every study.

SUMMARY = "results/summary.html"
SCORECARD = {ext: f"results/scorecard.{ext}" for ext in ("csv", "md", "tex", "html")}
SUMMARY_FRONT = "results/summary_front.html"  # included by workflow/report/workflow.rst
# The report's menu lists categories alphabetically (JavaScript localeCompare): a leading
# symbol sorts before any study name (which starts with a letter or a digit).
SUMMARY_CATEGORY = "\u2605 Summary"
# The figures the summary shows, when the study has them (the report has every figure).
SUMMARY_FIGURES = ("curves", "curves_report", "heatmap", "certainty", "expected_max", "confusion", "boundaries", "templates", "w1")


def summary_spec():
    """What `twolayer html summary` reads, for every study of the config, by name (as the
    report's menu lists them; and reordering the config's studies changes nothing)."""
    studies = []
    for name, study in sorted(PLAN.studies.items()):
        names = figure_names(source_of(study.dataset).image_shape, study.replicated)
        studies.append(
            {
                "name": name,
                "description": study.description,
                "dataset": study.dataset,
                "recipe": study.recipe,
                "axes": study.axes,
                "winner": f"results/{name}/winner.json",
                "test": f"results/{name}/test.json",
                "table": f"results/{name}/table.csv",
                "top": f"results/{name}/tables/table2.csv",
                "figures": [[f, f"results/{name}/figures/{f}.png"] for f in SUMMARY_FIGURES if f in names],
                "page": f"results/{name}/summary.html",
            }
        )
    return {"studies": studies, "scorecard": SCORECARD["csv"], "scorecard_page": SCORECARD["html"]}


def scorecard_run():
    """What `twolayer scorecard --run` reads: the studies of this run that published numbers name
    (their data and result files), and how to obtain the datasets of the others."""
    studies = {}
    for name in sorted(set(PUBLISHED_NUMBERS["studies"]) & set(PLAN.studies)):
        st = PLAN.study(name)
        studies[name] = {
            "dataset": st.dataset,
            "recipe": st.recipe,
            "published_data": PLAN.is_builtin(st.dataset, st.recipe),
            "table": f"results/{name}/table.csv",
            "winner": f"results/{name}/winner.json",
            "test": f"results/{name}/test.json",
        }
    datasets = {}
    for ds in sorted({p["dataset"] for p in PUBLISHED_NUMBERS["studies"].values()}):
        if ds in PLAN.sources:
            src = PLAN.sources[ds]
            datasets[ds] = {
                "downloaded": FORMATS[src.format].downloaded,
                "files": [f.name for f in src.files],
                "dirname": (src.dirnames or (ds,))[0],
            }
    return {"studies": studies, "datasets": datasets}


def scorecard_inputs(wildcards):
    files = [PUBLISHED]
    for st in scorecard_run()["studies"].values():
        files += [st["table"], st["winner"], st["test"]]
    return files


def study_summary_spec(study):
    """One study's entry of summary_spec(): what its summary page shows."""
    return next(st for st in summary_spec()["studies"] if st["name"] == study)


def study_summary_inputs(wildcards):
    st = study_summary_spec(wildcards.study)
    return [st["winner"], st["test"], st["table"], st["top"], *(path for _, path in st["figures"])]


def summary_inputs(wildcards):
    files = [SCORECARD["csv"], SCORECARD["html"]]
    for st in summary_spec()["studies"]:
        files += [st["winner"], st["test"], st["table"], st["page"]]
    return files


def raw_input(wildcards):
    if not FORMATS[source_of(wildcards.dataset).format].downloaded:  # generated from a seed: nothing to fetch
        return []
    return f"results/raw/{wildcards.dataset}/provenance.json"


def figure_inputs(wildcards):
    study = PLAN.study(wildcards.study)
    if wildcards.figure not in figure_names(source_of(study.dataset).image_shape, study.replicated):
        raise WorkflowError(f"study {wildcards.study} has no figure {wildcards.figure!r}")
    files = {
        "table": f"results/{wildcards.study}/table.csv",
        "winner": f"results/{wildcards.study}/winner.json",
        "test": f"results/{wildcards.study}/test.json",
        "data": study.data_file,
        "trace": f"results/{wildcards.study}/trace.h5",
        "certainty": f"results/{wildcards.study}/certainty/certainty.csv",
    }
    return {k: files[k] for k in NEEDS[wildcards.figure]}


def figure_args(wildcards, input):
    return " ".join(f"--{k} {shlex.quote(str(v))}" for k, v in input.items())
