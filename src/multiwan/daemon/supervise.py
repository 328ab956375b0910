"""The daemon's tunnel processes as values: which should run, and what to do when one exits.

Pure (time is an argument), driven by the engine: `sync` compares what runs with what should
(a tunnel runs while its base link is up or degraded), `started` and `exited` take the edge's
reports (daemon/tunnels.py), `retry` ends a backoff. Every start has an attempt number, so a
report about an older process is never taken for the current one.

WireGuard runs in the kernel where the kernel has it, else in `wireguard-go`
(`wireguard_implementation` decides from the kernel's answer to creating the device). A
kernel tunnel has no process: it "exits" when its device vanishes, and is supervised,
restarted and stopped the same way.

    stopped --base up--> starting --started--> running --exit--> backoff --retry--> stopped
        ^                    |                    |                                    |
        +---- exit ---- stopping <--base down-----+            (restarted at once if wanted)
"""

import errno
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from multiwan.config.schema import Config
from multiwan.core.linkstate import State
from multiwan.core.tunnels import Implementation, TunnelSpec, tunnel_specs
from multiwan.daemon.effects import Effect, Log, ScheduleTunnelRetry, StartTunnel, StopTunnel

ProcessState = Literal["stopped", "starting", "running", "stopping", "backoff"]
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0  # seconds before a restart, doubling per quick exit
STABLE = 60.0  # seconds: a process that ran this long was not crash-looping
BASE_LIVE: frozenset[State] = frozenset({"up", "degraded"})
#: The kernel's refusals of a WireGuard device that mean it has no WireGuard (no module, and
#: none it could load); wireguard-go runs instead. Any other refusal (the name taken, no
#: permission) would stop wireguard-go too, so it is the start's failure.
NO_KERNEL_WIREGUARD = frozenset({errno.EOPNOTSUPP})


def wireguard_implementation(refused: int | None) -> Implementation | None:
    """What runs a WireGuard tunnel, from the errno of the kernel's refusal to create its
    device (None: it created it); None when nothing can."""
    if refused is None:
        return "kernel"
    return "wireguard-go" if refused in NO_KERNEL_WIREGUARD else None


@dataclass(frozen=True)
class Tunnel:
    spec: TunnelSpec
    state: ProcessState = "stopped"
    attempt: int = 0  # the current (or last) process's start number
    pid: int | None = None
    restarts: int = 0  # restarts after the process exited by itself
    quick_exits: int = 0  # in a row: the backoff doubles with each
    started: float = 0.0
    last_exit: str | None = None
    implementation: Implementation | None = None  # of the current (or last) start

    def view(self) -> dict[str, object]:
        return {
            "kind": self.spec.kind,
            "over": self.spec.base,
            "implementation": self.implementation,
            "process": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
        }


class Tunnels:
    def __init__(self) -> None:
        self.tunnels: dict[str, Tunnel] = {}
        self.serial = 0  # attempt numbers, unique for the daemon's life

    def view(self) -> dict[str, dict[str, object]]:
        return {name: tunnel.view() for name, tunnel in self.tunnels.items()}

    def sync(self, config: Config, states: Mapping[str, State]) -> list[Effect]:
        """Start the tunnels whose base link is live, stop the others, and those the config
        dropped or changed (a changed one starts again once the old process is gone)."""
        effects: list[Effect] = []
        specs = tunnel_specs(config)
        for name in [n for n in self.tunnels if n not in specs]:
            effects += self._stop(name, "no longer in the config")
            del self.tunnels[name]
        for name, spec in specs.items():
            tunnel = self.tunnels.setdefault(name, Tunnel(spec))
            if tunnel.spec != spec:
                effects += self._stop(name, "its config changed")
                self.tunnels[name] = replace(self.tunnels[name], spec=spec)
            base = states.get(spec.base, "absent")
            tunnel = self.tunnels[name]
            if base in BASE_LIVE and tunnel.state == "stopped":
                effects += self._start(name, f"base link {spec.base} is {base}")
            elif base not in BASE_LIVE:
                effects += self._stop(name, f"base link {spec.base} is {base}")
        return effects

    def started(
        self, name: str, attempt: int, pid: int | None, implementation: Implementation,
        why: str, now: float,
    ) -> list[Effect]:  # fmt: skip
        """Process (or kernel device) `attempt` runs; `why` this implementation, if chosen."""
        tunnel = self.tunnels.get(name)
        if tunnel is None or tunnel.attempt != attempt or tunnel.state != "starting":
            return []
        self.tunnels[name] = replace(
            tunnel, state="running", pid=pid, started=now, implementation=implementation
        )
        runs = "in the kernel (no process)" if pid is None else f"{implementation}, pid {pid}"
        text = f"tunnel {name} ({tunnel.spec.describe()}) running: {runs}"
        return [Log(logging.INFO, f"{text} ({why})" if why else text,
                    {"link": name, "implementation": implementation})]  # fmt: skip

    def exited(
        self, name: str, attempt: int, reason: str, now: float, config: Config,
        states: Mapping[str, State],
    ) -> list[Effect]:  # fmt: skip
        """A process ended: as asked (then maybe start again), or by itself (backoff)."""
        tunnel = self.tunnels.get(name)
        if tunnel is None or tunnel.attempt != attempt or tunnel.state in ("stopped", "backoff"):
            return []
        if tunnel.state == "stopping":
            self.tunnels[name] = replace(tunnel, state="stopped", pid=None, last_exit=reason)
            return [Log(logging.INFO, f"tunnel {name} stopped ({reason})", {"link": name}),
                    *self.sync(config, states)]  # fmt: skip
        ran = now - tunnel.started if tunnel.state == "running" else 0.0
        quick = 1 if ran >= STABLE else tunnel.quick_exits + 1
        delay = min(BACKOFF_FIRST * 2 ** (quick - 1), BACKOFF_MAX)
        self.tunnels[name] = replace(
            tunnel, state="backoff", pid=None, quick_exits=quick, last_exit=reason
        )
        text = f"tunnel {name} ({tunnel.spec.describe()}) {reason}; restarting in {delay:g} s"
        return [Log(logging.WARNING, text, {"link": name}),
                ScheduleTunnelRetry(name, attempt, delay)]  # fmt: skip

    def retry(
        self, name: str, attempt: int, config: Config, states: Mapping[str, State]
    ) -> list[Effect]:
        """A backoff ended: start again if the base link is still live."""
        tunnel = self.tunnels.get(name)
        if tunnel is None or tunnel.attempt != attempt or tunnel.state != "backoff":
            return []
        self.tunnels[name] = replace(tunnel, state="stopped", restarts=tunnel.restarts + 1)
        return self.sync(config, states)

    def _start(self, name: str, why: str) -> list[Effect]:
        self.serial += 1
        tunnel = replace(self.tunnels[name], state="starting", attempt=self.serial)
        self.tunnels[name] = tunnel
        text = f"tunnel {name} ({tunnel.spec.describe()}) starting: {why}"
        return [Log(logging.INFO, text, {"link": name}), StartTunnel(tunnel.spec, self.serial)]

    def _stop(self, name: str, why: str) -> list[Effect]:
        tunnel = self.tunnels[name]
        if tunnel.state == "backoff":
            self.tunnels[name] = replace(tunnel, state="stopped")
            return [Log(logging.INFO, f"tunnel {name}: not restarted: {why}", {"link": name})]
        if tunnel.state not in ("starting", "running"):
            return []
        self.tunnels[name] = replace(tunnel, state="stopping")
        text = f"tunnel {name} ({tunnel.spec.describe()}) stopping: {why}"
        return [Log(logging.INFO, text, {"link": name}), StopTunnel(name, tunnel.attempt)]
