"""Tunnel links as the daemon runs them: what process, on which device, pinned to which base.

A tunnel's own packets (to its server) carry its base link's mark and leave by its base
link's device, so the fwmark rule sends them to the base link's table and the nft chains
leave them alone (marked packets are never balanced): they can never be balanced into
another link, nor into the tunnel itself.
"""

from dataclasses import dataclass
from typing import Literal

from multiwan.config.schema import Config
from multiwan.core.ownership import MarkSpace

TunnelKind = Literal["wireguard", "openvpn"]
#: What runs a tunnel: WireGuard in the kernel (a device, no process), else the userspace
#: `wireguard-go`; OpenVPN is always its own process.
Implementation = Literal["kernel", "wireguard-go", "openvpn"]


@dataclass(frozen=True)
class TunnelSpec:
    """Everything needed to start one tunnel process; a change means a restart."""

    link: str
    kind: TunnelKind
    interface: str  # the tunnel's device, the link's interface
    config: str  # the tunnel's own config file
    base: str
    base_interface: str
    mark: int  # the base link's mark
    digest: str = ""  # of the tunnel file's content: an edited file means a restart

    def describe(self) -> str:
        return f"{self.kind} over {self.base}"


def tunnel_specs(config: Config) -> dict[str, TunnelSpec]:
    """Every tunnel link of `config`, in file order."""
    ids, marks = config.link_ids(), MarkSpace(config.mark_mask)
    specs = {}
    for name, link in config.links.items():
        if link.tunnel is None or link.over is None or link.tunnel_config is None:
            continue
        base = config.links[link.over]
        specs[name] = TunnelSpec(
            name, link.tunnel, link.interface, link.tunnel_config, link.over, base.interface,
            marks.link(ids[link.over]), link.tunnel_digest,
        )  # fmt: skip
    return specs
