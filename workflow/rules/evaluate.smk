# The winner, once, on the test set: the only rule that reads a test split.


rule evaluate:
    input:
        winner="results/{study}/winner.json",
        data=data_file,  # the winner's replicates, if any, are named in winner.json
    output:
        "results/{study}/test.json",
    params:
        code=CODE["evaluate"],
    log:
        "results/{study}/logs/evaluate.log",
    threads: 1
    shell:
        "twolayer --threads {threads} evaluate --winner {input.winner} --data {input.data} --out {output} > {log} 2>&1"


# The report's Fig. 2 (figure curves_report): the winner's training replayed from its recorded
# seeds (bit-identical: same single BLAS thread as rule train) and watched on the whole training
# and validation sets at 51 points. Once per study, not per grid point: see twolayer.study.run.trace.
# A local rule (Snakefile): on a cluster it runs where Snakemake runs.
rule trace:
    input:
        winner="results/{study}/winner.json",
        data=data_file,
    output:
        "results/{study}/trace.h5",
    params:
        code=CODE["trace"],
    log:
        "results/{study}/logs/trace.log",
    threads: 1
    shell:
        "twolayer --threads {threads} trace --winner {input.winner} --data {input.data} --out {output} > {log} 2>&1"
