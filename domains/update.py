"""LwM2M Firmware Update (object 5; OMA LwM2M TS 1.1 Appendix E.6, object 5) in the owner
domain: the driver update of the ODSI paper's Fig. 9 (docs/trust.md "Updating a driver").

Instance 0 updates the firmware partition the owner's config names (``update``); the
maintainer reaches it with token A (its own server's) and the owner's token B, forwarded
by its manager (its ``forward`` table), like any device resource:

    write   5/0/0 Package      one block of the package: {"num": N, "more": bool, "data": bstr}
    execute 5/0/2 Update       verify the package, replace the partition (host ``update``)
    read    5/0/3 State        0 Idle, 1 Downloading, 2 Downloaded, 3 Updating
    read    5/0/5 Update Result 0 initial, 1 updated, 2 not enough flash, 5 integrity check
                               failure, 6 unsupported package type, 8 update failed
    read    5/0/7 PkgVersion   the version the last update installed (text; "" before one)

The package is the canonical CBOR array ``[ELF bytes, signature file bytes]`` (the image and
its detached IMAGE.sig, docs/trust.md), at most MAX_PACKAGE bytes.  A command holds at most
256 bytes of value and an IPC slot 512 bytes, so it travels block-wise as CoAP's Block1
option carries a Package write (RFC 7959 §2.5): block N holds bytes [N * BLOCK, (N + 1) *
BLOCK), every block but the last is full, they come in order, block 0 starts a new
download (State 1), the last (``more`` false) ends it (State 2); an empty block 0 that is
the last resets the state machine (object 5: writing an empty Package resets it to Idle).
The blocks are written into staging pages of this partition, which no other partition
maps; Update reads them once and hands those bytes to the host, which verifies and spawns
the same bytes.  A refused or rolled-back update discards the staged package (State 0).
"""
from __future__ import annotations

import cbor2

from pipsim.kernel import wire
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.trust import ImageRefused, PolicyError

from .admin import AdministrationManager, respond
from .commands import Command, Refused, Response
from .host import HostServices
from .store import PageStore

BLOCK = 128                            # bytes per block (RFC 7959 SZX 3)
STAGING_PAGES = 16
MAX_PACKAGE = STAGING_PAGES * PAGE_SIZE
IDLE, DOWNLOADING, DOWNLOADED, UPDATING = range(4)
INITIAL, UPDATED, NO_FLASH, INTEGRITY, UNSUPPORTED, FAILED = 0, 1, 2, 5, 6, 8
# what each ImageRefused reason is as an Update Result: the package's integrity or trust,
# or a package this device cannot take
RESULT_OF = {"wrong_arch": UNSUPPORTED, "wrong_name": UNSUPPORTED, "rollback": FAILED}
_BLOCK_KEYS = {"num", "more", "data"}


def package(elf: bytes, signature: bytes) -> bytes:
    """A package's bytes: an image and its signature file (the server's side)."""
    return cbor2.dumps([elf, signature], canonical=True)


def blocks(data: bytes) -> list[dict]:
    """A package's bytes as the Package writes that carry them, in order."""
    count = max(1, -(-len(data) // BLOCK))
    return [{"num": n, "more": n < count - 1, "data": data[n * BLOCK:(n + 1) * BLOCK]}
            for n in range(count)]


class FirmwareUpdate:
    """Object 5, instance 0, for the firmware partition ``partition`` of the caller's
    domain; its state in ``store``, the package staged in ``staging`` (STAGING_PAGES pages
    of ``api``'s partition from that VA)."""

    def __init__(self, api, staging: int, store: PageStore, host: HostServices,
                 partition: str):
        self.api, self.staging, self.store = api, staging, store
        self.host, self.partition = host, partition
        store.save({"state": IDLE, "result": INITIAL, "size": 0, "version": ""})

    def register(self, admin: AdministrationManager) -> None:
        admin.route("write", "5/0/0", self.write_package)
        admin.route("execute", "5/0/2", self.execute)
        admin.route("read", "5/0/3", self.read)
        admin.route("read", "5/0/5", self.read)
        admin.route("read", "5/0/7", self.read)

    def _reset(self, result: int, version: str | None = None) -> None:
        """State Idle, nothing staged; ``result`` the Update Result, ``version`` the one
        installed (None: as it was)."""
        state = self.store.load()
        self.store.save({"state": IDLE, "result": result, "size": 0,
                         "version": state["version"] if version is None else version})

    def read(self, command: Command) -> Response:
        state = self.store.load()
        key = {3: "state", 5: "result", 7: "version"}[command.path[2]]
        return respond(command, "content", state[key])

    def write_package(self, command: Command) -> Response:
        """One block of the package (above); refused: the download starts over."""
        block, state = command.value, self.store.load()
        if not (isinstance(block, dict) and set(block) == _BLOCK_KEYS
                and type(block["num"]) is int and block["num"] >= 0
                and type(block["more"]) is bool and type(block["data"]) is bytes
                and len(block["data"]) <= BLOCK):
            self._reset(UNSUPPORTED)
            raise Refused("malformed", f'a Package block is {{"num": N, "more": bool, "data": '
                          f"at most {BLOCK} bytes}}: the download starts over")
        num, more, data = block["num"], block["more"], block["data"]
        if num == 0 and not more and not data:
            self._reset(INITIAL)
            return respond(command, "changed", "reset")
        offset = num * BLOCK
        expected = state["size"] if state["state"] == DOWNLOADING and num else 0
        if offset != expected or (more and len(data) != BLOCK):
            self._reset(UNSUPPORTED)
            raise Refused("malformed", f"block {num} ({len(data)} bytes, more: {more}) is not "
                          f"block {expected // BLOCK}, full unless the last: the download "
                          "starts over")
        if offset + len(data) > MAX_PACKAGE:
            self._reset(NO_FLASH)
            raise Refused("oversized", f"a package is at most {MAX_PACKAGE} bytes")
        self.api.write(self.staging + offset, data)
        size = offset + len(data)
        if more:
            self.store.save({**state, "state": DOWNLOADING, "result": INITIAL, "size": size})
            return respond(command, "changed")
        self._staged(size)                    # refused if it is no package
        self.store.save({**state, "state": DOWNLOADED, "result": INITIAL, "size": size})
        return respond(command, "changed", f"{size} bytes")

    def _staged(self, size: int) -> tuple[bytes, bytes]:
        """The staged package, read once: (ELF, signature file); refused (and the staging
        discarded) unless it is the CBOR array [bstr, bstr]."""
        try:
            package = wire.loads(self.api.read(self.staging, size), max_input=MAX_PACKAGE)
        except wire.CBORError as error:
            package, why = None, f"not acceptable CBOR: {error}"
        else:
            why = "not the CBOR array [ELF bytes, signature file bytes]"
        if not (isinstance(package, list) and len(package) == 2
                and all(type(part) is bytes and part for part in package)):
            self._reset(UNSUPPORTED)
            raise Refused("malformed", f"the package is {why}: the download starts over")
        return package[0], package[1]

    def execute(self, command: Command) -> Response:
        """Update: the staged package goes to the host, which verifies it and replaces the
        partition, or rolls back to the previous version if the new one does not start."""
        state = self.store.load()
        if command.value is not None:
            raise Refused("malformed", "Update takes no argument")
        if state["state"] != DOWNLOADED:
            raise Refused("not_allowed", f"State is {state['state']}: Update needs a "
                          "downloaded package (State 2)", 405)
        elf, signature = self._staged(state["size"])
        self.store.save({**state, "state": UPDATING})
        try:
            updated = self.host.update(self.partition, elf, signature)
        except ImageRefused as error:
            self._reset(RESULT_OF.get(error.reason, INTEGRITY))
            raise Refused(error.reason, f"{self.partition}: package refused: {error}",
                          403) from None
        except (ValueError, PolicyError) as error:
            self._reset(FAILED)
            raise Refused("not_allowed", f"{self.partition}: {error}", 405) from None
        except RuntimeError as error:
            self._reset(FAILED)
            raise Refused("failed", str(error)) from None
        if updated.failure is not None:
            self._reset(FAILED)
            raise Refused("rolled_back", f"{updated.name} version {updated.version} runs again: "
                          f"the new version did not start ({updated.failure})", 500)
        self._reset(UPDATED, str(updated.version))
        return respond(command, "changed", {"from": updated.previous, "to": updated.version})
