"""Errors shared across the harness."""


class UserError(Exception):
    """A mistake the user can fix; the CLI prints it as one line."""
