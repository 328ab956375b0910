"""The `weight = "auto"` links' weights as values, driven by the engine once a second.

Pure (time is an argument): `sample` weighs every auto link from its rate samples and probe
quality (core/autoweight.py) and starts due measurement commands; `measured` takes a
command's result. The weights survive reloads and runtime changes: a link that is auto again
after `multiwan weight` and `mode config` takes up its measured weight.
"""

import logging
from collections.abc import Collection, Mapping
from dataclasses import replace

from multiwan.config.schema import Config
from multiwan.core.autoweight import Weighing, command_due, initial, weigh
from multiwan.core.linkstate import LinkHealth
from multiwan.core.traffic import Traffic
from multiwan.daemon.effects import Effect, Log, MeasureCapacity


class AutoWeights:
    def __init__(self) -> None:
        self.links: dict[str, Weighing] = {}

    def weights(self) -> dict[str, int]:
        """The weight in force of every link weighed so far (core.strategy.availability
        takes those that are auto in the config in force)."""
        return {n: w.weight for n, w in self.links.items()}

    def view(self, config: Config) -> dict[str, dict[str, object]]:
        """The links that are auto in `config`, for status (initial until first weighed)."""
        return {
            name: (self.links.get(name) or initial(settings)).as_dict()
            for name, link in config.links.items()
            if (settings := link.weighing) is not None
        }

    def resume(self, weights: Mapping[str, int]) -> None:
        """The weights the last run measured (daemon/persist.py): held until new evidence."""
        for name, weight in weights.items():
            self.links[name] = Weighing(weight, "measured before the daemon restarted")

    def keep(self, links: Collection[str]) -> None:
        """Forget the links a reload removed."""
        self.links = {n: w for n, w in self.links.items() if n in links}

    def sample(
        self,
        config: Config,
        traffic: Mapping[str, Traffic],
        health: Mapping[str, LinkHealth],
        now: float,
    ) -> tuple[list[Effect], list[tuple[str, str]]]:
        """Weigh every auto link: the measurement commands due, and the weights that moved
        as (link, change in words)."""
        effects: list[Effect] = []
        moved: list[tuple[str, str]] = []
        for name, link in config.links.items():
            settings = link.weighing
            if settings is None:
                continue
            current = self.links.get(name) or initial(settings)
            samples = traffic[name].samples if name in traffic else ()
            state = health.get(name)
            loss, latency = (state.loss, state.latency) if state else (None, None)
            current, change = weigh(current, settings, samples, loss, latency, now)
            if change is not None:
                moved.append((name, change))
            if settings.command is not None and command_due(current, settings, now):
                argv = tuple(settings.command)
                effects.append(MeasureCapacity(name, argv, settings.command_timeout))
                current = replace(current, command_running=True)
            self.links[name] = current
        return effects, moved

    def measured(
        self, link: str, kbit: float | None, error: str | None, now: float
    ) -> list[Effect]:
        """A measurement command ended: its result counts like a peak until the next one."""
        current = self.links.get(link)
        if current is None:
            return []
        if kbit is None:
            self.links[link] = replace(current, command_running=False, command_ended=now)
            text = f"link {link}: capacity measurement failed: {error}"
            return [Log(logging.WARNING, text, {"link": link})]
        done = replace(current, command_running=False, command_ended=now)
        self.links[link] = replace(done, measured_kbit=kbit)
        text = f"link {link}: capacity measured: {kbit / 1000:.1f} Mbit/s"
        return [Log(logging.INFO, text, {"link": link})]
