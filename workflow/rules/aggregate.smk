# Every model of a study -> one table (pandas, CSV) and its winner.


rule aggregate:
    input:
        metrics=lambda wc: expand("results/{study}/models/{point}/metrics.json", study=wc.study, point=study_points(wc.study)),
        benchmarks=lambda wc: expand("results/{study}/benchmarks/train/{point}.tsv", study=wc.study, point=study_points(wc.study)),
    output:
        table=report(
            "results/{study}/table.csv",
            caption="../report/table.rst",
            category="{study}",
            subcategory="Tables",
            labels={"table": "all models"},
        ),
        winner="results/{study}/winner.json",
    params:
        code=CODE["aggregate"],
    log:
        "results/{study}/logs/aggregate.log",
    threads: 1
    shell:
        "twolayer aggregate --study {wildcards.study} --metrics {input.metrics}"
        " --benchmarks {input.benchmarks} --table {output.table} --winner {output.winner} > {log} 2>&1"
