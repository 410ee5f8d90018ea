"""Planning options from a TOML file: ``plan map-prior --spec FILE`` and its kin.

A planning command's options can be kept in a file, so that a design is reviewed and rerun
as one document::

    # cr_bcma.toml
    [map_prior]
    endpoint = "cr"
    target = "BCMA"
    intercept_prior = "Normal(mu=0, sigma=3)"
    tau_prior = "HalfNormal(sigma=0.5)"
    draws = 2000
    robust = 0.2
    seed = 1

Each key is an option of the command with ``-`` written ``_``; each value is checked by
the very check the command line applies to that option. An option given both in the file
and on the command line is an error (which one should win is not guessed), as is an
unknown key or a wrong type; every message names the file and the key.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pclbayes.errors import SpecError

#: Options that are never read from a file (output and presentation stay on the command line).
_COMMAND_LINE_ONLY = ("help", "spec", "out", "json", "allow_large", "func", "option_parser",
                      "verbose", "command", "plan_command")


def add_spec_argument(parser: argparse.ArgumentParser, table: str) -> None:
    """Add ``--spec FILE`` (options from the ``[table]`` of a TOML file) to ``parser``."""
    parser.add_argument(
        "--spec", metavar="FILE",
        help=f"read options from the [{table}] table of a TOML file (keys: the long options, "
        "'-' written '_'; an option may not be given both there and here)")
    parser.set_defaults(option_parser=parser, option_table=table)


#: Options whose value is a path: a relative path in the file is read from the file's folder.
_PATHS = ("data", "codata")


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """``{key: action}`` for every long option name (``--tau-prior`` is ``tau_prior``)."""
    return {name[2:].replace("-", "_"): a for a in parser._actions
            for name in a.option_strings
            if name.startswith("--") and a.dest not in _COMMAND_LINE_ONLY}


def _value(action: argparse.Action, raw: Any, where: str) -> Any:
    """``raw`` converted and checked as the command line would check ``str(raw)``."""
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(raw, bool):
            raise SpecError(f"{where}: expected true or false, got {raw!r}")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | list):
        raise SpecError(f"{where}: expected a string or a number, got {raw!r}")
    text = ",".join(map(str, raw)) if isinstance(raw, list) else str(raw)
    try:
        value = action.type(text) if action.type is not None else text
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        raise SpecError(f"{where}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise SpecError(f"{where}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def apply_option_spec(args: argparse.Namespace) -> None:
    """Fill ``args`` from ``args.spec`` (if given), checking every key and value.

    Raises
    ------
    SpecError
        Naming the file and the key: an unreadable file, invalid TOML, a missing or
        unknown table or key, a value the option's check refuses, or an option given both
        in the file and on the command line.
    """
    if not getattr(args, "spec", None):
        return
    from pclbayes.specs import read_toml

    path = Path(args.spec)
    document = read_toml(path)
    table_name = args.option_table
    table = document.get(table_name)
    if not isinstance(table, dict):
        raise SpecError(f"{path}: [{table_name}]: no such table (found: "
                        f"{', '.join(document) or 'nothing'})")
    extra = [k for k in document if k != table_name]
    if extra:
        raise SpecError(f"{path}: [{extra[0]}]: unknown table; this command reads "
                        f"[{table_name}] only")
    actions = _actions(args.option_parser)
    for key, raw in table.items():
        where = f"{path}: [{table_name}] {key}"
        action = actions.get(key)
        if action is None:
            raise SpecError(f"{where}: unknown key; allowed: {', '.join(sorted(actions))}")
        if getattr(args, action.dest) != action.default:
            raise SpecError(f"{where}: also given on the command line as "
                            f"{action.option_strings[0]}; give it in one place")
        value = _value(action, raw, where)
        if action.dest in _PATHS and value != "bundled" and not Path(value).is_absolute():
            value = str(path.parent / value)
        setattr(args, action.dest, value)
