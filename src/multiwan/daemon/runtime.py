"""Operator changes made at run time (mode, weights, drain, disable), layered over the
config file. They last until the next reload or restart, which start from the file again."""

from dataclasses import dataclass, field, replace

from multiwan.config.schema import STRATEGIES, Config

CONFIG_MODE = "config"  # `mode config`: back to the config file's default policy and strategy


class RuntimeError_(ValueError):
    """An operator request that cannot be applied; the message says why."""


@dataclass(frozen=True)
class Runtime:
    default_policy: str | None = None
    strategy: str | None = None  # of the default policy
    weights: dict[str, int] = field(default_factory=dict)
    drained: frozenset[str] = frozenset()
    disabled: frozenset[str] = frozenset()
    drained_backends: frozenset[str] = frozenset()  # "service/address:port"

    def effective(self, config: Config) -> Config:
        """The config with these changes applied."""
        update: dict[str, object] = {}
        default = self.default_policy or config.default_policy
        if self.default_policy:
            update["default_policy"] = default
        if self.strategy and default in config.policies:
            policy = config.policies[default].model_copy(update={"strategy": self.strategy})
            update["policies"] = {**config.policies, default: policy}
        if self.weights:
            update["links"] = {
                name: link.model_copy(update={"weight": self.weights[name], "auto_weight": None})
                if name in self.weights
                else link
                for name, link in config.links.items()
            }
        return config.model_copy(update=update) if update else config

    def with_mode(self, config: Config, mode: str) -> "Runtime":
        """`mode NAME`: a policy becomes the default; `balance`/`failover` (when no policy has
        that name) switch the default policy's strategy; `config` (likewise) goes back to
        what the config file says."""
        if mode in config.policies or mode in config.links:
            return replace(self, default_policy=mode)
        if mode in STRATEGIES:
            return replace(self, strategy=mode)
        if mode == CONFIG_MODE:
            return replace(self, default_policy=None, strategy=None)
        known = ", ".join([*config.policies, *STRATEGIES, CONFIG_MODE])
        raise RuntimeError_(f"unknown mode {mode!r}: expected one of {known}")

    @property
    def modes(self) -> tuple[str, ...]:
        """The `mode` requests that rebuild this mode: the policy first, then the strategy."""
        return tuple(m for m in (self.default_policy, self.strategy) if m is not None)

    def with_weight(self, config: Config, link: str, weight: int) -> "Runtime":
        _known(config, link)
        if not 1 <= weight <= 1000:
            raise RuntimeError_(f"weight must be 1-1000, got {weight}")
        return replace(self, weights={**self.weights, link: weight})

    def with_link(self, config: Config, link: str, action: str) -> "Runtime":
        _known(config, link)
        if action == "drain":
            return replace(self, drained=self.drained | {link})
        if action == "undrain":
            return replace(self, drained=self.drained - {link})
        if action == "disable":
            return replace(self, disabled=self.disabled | {link})
        if action == "enable":
            return replace(self, disabled=self.disabled - {link}, drained=self.drained - {link})
        raise RuntimeError_(f"unknown link action {action!r}")

    def with_backend(self, config: Config, service: str, backend: str, action: str) -> "Runtime":
        """Drain (no new connections, existing ones finish) or undrain a service backend."""
        if service not in config.services:
            known = ", ".join(config.services) or "none"
            raise RuntimeError_(f"unknown service {service!r}: expected one of {known}")
        definition = config.services[service]
        keys = [b.key(definition.ports[0]) for b in definition.backends]
        if backend not in keys:
            raise RuntimeError_(f"unknown backend {backend!r}: expected one of {', '.join(keys)}")
        entry = f"{service}/{backend}"
        if action == "drain":
            return replace(self, drained_backends=self.drained_backends | {entry})
        if action == "undrain":
            return replace(self, drained_backends=self.drained_backends - {entry})
        raise RuntimeError_(f"unknown backend action {action!r}: expected drain or undrain")

    def describe(self) -> dict[str, object]:
        return {
            "default_policy": self.default_policy,
            "strategy": self.strategy,
            "weights": dict(self.weights),
            "drained": sorted(self.drained),
            "disabled": sorted(self.disabled),
            "drained_backends": sorted(self.drained_backends),
        }


def _known(config: Config, link: str) -> None:
    if link not in config.links:
        raise RuntimeError_(f"unknown link {link!r}: expected one of {', '.join(config.links)}")
