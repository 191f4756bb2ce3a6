#!/usr/bin/env python3
"""Write firmware/include/pip/abi.h, libpip's view of pipkernel/abi.py (docs/abi.md).

The header's text comes from pipkernel/abi_headers.py (the one generator of the C views),
loaded by path, so no installed package is needed; the header is rewritten only when its
text changes, so make does not rebuild everything each time.
`gen_abi.py --value NAME` prints one constant (the Makefile reads ROOT_IMAGE_BASE).
"""
import importlib.util
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
GENERATOR = HERE.parent / "pipkernel" / "abi_headers.py"
HEADER = HERE / "include" / "pip" / "abi.h"


def load_generator():
    spec = importlib.util.spec_from_file_location("pip_abi_headers", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv) -> int:
    headers = load_generator()
    if len(argv) == 3 and argv[1] == "--value":     # e.g. --value ROOT_IMAGE_BASE
        print(hex(getattr(headers.abi, argv[2])))
        return 0
    text = headers.firmware_header()
    HEADER.parent.mkdir(parents=True, exist_ok=True)
    if not HEADER.exists() or HEADER.read_text() != text:
        HEADER.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
