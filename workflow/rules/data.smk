# Raw archives (verified) -> results/raw/<dataset>/; then one HDF5 file per (dataset, recipe).
# Every value from the config reaches the shell quoted ({...:q}, shlex.quote): a raw directory
# may have a space or a ';' in its name.

import shlex


rule fetch:
    output:
        "results/raw/{dataset}/provenance.json",
    params:
        source=lambda wc: PLAN.source_json(wc.dataset),
        search=lambda wc: " ".join(f"--search-dir {shlex.quote(str(d))}" for d in PLAN.raw_dirs),
        timeout=PLAN.download["timeout"],
        retries=PLAN.download["retries"],
        # download bounds (twolayer.data.fetch): per file and URL, and for files that record no size
        deadline=PLAN.download["deadline"],
        max_bytes=PLAN.download["max_bytes"],
    log:
        "results/logs/fetch/{dataset}.log",
    threads: 1
    shell:
        "twolayer fetch {wildcards.dataset} --out-dir results/raw/{wildcards.dataset}"
        " --source-json {params.source:q} {params.search}"
        " --timeout {params.timeout:q} --retries {params.retries:q}"
        " --deadline {params.deadline:q} --max-bytes {params.max_bytes:q} > {log} 2>&1"


rule prepare:
    input:
        raw_input,
    output:
        "results/data/{dataset}/{recipe}.h5",
    params:
        source=lambda wc: PLAN.source_json(wc.dataset),
        recipe=lambda wc: PLAN.recipe_json(wc.recipe),
        code=CODE["prepare"],
    log:
        "results/logs/prepare/{dataset}/{recipe}.log",
    benchmark:
        "results/benchmarks/prepare/{dataset}/{recipe}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: PLAN.prepare_mem_mb(wc.dataset, attempt),
        runtime=lambda wc, attempt: 20 * attempt,  # minutes; CIFAR-10 takes ~10 s here
    retries: PLAN.resources["prepare"]["retries"]
    shell:
        "twolayer --threads {threads} prepare {wildcards.dataset} --recipe {wildcards.recipe}"
        " --recipe-json {params.recipe:q} --source-json {params.source:q}"
        " --raw-dir results/raw/{wildcards.dataset} --out {output} > {log} 2>&1"
