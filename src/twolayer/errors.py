"""The error a user can fix: raised with a message that names the file or key and what to do."""


class UserError(Exception):
    exit_code = 2  # what the CLI exits with; subclasses may differ
