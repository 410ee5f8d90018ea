"""Checked command-line values, bounds on the work of a command, and progress on stderr.

Argument types
    Every numeric option is parsed by one of the factories below, so that a value out of
    range stops the command in argument parsing (exit status 2, ``usage:`` line and
    ``argument --opt: ...``), before anything is read or fitted. Floats must be finite.

Bounded work
    Commands whose cost grows with an argument (``plan sample-size``, ``plan oc``,
    ``plan events``) estimate their run time from the arguments before starting, with
    conservative per-operation costs measured on a small machine, and refuse with a one-line
    error when the estimate exceeds :data:`TIME_LIMIT_SECONDS`, naming the options that drive
    the cost. ``--allow-large`` runs them anyway; progress is then shown on stderr. A run
    estimated at :data:`ANNOUNCE_SECONDS` or more first prints its estimate on stderr
    (``plan sample-size: about 12 s of work (...); progress follows``).
    Memory does not grow with the product of arguments: the planning functions work in
    chunks of bounded size.

Progress
    :class:`Progress` prints ``<label>: <done>/<total> (<pct>%), <s> s elapsed[, about <s> s
    left]`` on stderr, first after :data:`PROGRESS_AFTER_SECONDS` and then at most every
    :data:`PROGRESS_EVERY_SECONDS`, so that short runs stay silent.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence

from pclbayes._text import format_bytes, format_seconds
from pclbayes.errors import SpecError

__all__ = [
    "ANNOUNCE_SECONDS",
    "MEMORY_LIMIT_BYTES",
    "PROGRESS_AFTER_SECONDS",
    "PROGRESS_EVERY_SECONDS",
    "SEED_MAX",
    "TIME_LIMIT_SECONDS",
    "Progress",
    "check_work",
    "format_bytes",
    "format_seconds",
    "integer",
    "output_file",
    "real",
    "real_list",
    "seed",
]

SEED_MAX = 2**32 - 1
"""Largest seed every engine accepts (:func:`pclbayes.model.check_seed`)."""

TIME_LIMIT_SECONDS = 60.0
"""Longest estimated run time a planning command starts without ``--allow-large``."""

MEMORY_LIMIT_BYTES = 2**30
"""Largest estimated memory (1 GiB) a planning command takes without ``--allow-large``."""

ANNOUNCE_SECONDS = 5.0
"""A command estimated to run at least this long says so on stderr before it starts."""

PROGRESS_AFTER_SECONDS = 1.0
"""Progress lines start once a command has run this long."""

PROGRESS_EVERY_SECONDS = 2.0
"""Least time between two progress lines."""


def _bounds_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """``"in (0, 1)"``, ``">= 1"``, ``"> 0"`` and the like."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return "finite"


def _check_real(value: float, low: float | None, high: float | None, low_open: bool,
                high_open: bool) -> bool:
    if not math.isfinite(value):
        return False
    if low is not None and (value <= low if low_open else value < low):
        return False
    return not (high is not None and (value >= high if high_open else value > high))


def real(low: float | None = None, high: float | None = None, *, low_open: bool = False,
         high_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite float in the given (open or closed) range.

    Examples
    --------
    >>> real(0, 1, low_open=True, high_open=True)("0.9")
    0.9
    """
    where = _bounds_text(low, high, low_open, high_open)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {where}, got {text!r}") from None
        if not _check_real(value, low, high, low_open, high_open):
            raise argparse.ArgumentTypeError(f"must be a number {where}, got {text!r}")
        return value

    parse.__name__ = f"number {where}"
    return parse


def real_list(low: float | None = None, high: float | None = None, *, low_open: bool = False,
              high_open: bool = False) -> Callable[[str], list[float]]:
    """An argparse type: comma-separated finite floats, each in the given range."""
    one = real(low, high, low_open=low_open, high_open=high_open)
    where = _bounds_text(low, high, low_open, high_open)

    def parse(text: str) -> list[float]:
        items = [v.strip() for v in text.split(",") if v.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers {where}")
        try:
            return [one(v) for v in items]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"every value must be a number {where}, got {text!r}") from None

    return parse


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in ``[minimum, maximum]``.

    Examples
    --------
    >>> integer(1)("24")
    24
    """
    where = _bounds_text(minimum, maximum, False, False)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number {where}, got {text!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be a whole number {where}, got {value}")
        return value

    parse.__name__ = f"whole number {where}"
    return parse


def seed(text: str) -> int:
    """An argparse type: a random seed, a whole number from 0 to 4294967295 (``2**32 - 1``)."""
    from pclbayes.model import check_seed

    try:
        return check_seed(int(text))
    except (ValueError, SpecError):
        raise argparse.ArgumentTypeError(
            f"a seed must be a whole number from 0 to {SEED_MAX}, got {text!r}") from None


def output_file(text: str) -> str:
    """An argparse type: a single output file, checked before any work starts.

    See :func:`pclbayes._files.check_output_file`; the message names the path and the reason.
    """
    from pclbayes._files import OutputError, check_output_file

    try:
        check_output_file(text, option=None)
    except OutputError as exc:
        raise argparse.ArgumentTypeError(str(exc).strip()) from None
    return text


def check_work(command: str, seconds: float, memory: float = 0.0, *, options: Sequence[str],
               allow_large: bool, what: str, shows_progress: bool = True) -> None:
    """Refuse a command whose estimated run time or memory is beyond the limits.

    The limits are :data:`TIME_LIMIT_SECONDS` and :data:`MEMORY_LIMIT_BYTES`.

    Parameters
    ----------
    command : str
        The command, e.g. ``"plan sample-size"``.
    seconds : float
        Estimated run time.
    memory : float
        Estimated peak memory in bytes.
    options : sequence of str
        The options that drive the cost (named in the message, e.g. ``["--n-max"]``).
    allow_large : bool
        ``--allow-large`` was given: no refusal.
    what : str
        The work in words, e.g. ``"4.0e+09 posterior probabilities"``.
    shows_progress : bool, default True
        Whether the command reports progress (said in the message).

    Raises
    ------
    SpecError
        When the estimate is beyond the limit and ``allow_large`` is false.
    """
    if allow_large or (seconds <= TIME_LIMIT_SECONDS and memory <= MEMORY_LIMIT_BYTES):
        if seconds >= ANNOUNCE_SECONDS:
            print(f"{command}: about {format_seconds(seconds)} of work ({what})"
                  f"{'; progress follows' if shows_progress else ''}", file=sys.stderr,
                  flush=True)
        return
    opts = " or ".join(options)
    raise SpecError(
        f"{command}: these arguments need {what}, about {format_seconds(seconds)} of work and "
        f"{format_bytes(memory)} of memory (limits {format_seconds(TIME_LIMIT_SECONDS)}, "
        f"{format_bytes(MEMORY_LIMIT_BYTES)}); lower {opts}, or add --allow-large to run it "
        f"anyway{' (progress is shown on stderr)' if shows_progress else ''}"
    )


class Progress:
    """A progress callback ``progress(done, total)`` that writes to stderr now and then.

    Parameters
    ----------
    label : str
        Printed at the start of each line, e.g. ``"plan sample-size: n"``.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.start = time.monotonic()
        self.last: float | None = None

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        elapsed = now - self.start
        if elapsed < PROGRESS_AFTER_SECONDS:
            return
        if self.last is not None and now - self.last < PROGRESS_EVERY_SECONDS and done < total:
            return
        self.last = now
        line = f"{self.label} {done}/{total} ({100 * done / max(total, 1):.0f}%), " \
               f"{format_seconds(elapsed)} elapsed"
        if 0 < done < total:
            line += f", about {format_seconds(elapsed * (total - done) / done)} left"
        print(line, file=sys.stderr, flush=True)
