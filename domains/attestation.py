"""Remote attestation over the management interface (docs/attestation.md, "Over the
network"): the owner's manager executes ``26263/0/0`` with a verifier's nonce (16 to 64
bytes, so the command's CBOR form) and answers with the device's evidence, which the host
makes (``HostServices.attest``, ``pipsim.trust.attest``).  Object 26263 is this project's: LwM2M
defines no attestation object.  The command needs a token like any other (scope
``26263/0/0:x``), so only the owner's server, or whom it grants, learns the tree's shape.
"""
from __future__ import annotations

from pipsim.trust.rot import AttestationError

from .admin import AdministrationManager, respond
from .commands import Command, Refused, Response
from .host import HostServices

ATTEST = "26263/0/0"


def register(admin: AdministrationManager, host: HostServices) -> None:
    """Route ``execute 26263/0/0`` to the host's attestation."""
    def attest(command: Command) -> Response:
        try:
            evidence = host.attest(command.value)
        except AttestationError as error:        # a nonce refused: reused, or not a nonce
            raise Refused("not_allowed" if error.reason == "nonce_reused" else "malformed",
                          str(error)) from None
        except PermissionError as error:         # not the root partition's manager
            raise Refused("unauthorised", str(error)) from None
        except ValueError as error:              # the image was not booted measured
            raise Refused("failed", str(error)) from None
        return respond(command, "content", evidence)
    admin.route("execute", ATTEST, attest)
