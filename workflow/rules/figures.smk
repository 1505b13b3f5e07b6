# One PNG per figure; what each figure reads is declared in twolayer.study.report.figures.NEEDS.


rule figure:
    input:
        unpack(figure_inputs),
    output:
        report(
            "results/{study}/figures/{figure}.png",
            caption="../report/figure.rst",
            category="{study}",
            subcategory="Figures",
            labels={"figure": "{figure}"},
        ),
    params:
        args=figure_args,
        code=lambda wc: figure_digest(wc.figure),
    log:
        "results/{study}/logs/figures/{figure}.log",
    threads: 1
    shell:
        "twolayer --threads {threads} figure {wildcards.figure} --study {wildcards.study}"
        " {params.args} --out {output} > {log} 2>&1"
