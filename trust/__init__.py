"""The chain of trust: signed images and the trust policy that checks them (docs/trust.md);
measured boot, remote attestation and roots of trust (docs/attestation.md).

    policy = pipsim.trust.policy.load("trust.toml")
    pipsim.trust.image.sign("app.elf", developer_key, "developer", name="app", version=3, arch="arm",
                     permissions=("ipc",))
    verified = pipsim.trust.image.verify("app.elf", policy, arch="arm", minimum_version=2)
"""
from .attest import Appraisal, Attester, ReferenceValues, Verifier, measured
from .image import ImageRefused, Metadata, Package, Verified, sign, verify
from .measure import Event, Measurements, replay
from .policy import PolicyError, TrustPolicy
from .rot import AttestationError, RootOfTrust, SealError, SoftwareRoot

__all__ = ["Appraisal", "AttestationError", "Attester", "Event", "ImageRefused",
           "Measurements", "Metadata", "Package", "PolicyError", "ReferenceValues", "RootOfTrust",
           "SealError", "SoftwareRoot", "TrustPolicy", "Verified", "Verifier", "measured",
           "replay", "sign", "verify"]
