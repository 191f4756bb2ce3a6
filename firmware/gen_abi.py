#!/usr/bin/env python3
"""Write firmware/include/pip/abi.h from pipkernel/abi.py (docs/abi.md).

pipkernel/abi.py is loaded by path, so no installed package is needed; the header is
rewritten only when its text changes, so make does not rebuild everything each time.
`gen_abi.py --value NAME` prints one constant (the Makefile reads ROOT_IMAGE_BASE).
"""
import importlib.util
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
ABI_PY = HERE.parent / "pipkernel" / "abi.py"
HEADER = HERE / "include" / "pip" / "abi.h"


def load_abi():
    spec = importlib.util.spec_from_file_location("pip_abi_for_firmware", ABI_PY)
    abi = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = abi          # dataclass/enum machinery looks the module up
    spec.loader.exec_module(abi)
    return abi


def main(argv) -> int:
    abi = load_abi()
    if len(argv) == 3 and argv[1] == "--value":     # e.g. --value ROOT_IMAGE_BASE
        print(hex(getattr(abi, argv[2])))
        return 0
    text = abi.firmware_header()
    HEADER.parent.mkdir(parents=True, exist_ok=True)
    if not HEADER.exists() or HEADER.read_text() != text:
        HEADER.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
