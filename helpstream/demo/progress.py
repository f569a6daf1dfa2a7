"""The demo's progress: a live bar on a terminal, a few plain lines anywhere else.

On a terminal (``out.isatty()``) one line is redrawn in place with the events sent, the
rate and the phase; the wait for the workers shows its elapsed time. Anywhere else (a log,
CI, a pipe) redrawing would leave hundreds of `\\r` fragments, so each phase prints one
line when it ends instead.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self, total: int, out: TextIO = sys.stderr, width: int = 30, live: bool | None = None
    ) -> None:
        self.total, self.out, self.width, self.done = total, out, width, 0
        self.live = _isatty(out) if live is None else live
        self.started = time.monotonic()
        self._phase: str | None = None
        self._phase_started, self._phase_done = self.started, 0

    def rate(self) -> float:
        return self.done / max(1e-9, time.monotonic() - self.started)

    def advance(self, n: int, label: str) -> None:
        if label != self._phase:
            self._end_phase()
            self._phase, self._phase_started, self._phase_done = label, time.monotonic(), 0
        self.done += n
        self._phase_done += n
        if self.live:
            filled = self.width * self.done // max(1, self.total)
            bar = "#" * filled + "." * (self.width - filled)
            self.out.write(
                f"\r[{bar}] {self.done:>6}/{self.total} events  {self.rate():>7,.0f}/s  {label:<16}"
            )
            if self.done >= self.total:
                self.out.write("\n")
            self.out.flush()

    def _end_phase(self) -> None:
        if self.live or self._phase is None:
            return
        seconds = time.monotonic() - self._phase_started
        rate = self._phase_done / max(1e-9, seconds)
        self.out.write(
            f"{self._phase}: {self._phase_done} events in {seconds:.1f} s ({rate:,.0f}/s); "
            f"{self.done}/{self.total} sent\n"
        )
        self.out.flush()

    def finish_sending(self) -> None:
        self._end_phase()
        self._phase = None

    def waiting(self, applied: int, expected: int, elapsed: float) -> None:
        """The waiting-for-workers phase: resolved tickets seen in the reports so far."""
        if self.live:
            self.out.write(
                f"\rwaiting for the workers: {applied}/{expected} resolved tickets applied "
                f"({elapsed:.0f} s)   "
            )
            self.out.flush()

    def waited(self, applied: bool, elapsed: float) -> None:
        state = "all events applied" if applied else "still applying (not waiting longer)"
        self.out.write(
            ("\r" if self.live else "") + f"waiting for the workers: {state} "
            f"after {elapsed:.1f} s" + (" " * 20 if self.live else "") + "\n"
        )
        self.out.flush()


def _isatty(out: TextIO) -> bool:
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())
