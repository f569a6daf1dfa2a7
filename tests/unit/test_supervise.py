"""The supervisor restarts a child that exits, with a backoff that doubles, then resets."""

from __future__ import annotations

import os
import sys

import pytest

from helpstream import supervise


def test_crashing_child_is_restarted_with_doubling_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("helpstream.supervise.time.monotonic", lambda: clock[0])
    supervisor = supervise.Supervisor(os.environ)
    supervisor.add("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    child = supervisor.children[0]
    restarts_at = []
    for _ in range(4):
        assert child.process is not None
        child.process.wait(30)
        supervisor.poll()  # notices the exit, schedules the restart
        assert child.restart_at is not None
        restarts_at.append(child.restart_at - clock[0])
        clock[0] = child.restart_at
        supervisor.poll()  # backoff passed: started again
    assert restarts_at == [1.0, 2.0, 4.0, 8.0]
    assert child.restarts == 4

    clock[0] += supervise.STABLE_AFTER  # it stayed up a minute: the backoff starts over
    assert child.process is not None
    child.process.wait(30)
    supervisor.poll()
    assert child.restart_at == clock[0] + supervise.FIRST_BACKOFF
    supervisor.stop(grace=5)
