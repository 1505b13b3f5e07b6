# The paper's tables, regenerated as CSV, Markdown and LaTeX.


rule table:
    input:
        table="results/{study}/table.csv",
        test="results/{study}/test.json",
    output:
        csv="results/{study}/tables/{table}.csv",  # in the report as a page: rule table_html
        md="results/{study}/tables/{table}.md",
        tex="results/{study}/tables/{table}.tex",
    params:
        axes=lambda wc: ",".join(PLAN.study(wc.study).axes),
        prefix=lambda wc: f"results/{wc.study}/tables/{wc.table}",
        code=CODE["tables"],
    log:
        "results/{study}/logs/tables/{table}.log",
    threads: 1
    shell:
        "twolayer table {wildcards.table} --study {wildcards.study} --table {input.table}"
        " --axes {params.axes:q} --test {input.test} --out {params.prefix:q} > {log} 2>&1"
