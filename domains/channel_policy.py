"""The Secure Channel's policy (D3.3 §3.5): services, the applications linked to each, and the
applications' credentials, kept hashed.

An application is an (identity, key) pair; a policy links it, under an application name, to
the services it may run.  An identity has one key across the channel: linking it to another
service restates that key (``PolicyError`` if it differs), so one hash check authenticates a
caller whatever it asks.  Keys are kept as salted scrypt digests (RFC 7914; memory-hard, so a
leaked policy does not give weak keys away cheaply) and compared in constant time
(``hmac.compare_digest``).  Everything is bounded (``MAX_SERVICES``, ``MAX_APPLICATIONS``) and
kept in memory only: the policy starts empty with the channel.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field

NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")           # services, applications
IDENTITY = re.compile(r"[A-Za-z0-9_.@:-]{1,64}")
MAX_KEY = 256
MAX_SERVICES, MAX_APPLICATIONS = 32, 32              # services; applications per service
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "maxmem": 64 << 20, "dklen": 32}   # RFC 7914 §2


class PolicyError(ValueError):
    """A change the policy refuses; nothing was changed."""


@dataclass(frozen=True)
class Credential:
    """An identity and its key's salted digest (never the key)."""

    identity: str
    salt: bytes
    digest: bytes

    @staticmethod
    def check(identity, key) -> None:
        """``PolicyError`` unless they make a credential."""
        if not isinstance(identity, str) or not IDENTITY.fullmatch(identity):
            raise PolicyError(f"identity: 1..64 of A-Z a-z 0-9 _ . @ : -, not {identity!r}")
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY:
            raise PolicyError(f"key: a string of 1..{MAX_KEY} characters")

    @classmethod
    def make(cls, identity: str, key: str) -> Credential:
        cls.check(identity, key)
        salt = os.urandom(16)
        return cls(identity, salt, _digest(key, salt))

    def matches(self, key: str) -> bool:
        """Whether ``key`` is this credential's key (slow by design; constant-time compare)."""
        return hmac.compare_digest(_digest(key, self.salt), self.digest)


def _digest(key: str, salt: bytes) -> bytes:
    return hashlib.scrypt(key.encode("utf-8", "surrogatepass"), salt=salt, **SCRYPT)


# what an unknown identity is checked against, so that it costs what a known one does
DECOY = Credential("", os.urandom(16), os.urandom(32))


@dataclass
class Service:
    command: tuple[str, ...]
    applications: dict[str, str] = field(default_factory=dict)     # name -> identity


def check_name(name, what: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise PolicyError(f"{what}: 1..64 of A-Z a-z 0-9 _ . -, not {name!r}")
    return name


class Policy:
    """Services (name → command words), applications (service, name → identity), and the
    identities' credentials.  ``reserved``: an identity no application may take (the
    administrator's)."""

    def __init__(self, reserved: str):
        self.reserved = reserved
        self._services: dict[str, Service] = {}
        self._credentials: dict[str, Credential] = {}

    # ---- reading ----
    def services(self, identity: str | None = None) -> list[str]:
        """Every service, or those an identity is linked to."""
        return sorted(name for name, service in self._services.items()
                      if identity is None or identity in service.applications.values())

    def command(self, service: str) -> tuple[str, ...]:
        return self._service(service).command

    def applications(self, service: str) -> list[str]:
        return sorted(self._service(service).applications)

    def identity(self, service: str, application: str) -> str:
        found = self._service(service).applications.get(application)
        if found is None:
            raise PolicyError(f"service {service!r} has no application {application!r}")
        return found

    def credential(self, identity: str) -> Credential | None:
        return self._credentials.get(identity)

    def may_run(self, identity: str, service: str) -> bool:
        found = self._services.get(service)
        return found is not None and identity in found.applications.values()

    # ---- changing (each checks everything first, then changes) ----
    def add_service(self, name: str, command: tuple[str, ...]) -> None:
        check_name(name, "service")
        if name in self._services:
            raise PolicyError(f"service {name!r} exists (delete it first)")
        if len(self._services) >= MAX_SERVICES:
            raise PolicyError(f"the channel has its {MAX_SERVICES} services")
        self._services[name] = Service(tuple(command))

    def delete_service(self, name: str) -> None:
        self._service(name)
        del self._services[name]
        self._forget_unlinked()

    def add_application(self, service: str, name: str, credential: Credential) -> None:
        """Link ``credential`` under ``name`` to ``service``.  An identity already known must
        come as its own credential (the caller checked the key against it)."""
        found = self._service(service)
        check_name(name, "application")
        if name in found.applications:
            raise PolicyError(f"service {service!r} has an application {name!r}")
        if credential.identity == self.reserved:
            raise PolicyError(f"identity {credential.identity!r} is the administrator's")
        if len(found.applications) >= MAX_APPLICATIONS:
            raise PolicyError(f"service {service!r} has its {MAX_APPLICATIONS} applications")
        if self._credentials.get(credential.identity, credential) is not credential:
            raise PolicyError(f"identity {credential.identity!r} is known with another key")
        self._credentials[credential.identity] = credential
        found.applications[name] = credential.identity

    def delete_application(self, service: str, name: str) -> None:
        self.identity(service, name)
        del self._services[service].applications[name]
        self._forget_unlinked()

    def _service(self, name: str) -> Service:
        found = self._services.get(name)
        if found is None:
            raise PolicyError(f"no service {name!r}")
        return found

    def _forget_unlinked(self) -> None:
        linked = {i for service in self._services.values() for i in service.applications.values()}
        for identity in set(self._credentials) - linked:
            del self._credentials[identity]
