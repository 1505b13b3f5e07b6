# Every model of a study -> one table (pandas, CSV) and its winner.


# A study with `refine` first ranks its grid (checkpoint select_top), then trains the replicates of
# its best points; Snakemake re-evaluates rule aggregate's inputs once the checkpoint has run.
checkpoint select_top:
    input:
        metrics=lambda wc: expand("results/{study}/models/{point}/metrics.json", study=wc.study, point=study_models(wc.study)),
    output:
        "results/{study}/refine.json",
    params:
        top=lambda wc: PLAN.study(wc.study).refine["top"],
        code=CODE["aggregate"],
    log:
        "results/{study}/logs/select_top.log",
    localrule: True
    threads: 1
    shell:
        "twolayer select-top --study {wildcards.study} --top {params.top:q} --metrics {input.metrics} --out {output} > {log} 2>&1"


rule aggregate:
    input:
        metrics=lambda wc: expand("results/{study}/models/{point}/metrics.json", study=wc.study, point=refine_models(wc)),
        benchmarks=lambda wc: expand("results/{study}/benchmarks/train/{point}.tsv", study=wc.study, point=refine_models(wc)),
    output:
        table="results/{study}/table.csv",  # in the report as a page: rule study_table_html
        winner="results/{study}/winner.json",
        replicates="results/{study}/replicates.csv",  # one row per model (a single run: one per point)
    params:
        code=CODE["aggregate"],
    log:
        "results/{study}/logs/aggregate.log",
    threads: 1
    shell:
        "twolayer aggregate --study {wildcards.study} --metrics {input.metrics}"
        " --benchmarks {input.benchmarks} --table {output.table} --winner {output.winner}"
        " --replicates {output.replicates} > {log} 2>&1"


# What replicates say: how sure the winner is, the variance by source (studies with replicates).
rule certainty:
    input:
        table="results/{study}/table.csv",
        replicates="results/{study}/replicates.csv",
        winner="results/{study}/winner.json",
        refine=lambda wc: ["results/{study}/refine.json"] if PLAN.study(wc.study).refine else [],
    output:
        expand("results/{{study}}/certainty/{table}.{ext}", table=("certainty", "variance"), ext=("csv", "md", "tex")),
    params:
        refine=lambda wc, input: f"--refine {shlex.quote(str(input.refine))}" if input.refine else "",
        axes=lambda wc: ",".join(PLAN.study(wc.study).axes),
        seed=lambda wc: PLAN.study(wc.study).seed,
        code=CODE["certainty"],
    log:
        "results/{study}/logs/certainty.log",
    localrule: True
    threads: 1
    shell:
        "twolayer certainty --study {wildcards.study} --table {input.table} --replicates {input.replicates}"
        " --winner {input.winner} {params.refine} --axes {params.axes:q} --seed {params.seed:q}"
        " --out-dir results/{wildcards.study}/certainty > {log} 2>&1"
