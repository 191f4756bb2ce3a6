"""The one error type of the experiment package: bad input a user can fix."""


class ExperimentError(ValueError):
    """An unknown experiment or parameter, a bad value or range, an unusable output directory.

    A ValueError, so the ``pipsim`` command reports it as ``pipsim: error: ...`` (exit 2).
    """
