# One job per grid point: the job spec (every setting, resolved from the config) goes in
# as a parameter, so changing any setting of a point reruns exactly the points it touches.


rule train:
    input:
        data=data_file,
    output:
        model="results/{study}/models/{point}/model.h5",
        metrics="results/{study}/models/{point}/metrics.json",
    params:
        spec=lambda wc: PLAN.spec_json(wc.study, wc.point),
        code=CODE["train"],
    log:
        "results/{study}/logs/train/{point}.log",
    benchmark:
        "results/{study}/benchmarks/train/{point}.tsv"
    threads: 1
    # On a cluster, many short training jobs share one allocation (see profiles/slurm);
    # when running locally, groups are ignored.
    group:
        "train"
    resources:
        mem_mb=lambda wc, input, attempt: PLAN.train_mem_mb(wc.study, wc.point, input.size_mb, attempt),
        runtime=lambda wc, attempt: PLAN.train_runtime_min(wc.study, wc.point, attempt),
    retries: PLAN.resources["train"]["retries"]
    shell:
        "twolayer --threads {threads} train --spec {params.spec:q} --data {input.data}"
        " --model {output.model} --metrics {output.metrics}"
        " --mem-mb {resources.mem_mb} --runtime-min {resources.runtime} > {log} 2>&1"
