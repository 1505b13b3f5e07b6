"""Snakemake logger plugin ``twolayer``: Snakemake's usual console output, plus one line
per finished training job with the study's progress (see :mod:`twolayer.study.run.board`).

Switched on by the workflow's default profile (``profiles/default/config.yaml``:
``logger: [twolayer]``); ``--logger`` on the command line, or ``--workflow-profile
none``, goes back to Snakemake's plain output. The console text is Snakemake's own
(its filter, formatter and colours); this handler only adds the board's lines, so it
takes the place of Snakemake's default console handler (``writes_to_stream``).
"""

from __future__ import annotations

import sys

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent


class LogHandler(LogHandlerBase):
    def __post_init__(self):
        from snakemake.logging import ColorizingTextHandler, DefaultFilter

        s = self.common_settings
        self._console = ColorizingTextHandler(nocolor=s.nocolor, stream=sys.stdout if s.stdout else sys.stderr)
        # Snakemake's own filter decides what the console shows; the board sees every event
        self._console.addFilter(DefaultFilter(s.quiet, s.debug_dag, s.verbose, s.dryrun, s.printshellcmds))
        self._train_jobs = {}  # Snakemake job id -> (study, point, metrics path)

    def emit(self, record):
        if self._console.formatter is None:
            self._console.setFormatter(self.formatter)  # Snakemake's default formatter, set on this handler
        self._console.handle(record)
        try:
            line = self._board_line(record)
        except Exception:  # the board must never break a run's logging
            line = None
        if line:
            stream = self._console.stream
            stream.write(line + "\n")
            stream.flush()

    def _board_line(self, record):
        from twolayer.study.run import board

        b = board.registered()  # the one state the workflow hands over (twolayer.study.run.board.Handoff)
        if b is None or self.common_settings.dryrun:
            return None
        event = getattr(record, "event", None)
        if event == LogEvent.RUN_INFO:
            stats = getattr(record, "stats", None) or {}
            b.run_started(stats.get("train", 0), checkpoints=stats.get("select_top", 0))
        elif event == LogEvent.JOB_INFO and getattr(record, "rule_name", None) == "train":
            wc = getattr(record, "wildcards", None) or {}
            metrics = [str(o) for o in getattr(record, "output", None) or () if str(o).endswith("metrics.json")]
            if "study" in wc and "point" in wc and metrics:
                self._train_jobs[record.jobid] = (wc["study"], wc["point"], metrics[0])
                b.job_started()
        elif event == LogEvent.JOB_FINISHED and getattr(record, "job_id", None) in self._train_jobs:
            study, point, metrics = self._train_jobs.pop(record.job_id)
            return b.job_finished(study, point, metrics)
        return None

    @property
    def writes_to_stream(self):
        return True

    @property
    def writes_to_file(self):
        return False

    @property
    def has_filter(self):
        return True

    @property
    def has_formatter(self):
        return False

    @property
    def needs_rulegraph(self):
        return False
