"""`multiwan explain`: gathers what core/explain.py needs (the running daemon's view of the
links, or all links up when none runs; the interfaces as the kernel has them; main's routes
to the destination), then prints its answer. Reads only; changes nothing."""

import ipaddress
import json
import subprocess
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from multiwan.cli.main import Context
    from multiwan.config.schema import Config
    from multiwan.core.strategy import Availability


def main_specific(dst: str) -> str | None:
    """The main table's most specific route to `dst` other than its default, if any (that
    route wins over every mark at `suppress_prefixlength 0`)."""
    family = "-6" if ":" in dst else "-4"
    found = subprocess.run(
        ["ip", "-j", family, "route", "show", "table", "main", "match", dst],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    routes = json.loads(found.stdout or "[]") if found.returncode == 0 else []
    prefixes = [str(r["dst"]) for r in routes if r.get("dst") not in (None, "default")]
    if not prefixes:
        return None
    return max(prefixes, key=lambda p: ipaddress.ip_network(p, strict=False).prefixlen)


def current_view(
    config: "Config", status: dict[str, Any] | None
) -> tuple["Config", "Availability", dict[str, str], str]:
    """The config as the daemon runs it (runtime changes applied), which links take new
    connections, each link's state, and where that came from."""
    from multiwan.core.strategy import availability
    from multiwan.daemon.runtime import Runtime

    if status is None:
        states = {name: "up" if link.enabled else "disabled" for name, link in config.links.items()}
        return config, availability(config, states, set()), states, "no daemon: all links up"
    runtime_fields = status.get("runtime") or {}
    runtime = Runtime(
        default_policy=runtime_fields.get("default_policy"),
        strategy=runtime_fields.get("strategy"),
        weights=dict(runtime_fields.get("weights") or {}),
        drained=frozenset(runtime_fields.get("drained") or ()),
        disabled=frozenset(runtime_fields.get("disabled") or ()),
    )
    effective = runtime.effective(config)
    states = {row["name"]: row["state"] for row in status["links"] if row["name"] in config.links}
    available = availability(effective, states, runtime.drained)
    return effective, available, states, "link states from the running daemon"


def run_explain(
    ctx: "Context",
    src: str,
    dst: str,
    proto: str | None,
    dport: int | None,
    sport: int | None,
    iif: str | None,
    as_json: bool,
) -> None:
    from multiwan.cli.client import NotRunning, Refused, request
    from multiwan.core.explain import Flow, explain
    from multiwan.core.links import resolve_links

    try:
        if ipaddress.ip_address(src).version != ipaddress.ip_address(dst).version:
            raise click.BadParameter("SRC and DST must be of one family (IPv4 or IPv6)")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    config = ctx.config()
    refused = None
    try:
        status = request(ctx.state_dir, "status")
    except NotRunning:
        status = None
    except Refused as exc:  # a daemon runs, but will not tell this user
        status, refused = None, str(exc)
    config, available, states, source = current_view(config, status)
    if refused:
        source = f"the daemon refused its link states ({refused}): all links up"
    kernel = ctx.kernel()
    try:
        facts = kernel.interface_facts(link.interface for link in config.links.values())
    finally:
        kernel.close()
    links = resolve_links(config, facts)
    flow = Flow(src, dst, proto, dport, sport, iif)
    answer = explain(config, links, available, states, flow, main_specific(dst))
    if as_json:
        routes = [r.__dict__ for r in answer.routes]
        click.echo(json.dumps({"link": answer.link, "reasons": list(answer.reasons),
                               "routes": routes, "source": source}, indent=2))  # fmt: skip
        return
    click.echo(f"({source})")
    click.echo(answer.render(), nl=False)
