"""Trust: signed images and the trust policy that checks them (docs/trust.md).

    policy = trust.policy.load("trust.toml")
    trust.image.sign("app.elf", developer_key, "developer", name="app", version=3, arch="arm",
                     permissions=("ipc",))
    verified = trust.image.verify("app.elf", policy, arch="arm", minimum_version=2)
"""
from .image import ImageRefused, Metadata, Verified, sign, verify
from .policy import PolicyError, TrustPolicy

__all__ = ["ImageRefused", "Metadata", "PolicyError", "TrustPolicy", "Verified", "sign", "verify"]
