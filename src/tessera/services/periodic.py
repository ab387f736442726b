"""A job run every so often on a background thread, for `tessera serve`'s housekeeping.

The job's errors are logged and the loop goes on: a database hiccup must not end the job for
good. ``stop`` wakes the thread at once and waits for the run in progress to finish.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Run ``job`` every ``interval_s`` seconds (never, when 0) until stopped."""

    def __init__(self, name: str, interval_s: float, job: Callable[[], object]) -> None:
        self.name = name
        self.interval_s = interval_s
        self.job = job
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (a no-op when the interval is 0 or it runs already)."""
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.job()
                except Exception:
                    log.exception("%s failed; retrying in %s s", self.name, self.interval_s)
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=run, name=f"tessera-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after the run in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
