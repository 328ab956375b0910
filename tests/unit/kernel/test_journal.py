"""The sysctl journal: the first value found is the original, `forget` drops keys (and the
file with the last), and files are written whole, readable, without leftovers."""

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from multiwan.kernel.journal import SysctlJournal, read_json_object, write_atomic

RP1, RP2 = "net/ipv4/conf/wan1/rp_filter", "net/ipv4/conf/wan2/rp_filter"


def test_the_first_recorded_value_stays_the_original(tmp_path: Path) -> None:
    journal = SysctlJournal(tmp_path / "state")
    journal.record({RP1: "1"})
    journal.record({RP1: "2", RP2: "0"})
    assert journal.load() == {RP1: "1", RP2: "0"}
    assert journal.path.read_text() == json.dumps({RP1: "1", RP2: "0"}, indent=1, sort_keys=True)


def test_forget_drops_keys_and_the_file_with_the_last(tmp_path: Path) -> None:
    journal = SysctlJournal(tmp_path)
    journal.record({RP1: "1", RP2: "0"})
    journal.forget({RP2, "net/ipv4/conf/other/rp_filter"})
    assert journal.load() == {RP1: "1"}
    before = journal.path.stat().st_mtime_ns
    journal.forget({"net/ipv4/conf/other/rp_filter"})  # nothing to drop: not rewritten
    assert journal.path.stat().st_mtime_ns == before
    journal.forget({RP1})
    assert not journal.path.exists()
    journal.forget({RP1})  # no file: nothing to do


def test_write_atomic_makes_its_directory_and_leaves_one_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.json"
    old = os.umask(0o022)
    try:
        write_atomic(path, "{}")
    finally:
        os.umask(old)
    assert path.read_text() == "{}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(path.parent) == ["state.json"]


def test_write_atomic_cleans_up_when_it_cannot_finish(tmp_path: Path) -> None:
    (tmp_path / "state.json").mkdir()  # a directory in the way: the rename fails
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path / "state.json", "{}")
    assert os.listdir(tmp_path) == ["state.json"]


def test_a_corrupt_file_is_reported_and_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "x.json"
    path.write_text("[1]")
    with caplog.at_level(logging.ERROR):
        assert read_json_object(path, "thing") == {}
    assert caplog.messages == [
        f"thing {path} is corrupt (not a JSON object); moved aside to x.json.corrupt, "
        "starting empty"
    ]
    assert (tmp_path / "x.json.corrupt").read_text() == "[1]"
    assert not path.exists()
