"""User-facing errors.

`R1kitError` carries a one-line message that the CLI prints as `error: <message>` with a
non-zero exit code and no traceback. Raise it for bad input (missing paths, bad config,
malformed data); let genuine bugs raise their own exceptions.
"""


class R1kitError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""
