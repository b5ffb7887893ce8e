"""The one exception type for problems a user can cause and fix (bad input, bad settings, failed steps)."""


class OrbFinanceError(Exception):
    """A problem the user can fix; the message says what to do. The CLI prints it without a traceback."""

    exit_code = 1
