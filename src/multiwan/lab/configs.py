"""Config text for a lab world: one link per ISP, with the weights and extras a test wants.

Shared by the tests, the demo and the benchmarks so they all describe the world one way.
"""

from collections.abc import Sequence

from multiwan.lab.topology import Lab


def lab_config(
    lab: Lab,
    weights: Sequence[int] | None = None,
    priorities: Sequence[int] | None = None,
    strategy: str = "balance",
    ipv6: bool = False,
    extra: str = "",
    gateways: bool = True,
) -> str:
    """Links isp1..ispN (interface wanK) in one policy `main-policy`, plus `extra` TOML."""
    weights = weights or [1] * len(lab.isps)
    priorities = priorities or [1] * len(lab.isps)
    lines = ['default_policy = "all"', ""]
    for isp, weight, priority in zip(lab.isps, weights, priorities, strict=True):
        lines += [
            f"[links.{isp.name}]",
            f'interface = "{isp.router_if}"',
            *([f'gateway = "{isp.gateway}"'] if gateways else []),
            f"weight = {weight}",
            f"priority = {priority}",
            *(["ipv6 = true", f'gateway6 = "{isp.gateway6}"'] if ipv6 and isp.gateway6 else []),
            "",
        ]
    members = ", ".join(f'"{isp.name}"' for isp in lab.isps)
    lines += ["[policies.all]", f'strategy = "{strategy}"', f"links = [{members}]", ""]
    return "\n".join(lines) + extra
