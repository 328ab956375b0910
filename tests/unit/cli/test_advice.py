"""`check` names the tunnel programs that are missing: wireguard-go only where the kernel
has no WireGuard (it runs the tunnel itself where it has)."""

import os
import shutil
from pathlib import Path

import pytest

from multiwan.cli import advice
from multiwan.config.schema import Config
from multiwan.kernel.tunnels import kernel_has_wireguard
from tests.unit.daemon.test_tunnel_playbooks import WG


def missing(monkeypatch: pytest.MonkeyPatch, in_kernel: bool, tmp_path: Path) -> list[str]:
    (tmp_path / "vpn1.conf").write_text(WG)
    config = Config.model_validate({
        "default_policy": "p",
        "links": {
            "isp1": {"interface": "wan1"},
            "vpn1": {"interface": "wg1", "tunnel": "wireguard", "over": "isp1",
                     "tunnel_config": str(tmp_path / "vpn1.conf")},
        },
        "policies": {"p": {"links": ["vpn1"]}},
    })  # fmt: skip
    monkeypatch.setattr(shutil, "which", lambda program: None)  # nothing installed
    monkeypatch.setattr(advice, "kernel_has_wireguard", lambda: in_kernel)
    return [f"{f.field}: {f.message}" for f in advice.missing_tunnel_programs(config)]


def test_wireguard_go_is_needed_only_without_wireguard_in_the_kernel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert missing(monkeypatch, False, tmp_path) == [
        "links.vpn1.tunnel: wireguard-go is not installed (Debian package wireguard-go) and "
        "the kernel has no WireGuard: the tunnel cannot start",
        "links.vpn1.tunnel: wg is not installed (Debian package wireguard-tools): the tunnel "
        "cannot start",
        "links.vpn1.tunnel: ip is not installed (Debian package iproute2): the tunnel cannot start",
    ]
    assert [m.split(":")[1] for m in missing(monkeypatch, True, tmp_path)] == [
        " wg is not installed (Debian package wireguard-tools)",
        " ip is not installed (Debian package iproute2)",
    ]


def test_the_kernels_wireguard_is_read_from_its_module_indexes(tmp_path: Path) -> None:
    release = tmp_path / os.uname().release
    release.mkdir()
    if Path("/sys/module/wireguard").exists():
        pytest.skip("the module is loaded here: the indexes are not read")
    assert not kernel_has_wireguard(tmp_path)
    (release / "modules.dep").write_text("kernel/drivers/net/veth.ko:\n")
    assert not kernel_has_wireguard(tmp_path)
    (release / "modules.builtin").write_text("kernel/drivers/net/wireguard/wireguard.ko\n")
    assert kernel_has_wireguard(tmp_path)
