# The winner, once, on the test set: the only rule that reads a test split.


rule evaluate:
    input:
        winner="results/{study}/winner.json",
        data=data_file,
    output:
        "results/{study}/test.json",
    params:
        code=CODE["evaluate"],
    log:
        "results/{study}/logs/evaluate.log",
    threads: 1
    shell:
        "twolayer --threads {threads} evaluate --winner {input.winner} --data {input.data} --out {output} > {log} 2>&1"
