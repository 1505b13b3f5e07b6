"""A table's CSV, written and read back as text."""

from __future__ import annotations

import csv

from ...atomic import atomic_path
from ...errors import InputError


def write_csv(table, path):
    """``table``'s CSV: its ``data`` (numbers to ten significant digits) if it has one, else its cells."""
    with atomic_path(path) as tmp:
        if table.data is not None:
            table.data.to_csv(tmp, index=False, float_format="%.10g")
        else:
            table.cells().to_csv(tmp, index=False)


def read_csv(path):
    """(header, rows) of a CSV file, every cell the exact text written (no number parsing)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the table ({exc.strerror}); rerun the workflow to rebuild it") from None
    if not rows:
        raise InputError(f"{path}: empty table (not even a header); rerun the workflow to rebuild it")
    header, body = rows[0], rows[1:]
    return header, [r + [""] * (len(header) - len(r)) for r in body]
