"""A dependency-free progress bar for downloads and long loops.

On a terminal it redraws one line; in a log file it writes a line at most
every ``interval`` seconds (and at the end), so logs stay short.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total, label, stream=None, interval=5.0, unit="MB", scale=1e-6):
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = 0.1 if self.tty else interval
        self.unit, self.scale = unit, scale
        self.done = 0
        self.start = self.last = time.monotonic()

    def update(self, n):
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._emit(final=False)

    def close(self):
        self._emit(final=True)

    def _emit(self, final):
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done * self.scale / elapsed
        done = self.done * self.scale
        if self.total:
            pct = 100.0 * self.done / self.total
            width = 30
            filled = int(width * self.done / self.total)
            bar = "#" * filled + "-" * (width - filled)
            text = f"{self.label} [{bar}] {pct:5.1f}% {done:.1f}/{self.total * self.scale:.1f} {self.unit} {rate:.1f} {self.unit}/s"
        else:
            text = f"{self.label} {done:.1f} {self.unit} {rate:.1f} {self.unit}/s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
