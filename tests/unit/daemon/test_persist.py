"""The state directory: trusted only when private, one daemon at a time, files written
without following planted links, and unwritable or corrupt files never fatal."""

import json
import logging
import os
from pathlib import Path

import pytest

from multiwan.daemon.persist import (
    StateDirError,
    claim_state_dir,
    load_states,
    load_weights,
    save_states,
    save_weights,
)
from multiwan.kernel.journal import SysctlJournal, valid_sysctl_key


def test_a_private_state_dir_is_claimed_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = claim_state_dir(state)
    with pytest.raises(StateDirError, match="another multiwan daemon is running"):
        claim_state_dir(state)
    os.close(first)
    os.close(claim_state_dir(state))  # free again once the first holder is gone


def test_a_state_dir_others_can_write_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o777)
    with pytest.raises(StateDirError, match=r"writable by group or others \(mode 777\)"):
        claim_state_dir(tmp_path)


def test_a_planted_link_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "link-states.tmp").symlink_to(victim)  # the old fixed temporary name
    save_states(tmp_path / "link-states.json", {"isp1": "down"})
    assert victim.read_text() == "precious"
    assert load_states(tmp_path / "link-states.json") == {"isp1": "down"}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == ["link-states.tmp"]


def test_an_unwritable_state_file_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "link-states.json").mkdir()
    (tmp_path / "link-states.json" / "x").touch()
    with caplog.at_level(logging.ERROR):
        save_states(tmp_path / "link-states.json", {"isp1": "down"})
    assert "could not save link states" in caplog.text
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_corrupt_files_are_reported_and_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "link-states.json").write_text("[1")
    (tmp_path / "sysctl-originals.json").write_text('["a list"]')
    with caplog.at_level(logging.ERROR):
        assert load_states(tmp_path / "link-states.json") == {}
        assert SysctlJournal(tmp_path).load() == {}
    assert "link state file" in caplog.text
    assert "sysctl journal" in caplog.text
    assert (tmp_path / "link-states.json.corrupt").read_text() == "[1"
    assert (tmp_path / "sysctl-originals.json.corrupt").exists()


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("net/ipv4/conf/wan1/rp_filter", True),
        ("net/ipv6/conf/eth0.100/accept_ra", True),
        ("net/ipv4/conf/all/src_valid_mark", True),
        ("net/ipv4/conf/../../../../etc/passwd", False),
        ("net/ipv4/conf/../rp_filter", False),
        ("net/ipv4/conf/./rp_filter", False),
        ("net/ipv4/conf/wan1/../../x", False),
        ("net/ipv4/conf/a-name-too-long-16/rp_filter", False),
        ("kernel/core_pattern", False),
        ("net/ipv4/conf/wan 1/rp_filter", False),
        ("net/ipv4/fib_multipath_hash_policy", True),
        ("net/ipv6/fib_multipath_hash_policy", True),
        ("net/ipv4/fib_multipath_hash_policy/../../x", False),
        ("net/ipv4/ip_forward", False),
    ],
)
def test_journal_keys_are_interface_sysctls(key: str, valid: bool) -> None:
    assert valid_sysctl_key(key) is valid


def test_the_journal_drops_invalid_keys(tmp_path: Path) -> None:
    good = "net/ipv4/conf/wan1/rp_filter"
    raw = {good: "2", "net/ipv4/conf/../../../../tmp/x": "1", "net/ipv4/conf/wan2/x": 5}
    (tmp_path / "sysctl-originals.json").write_text(json.dumps(raw))
    journal = SysctlJournal(tmp_path)
    assert journal.load() == {good: "2"}
    journal.record({"../x": "1", "net/ipv4/conf/wan3/rp_filter": "0"})
    assert set(json.loads(journal.path.read_text())) == {good, "net/ipv4/conf/wan3/rp_filter"}


def test_auto_weights_are_kept_and_only_valid_ones_read_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "auto-weights.json"
    save_weights(path, {"lte1": 38, "lte2": 1})
    assert load_weights(path) == {"lte1": 38, "lte2": 1}
    path.write_text(json.dumps({"a": 0, "b": 1001, "c": 2.5, "d": True, "e": "7", "f": 1000}))
    assert load_weights(path) == {"f": 1000}
    path.unlink()
    path.mkdir()
    (path / "x").touch()
    with caplog.at_level(logging.ERROR):
        save_weights(path, {"lte1": 38})
    assert "could not save auto weights" in caplog.text
