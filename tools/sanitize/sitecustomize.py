"""make test-sanitize puts this folder on PYTHONPATH, so every Python process of the run (pytest,
its xdist workers, the `pipsim run` subprocesses) starts here: capstone dlopens its library with
RTLD_DEEPBIND, which AddressSanitizer refuses by ending the process; without the flag in `os`,
capstone loads it as any library."""
import os

if hasattr(os, "RTLD_DEEPBIND"):
    del os.RTLD_DEEPBIND
