# The scorecard: every number of config/published.yaml beside what this run reproduced, as CSV,
# Markdown (for the README), LaTeX (for a paper) and an HTML page (the report opens on it).


rule scorecard:
    input:
        scorecard_inputs,
    output:
        csv=SCORECARD["csv"],
        md=SCORECARD["md"],
        tex=SCORECARD["tex"],
        html=report(
            SCORECARD["html"],
            caption="../report/scorecard.rst",
            category=SUMMARY_CATEGORY,
            labels={"page": "scorecard: every published number, reproduced"},
        ),
    params:
        published=PUBLISHED,
        run=json.dumps(scorecard_run(), sort_keys=True),
        code=CODE["scorecard"],
        html=CODE["html"],
    log:
        "results/logs/scorecard.log",
    localrule: True
    threads: 1
    shell:
        "twolayer scorecard --published {params.published:q} --run {params.run:q}"
        " --out-dir results > {log} 2>&1"
