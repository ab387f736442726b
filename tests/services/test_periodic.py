"""The housekeeping loop: runs its job repeatedly, survives the job's errors, stops promptly."""

from __future__ import annotations

import threading
import time

import pytest

from tessera.services.periodic import Periodic


def test_runs_repeatedly_survives_errors_and_stops_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[float] = []
    ran_three = threading.Event()

    def job() -> None:
        calls.append(time.monotonic())
        if len(calls) >= 3:
            ran_three.set()
        if len(calls) == 1:
            raise RuntimeError("database hiccup")

    loop = Periodic("test-job", 0.01, job)
    loop.start()
    loop.start()  # a second start is a no-op, not a second thread
    assert ran_three.wait(5)
    started = time.monotonic()
    loop.stop()
    assert time.monotonic() - started < 1
    count = len(calls)
    time.sleep(0.05)
    assert len(calls) == count
    assert "test-job failed" in caplog.text


def test_an_interval_of_zero_never_runs() -> None:
    calls: list[int] = []
    loop = Periodic("never", 0, lambda: calls.append(1))
    loop.start()
    time.sleep(0.05)
    loop.stop()
    assert calls == []
