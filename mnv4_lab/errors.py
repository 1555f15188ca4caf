"""The lab's one user-facing error type: programs print it as one line, without a traceback."""


class UsageError(ValueError):
    """A command line or setup that cannot work as given; the message says what to do instead."""
