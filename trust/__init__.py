"""Measured boot, remote attestation and roots of trust (docs/attestation.md)."""
from .attest import Appraisal, Attester, ReferenceValues, Verifier, measured
from .measure import Event, Measurements, replay
from .rot import AttestationError, RootOfTrust, SealError, SoftwareRoot

__all__ = ["Appraisal", "AttestationError", "Attester", "Event", "Measurements",
           "ReferenceValues", "RootOfTrust", "SealError", "SoftwareRoot", "Verifier", "measured",
           "replay"]
