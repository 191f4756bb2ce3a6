"""``python -m pipsim``: the ``pipsim`` command."""
from pipsim.kernel.cli import console

console()
