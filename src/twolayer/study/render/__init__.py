"""One renderer for every table of the study.

An analysis builds its table as one value, a :class:`Table` (the values, each
column's kind, a title, a caption and a label); this package writes it as CSV
(:mod:`.csv`), Markdown (:mod:`.markdown`), LaTeX (:mod:`.latex`) and HTML
(:mod:`.html`, from the Jinja2 templates in ``templates/``), every number
written by the one set of formatters in :mod:`.numbers`. A new table is one
function returning a :class:`Table`; a new kind of column is one entry of
:data:`.numbers.KINDS`.
"""

from __future__ import annotations

from pathlib import Path

from ...atomic import write_text
from .table import Table

FORMATS = ("csv", "md", "tex")


def write(table, prefix, formats=FORMATS):
    """Write ``table`` as ``<prefix>.csv``, ``.md`` and ``.tex`` (those of ``formats``; ``html``: its page)."""
    from .csv import write_csv
    from .html import table_page
    from .latex import latex
    from .markdown import markdown

    prefix = Path(prefix)
    texts = {"md": markdown, "tex": latex, "html": lambda t: table_page(t, prefix.with_suffix(".csv"))}
    for fmt in formats:
        if fmt == "csv":
            write_csv(table, prefix.with_suffix(".csv"))
        elif fmt in texts:
            write_text(prefix.with_suffix(f".{fmt}"), texts[fmt](table))
        else:
            raise ValueError(f"unknown format {fmt!r}; formats are csv, md, tex, html")
    return table


__all__ = ["FORMATS", "Table", "write"]
