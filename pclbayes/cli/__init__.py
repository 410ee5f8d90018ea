"""Command-line interface: ``pclbayes <command> ...`` (a thin layer over the public API)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from pclbayes import __version__
from pclbayes.errors import DataValidationError, PclBayesError


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-command per module in :mod:`pclbayes.cli`."""
    from pclbayes.cli import data_cmd, fit_cmd, plan_cmd, report_cmd, simulate_cmd

    parser = argparse.ArgumentParser(
        prog="pclbayes",
        description="Bayesian pooling of CAR T-cell evidence in plasma cell leukemia.",
    )
    parser.add_argument("--version", action="version", version=f"pclbayes {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (data_cmd, fit_cmd, plan_cmd, report_cmd, simulate_cmd):
        module.register(sub)
    return parser


EXIT_INVALID = 2
"""Exit status for invalid input or data, an unusable path, or a refused (too large) run."""

EXIT_INTERNAL = 70
"""Exit status for an unexpected error inside pclbayes (``EX_SOFTWARE`` of sysexits.h)."""

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT, as a shell reports it)."""

EXIT_BROKEN_PIPE = 141
"""Exit status when the reader of stdout went away (128 + SIGPIPE, as a shell reports it)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status.

    0 success; 1 a planning search found no answer (``plan sample-size``); 2 invalid input
    or data, an unusable path (permission denied, a directory where a file is wanted), or a
    run refused as too large; 70 an unexpected internal error (one line and a hint; with
    ``-v`` the traceback too); 130 interrupted (Ctrl-C: the one line ``interrupted``); 141
    stdout closed by its reader (``pclbayes validate | head -1``: quiet, like other tools
    that a closed pipe stops). No Python traceback reaches the user without ``-v``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = False
    try:
        parser = build_parser()
        from pclbayes.cli.fit_cmd import rewrite_spec_argv
        from pclbayes.cli.simulate_cmd import rewrite_simulate_argv

        args = parser.parse_args(rewrite_simulate_argv(rewrite_spec_argv(argv)))
        verbose = bool(args.verbose)
        logging.basicConfig(
            level=logging.INFO if verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe is reported here, not at interpreter exit
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except DataValidationError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID
    except PclBayesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:
        print(f"error: {_os_error_text(exc)}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as exc:  # a bug: say so in one line, the traceback with -v
        if verbose:
            traceback.print_exc(file=sys.stderr)
        message = " ".join(str(exc).split()) or "(no message)"
        print(f"internal error: {type(exc).__name__}: {message}", file=sys.stderr)
        if not verbose:
            print("rerun with -v (pclbayes -v COMMAND ...) to see the traceback",
                  file=sys.stderr)
        return EXIT_INTERNAL


def _os_error_text(exc: OSError) -> str:
    """``path: reason`` for an operating-system error (both paths for a rename)."""
    reason = exc.strerror or str(exc)
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return reason
    return f"{' -> '.join(str(p) for p in paths)}: {reason}"


def _silence_stdout() -> None:
    """Point stdout at the null device, so that flushing it at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (e.g. captured)
        pass
