"""Remote attestation (RFC 9334 vocabulary): the device is the Attester, its Evidence a
quote from its root of trust plus its claims (event log, per-partition registers, tree
shape); the Verifier checks the quote, the nonce (its own, fresh, single use), replays the
log and appraises the result against reference values, naming each partition that differs.

Evidence is canonical CBOR: {"root": kind, "quote": bytes, "claims": {"device", "log",
"partitions", "shape"}}; the quote signs the nonce, the tree register and the SHA-256 of the
claims' canonical CBOR (docs/attestation.md).  ``Attester.attest`` is the entry point the
device's management interface (LwM2M) will call with a verifier's nonce.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from pipsim.kernel.wire import CBORError, loads

from .measure import CODE, CONFIG, Event, Measurements, canonical, replay, sha256
from .rot import AttestationError, RootOfTrust, SoftwareRoot

NONCE_MIN, NONCE_MAX = 16, 64
MAX_EVIDENCE = 1 << 20


def _check_nonce(nonce: object) -> None:
    if not (isinstance(nonce, bytes) and NONCE_MIN <= len(nonce) <= NONCE_MAX):
        raise AttestationError("nonce_invalid", f"a nonce is {NONCE_MIN} to {NONCE_MAX} bytes")


def _root_class(kind: str) -> type[RootOfTrust]:
    if kind == SoftwareRoot.kind:
        return SoftwareRoot
    if kind == "tpm":
        from .rot_tpm import TpmRoot
        return TpmRoot
    raise AttestationError("unknown_root", f"no root of trust of kind {kind!r}")


def measured(device: str, root: RootOfTrust | None = None) -> Measurements:
    """A measurement log for booting ``device`` (pipsim.partitions.boot), anchored in ``root``
    (default: a fresh software root of trust)."""
    return Measurements(root if root is not None else SoftwareRoot.generate(device))


class Attester:
    """The device's side: its measurements, anchored in their root of trust."""

    def __init__(self, device: str, measurements: Measurements):
        if measurements.root is None:
            raise ValueError(f"{device}: its measurements are in no root of trust")
        self.device, self.measurements = device, measurements
        self._answered: set[bytes] = set()

    def attest(self, nonce: bytes) -> bytes:
        """Evidence for a verifier's nonce; a nonce answered before is refused."""
        _check_nonce(nonce)
        if nonce in self._answered:
            raise AttestationError("nonce_reused", "this device answered that nonce already")
        self._answered.add(nonce)
        state = self.measurements.state
        claims = {"device": self.device,
                  "log": [event.to_list() for event in self.measurements.events],
                  "partitions": state.registers, "shape": state.parents}
        root = self.measurements.root
        assert root is not None                   # the constructor made sure
        return canonical({"root": root.kind, "claims": claims,
                          "quote": root.quote(nonce, sha256(canonical(claims)))})


@dataclass(frozen=True)
class Partition:
    """What a verifier knows of one partition: its parent, its code (detail, digest), its
    configuration's digest."""

    parent: str | None
    code: tuple[str, bytes]
    config: bytes


@dataclass(frozen=True)
class ReferenceValues:
    """The expected partitions of a device (recorded from a known-good boot)."""

    device: str
    partitions: dict[str, Partition]

    def to_json(self) -> str:
        """The reference values as JSON (digests in hex): what a verifier is given."""
        return json.dumps({"device": self.device, "partitions": {
            name: {"parent": p.parent, "code": [p.code[0], p.code[1].hex()],
                   "config": p.config.hex()} for name, p in self.partitions.items()}},
            indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ReferenceValues:
        """ValueError naming what is wrong with the file."""
        try:
            data = json.loads(text)
            return cls(data["device"], {
                name: Partition(p["parent"], (p["code"][0], bytes.fromhex(p["code"][1])),
                                bytes.fromhex(p["config"]))
                for name, p in data["partitions"].items()})
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
            raise ValueError(f"reference values: {type(error).__name__}: {error}") from None

    def differences(self, other: ReferenceValues) -> list[str]:
        """How ``other`` (what a device showed) differs from these, partition by partition."""
        found = []
        if other.device != self.device:
            found.append(f"device: {other.device}, expected {self.device}")
        for name, want in self.partitions.items():
            got = other.partitions.get(name)
            if got is None:
                found.append(f"{name}: missing (expected under {want.parent})")
                continue
            if got.parent != want.parent:
                found.append(f"{name}: moved (under {got.parent}, expected under {want.parent})")
            if got.code != want.code:
                found.append(f"{name}: code differs ({got.code[0]} {got.code[1].hex()[:16]}, "
                             f"expected {want.code[0]} {want.code[1].hex()[:16]})")
            if got.config != want.config:
                found.append(f"{name}: configuration differs")
        found += [f"{name}: added (under {got.parent})"
                  for name, got in other.partitions.items() if name not in self.partitions]
        return found


@dataclass(frozen=True)
class Appraisal:
    """A verified quote's content (``values``), how it differs from the reference values
    (empty: it matches, or there were none to compare with), and the event log it replayed."""

    values: ReferenceValues
    differences: list[str]
    events: list[Event]

    @property
    def ok(self) -> bool:
        """The quote matches the reference values (or there were none)."""
        return not self.differences


class Verifier:
    """Checks one device's evidence: its attestation public key and root kind are enrolled;
    each nonce it hands out is good for one answer."""

    def __init__(self, root_kind: str, public_key: Any,
                 reference: ReferenceValues | None = None):
        self.root = _root_class(root_kind)
        self.public_key, self.reference = public_key, reference
        self._issued: set[bytes] = set()
        self._used: set[bytes] = set()

    def challenge(self) -> bytes:
        """A fresh nonce for the device to answer (good for one verification)."""
        nonce = os.urandom(32)
        self._issued.add(nonce)
        return nonce

    def verify(self, evidence: bytes, nonce: bytes) -> Appraisal:
        """Appraise ``evidence`` that answers this verifier's ``nonce``; the nonce is used up
        whatever the outcome.  AttestationError with the first thing wrong."""
        if nonce in self._used:
            raise AttestationError("nonce_reused", "that nonce was used for a verification "
                                   "already")
        if nonce not in self._issued:
            raise AttestationError("nonce_unknown", "that nonce was not issued by this verifier")
        self._issued.discard(nonce)
        self._used.add(nonce)
        root_kind, claims, quote = _parse(evidence)
        if root_kind != self.root.kind:
            raise AttestationError("unknown_root", f"evidence from a {root_kind!r} root, "
                                   f"{self.root.kind!r} enrolled")
        device, events, registers, shape = _parse_claims(claims)
        try:
            state = replay(events)
        except ValueError as error:
            raise AttestationError("log_invalid", str(error)) from None
        self.root.check_quote(quote, self.public_key, nonce, sha256(canonical(claims)),
                              state.tree)
        if state.registers != registers or state.parents != shape:
            raise AttestationError("log_mismatch", "the claimed registers or tree shape are "
                                   "not what the event log replays to")
        values = ReferenceValues(device, {
            name: Partition(state.parents[name], state.measured[name][CODE],
                            state.measured[name][CONFIG][1]) for name in state.registers})
        return Appraisal(values, self.reference.differences(values) if self.reference else [],
                         events)


def _parse(evidence: bytes) -> tuple[str, dict, bytes]:
    try:
        item = loads(evidence, max_input=MAX_EVIDENCE)
    except (CBORError, TypeError) as error:
        raise AttestationError("malformed", f"evidence is no acceptable CBOR: {error}") from None
    if not (isinstance(item, dict) and set(item) == {"root", "claims", "quote"}
            and isinstance(item["root"], str) and isinstance(item["claims"], dict)
            and isinstance(item["quote"], bytes)):
        raise AttestationError("malformed", "evidence is a map of root, claims and quote")
    return item["root"], item["claims"], item["quote"]


def _parse_claims(claims: dict) -> tuple[str, list[Event], Any, Any]:
    if set(claims) != {"device", "log", "partitions", "shape"} \
            or not isinstance(claims["device"], str) or not isinstance(claims["log"], list):
        raise AttestationError("malformed", "claims are a map of device, log, partitions, shape")
    try:
        events = [Event.from_list(item) for item in claims["log"]]
    except ValueError as error:
        raise AttestationError("malformed", f"event log: {error}") from None
    return claims["device"], events, claims["partitions"], claims["shape"]
