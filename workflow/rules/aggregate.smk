# Every model of a study -> one table (pandas, CSV) and its winner.


rule aggregate:
    input:
        metrics=lambda wc: expand("results/{study}/models/{point}/metrics.json", study=wc.study, point=study_points(wc.study)),
        benchmarks=lambda wc: expand("results/{study}/benchmarks/train/{point}.tsv", study=wc.study, point=study_points(wc.study)),
    output:
        table="results/{study}/table.csv",  # in the report as a page: rule study_table_html
        winner="results/{study}/winner.json",
    params:
        code=CODE["aggregate"],
    log:
        "results/{study}/logs/aggregate.log",
    threads: 1
    shell:
        "twolayer aggregate --study {wildcards.study} --metrics {input.metrics}"
        " --benchmarks {input.benchmarks} --table {output.table} --winner {output.winner} > {log} 2>&1"
