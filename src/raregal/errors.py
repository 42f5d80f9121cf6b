"""Errors that the command line turns into one line and a non-zero exit."""


class InputError(ValueError):
    """The user's input cannot be used as given.

    The message is one line that names the problem, the file or column, how many
    rows are affected, and, where there is one, the option that fixes it.
    """
