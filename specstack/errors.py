"""The one exception type users see as a one-line message instead of a traceback."""


class SpecstackError(Exception):
    """A problem with the user's input or environment, reported as one line by the CLI."""
