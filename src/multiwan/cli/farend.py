"""`multiwan server-config`: what the far end of a policy's tunnels needs, read from the
router's config and tunnel files (core/farend.py renders it)."""

import ipaddress
import subprocess
from collections.abc import Sequence
from pathlib import Path

import click

from multiwan.cli.advice import lan_facts
from multiwan.config.base import INTERFACE_NAME
from multiwan.config.schema import Config, Policy
from multiwan.config.tunnels import parse_openvpn_client, parse_wireguard
from multiwan.core.farend import FarTunnel, render_far_end
from multiwan.core.ownership import MarkSpace, link_table


def _policy(config: Config, name: str | None) -> tuple[str, Policy]:
    if name is not None:
        if name not in config.policies:
            raise click.UsageError(f"no policy {name!r} (policies: {', '.join(config.policies)})")
        return name, config.policies[name]
    for policy_name, policy in config.policies.items():
        if policy.strategy == "packet":
            return policy_name, policy
    raise click.UsageError("no policy with strategy 'packet': name one with --policy")


def _public_key(private: str) -> str:
    try:
        done = subprocess.run(
            ["wg", "pubkey"], input=private, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise click.ClickException(f"cannot run wg pubkey (wireguard-tools): {exc}") from exc
    return done.stdout.strip()


def _far_tunnel(config: Config, link_name: str, weight: int, device: str) -> FarTunnel:
    link = config.links[link_name]
    if link.tunnel is None or link.tunnel_config is None:
        raise click.UsageError(
            f"link {link_name!r} is not a tunnel: the server is no far end of it"
        )
    index = config.link_ids()[link_name]
    mark, table = MarkSpace(config.mark_mask).link(index), link_table(index)
    if link.tunnel == "openvpn":
        client = parse_openvpn_client(Path(link.tunnel_config).read_text(encoding="utf-8"))
        if not client.static:
            click.echo(f"server-config: {link_name}: OpenVPN with certificates (or an inline "
                       "key): complete the server config the script shows (every COMPLETE)",
                       err=True)  # fmt: skip
        return FarTunnel(link_name, "openvpn", device, mark, table, weight, None,
                         openvpn=client)  # fmt: skip
    wg = parse_wireguard(Path(link.tunnel_config).read_text(encoding="utf-8"))
    router = [ipaddress.ip_interface(a) for a in wg.addresses]
    own = next((a for a in router if a.version == 4), None)
    address = f"{link.gateway}/{own.network.prefixlen}" if link.gateway and own else None
    port = int(wg.endpoints[0].rsplit(":", 1)[1])
    hosts = tuple(f"{a.ip}/{a.max_prefixlen}" for a in router)
    return FarTunnel(link_name, "wireguard", device, mark, table, weight, address,
                     _public_key(wg.private_key), hosts, port)  # fmt: skip


def server_script(
    config: Config, policy_name: str | None, lan: Sequence[str], key_dir: str, prefix: str
) -> str:
    name, policy = _policy(config, policy_name)
    ids = config.link_ids()
    tunnels = []
    for member in policy.members():
        device = f"{prefix}{ids[member.link]}"
        if len(device.encode()) > 15 or not device.isprintable() or "/" in device:
            raise click.UsageError(f"--device-prefix: {device!r} is not {INTERFACE_NAME}")
        weight = member.weight or config.links[member.link].fixed_weight
        tunnels.append(_far_tunnel(config, member.link, weight, device))
    if not lan:
        found = lan_facts(config)
        lan = sorted({net for facts in found.values() for net in facts.v4.subnets})
    if not lan:
        raise click.UsageError("no LAN found on this machine: give it with --lan CIDR")
    for net in lan:
        try:
            ipaddress.IPv4Network(net)
        except ValueError:
            raise click.UsageError(f"--lan: expected an IPv4 network, got {net!r}") from None
    return render_far_end(name, tunnels, lan, key_dir, MarkSpace(config.mark_mask))
