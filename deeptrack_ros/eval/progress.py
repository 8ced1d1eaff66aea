"""A dependency-free progress bar on stderr.

An OTB run takes minutes to hours; the bar says which tracker and sequence is running and how
far along it is. It redraws in place on a terminal at most ~10 times a second, so drawing never
shows up in the timings, and when stderr is a file or pipe (CI logs) it writes one line per
finished sequence instead of a wall of carriage returns. `Progress(enabled=False)` (--quiet)
prints nothing.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 28
_INTERVAL_S = 0.1


class Progress:
    """Progress of one task (e.g. one tracker on one sequence) counted in frames."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = enabled
        self._tty = bool(getattr(self._stream, 'isatty', lambda: False)())
        self._label = ''
        self._total = 0
        self._done = 0
        self._started = 0.0
        self._drawn = 0.0

    def start(self, label: str, total: int) -> None:
        """Begin a new task of `total` frames."""
        self._label, self._total, self._done = label, max(0, total), 0
        self._started = time.monotonic()
        self._drawn = 0.0
        if self._tty:
            self._draw(force=True)

    def advance(self, frames: int = 1) -> None:
        """Count finished frames; redraws only when enough time has passed."""
        self._done += frames
        if self._tty:
            self._draw(force=self._done >= self._total)

    def finish(self, note: str = '') -> None:
        """End the task, leaving one summary line (with an optional note, e.g. the fps)."""
        if not self._enabled:
            return
        elapsed = time.monotonic() - self._started
        line = f'{self._label}: {self._done}/{self._total} frames in {elapsed:.1f} s'
        if note:
            line += f', {note}'
        self._write(('\r\033[K' if self._tty else '') + line + '\n')

    def message(self, text: str) -> None:
        """A standalone line (e.g. which output folder is being written)."""
        if self._enabled:
            self._write(('\r\033[K' if self._tty else '') + text + '\n')

    def _draw(self, force: bool = False) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < _INTERVAL_S:
            return
        self._drawn = now
        share = self._done / self._total if self._total else 1.0
        filled = int(round(share * _WIDTH))
        bar = '#' * filled + '-' * (_WIDTH - filled)
        elapsed = now - self._started
        rate = self._done / elapsed if elapsed > 0 else 0.0
        self._write(f'\r\033[K{self._label} [{bar}] {self._done}/{self._total} '
                    f'{share * 100:5.1f}% {rate:6.1f} frames/s')

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()
