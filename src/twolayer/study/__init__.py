"""The study: config -> job specs -> jobs -> aggregate -> winner -> figures, tables, report.

Built on :mod:`twolayer.nn` (the networks) and :mod:`twolayer.data` (the datasets);
the ``twolayer`` command line (:mod:`twolayer.cli`) calls into it, and the workflow's
rules call the command line. Nothing below imports from here.

Five rooms, in the order a result passes through them; a room imports only from the
rooms above it in this list (``tests/test_architecture.py`` holds them to it):

* :mod:`.plan`: what to run. The config and its schema, the grid axes, the job specs,
  what a job needs, the code digests that decide what reruns.
* :mod:`.render`: how a value reads. One :class:`~.render.Table` value and its CSV,
  Markdown, LaTeX and HTML; the words for names (labels).
* :mod:`.run`: one job. Train a grid point, its model file, the training trace, the
  progress board.
* :mod:`.analysis`: what the jobs say. The study's table and winner, the test of the
  winner, the statistics of replicates and the files they fill, the paper's tables, the
  scorecard of published numbers.
* :mod:`.report`: what a reader sees. The figures and the HTML report's pages.
"""
