"""The permissions an image may request (docs/trust.md "Permissions"), in two levels as AGL's
package signing has them: public ones a developer's signature grants, privileged ones only
an authority's signature grants.

A policy's grant is a permission or a family pattern (``device:*``)."""
from __future__ import annotations

import re

# name -> what it allows; "device:NAME" is the family of device permissions.
PUBLIC = {
    "ipc": "exchange messages over the channels its manifest gives it",
    "console": "write to the machine's console",
}
PRIVILEGED = {
    "device:NAME": "own the register page of the device NAME (the manifest's [[device]])",
    "partitions": "create child partitions of its own",
    "network": "reach the device's network interface",
}
DEVICE_PREFIX = "device:"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
MAX_PERMISSIONS = 16


def problem(permission) -> str | None:
    """What is wrong with a requested permission, None if it is in the vocabulary."""
    if type(permission) is not str:
        return f"a permission is text, not {type(permission).__name__}"
    if permission in PUBLIC or permission in PRIVILEGED and DEVICE_PREFIX not in permission:
        return None
    if permission.startswith(DEVICE_PREFIX) and _NAME.match(permission[len(DEVICE_PREFIX):]):
        return None
    return (f"unknown permission {permission!r}; permissions are "
            + ", ".join([*PUBLIC, *PRIVILEGED]))


def grant_problem(grant) -> str | None:
    """What is wrong with a policy's grant: a permission or ``device:*``."""
    return None if grant == DEVICE_PREFIX + "*" else problem(grant)


def privileged(permission: str) -> bool:
    return permission not in PUBLIC


def granted(permission: str, grants) -> bool:
    """Whether ``grants`` (a policy signer's) cover ``permission``."""
    return permission in grants or (permission.startswith(DEVICE_PREFIX)
                                    and DEVICE_PREFIX + "*" in grants)


def device(name: str) -> str:
    """The permission to own the device ``name``."""
    return DEVICE_PREFIX + name
