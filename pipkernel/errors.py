"""``PipsimError``: the base of every error a user can cause — a bad manifest, image, token,
command line, experiment, or a kernel that refuses what was asked.  The ``pipsim`` command
catches it once and prints its message; anything else is a bug and keeps its traceback.

It depends on nothing, so every package can derive from it without an import cycle."""


class PipsimError(Exception):
    """Something a user caused, with a message saying what; subclasses keep their own
    secondary bases (ValueError, RuntimeError) for the callers that catch those."""
