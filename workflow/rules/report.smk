# What `snakemake --report` shows. Its HTML report displays images and HTML pages inline and
# offers any other file (a CSV included) only as a download, so every table gets an HTML page
# (the CSV, Markdown and LaTeX files stay as they are), and a summary of every study comes
# first: in the menu, and on the front page (workflow/report/workflow.rst includes its fragment).
# These run where Snakemake runs (they take a second), also on a cluster.


rule table_html:
    input:
        "results/{study}/tables/{table}.csv",
    output:
        report(
            "results/{study}/tables/{table}.html",
            caption="../report/paper_table.rst",
            category="{study}",
            subcategory="Tables",
            labels={"table": "{table}"},
        ),
    params:
        code=CODE["html"],
    log:
        "results/{study}/logs/html/tables/{table}.log",
    localrule: True
    threads: 1
    shell:
        "twolayer html table --csv {input} --study {wildcards.study} --name {wildcards.table} --out {output} > {log} 2>&1"


rule study_table_html:
    input:
        table="results/{study}/table.csv",
        winner="results/{study}/winner.json",
    output:
        report(
            "results/{study}/table.html",
            caption="../report/table.rst",
            category="{study}",
            subcategory="Tables",
            labels={"table": "all models"},
        ),
    params:
        code=CODE["html"],
    log:
        "results/{study}/logs/html/table.log",
    localrule: True
    threads: 1
    shell:
        "twolayer html table --csv {input.table} --winner {input.winner} --study {wildcards.study} --name table"
        " --out {output} > {log} 2>&1"


# Each study's summary: its winner, top models and main figures (one page per study keeps every
# page within what a browser opens from the report: see twolayer.study.report.pages.PAGE_BUDGET).
rule study_summary:
    input:
        study_summary_inputs,
    output:
        report(
            "results/{study}/summary.html",
            caption="../report/study_summary.rst",
            category=SUMMARY_CATEGORY,
            labels={"page": "{study}"},
        ),
    params:
        spec=lambda wc: json.dumps(study_summary_spec(wc.study), sort_keys=True),
        code=CODE["html"],
    log:
        "results/{study}/logs/html/summary.log",
    localrule: True
    threads: 1
    shell:
        "twolayer html study --spec {params.spec:q} --out {output} > {log} 2>&1"


# One page for every study, the fragment the report's front page includes, and the config of
# this run (RUN_CONFIG, which `snakemake --report` reads when given no --configfile: see the
# Snakefile). The config (its canonical form) is a parameter, so any change to what it says
# rewrites the record.
rule summary:
    input:
        summary_inputs,
    output:
        html=report(
            SUMMARY,
            caption="../report/summary.rst",
            category=SUMMARY_CATEGORY,
            labels={"page": "every study: winner and accuracy"},
        ),
        front=SUMMARY_FRONT,
        config=RUN_CONFIG,
    params:
        spec=json.dumps(summary_spec(), sort_keys=True),
        config=json.dumps(PLAN.config, sort_keys=True),  # canonical: the same settings spelled otherwise rerun nothing
        code=CODE["html"],
    log:
        "results/logs/summary.log",
    localrule: True
    threads: 1
    shell:
        "twolayer html summary --spec {params.spec:q} --config-json {params.config:q} --out {output.html}"
        " --front {output.front} --config-out {output.config} > {log} 2>&1"
