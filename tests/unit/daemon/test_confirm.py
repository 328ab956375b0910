"""The daemon's pending confirmation, with time as an argument: due only at its deadline,
never after a confirmation, one change at a time."""

import pytest

from multiwan.config.schema import Config
from multiwan.daemon.confirm import Confirmation
from multiwan.daemon.runtime import RuntimeError_

CONFIG = Config.model_validate(
    {
        "default_policy": "all",
        "links": {"a": {"interface": "eth1"}},
        "policies": {"all": {"links": ["a"]}},
    }
)


def test_a_change_is_reverted_at_its_deadline_unless_confirmed() -> None:
    state = Confirmation()
    pending = state.begin(CONFIG, now=100.0, seconds=60)
    assert state.describe(130.0) == {"revert_in": 30.0}
    assert not state.due(pending, 159.9)
    assert state.due(pending, 160.0)
    assert state.pending is None
    assert not state.due(pending, 161.0)  # once

    confirmed = state.begin(CONFIG, now=200.0, seconds=10)
    state.confirm()
    assert not state.due(confirmed, 300.0)
    with pytest.raises(RuntimeError_, match="no change awaits confirmation"):
        state.confirm()


def test_one_change_at_a_time_and_sane_windows() -> None:
    state = Confirmation()
    first = state.begin(CONFIG, now=0.0, seconds=60)
    with pytest.raises(RuntimeError_, match=r"awaits confirmation .* its revert in 50 s"):
        state.begin(CONFIG, now=10.0, seconds=60)
    # Past the deadline, before the revert has run: it is due now, not in negative time.
    with pytest.raises(RuntimeError_, match=r"its revert in 0 s; no other change until then$"):
        state.begin(CONFIG, now=61.0, seconds=60)
    state.cancel(first)
    assert state.pending is None
    with pytest.raises(RuntimeError_, match="confirm within 1-3600 seconds, got 0"):
        state.begin(CONFIG, now=0.0, seconds=0)


def test_the_window_bounds_are_one_second_and_an_hour() -> None:
    state = Confirmation()
    for seconds in (0, 3601):
        with pytest.raises(RuntimeError_, match=r"^confirm within 1-3600 seconds, got "):
            state.begin(CONFIG, now=0.0, seconds=seconds)
    assert state.begin(CONFIG, now=0.0, seconds=3600).deadline == 3600.0
    state.confirm()
    assert state.begin(CONFIG, now=5.0, seconds=1).deadline == 6.0
    assert state.describe(5.46) == {"revert_in": 0.5}
    assert state.describe(7.0) == {"revert_in": 0.0}
    assert Confirmation().describe(0.0) is None
