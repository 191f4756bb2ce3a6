"""Device-image manifests: parse and validate a TOML manifest, boot its partition tree
through the system calls, show it (docs/manifests.md)."""
from .boot import BootedPartition, DeviceImage, boot
from .manifest import (ChannelSpec, DeviceSpec, KeySpec, Manifest, ManifestError, PartitionSpec,
                       Runs, load, parse)

__all__ = ["load", "parse", "boot", "Manifest", "ManifestError", "PartitionSpec", "DeviceSpec",
           "ChannelSpec", "KeySpec", "Runs", "DeviceImage", "BootedPartition"]
