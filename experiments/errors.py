"""The one error type of the experiment package: bad input a user can fix."""
from pipsim.kernel.errors import PipsimError


class ExperimentError(PipsimError, ValueError):
    """An unknown experiment or parameter, a bad value or range, an unusable output directory,
    a misdeclared experiment.  A PipsimError: ``pipsim`` reports it as ``pipsim: error: ...``
    (exit 2)."""
