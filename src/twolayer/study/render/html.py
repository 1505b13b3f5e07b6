"""A table's HTML, and the report's pages: Jinja2 templates shipped with the package
(``render/templates/``), filled with a table's cells as :mod:`.numbers` writes them.

Every value a template shows is escaped as :func:`html.escape` escapes it (quotes too);
markup comes only from the templates. Pages are self-contained: the CSS is inlined,
nothing is fetched.
"""

from __future__ import annotations

import base64
import html
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup


PLACEHOLDERS = ("", "diverged")  # cells of a column of numbers that are not numbers


def esc(value):
    """``value`` as HTML text ("" for None)."""
    return html.escape("" if value is None else str(value), quote=True)


def _finalize(value):
    return value if isinstance(value, Markup) else Markup(esc(value))


@lru_cache(maxsize=None)
def environment():
    """The Jinja2 environment of the templates (loaded from the installed package)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("twolayer.study.render", "templates"), autoescape=True,
                       finalize=_finalize, keep_trailing_newline=True, undefined=StrictUndefined)


def render(template, **context):
    """The text of template ``template`` filled with ``context``."""
    return environment().get_template(template).render(**context)


def is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_numeric(cells):
    """A column of text is one of numbers if every cell but the placeholders is a number (and one is)."""
    cells = [c for c in cells if c not in PLACEHOLDERS]
    return bool(cells) and all(is_number(c) for c in cells)


def _row_class(header, row, highlight=None):
    if highlight is not None and highlight[0] in header and row[header.index(highlight[0])] == highlight[1]:
        return "winner"
    if any(c == "diverged" or c.startswith("diverged at step") for c in row):
        return "diverged"
    return None


def table_view(table, highlight=None, wide=False, marks=True):
    """What the table macro shows of ``table``: header and cells, with their classes.

    A column is one of numbers (right-aligned) if its kind says so or, for a column of
    no kind (a table read back from its CSV), if its cells are numbers; ``prose`` wraps.
    ``highlight``: ``(column, value)``, the row holding ``value`` there is the winner's.
    ``marks``: rows of diverged models are marked. ``wide``: the first column stays in
    view when the table scrolls sideways."""
    cells = table.cells()
    header = [str(c) for c in cells.columns]
    rows = [list(r) for r in cells.itertuples(index=False)]
    classes = []
    for j, col in enumerate(cells.columns):
        k = table.kind(col)
        numeric = k.numeric if col in table.kinds else _looks_numeric([r[j] for r in rows])
        classes.append("num" if numeric else "wrap" if k.prose else None)
    head = [{"text": h, "cls": "num" if c == "num" else None} for h, c in zip(header, classes)]
    body = [{"cls": _row_class(header, r, highlight) if marks else None,
             "cells": [{"text": t, "cls": c} for t, c in zip(r, classes)]} for r in rows]
    return {"head": head, "rows": body, "wide": wide}


def data_uri(path, mime):
    """A file's bytes as a data URI."""
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def table_page(table, csv_path, note=None, highlight=None):
    """The page of a table written as ``csv_path``: its title, ``note``, the table, the
    files written beside the CSV, and the CSV itself to download."""
    csv_path = Path(csv_path)
    files = [csv_path.with_suffix(s) for s in (".csv", ".md", ".tex") if csv_path.with_suffix(s).exists()]
    n = len(table.frame)
    return render("table_page.html", title=table.title, note=note, tall=n > 25, n_rows=n, files=files,
                  view=table_view(table, highlight, wide=len(table.frame.columns) > 10),
                  csv_name=csv_path.name, csv_uri=data_uri(csv_path, "text/csv"))
