"""Receive offloads of this machine's interfaces, read through ethtool's ioctl (pyroute2):
GRO merges a flow's packets into one super-packet before nft sees it, which per-packet
striping then cannot split."""

from collections.abc import Iterable
from pathlib import Path

from pyroute2 import Ethtool

from multiwan.kernel.errors import RAW_KERNEL_ERRORS


def receivers(interface: str) -> list[str]:
    """Where `interface`'s packets are received, so merged: its ports when it is a bridge
    (the bridge's own flag merges nothing), else itself."""
    ports = Path("/sys/class/net") / interface / "brif"
    return sorted(p.name for p in ports.iterdir()) if ports.is_dir() else [interface]


def gro_on(interfaces: Iterable[str]) -> list[str]:
    """The interfaces that receive for `interfaces` (themselves, or a bridge's ports) with
    GRO on; one that cannot be read is left out."""
    names = sorted({name for interface in interfaces for name in receivers(interface)})
    found = []
    try:
        ethtool = Ethtool()
    except RAW_KERNEL_ERRORS:
        return []
    try:
        for name in names:
            try:
                feature = ethtool.get_features(name).features.get("rx-gro")
            except RAW_KERNEL_ERRORS:
                continue
            if feature is not None and feature.enable:
                found.append(name)
    finally:
        ethtool.close()
    return found
