"""What the jobs say: the study's table and winner (:mod:`.aggregate`), the winner tested once
(:mod:`.evaluate`), the statistics of replicates (:mod:`.statistics`, pure) and the files they
fill (:mod:`.replication`), the paper's tables (:mod:`.tables`) and the scorecard of published
numbers (:mod:`.scorecard`). Each table is built here as a :class:`~twolayer.study.render.Table`
value and written by :mod:`twolayer.study.render`."""
