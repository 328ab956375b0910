"""Allow `python -m multiwan`, which tests use inside `ip netns exec`."""

from multiwan.cli.main import cli

cli()
