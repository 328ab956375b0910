"""`multiwan check` and `plan` warn about topologies that cannot work, read from the machine
they run on, and still succeed."""

import re

import pytest

from multiwan.lab.configs import lab_config
from multiwan.lab.topology import Lab

pytestmark = pytest.mark.lab


def test_check_and_plan_warn_about_the_machine_and_exit_0(lab3: Lab) -> None:
    router = lab3.router
    router.sysctl("net.ipv4.ip_forward", "0")
    router.sysctl("net.ipv4.conf.wan2.rp_filter", "1")
    config = lab_config(lab3).replace('gateway = "100.64.3.1"', 'gateway = "100.64.33.1"')
    path = re.escape(str(lab3.state_dir / "multiwan.toml"))
    for command in ("check", "plan"):
        result = lab3.multiwan(command, config=config, check=False)
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if ": warning: " in line]
        expected = [
            rf"{path}:\d+: links: warning: net\.ipv4\.ip_forward is 0: ",
            *(rf"{path}:\d+: links\.isp{k}: warning: no health check " for k in (1, 2, 3)),
            rf"{path}:\d+: links\.isp2\.interface: warning: reverse-path filtering is strict "
            r"on wan2 \(net\.ipv4\.conf\.wan2\.rp_filter = 1\)",
            rf"{path}:\d+: links\.isp3\.gateway: warning: 100\.64\.33\.1 is outside the "
            r"subnets of wan3 \(100\.64\.3\.0/24\)",
        ]
        assert len(warnings) == len(expected), result.stderr
        for pattern in expected:
            assert any(re.match(pattern, line) for line in warnings), (pattern, result.stderr)
    assert "; 6 warning(s))" in lab3.multiwan("check", config=config).stdout


def test_check_warns_when_another_programs_rules_use_our_mark_bits(lab3: Lab) -> None:
    """wg-quick's rule matches fwmark 51820 (0xca6c), inside the default 0xff00; moving
    mark_mask away silences the warning."""
    lab3.router.run(
        "ip", "rule", "add", "pref", "32000", "not", "fwmark", "51820", "table", "51820"
    )
    config = lab_config(lab3)
    result = lab3.multiwan("check", config=config)
    wanted = r": mark_mask: warning: 0xff00 overlaps `ip -4 rule pref 32000 fwmark 0xca6c/"
    assert re.search(wanted + r"0xffffffff` \(like wg-quick", result.stderr), result.stderr
    moved = lab3.multiwan("check", config="mark_mask = 0xff0000\n" + config)
    assert "mark_mask" not in moved.stderr
