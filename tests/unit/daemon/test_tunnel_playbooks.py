"""Playbooks for tunnel links: the engine starts each tunnel once its base link is live and
the kernel holds its routes, stops it while the base is down, raises it again when the base
recovers, and restarts a process that exits by itself with a doubling backoff."""

import errno
from pathlib import Path

import pytest

from multiwan.config.load import load_config_text
from multiwan.core.tunnels import Implementation
from multiwan.daemon.effects import Log, ScheduleTunnelRetry, StartTunnel, StopTunnel
from multiwan.daemon.events import Reload, TunnelExited, TunnelRetry, TunnelStarted
from multiwan.daemon.supervise import wireguard_implementation
from tests.unit.daemon.test_playbooks import LINKS, Play, facts, logged, of

WG = """\
[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
Address = 10.99.1.2/24
[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
Endpoint = 203.0.113.10:51821
AllowedIPs = 0.0.0.0/0
"""


@pytest.fixture
def tunnels(tmp_path: Path) -> str:
    (tmp_path / "vpn1.conf").write_text(WG)
    (tmp_path / "vpn2.conf").write_text("remote 203.0.113.10 1195\nnobind\n")
    return (
        LINKS.replace('links = ["isp1", "isp2"]', 'links = ["vpn1", "vpn2"]')
        + f"""
[links.vpn1]
interface = "wg1"
gateway = "10.99.1.1"
tunnel = "wireguard"
over = "isp1"
tunnel_config = "{tmp_path}/vpn1.conf"
[links.vpn2]
interface = "ovpn2"
gateway = "10.99.2.1"
tunnel = "openvpn"
over = "isp2"
tunnel_config = "{tmp_path}/vpn2.conf"
"""
    )


def started(tunnels: str) -> Play:
    """Both tunnels started and reported running (pids 101, 102)."""
    play = Play(load_config_text(tunnels, "m.toml"), facts("wan1", "wan2", "wg1", "ovpn2"))
    play.start()
    for start in of(StartTunnel, play.effects):
        runs: Implementation = "wireguard-go" if start.spec.kind == "wireguard" else "openvpn"
        play.send(TunnelStarted(start.spec.link, start.attempt, 100 + start.attempt, runs))
    return play


def process(play: Play, link: str) -> dict[str, object]:
    view = play.engine.tunnels.view()[link]
    return {k: view[k] for k in ("process", "pid", "restarts", "last_exit")}


def test_tunnels_start_after_the_reconcile_pinned_to_their_base(tunnels: str) -> None:
    play = started(tunnels)
    kinds = [type(e).__name__ for e in play.effects if not isinstance(e, Log)]
    assert kinds.index("StartTunnel") > kinds.index("ApplyConfig")  # routes first
    specs = {e.spec.link: e.spec for e in of(StartTunnel, play.effects)}
    assert specs["vpn1"].kind == "wireguard"
    assert (specs["vpn1"].base, specs["vpn1"].base_interface, specs["vpn1"].mark) == (
        "isp1", "wan1", 0x100,
    )  # fmt: skip
    assert (specs["vpn2"].kind, specs["vpn2"].interface, specs["vpn2"].mark) == (
        "openvpn", "ovpn2", 0x200,
    )  # fmt: skip
    assert process(play, "vpn1") == {
        "process": "running", "pid": 101, "restarts": 0, "last_exit": None,
    }  # fmt: skip
    assert "tunnel vpn1 (wireguard over isp1) running: wireguard-go, pid 101" in logged(
        play.effects
    )
    status = play.control("status")["result"]
    row = next(link for link in status["links"] if link["name"] == "vpn2")
    assert row["tunnel"] == {"kind": "openvpn", "over": "isp2", "implementation": "openvpn",
                             "process": "running", "pid": 102, "restarts": 0,
                             "last_exit": None}  # fmt: skip
    assert next(r for r in status["links"] if r["name"] == "isp1")["tunnel"] is None


def test_a_dead_base_stops_its_tunnel_and_its_recovery_raises_it(tunnels: str) -> None:
    play = started(tunnels)
    effects = play.probe("isp1", ok=False, rounds=2)
    assert of(StopTunnel, effects) == [StopTunnel("vpn1", 1)]
    assert "tunnel vpn1 (wireguard over isp1) stopping: base link isp1 is down" in logged(effects)
    assert process(play, "vpn1")["process"] == "stopping"
    effects = play.send(TunnelExited("vpn1", 1, "killed by signal 15 (SIGTERM)"))
    assert not of(StartTunnel, effects)  # asked for: no restart while the base is down
    assert process(play, "vpn1") == {"process": "stopped", "pid": None, "restarts": 0,
                                     "last_exit": "killed by signal 15 (SIGTERM)"}  # fmt: skip
    assert process(play, "vpn2")["process"] == "running"  # the other base is fine
    effects = play.probe("isp1", ok=True, rounds=2)
    (start,) = of(StartTunnel, effects)
    assert (start.spec.link, start.attempt) == ("vpn1", 3)
    assert "tunnel vpn1 (wireguard over isp1) starting: base link isp1 is up" in logged(effects)
    play.send(TunnelStarted("vpn1", 3, 201, "wireguard-go"))
    assert process(play, "vpn1")["pid"] == 201


def test_an_exited_tunnel_restarts_with_a_doubling_backoff(tunnels: str) -> None:
    play = started(tunnels)
    effects = play.send(TunnelExited("vpn2", 2, "killed by signal 9 (SIGKILL)"), after=5)
    assert of(ScheduleTunnelRetry, effects) == [ScheduleTunnelRetry("vpn2", 2, 1.0)]
    assert "tunnel vpn2 (openvpn over isp2) killed by signal 9 (SIGKILL); restarting in 1 s" in (
        logged(effects)
    )
    assert process(play, "vpn2")["process"] == "backoff"
    (start,) = of(StartTunnel, play.send(TunnelRetry("vpn2", 2), after=1))
    assert process(play, "vpn2")["restarts"] == 1
    effects = play.send(TunnelExited("vpn2", start.attempt, "exited with status 1"), after=1)
    assert of(ScheduleTunnelRetry, effects)[0].delay == 2.0  # a quick exit again
    (start,) = of(StartTunnel, play.send(TunnelRetry("vpn2", start.attempt), after=2))
    play.send(TunnelStarted("vpn2", start.attempt, 300, "openvpn"))
    effects = play.send(TunnelExited("vpn2", start.attempt, "exited with status 1"), after=90)
    assert of(ScheduleTunnelRetry, effects)[0].delay == 1.0  # it ran a while: backoff resets
    assert process(play, "vpn2")["restarts"] == 2


def test_reports_about_an_older_process_are_ignored(tunnels: str) -> None:
    play = started(tunnels)
    assert not play.send(TunnelExited("vpn1", 99, "exited with status 1"))
    assert not play.send(TunnelStarted("vpn1", 99, 999, "kernel"))
    assert not play.send(TunnelRetry("vpn1", 1))  # not in backoff
    assert process(play, "vpn1")["pid"] == 101


def test_a_base_that_dies_during_the_backoff_keeps_its_tunnel_down(tunnels: str) -> None:
    play = started(tunnels)
    play.send(TunnelExited("vpn1", 1, "exited with status 1"))
    effects = play.probe("isp1", ok=False, rounds=2)
    assert "tunnel vpn1: not restarted: base link isp1 is down" in logged(effects)
    assert not of(StartTunnel, play.send(TunnelRetry("vpn1", 1)))
    assert process(play, "vpn1")["process"] == "stopped"


def test_a_reload_that_changes_a_tunnel_restarts_it_and_drops_removed_ones(
    tunnels: str, tmp_path: Path
) -> None:
    play = started(tunnels)
    (tmp_path / "vpn9.conf").write_text(WG)
    changed = tunnels.replace("vpn1.conf", "vpn9.conf").split("[links.vpn2]")[0]
    changed = changed.replace('links = ["vpn1", "vpn2"]', 'links = ["vpn1"]')
    play.next_config = load_config_text(changed, "m.toml")
    effects = play.send(Reload())
    assert set(of(StopTunnel, effects)) == {StopTunnel("vpn1", 1), StopTunnel("vpn2", 2)}
    assert "tunnel vpn1 (wireguard over isp1) stopping: its config changed" in logged(effects)
    assert "tunnel vpn2 (openvpn over isp2) stopping: no longer in the config" in logged(effects)
    assert set(play.engine.tunnels.view()) == {"vpn1"}
    (start,) = of(StartTunnel, play.send(TunnelExited("vpn1", 1, "killed by signal 15")))
    assert start.spec.config == f"{tmp_path}/vpn9.conf"


def test_a_reload_after_the_tunnel_file_changed_restarts_it(tunnels: str, tmp_path: Path) -> None:
    play = started(tunnels)
    play.next_config = load_config_text(tunnels, "m.toml")
    assert not of(StopTunnel, play.send(Reload()))  # same files: the tunnels keep running
    (tmp_path / "vpn2.conf").write_text("remote 203.0.113.10 1196\nnobind\n")
    play.next_config = load_config_text(tunnels, "m.toml")
    effects = play.send(Reload())
    assert of(StopTunnel, effects) == [StopTunnel("vpn2", 2)]
    assert "tunnel vpn2 (openvpn over isp2) stopping: its config changed" in logged(effects)
    (start,) = of(StartTunnel, play.send(TunnelExited("vpn2", 2, "killed by signal 15")))
    assert start.spec.link == "vpn2"


def test_wireguard_runs_in_the_kernel_unless_the_kernel_has_none() -> None:
    assert wireguard_implementation(None) == "kernel"  # the kernel made the device
    assert wireguard_implementation(errno.EOPNOTSUPP) == "wireguard-go"  # no module
    assert wireguard_implementation(errno.EEXIST) is None  # would stop wireguard-go too
    assert wireguard_implementation(errno.EPERM) is None


def test_a_kernel_tunnel_is_supervised_like_a_process(tunnels: str) -> None:
    play = Play(load_config_text(tunnels, "m.toml"), facts("wan1", "wan2", "wg1", "ovpn2"))
    play.start()
    effects = play.send(TunnelStarted("vpn1", 1, None, "kernel"))
    assert "tunnel vpn1 (wireguard over isp1) running: in the kernel (no process)" in logged(
        effects
    )
    assert play.engine.tunnels.view()["vpn1"]["implementation"] == "kernel"
    assert process(play, "vpn1")["pid"] is None
    effects = play.send(TunnelExited("vpn1", 1, "its device wg1 vanished"), after=5)
    assert of(ScheduleTunnelRetry, effects) == [ScheduleTunnelRetry("vpn1", 1, 1.0)]
    assert "tunnel vpn1 (wireguard over isp1) its device wg1 vanished; restarting in 1 s" in (
        logged(effects)
    )
    (start,) = of(StartTunnel, play.send(TunnelRetry("vpn1", 1), after=1))
    assert process(play, "vpn1")["restarts"] == 1
    why = "no WireGuard in the kernel: [Errno 95] cannot create wg1 (wireguard): not supported"
    effects = play.send(TunnelStarted("vpn1", start.attempt, 301, "wireguard-go", why))
    assert f"tunnel vpn1 (wireguard over isp1) running: wireguard-go, pid 301 ({why})" in (
        logged(effects)
    )
    assert play.engine.tunnels.view()["vpn1"]["implementation"] == "wireguard-go"
