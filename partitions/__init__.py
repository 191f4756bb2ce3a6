"""Device-image manifests: parse and validate a TOML manifest into frozen specs with a layout
plan, boot its partition tree through the system calls, show it (docs/manifests.md)."""
from .boot import BootedPartition, DeviceImage, boot
from .manifest import load, parse
from .plan import ImagePlan, LayoutError, PartitionPlan
from .spec import ChannelSpec, DeviceSpec, KeySpec, Manifest, ManifestError, PartitionSpec, Runs

__all__ = ["load", "parse", "boot", "Manifest", "ManifestError", "PartitionSpec", "DeviceSpec",
           "ChannelSpec", "KeySpec", "Runs", "DeviceImage", "BootedPartition", "ImagePlan",
           "PartitionPlan", "LayoutError"]
