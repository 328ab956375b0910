"""Shell completion of the names in the config (links, policies, services, backends), for
click's bash/zsh/fish completion: `_MULTIWAN_COMPLETE=bash_source multiwan` prints the
script (scripts/install installs one per shell). A config that cannot be read completes
nothing rather than printing errors into the shell."""

from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem

if TYPE_CHECKING:
    from multiwan.config.schema import Config

STRATEGIES = ("balance", "failover")


def _config(ctx: click.Context) -> "Config | None":
    from multiwan.cli.main import DEFAULT_CONFIG
    from multiwan.config.load import ConfigError, load_config

    path = ctx.find_root().params.get("config_path") or DEFAULT_CONFIG
    try:
        return load_config(Path(path))
    except ConfigError:
        return None


def _items(names: list[str], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


def links(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    config = _config(ctx)
    return _items(list(config.links) if config else [], incomplete)


def modes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Policies, links (a link may be the default), and the two strategies."""
    config = _config(ctx)
    names = [*config.policies, *config.links] if config else []
    return _items([*names, *STRATEGIES], incomplete)


def services(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    config = _config(ctx)
    return _items(list(config.services) if config else [], incomplete)


def backends(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The backends (address:port) of the service given before."""
    config = _config(ctx)
    service = config.services.get(ctx.params.get("service") or "") if config else None
    if service is None:
        return []
    return _items([b.key(service.ports[0]) for b in service.backends], incomplete)
