"""The errors a user can fix, raised with a message that names the file or key and what to do.

Everything a user can cause (a bad config, a missing or corrupt archive, a file that is
not what it should be, no network, a job over its budget) is a :class:`UserError`; the
``twolayer`` command prints its message as one ``error:`` line and exits with its
``exit_code``. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    exit_code = 2  # what the CLI exits with; subclasses may differ


class InputError(UserError, ValueError):
    """A value the user gave (a name, a setting, a file's content) is not valid.

    Also a :class:`ValueError`, so code that validates values catches it as one."""


class ConfigError(UserError):
    """The config is invalid; the message lists every problem with its key."""


class Stopped(UserError):
    """The process was asked to stop (SIGTERM: a cluster's time limit, or SIGINT: Ctrl-C).

    Raised by the ``twolayer`` command's signal handlers; the training loop records the
    step it had reached (``step``). Every file is written atomically, so nothing of the
    interrupted step is on disk."""

    def __init__(self, signame, signum):
        super().__init__(signame)
        self.signame, self.exit_code, self.step = signame, 128 + signum, None

    def __str__(self):
        at = f" at step {self.step}" if self.step is not None else ""
        return f"stopped by {self.signame}{at}; nothing written; rerun with --rerun-incomplete"
