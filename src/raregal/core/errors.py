"""Errors that the command line turns into one line and a non-zero exit."""


class InputError(ValueError):
    """The user's input cannot be used as given.

    The message is one line that names the problem, the file or column, how many
    rows are affected, and, where there is one, the option that fixes it.
    """


def first_line(exc: BaseException) -> str:
    """The first line of a library's error message (its type when it has none), to
    quote inside raregal's one-line messages."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
