"""The `multiwan` command. Heavy modules are imported inside commands so `--help` and
quick commands start fast (FIELD-NOTES: CLI start-up)."""

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from multiwan.cli import complete

if TYPE_CHECKING:
    from multiwan.config.schema import Config
    from multiwan.core.links import ResolvedLink
    from multiwan.kernel.reconcile import Kernel

DEFAULT_CONFIG = Path("/etc/multiwan/multiwan.toml")

#: Exit codes: 0 success, 1 invalid config, 2 usage, 3 kernel apply failed (state restored).
EXIT_CONFIG = 1
EXIT_KERNEL = 3
EXIT_NOT_RUNNING = 4
EXIT_DAEMON_RUNNING = 5
EXIT_CONFIRMATION = 6  # apply: a change awaits confirmation; confirm: none does


class Context:
    def __init__(self, config_path: Path, state_dir: Path) -> None:
        self.config_path = config_path
        self.state_dir = state_dir

    def config(self) -> "Config":
        """Load and validate the config, or print every problem and exit 1."""
        from multiwan.config.load import ConfigError, load_config

        try:
            return load_config(self.config_path)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            click.echo(f"{len(exc.problems)} problem(s); nothing was applied.", err=True)
            sys.exit(EXIT_CONFIG)

    def kernel(self) -> "Kernel":
        from multiwan.kernel.errors import KernelError
        from multiwan.kernel.reconcile import Kernel

        try:
            return Kernel(self.state_dir)
        except KernelError as exc:
            raise click.ClickException(str(exc)) from exc


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="Config file.",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where multiwan keeps its state (default /run/multiwan or $MULTIWAN_STATE_DIR).",
)
@click.version_option(package_name="multiwan")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, state_dir: Path | None) -> None:
    """Multi-link load balancing and failover for Linux routers."""
    from multiwan.kernel.journal import DEFAULT_STATE_DIR

    ctx.obj = Context(config_path, state_dir or DEFAULT_STATE_DIR)


@cli.command()
@pass_context
def check(ctx: Context) -> None:
    """Validate the config; report every problem with file:line. Exit 1 on any. Warnings
    about the machine (strict rp_filter, forwarding off, ...) do not fail it."""
    from multiwan.cli.advice import warn_unapplied

    config = ctx.config()
    warnings = warn_unapplied(ctx.config_path, config)
    click.echo(
        f"{ctx.config_path}: OK ({len(config.links)} links, {len(config.policies)} policies, "
        f"{len(config.rules)} rules, {len(config.services)} services"
        + (f"; {warnings} warning(s))" if warnings else ")")
    )


@cli.command()
@pass_context
def plan(ctx: Context) -> None:
    """Show what `apply` would change, without touching anything."""
    from multiwan.cli.advice import warn
    from multiwan.operations import intent

    config = ctx.config()
    kernel = ctx.kernel()
    try:
        found = intent(config, kernel)
    finally:
        kernel.close()
    _warn_unroutable(found.links)
    warn(ctx.config_path, config, found.links, {s.key: s.value for s in found.desired.sysctls})
    click.echo(found.plan.render(), nl=False)


CONFIRM = click.option(
    "--confirm",
    "confirm_seconds",
    type=click.IntRange(1, 3600),
    metavar="SECONDS",
    help="Undo the change unless `multiwan confirm` comes within SECONDS (a change that "
    "cuts you off a remote router comes back by itself).",
)


@cli.command()
@CONFIRM
@pass_context
def apply(ctx: Context, confirm_seconds: int | None) -> None:
    """Make the kernel match the config (atomic; a no-op when it already does). With the
    daemon running, it goes through the daemon (a reload), which keeps link health: a
    plain apply would put dead links back into the balance behind its back."""
    from multiwan.cli import confirm as confirming
    from multiwan.kernel.reconcile import ApplyError
    from multiwan.operations import intent

    config = ctx.config()
    if _daemon_answers(ctx):
        if confirm_seconds:
            _reload_confirm(ctx, confirm_seconds)
            return
        _print_status(_ask(ctx, "reload"))
        click.echo("Applied through the running daemon (it re-read its config file).")
        return
    if confirming.pending(ctx.state_dir):
        click.echo("apply refused: the last change awaits `multiwan confirm` (or its undoing "
                   "when its time is up)", err=True)  # fmt: skip
        sys.exit(EXIT_CONFIRMATION)
    text = ctx.config_path.read_text(encoding="utf-8")
    token = confirming.begin(ctx.state_dir, text, confirm_seconds, ctx.config_path) if (
        confirm_seconds) else None  # fmt: skip
    kernel = ctx.kernel()
    try:
        found = intent(config, kernel)
        _warn_unroutable(found.links)
        kernel.execute(found.plan)
    except ApplyError as exc:
        if token:
            confirming.cancel(ctx.state_dir, token)
        click.echo(f"apply failed: {exc}", err=True)
        sys.exit(EXIT_KERNEL)
    finally:
        kernel.close()
    click.echo(found.plan.render() if not found.plan.empty else "Already applied: no changes.")
    if token:
        click.echo(f"Undone in {confirm_seconds} s unless `multiwan confirm` comes first.")
    else:
        confirming.record_applied(ctx.state_dir, text)


def _reload_confirm(ctx: Context, seconds: int) -> None:
    _print_status(_ask(ctx, "reload_confirm", seconds=seconds))
    click.echo(f"Reloaded; the daemon goes back to the previous config in {seconds} s unless "
               "`multiwan confirm` comes first.")  # fmt: skip


@cli.command()
@pass_context
def confirm(ctx: Context) -> None:
    """Keep the change made with `apply --confirm` or `reload --confirm`."""
    from multiwan.cli import confirm as confirming

    if _daemon_answers(ctx):
        _ask(ctx, "confirm")
    elif not confirming.confirm(ctx.state_dir):
        click.echo("No change awaits confirmation (it was confirmed, or its time ran out and "
                   "it was undone).", err=True)  # fmt: skip
        sys.exit(EXIT_CONFIRMATION)
    click.echo("Confirmed: the change stays.")


def _daemon_answers(ctx: Context) -> bool:
    """A daemon serves this state directory (it answers on the control socket)."""
    from multiwan.cli.client import NotRunning, Refused, request

    try:
        request(ctx.state_dir, "status")
    except NotRunning:
        return False
    except Refused:
        return True
    return True


@cli.command()
@pass_context
def flush(ctx: Context) -> None:
    """Remove everything multiwan owns; restore the sysctls it changed."""
    from multiwan.kernel.reconcile import ApplyError
    from multiwan.operations import flush as do_flush

    if _daemon_answers(ctx):
        click.echo(
            "flush refused: the multiwan daemon is running and would put everything back; "
            "stop it first (systemctl stop multiwan), then flush.",
            err=True,
        )
        sys.exit(EXIT_DAEMON_RUNNING)
    kernel = ctx.kernel()
    try:
        done = do_flush(kernel)
    except ApplyError as exc:
        click.echo(f"flush failed: {exc}", err=True)
        sys.exit(EXIT_KERNEL)
    finally:
        kernel.close()
    click.echo(done.render() if not done.empty else "Nothing to flush.")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def show(ctx: Context, as_json: bool) -> None:
    """Show the live state multiwan owns: nft table, counters, rules and routes."""
    from multiwan.cli.show import collect, render

    kernel = ctx.kernel()
    try:
        state = collect(kernel)
    finally:
        kernel.close()
    if as_json:
        click.echo(json.dumps(state, indent=2, sort_keys=True))
    else:
        render(state)


@cli.command()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@pass_context
def run(ctx: Context, verbose: bool) -> None:
    """Apply the config, then follow link health until stopped (for systemd)."""
    from multiwan.daemon.logs import setup
    from multiwan.daemon.run import run_daemon

    ctx.config()  # reject an invalid config with every problem listed, before starting
    setup(verbose)
    run_daemon(ctx.config_path, ctx.state_dir)


def _ask(ctx: Context, command: str, **args: object) -> Any:
    """One control request; clear messages when no daemon runs or it refuses."""
    from multiwan.cli.client import NotRunning, Refused, request

    try:
        return request(ctx.state_dir, command, **args)
    except NotRunning as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_NOT_RUNNING)
    except Refused as exc:
        raise click.ClickException(str(exc)) from exc


def _print_status(status: dict[str, Any]) -> None:
    from rich.console import Console

    from multiwan.cli.status import status_view

    # Piped output (scripts, logs) gets a wide table instead of rich's 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(status_view(status))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def status(ctx: Context, as_json: bool) -> None:
    """Links of the running daemon: state, reason, quality, weight, rates."""
    result = _ask(ctx, "status")
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        _print_status(result)


@cli.command()
@click.option("--interval", default=1.0, show_default=True, help="Seconds between refreshes.")
@pass_context
def watch(ctx: Context, interval: float) -> None:
    """`status`, refreshing live in the terminal (Ctrl-C to leave)."""
    import time

    from rich.live import Live

    from multiwan.cli.status import status_view

    with Live(status_view(_ask(ctx, "status")), auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(status_view(_ask(ctx, "status")), refresh=True)
        except KeyboardInterrupt:
            pass


@cli.command()
@click.argument("name", shell_complete=complete.modes)
@click.option("--persist", is_flag=True, help="Keep this mode across reloads and restarts.")
@pass_context
def mode(ctx: Context, name: str, persist: bool) -> None:
    """Make policy NAME the default, or switch the default policy to balance/failover;
    `config` goes back to what the config file says (with --persist: forgets a persisted
    mode)."""
    status = _ask(ctx, "mode", mode=name, persist=persist)
    _print_status(status)
    runtime = status["runtime"]
    wanted = [m for m in (runtime["default_policy"], runtime["strategy"]) if m is not None]
    if persist and status["persisted_mode"] != wanted:
        raise click.ClickException("the mode is in force but could not be persisted; "
                                   "the daemon's log says why")  # fmt: skip


@cli.command()
@click.argument("action", type=click.Choice(["disable", "enable", "drain", "undrain"]))
@click.argument("name", shell_complete=complete.links)
@pass_context
def link(ctx: Context, action: str, name: str) -> None:
    """Take a link out (disable), let its connections finish (drain), or back in."""
    _print_status(_ask(ctx, "link", link=name, action=action))


@cli.command()
@click.argument("action", type=click.Choice(["drain", "undrain"]))
@click.argument("service", shell_complete=complete.services)
@click.argument("backend", shell_complete=complete.backends)
@pass_context
def backend(ctx: Context, action: str, service: str, backend: str) -> None:
    """Drain a service BACKEND (address:port): no new connections, existing ones finish."""
    _print_status(_ask(ctx, "backend", service=service, backend=backend, action=action))


@cli.command()
@click.argument("name", shell_complete=complete.links)
@click.argument("weight", type=click.IntRange(1, 1000))
@pass_context
def weight(ctx: Context, name: str, weight: int) -> None:
    """Change a link's weight until the next reload."""
    _print_status(_ask(ctx, "weight", link=name, weight=weight))


@cli.command()
@CONFIRM
@pass_context
def reload(ctx: Context, confirm_seconds: int | None) -> None:
    """Make the daemon read its config again (drops runtime changes)."""
    if confirm_seconds:
        _reload_confirm(ctx, confirm_seconds)
        return
    _print_status(_ask(ctx, "reload"))


@cli.command("log")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def log_command(ctx: Context, as_json: bool) -> None:
    """Recent link state changes with their reasons."""
    import datetime

    entries = _ask(ctx, "log")
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for entry in entries:
        stamp = datetime.datetime.fromtimestamp(entry["time"]).isoformat(timespec="milliseconds")
        click.echo(
            f"{stamp} {entry['link']}: {entry['previous']} -> {entry['state']} ({entry['reason']})"
        )


@cli.command()
@click.argument("src")
@click.argument("dst")
@click.argument("proto", required=False, type=click.Choice(["tcp", "udp", "icmp", "icmpv6"]))
@click.argument("dport", required=False, type=click.IntRange(1, 65535))
@click.option("--sport", type=click.IntRange(1, 65535), help="Source port (rules with sport).")
@click.option("--iif", help="Interface the connection arrives on (rules with iif, uplinks).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def explain(
    ctx: Context,
    src: str,
    dst: str,
    proto: str | None,
    dport: int | None,
    sport: int | None,
    iif: str | None,
    as_json: bool,
) -> None:
    """Which rule, policy, link, ip rule and table a new connection SRC -> DST would take
    now, and why (link states from the running daemon; without one, all links up)."""
    from multiwan.cli.explain import run_explain

    run_explain(ctx, src, dst, proto, dport, sport, iif, as_json)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("link", shell_complete=complete.links)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_context
def use(ctx: Context, link: str, command: tuple[str, ...]) -> None:
    """Run COMMAND with all its sockets bound to LINK's interface and marked for it, so its
    traffic leaves by that link only: `multiwan use wan2 -- curl http://192.168.1.1/`.
    Exits with the command's status."""
    from multiwan.cli.use import run_use

    run_use(ctx, link, command)


@cli.command("server-config")
@click.option("--policy", metavar="NAME", help="The policy (default: the first 'packet' one).")
@click.option("--lan", multiple=True, metavar="CIDR",
              help="A network behind this router (repeatable; default: the subnets of its "
              "non-uplink interfaces).")  # fmt: skip
@click.option("--key-dir", default="/etc/multiwan-server", show_default=True,
              help="The server's directory of LINK.key (WireGuard private keys, "
              "OpenVPN static keys).")  # fmt: skip
@click.option("--device-prefix", default="mw", show_default=True,
              help="The server's tunnel devices are PREFIX<link id>.")  # fmt: skip
@pass_context
def server_config(
    ctx: Context, policy: str | None, lan: tuple[str, ...], key_dir: str, device_prefix: str
) -> None:
    """Print a shell script for the Linux server at the far end of a policy's tunnels: its
    tunnel ends, and routes, rules and nft that stripe what goes back to the LAN over the
    tunnels with the policy's weights."""
    from multiwan.cli.farend import server_script

    click.echo(server_script(ctx.config(), policy, lan, key_dir, device_prefix), nl=False)


@cli.command()
def demo() -> None:
    """Balance a 3-ISP world in network namespaces (mwd-*), show who carried what, clean up."""
    from multiwan.lab.demo import run_demo

    run_demo()


def _warn_unroutable(links: list["ResolvedLink"]) -> None:
    for link in links:
        if not link.routable:
            click.echo(
                f"warning: link {link.name!r} ({link.interface}) is absent or has no "
                "gateway/address: it gets no routes and takes no traffic",
                err=True,
            )
