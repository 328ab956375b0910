"""Tunnel supervision decisions, told one report at a time: which process starts or stops,
what is logged (level, text, the link's journal field), and the backoff after an exit."""

from logging import INFO, WARNING
from pathlib import Path

import pytest

from multiwan.config.load import load_config_text
from multiwan.config.schema import Config
from multiwan.core.linkstate import State
from multiwan.core.tunnels import tunnel_specs
from multiwan.daemon.effects import Log, ScheduleTunnelRetry, StartTunnel, StopTunnel
from multiwan.daemon.supervise import Tunnels
from tests.unit.daemon.test_tunnel_playbooks import WG

BASES = """\
default_policy = "isp1"
[links.isp1]
interface = "wan1"
[links.isp2]
interface = "wan2"
"""
UP: dict[str, State] = {"isp1": "up", "isp2": "up"}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    (tmp_path / "vpn.conf").write_text(WG)
    text = BASES + "".join(
        f'[links.vpn{i}]\ninterface = "wg{i}"\ntunnel = "wireguard"\nover = "isp{i}"\n'
        f'tunnel_config = "{tmp_path}/vpn.conf"\n'
        for i in (1, 2)
    )
    return load_config_text(text, "m.toml")


def log(level: int, text: str, link: str = "vpn1") -> Log:
    return Log(level, text, {"link": link})


def test_tunnels_start_with_their_base_and_stop_without_it(config: Config) -> None:
    spec = tunnel_specs(config)
    tunnels = Tunnels()
    assert tunnels.sync(config, {"isp1": "up", "isp2": "degraded"}) == [
        log(INFO, "tunnel vpn1 (wireguard over isp1) starting: base link isp1 is up"),
        StartTunnel(spec["vpn1"], 1),
        log(INFO, "tunnel vpn2 (wireguard over isp2) starting: base link isp2 is degraded",
            "vpn2"),
        StartTunnel(spec["vpn2"], 2),
    ]  # fmt: skip
    assert tunnels.sync(config, UP) == []  # already starting
    assert tunnels.started("vpn1", 1, 101, "wireguard-go", "", 10.0) == [
        Log(INFO, "tunnel vpn1 (wireguard over isp1) running: wireguard-go, pid 101",
            {"link": "vpn1", "implementation": "wireguard-go"})
    ]  # fmt: skip
    assert tunnels.started("vpn1", 1, 999, "wireguard-go", "", 11.0) == []  # running already
    assert tunnels.started("vpn2", 7, 999, "wireguard-go", "", 11.0) == []  # another attempt
    assert tunnels.sync(config, {}) == [
        log(INFO, "tunnel vpn1 (wireguard over isp1) stopping: base link isp1 is absent"),
        StopTunnel("vpn1", 1),
        log(INFO, "tunnel vpn2 (wireguard over isp2) stopping: base link isp2 is absent",
            "vpn2"),
        StopTunnel("vpn2", 2),  # stopped before it ever said it runs
    ]  # fmt: skip
    assert tunnels.exited("vpn1", 1, "killed by signal 15", 12.0, config, {"isp1": "up"}) == [
        log(INFO, "tunnel vpn1 stopped (killed by signal 15)"),
        log(INFO, "tunnel vpn1 (wireguard over isp1) starting: base link isp1 is up"),
        StartTunnel(spec["vpn1"], 3),
    ]
    assert tunnels.view()["vpn1"] == {
        "kind": "wireguard", "over": "isp1", "process": "starting", "pid": None, "restarts": 0,
        "last_exit": "killed by signal 15", "implementation": "wireguard-go",
    }  # fmt: skip


def test_tunnels_the_config_dropped_are_stopped(config: Config) -> None:
    tunnels = Tunnels()
    tunnels.sync(config, UP)
    plain = load_config_text(BASES, "m.toml")
    assert tunnels.sync(plain, UP) == [
        log(INFO, "tunnel vpn1 (wireguard over isp1) stopping: no longer in the config"),
        StopTunnel("vpn1", 1),
        log(INFO, "tunnel vpn2 (wireguard over isp2) stopping: no longer in the config", "vpn2"),
        StopTunnel("vpn2", 2),
    ]
    assert tunnels.view() == {}
    assert tunnels.retry("vpn1", 1, plain, UP) == []  # a backoff that outlived its tunnel


def test_quick_exits_double_the_backoff_and_a_minute_of_running_resets_it(
    config: Config,
) -> None:
    tunnels = Tunnels()
    tunnels.sync(config, UP)
    tunnels.started("vpn1", 1, 101, "wireguard-go", "", 100.0)
    assert tunnels.exited("vpn1", 1, "exited with status 1", 110.0, config, UP) == [
        log(WARNING, "tunnel vpn1 (wireguard over isp1) exited with status 1; restarting in 1 s"),
        ScheduleTunnelRetry("vpn1", 1, 1.0),
    ]
    assert tunnels.view()["vpn1"] == {
        "kind": "wireguard", "over": "isp1", "process": "backoff", "pid": None, "restarts": 0,
        "last_exit": "exited with status 1", "implementation": "wireguard-go",
    }  # fmt: skip
    assert tunnels.exited("vpn1", 1, "exited with status 1", 110.5, config, UP) == []
    (_, start) = tunnels.retry("vpn1", 1, config, UP)
    assert start == StartTunnel(tunnel_specs(config)["vpn1"], 3)
    tunnels.started("vpn1", 3, 102, "wireguard-go", "", 112.0)
    effects = tunnels.exited("vpn1", 3, "exited with status 1", 115.0, config, UP)
    assert effects[1] == ScheduleTunnelRetry("vpn1", 3, 2.0)  # 3 s of running: quick
    tunnels.retry("vpn1", 3, config, UP)
    tunnels.started("vpn1", 4, 103, "wireguard-go", "", 120.0)
    effects = tunnels.exited("vpn1", 4, "exited with status 1", 180.0, config, UP)
    assert effects[1] == ScheduleTunnelRetry("vpn1", 4, 1.0)  # a minute: not crash-looping
    assert tunnels.view()["vpn1"]["restarts"] == 2


def test_a_base_lost_during_the_backoff_stops_it_and_its_return_starts_at_once(
    config: Config,
) -> None:
    tunnels = Tunnels()
    tunnels.sync(config, UP)
    tunnels.exited("vpn1", 1, "exited with status 1", 1.0, config, UP)
    assert tunnels.sync(config, {"isp2": "up"}) == [
        log(INFO, "tunnel vpn1: not restarted: base link isp1 is absent")
    ]
    assert tunnels.view()["vpn1"]["process"] == "stopped"
    assert tunnels.exited("vpn1", 1, "exited with status 1", 2.0, config, UP) == []
    effects = tunnels.sync(config, UP)
    assert effects[1] == StartTunnel(tunnel_specs(config)["vpn1"], 3)  # no wait for the retry
