"""What a reader sees: the figures (:mod:`.figures`, one module per family) and the HTML report's
pages (:mod:`.pages`) that Snakemake's report embeds."""
