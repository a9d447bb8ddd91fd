"""The provider's own clock: offset (skew), freeze and advance.

Every time stamp, expiry and validity check in the core reads `Clock.now()`.  The global clock
(`time.time`) is never patched, so the code under test keeps its own time.
"""

from __future__ import annotations

import threading
import time


class Clock:
    """The provider's notion of now, in seconds since the epoch.

    Thread-safe: every method may be called from any thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen: float | None = None

    def now(self) -> float:
        """Current provider time (float seconds)."""
        frozen = self._frozen
        if frozen is not None:
            return frozen
        return time.time() + self._offset

    def seconds(self) -> int:
        """Current provider time as whole seconds, as JWT claims carry it."""
        return int(self.now())

    def skew(self, seconds: float) -> None:
        """Run ``seconds`` ahead of (positive) or behind (negative) real time."""
        with self._lock:
            if self._frozen is not None:
                self._frozen = time.time() + float(seconds)
            self._offset = float(seconds)

    def freeze(self, at: float | None = None) -> None:
        """Stop the clock at ``at`` (epoch seconds), or at the current provider time."""
        with self._lock:
            self._frozen = float(at) if at is not None else self.now()

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, if negative), frozen or not."""
        with self._lock:
            if self._frozen is not None:
                self._frozen += float(seconds)
            else:
                self._offset += float(seconds)

    def reset(self) -> None:
        """Back to real time: no offset, not frozen."""
        with self._lock:
            self._offset = 0.0
            self._frozen = None

    @property
    def offset(self) -> float:
        """Seconds between provider time and real time."""
        return self.now() - time.time()

    @property
    def frozen(self) -> bool:
        """Whether the clock is frozen."""
        return self._frozen is not None
