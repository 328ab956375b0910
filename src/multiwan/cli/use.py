"""`multiwan use LINK -- COMMAND...`: one command whose traffic leaves by one link only (to
reach one modem's web interface when every modem answers at 192.168.1.1, to test a line)."""

import socket
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from multiwan.cli.main import Context


def run_use(ctx: "Context", link: str, command: tuple[str, ...]) -> None:
    from multiwan.core.ownership import MarkSpace
    from multiwan.kernel.cgroupbind import CgroupBindError, run_bound

    config = ctx.config()
    if link not in config.links:
        known = ", ".join(config.links) or "none"
        raise click.BadParameter(f"unknown link {link!r} (links: {known})", param_hint="LINK")
    interface = config.links[link].interface
    try:
        ifindex = socket.if_nametoindex(interface)
    except OSError:
        raise click.ClickException(f"link {link}: interface {interface} is absent") from None
    mark = MarkSpace(config.mark_mask).link(config.link_ids()[link])
    try:
        status = run_bound(ifindex, mark, command, link)
    except CgroupBindError as exc:
        raise click.ClickException(f"use {link}: {exc}") from None
    sys.exit(status if status >= 0 else 128 - status)
