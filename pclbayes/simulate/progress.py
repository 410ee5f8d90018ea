"""Progress of a simulation run on stderr: tasks done of total, rate and time left.

On a terminal one line is redrawn in place (at most :data:`TTY_EVERY_SECONDS` apart); when
stderr is a file or a pipe a full line is written now and then (first after
:data:`LOG_AFTER_SECONDS`, then at most every :data:`LOG_EVERY_SECONDS`) and once at the
end, so a log of a long run stays short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from pclbayes._text import format_seconds

TTY_EVERY_SECONDS = 0.25
LOG_AFTER_SECONDS = 10.0
LOG_EVERY_SECONDS = 60.0


class RunProgress:
    """``progress.update(done)`` as tasks finish; ``progress.finish()`` at the end.

    Parameters
    ----------
    label : str
        Start of every line (the study's name).
    total : int
        Tasks of the study.
    already : int
        Tasks finished before this run (a resumed store); the rate counts this run's only.
    stream : file or None
        Where to write (default ``sys.stderr``).
    quiet : bool
        Write nothing.
    """

    def __init__(self, label: str, total: int, already: int = 0, *,
                 stream: TextIO | None = None, quiet: bool = False) -> None:
        self.label, self.total, self.already = label, total, already
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.last: float | None = None
        self.done = already
        self._drawn = False

    def line(self, done: int) -> str:
        """The progress text for ``done`` tasks finished."""
        elapsed = time.monotonic() - self.start
        new = done - self.already
        pct = 100 * done / max(self.total, 1)
        text = f"{self.label}: {done}/{self.total} tasks ({pct:.0f}%)"
        if new > 0 and elapsed > 0:
            rate = new / elapsed
            text += f", {rate:.3g} tasks/s" if rate >= 1 else f", {1 / rate:.3g} s/task"
            left = self.total - done
            if left > 0:
                text += f", about {format_seconds(left / rate)} left"
        return text + f", {format_seconds(elapsed)} elapsed"

    def update(self, done: int) -> None:
        """Record that ``done`` tasks (in all) are finished; draw if it is time."""
        self.done = done
        if self.quiet:
            return
        now = time.monotonic()
        if self.tty:
            if self.last is None or now - self.last >= TTY_EVERY_SECONDS or done >= self.total:
                self.last = now
                self.stream.write("\r\033[K" + self.line(done))
                self.stream.flush()
                self._drawn = True
            return
        if now - self.start < LOG_AFTER_SECONDS:
            return
        if self.last is None or now - self.last >= LOG_EVERY_SECONDS:
            self.last = now
            print(self.line(done), file=self.stream, flush=True)

    def message(self, text: str) -> None:
        """Write one full line (ends the redrawn line first)."""
        if self.quiet:
            return
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
        print(text, file=self.stream, flush=True)

    def finish(self) -> None:
        """The final line (always, unless quiet)."""
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r\033[K" + self.line(self.done) + "\n")
            self.stream.flush()
            self._drawn = False
        else:
            print(self.line(self.done), file=self.stream, flush=True)
