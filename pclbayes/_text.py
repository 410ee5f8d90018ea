"""Durations, sizes and small tables in text, as the command line and progress lines print them."""

from __future__ import annotations


def format_seconds(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"3.5 h"``, ``"41 days"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def format_bytes(size: float) -> str:
    """``"12 KiB"``, ``"512 MiB"``, ``"74.5 GiB"``."""
    if size < 2**20:
        return f"{size / 2**10:.0f} KiB"
    if size < 2**30:
        return f"{size / 2**20:.0f} MiB"
    return f"{size / 2**30:.1f} GiB"


def text_table(columns: dict[str, list[str]]) -> str:
    """Right-aligned plain-text table of pre-formatted cells, laid out as pandas prints one.

    Each column is as wide as its widest cell or its header plus one space, whichever is
    wider; columns are separated by one space (``DataFrame.to_string(index=False)``).
    Used where printing a small table should not cost the import of pandas (the ``plan``
    commands print in about half a second).
    """
    widths = {h: max([len(h) + 1, *map(len, cells)]) for h, cells in columns.items()}
    rows = [[h.rjust(widths[h]) for h in columns]]
    rows += [[columns[h][i].rjust(widths[h]) for h in columns]
             for i in range(len(next(iter(columns.values()), [])))]
    return "\n".join(" ".join(row) for row in rows)
