"""``python -m pipsim``: the ``pipsim`` command."""
from pipsim.kernel.cli import main

raise SystemExit(main())
