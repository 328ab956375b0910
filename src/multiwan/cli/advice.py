"""Warnings of `check` and `plan`: read the sysctls `core.advice` needs (read-only), and the
LAN interfaces' GRO where a `packet` policy exists, print the findings as
`FILE:LINE: field: warning: ...` on stderr. They never change the exit code."""

import shutil
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path

import click

from multiwan.config.errors import Problem
from multiwan.config.locate import index_lines, line_of
from multiwan.config.schema import Config
from multiwan.core.advice import Finding, advise, merged_packets, sysctl_keys
from multiwan.core.compile import compile_state
from multiwan.core.links import InterfaceFacts, ResolvedLink, resolve_links
from multiwan.kernel import netlink
from multiwan.kernel.offload import gro_on
from multiwan.kernel.sysctl import read_sysctl
from multiwan.kernel.tunnels import kernel_has_wireguard


def warn(
    path: Path, config: Config, links: Iterable[ResolvedLink], wanted: Mapping[str, str]
) -> int:
    """Print every warning; how many there were."""
    now = {key: read_sysctl(key) for key in sysctl_keys(config)}
    lan = lan_facts(config)
    findings = advise(config, links, now, wanted, _foreign_marks(), lan)
    findings += missing_tunnel_programs(config)
    if any(policy.strategy == "packet" for policy in config.policies.values()):
        receiving = [name for name, facts in lan.items() if facts.v4.subnets or facts.v6.subnets]
        findings += merged_packets(config, gro_on(receiving))
    lines = index_lines(path.read_text(encoding="utf-8")) if findings else {}
    problems = [
        Problem(str(path), line_of(lines, f.field), f.field, f"warning: {f.message}")
        for f in findings
    ]
    for problem in sorted(problems, key=lambda p: (p.line or 0, p.field)):
        click.echo(str(problem), err=True)
    return len(problems)


#: What each tunnel kind runs, and the Debian package that brings it (wireguard-go: only
#: where the kernel has no WireGuard).
TUNNEL_PROGRAMS = {
    "wireguard": (("wireguard-go", "wireguard-go"), ("wg", "wireguard-tools"), ("ip", "iproute2")),
    "openvpn": (("openvpn", "openvpn"),),
}


def missing_tunnel_programs(config: Config) -> list[Finding]:
    """Tunnel links whose programs are not installed here: the daemon could not start them."""
    findings = []
    in_kernel: bool | None = None  # read once, if a WireGuard link lacks wireguard-go
    for name, link in config.links.items():
        for program, package in TUNNEL_PROGRAMS.get(link.tunnel or "", ()):
            if shutil.which(program) is not None:
                continue
            text = f"{program} is not installed (Debian package {package})"
            if program == "wireguard-go":
                in_kernel = kernel_has_wireguard() if in_kernel is None else in_kernel
                if in_kernel:
                    continue
                text += " and the kernel has no WireGuard"
            findings.append(Finding(f"links.{name}.tunnel", f"{text}: the tunnel cannot start"))
    return findings


def lan_facts(config: Config) -> dict[str, InterfaceFacts]:
    """Facts of this machine's interfaces that are no uplink (none when netlink cannot be
    read)."""
    uplinks = {link.interface for link in config.links.values()}
    names = [name for _, name in socket.if_nameindex() if name not in uplinks and name != "lo"]
    try:
        ipr = netlink.open_netlink()
    except OSError:
        return {}
    try:
        return netlink.interfaces_facts(ipr, names)
    finally:
        ipr.close()


def _foreign_marks() -> list[tuple[str, int]]:
    """The marks other programs' `ip rule`s match (none when netlink cannot be read)."""
    try:
        ipr = netlink.open_netlink()
    except OSError:
        return []
    try:
        return netlink.foreign_rule_marks(ipr)
    finally:
        ipr.close()


def warn_unapplied(path: Path, config: Config) -> int:
    """`warn` for `check`: links resolved from the interfaces as they are now (none when
    netlink cannot be read here, e.g. a sandbox: `check` still validates)."""
    facts = {}
    try:
        ipr = netlink.open_netlink()
    except OSError as exc:
        click.echo(f"warning: interfaces not read ({exc.strerror}): no gateway warnings", err=True)
    else:
        try:
            interfaces = (link.interface for link in config.links.values())
            facts = netlink.interfaces_facts(ipr, interfaces)
        finally:
            ipr.close()
    links = resolve_links(config, facts)
    desired = compile_state(config, links, set(config.links))
    return warn(path, config, links, {s.key: s.value for s in desired.sysctls})
