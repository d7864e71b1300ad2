"""Progress sinks: told when an upload starts, advances, has something to say, and ends."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import IO

MiB = 1024 * 1024


class Progress:
    """Progress sink; every method is optional to override. Calls may come from several threads."""

    def start(self, total: int | None) -> None:
        """The upload begins; ``total`` is the size in bytes when known."""

    def update(self, done: int) -> None:
        """``done`` bytes have been written so far."""

    def note(self, message: str) -> None:
        """Something worth telling (a retry, a fallback)."""

    def finish(self, done: int, ok: bool) -> None:
        """The upload ended (``ok`` false on failure)."""


class NullProgress(Progress):
    """Says nothing."""


class StderrProgress(Progress):
    """One line to stderr at most every ``interval`` seconds, plus a final line.

    Lines carry percent and ETA (when the size is known), MiB transferred and MiB/s.
    """

    def __init__(
        self,
        label: str = "upload",
        interval: float = 5.0,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.interval = interval
        self._stream = stream
        self._clock = clock
        self._total: int | None = None
        self._t0 = 0.0
        self._last = 0.0
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        out = self._stream or sys.stderr  # looked up late so test capture works
        with self._lock:
            out.write(f"{self.label}: {text}\n")
            out.flush()

    def start(self, total: int | None) -> None:
        self._total = total
        self._t0 = self._last = self._clock()
        size = f"{total / MiB:.1f} MiB" if total is not None else "unknown size"
        self._write(f"uploading ({size})")

    def update(self, done: int) -> None:
        now = self._clock()
        if now - self._last < self.interval:
            return
        self._last = now
        elapsed = max(now - self._t0, 1e-9)
        rate = done / elapsed
        parts = []
        if self._total:
            parts.append(f"{100 * done / self._total:.0f}%")
            parts.append(f"{done / MiB:.1f} of {self._total / MiB:.1f} MiB")
        else:
            parts.append(f"{done / MiB:.1f} MiB")
        parts.append(f"{rate / MiB:.1f} MiB/s")
        if self._total and rate > 0:
            parts.append(f"ETA {_duration((self._total - done) / rate)}")
        self._write(", ".join(parts))

    def note(self, message: str) -> None:
        self._write(message)

    def finish(self, done: int, ok: bool) -> None:
        elapsed = max(self._clock() - self._t0, 1e-9)
        if ok:
            self._write(
                f"done, {done / MiB:.1f} MiB in {_duration(elapsed)} "
                f"({done / MiB / elapsed:.1f} MiB/s)"
            )
        else:
            self._write(f"failed after {done / MiB:.1f} MiB")


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
