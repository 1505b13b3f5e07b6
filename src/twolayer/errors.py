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
