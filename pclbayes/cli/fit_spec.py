"""``pclbayes fit SPEC.toml``: run one specification file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pclbayes.cli._output import add_common_fit_arguments, check_out, emit_fit


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fit spec`` (also reached as ``pclbayes fit SPEC.toml``)."""
    p = subparsers.add_parser("spec", help="run a specification file (pclbayes fit SPEC.toml)",
                              description="Run a TOML specification: your own file, or a "
                              "bundled one by name (response_orr_by_target) or as "
                              "models/<name>.toml, which is the bundled file unless such a file "
                              "exists where you are.")
    p.add_argument("spec", help="path to a .toml specification, or the name of a bundled one")
    add_common_fit_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit the model a specification describes and print or save the result."""
    from pclbayes.data import load
    from pclbayes.model import model_from_spec
    from pclbayes.specs import fit_spec, load_spec

    spec = load_spec(resolve_spec(args.spec))
    model_from_spec(spec)  # every option and prior checked before reading any data
    check_out(args)
    eb = load(args.data)
    fitted = fit_spec(spec, eb, seed=args.seed)
    return emit_fit(fitted, args, name=spec.name)


def resolve_spec(given: str) -> Path:
    """The specification file that ``given`` names.

    An existing path is used as it is. Otherwise a bare name (``response_orr_by_target``,
    with or without ``.toml``) or ``models/<name>.toml`` names the bundled specification
    (:data:`pclbayes._paths.BUNDLED_MODELS`), so that commands written for a source checkout
    work for an installed package too; the file used is then said on stderr. Any other
    path is returned as given (reading it reports that it is missing).

    Raises
    ------
    SpecError
        If ``given`` is a bare name that no bundled specification has (the message lists
        the bundled names).
    """
    from pclbayes._paths import BUNDLED_MODELS
    from pclbayes.errors import SpecError

    path = Path(given)
    parts = path.parts
    if path.exists() or not (len(parts) == 1 or (len(parts) == 2 and parts[0] == "models")):
        return path
    bundled = BUNDLED_MODELS / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    if bundled.is_file():
        print(f"using the bundled specification {bundled}", file=sys.stderr)
        return bundled
    names = sorted(p.stem for p in BUNDLED_MODELS.glob("*.toml"))
    known = ", ".join(names) if names else "none"
    raise SpecError(f"no such specification file: {given} (bundled specifications: {known}; "
                    "or use 'fit response' or 'fit survival')")
