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
    health: str = "",
    last_resort: str | None = None,
) -> str:
    """Links isp1..ispN (interface wanK) in one policy `all` (with `last_resort` if given),
    plus `extra` TOML; `health` is the body of a top-level [health] table (see
    `probe_health`)."""
    weights = weights or [1] * len(lab.isps)
    priorities = priorities or [1] * len(lab.isps)
    lines = ['default_policy = "all"', ""]
    if health:
        lines += ["[health]", health, ""]
    for isp, weight, priority in zip(lab.isps, weights, priorities, strict=True):
        lines += [
            f"[links.{isp.name}]",
            f'interface = "{isp.router_if}"',
            *([f'gateway = "{isp.gateway}"'] if gateways else []),
            f"weight = {weight}",
            f"priority = {priority}",
            *(
                ["ipv6 = true", "masquerade6 = true", f'gateway6 = "{isp.gateway6}"']
                if ipv6 and isp.gateway6
                else []
            ),
            "",
        ]
    members = ", ".join(f'"{isp.name}"' for isp in lab.isps)
    lines += ["[policies.all]", f'strategy = "{strategy}"', f"links = [{members}]"]
    lines += [*([f'last_resort = "{last_resort}"'] if last_resort else []), ""]
    return "\n".join(lines) + extra


def probe_health(
    lab: Lab, interval: float = 0.2, fall: int = 3, rise: int = 3, extra: str = ""
) -> str:
    """A [health] body: ICMP to the internet host (through each link), fast intervals."""
    return (
        f'targets = [{{ kind = "icmp", host = "{lab.server_ip}" }}]\n'
        f"interval = {interval}\ntimeout = {interval}\nfall = {fall}\nrise = {rise}\n{extra}"
    )


def lab_targets(lab: Lab, interval: float = 0.2) -> str:
    """A [health] body with only targets and timing (3 ICMP targets behind every ISP):
    everything else, quality thresholds included, is the shipped default."""
    targets = ", ".join(
        f'{{ kind = "icmp", host = "{host}" }}'
        for host in (lab.server_ip, "198.18.1.1", "198.18.2.1")
    )
    return f"targets = [{targets}]\ninterval = {interval}\ntimeout = {interval}\n"


def lossy_health(lab: Lab, interval: float = 0.2) -> str:
    """A [health] body judging quality: 3 ICMP targets, degraded above 10 % loss (kept as a
    last resort), down above 50 %."""
    return lab_targets(lab, interval) + (
        "fall = 3\nrise = 3\nwindow = 30\ndegraded_loss_pct = 10\ndown_loss_pct = 50\n"
        'degraded_action = "last_resort"\n'
    )
