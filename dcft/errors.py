"""Errors shared across the harness."""


class UserError(Exception):
    """A mistake the user can fix; the CLI prints it as one line."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's first line (or its type), short enough for a one-line error."""
    text = str(exc).strip().splitlines()
    return text[0][:limit] if text else type(exc).__name__
