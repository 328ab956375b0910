"""Tunnel devices: the commands that run a tunnel pinned to its base link, and the setup of a
WireGuard device, created by the kernel (`create_kernel_wireguard`) or by wireguard-go.

Pinning, per kind: wireguard-go marks its UDP socket with the base link's mark (`wg set
fwmark`), so the fwmark rule routes it by the base link's table; openvpn gets `--mark` and
`--bind-dev` (SO_BINDTODEVICE, routed by the `oif` rule), which also tells apart identical
modems that share subnet, gateway and address.
"""

import asyncio
import json
import os
import socket
import subprocess
from pathlib import Path

from multiwan.config.tunnels import WireguardConfig, parse_wireguard
from multiwan.core.tunnels import TunnelSpec
from multiwan.kernel import netlink
from multiwan.kernel.errors import KernelError

#: wireguard-go's control socket, created once the device exists.
WG_SOCKET_DIR = Path("/var/run/wireguard")


def tunnel_argv(spec: TunnelSpec) -> list[str]:
    """The tunnel process, in the foreground (it is supervised)."""
    if spec.kind == "wireguard":
        return ["wireguard-go", "--foreground", spec.interface]
    return [
        "openvpn", "--config", spec.config, "--dev", spec.interface, "--dev-type", "tun",
        "--mark", str(spec.mark), "--bind-dev", spec.base_interface,
    ]  # fmt: skip


def wireguard_ready(interface: str) -> bool:
    return (WG_SOCKET_DIR / f"{interface}.sock").exists()


def create_kernel_wireguard(interface: str) -> None:
    """Create `interface` as a kernel WireGuard device (blocking: run it in a thread); an
    OSError with the kernel's errno when it refuses."""
    ipr = netlink.open_netlink()
    try:
        netlink.add_device(ipr, interface, "wireguard")
    finally:
        ipr.close()


def kernel_has_wireguard(modules: Path = Path("/lib/modules")) -> bool:
    """Whether the running kernel has WireGuard, read without changing anything: the module
    loaded, built in, or installed for this kernel (loaded when the first device is made)."""
    if Path("/sys/module/wireguard").exists():
        return True
    for index in ("modules.builtin", "modules.dep"):
        try:
            text = (modules / os.uname().release / index).read_text(errors="replace")
        except OSError:
            continue
        if "/wireguard.ko" in text:
            return True
    return False


def device_exists(interface: str) -> bool:
    """Whether `interface` exists in this namespace (an ioctl: cheap enough to poll)."""
    try:
        socket.if_nametoindex(interface)
    except OSError:
        return False
    return True


def device_kind(interface: str) -> str | None:
    """The link kind of `interface` ("wireguard", "tun", ...; None: it does not exist)."""
    done = subprocess.run(["ip", "-j", "-d", "link", "show", "dev", interface],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode:
        return None
    (link,) = json.loads(done.stdout)
    kind = link.get("linkinfo", {}).get("info_kind")
    return str(kind) if kind else ""


async def delete_device(interface: str) -> None:
    if device_exists(interface):
        await _run("ip", "link", "delete", interface)


async def _run(*argv: str, stdin: str | None = None) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    except OSError as exc:
        raise KernelError(f"cannot run {argv[0]}: {exc}") from exc
    out, _ = await proc.communicate(stdin.encode() if stdin is not None else None)
    if proc.returncode:
        text = out.decode(errors="replace").strip()
        raise KernelError(f"{' '.join(argv)} failed ({proc.returncode}): {text}")


async def configure_wireguard(spec: TunnelSpec) -> WireguardConfig:
    """Keys and peers from the link's file, the base link's mark, addresses, MTU, up."""
    text = await asyncio.to_thread(Path(spec.config).read_text, encoding="utf-8")
    parsed = parse_wireguard(text)
    await _run("wg", "setconf", spec.interface, "/dev/stdin", stdin=parsed.setconf)
    await _run("wg", "set", spec.interface, "fwmark", f"{spec.mark:#x}")
    for address in parsed.addresses:
        await _run("ip", "address", "replace", address, "dev", spec.interface)
    mtu = ["mtu", str(parsed.mtu)] if parsed.mtu else []
    await _run("ip", "link", "set", spec.interface, *mtu, "up")
    return parsed
