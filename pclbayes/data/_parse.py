"""The one parser of numbers and the one normaliser of names for every CSV cell.

Python's ``float()`` and ``int()`` accept more than a spreadsheet writes: ``1_0`` (digit
grouping) and full-width digits (U+FF11 U+FF10) both give 10, and ``inf``/``nan`` are numbers.
pclbayes reads a number only in the form a spreadsheet writes it and refuses everything
else with a reason, so that no cell is silently misread.
"""

from __future__ import annotations

import re
import unicodedata

#: A number as a spreadsheet writes it: optional spaces or tabs around it, an optional sign,
#: ASCII digits with at most one decimal point, an optional exponent (``1.2E1``, ``5e-3``).
NUMBER = re.compile(r"[ \t]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")

#: Characters that may not appear in a name (cohort, patient id, category): control and
#: format characters (NUL, ZERO WIDTH SPACE, ...) and line or paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def char_name(ch: str) -> str:
    """``U+200B (ZERO WIDTH SPACE)``: a character by code point and Unicode name."""
    name = unicodedata.name(ch, "")
    if not name and unicodedata.category(ch) == "Cc":
        name = {"\x00": "NUL", "\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN"}.get(
            ch, "control character")
    return f"U+{ord(ch):04X} ({name})" if name else f"U+{ord(ch):04X}"


def parse_number(text: str) -> tuple[float | None, str | None]:
    """Read one cell as a number.

    Parameters
    ----------
    text : str
        The cell as it stands in the file.

    Returns
    -------
    value, reason : (float, None) or (None, str)
        The number, or ``None`` and why the text is not one (with the fix).

    Notes
    -----
    Accepted: ``[spaces] [+|-] digits [. digits] [e|E [+|-] digits] [spaces]`` with ASCII
    digits 0-9 only, i.e. what a spreadsheet writes for a number, with or without a
    decimal point or scientific notation. Refused, each with its own reason: digit
    grouping (``1_0``, ``1 000``, ``1,000``), a decimal comma (``2,5``), non-ASCII digits
    (full-width, Arabic-Indic, superscripts), ``inf``/``nan``, hexadecimal, and any other
    text. A value too large for a double (``1e999``) is refused as not finite, and one
    too small (``1e-400``, which a double rounds to 0) as too close to 0.
    """
    if NUMBER.fullmatch(text) is None:
        return None, f"'{text}' is not a number" + _not_a_number_hint(text)
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        return None, f"'{text}' is not a finite number"
    if value == 0.0 and re.search(r"[1-9]", re.split(r"[eE]", text)[0]):
        return None, f"'{text.strip()}' is too close to 0 to be read (it would be read as 0)"
    return value, None


def _not_a_number_hint(text: str) -> str:
    body = text.strip(" \t")
    odd = next((ch for ch in body if not ch.isascii()), None)
    if odd is not None:
        if odd.isdigit() or unicodedata.category(odd) == "Nd":
            return (f": it contains the non-ASCII digit {char_name(odd)}; "
                    "write plain digits 0-9")
        return f": it contains the character {char_name(odd)}; write plain digits 0-9"
    if re.fullmatch(r"[+-]?[0-9]+,[0-9]+", body):
        return ": a decimal comma? write a decimal point (2.5), or no thousands separator"
    if re.fullmatch(r"[+-]?[0-9][0-9_ ,']*[0-9](\.[0-9]*)?", body):
        return ": write the number without digit grouping ('_', ',', spaces or quotes)"
    if body.lower() in {"inf", "+inf", "-inf", "infinity", "nan", "-nan", "+nan"}:
        return ": write a finite number, or leave the cell empty if it is not known"
    if body.lower() in {"true", "false", "yes", "no"}:
        return ": write 1 or 0"
    if body.lower() in {"n/a", "na", "nd", "null", "none", "-", ".", "?", "missing",
                        "unknown"}:
        return ": leave the cell empty (or write NA) if the value is not known"
    return ""


def normalise_name(text: str) -> str:
    """The one normal form of a name: Unicode NFC, no surrounding or repeated whitespace.

    ``" a "`` and ``"a"`` are the same cohort; so are a composed and a decomposed
    ``é``. Characters that cannot be seen (see :func:`hidden_character`) are not removed:
    they are reported.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


def hidden_character(text: str) -> str | None:
    """The first control, format or line-separator character in ``text``, or ``None``."""
    return next((ch for ch in text if unicodedata.category(ch) in _HIDDEN_CATEGORIES), None)


def control_character(text: str) -> str | None:
    """The first control character other than tab, line feed and carriage return."""
    return next((ch for ch in text
                 if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r"), None)
