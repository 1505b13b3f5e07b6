"""The study: config -> job specs -> jobs -> aggregate -> winner -> figures, tables, report.

Built on :mod:`twolayer.nn` (the networks) and :mod:`twolayer.data` (the datasets);
the ``twolayer`` command line (:mod:`twolayer.cli`) calls into it, and the workflow's
rules call the command line. Nothing below imports from here.
"""
