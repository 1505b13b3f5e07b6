"""A table as a value: what an analysis returns, and everything a renderer needs to write it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pandas as pd

from .numbers import kind


@dataclass(frozen=True)
class Table:
    """One table of the study.

    ``frame``: the values, a column per column shown (numbers stay numbers: the
    renderer writes them). ``kinds``: {column: kind name} (see
    :data:`twolayer.study.render.numbers.KINDS`); a column without one is text.
    ``title``: the heading of the Markdown file and of the HTML page.
    ``caption`` and ``label``: LaTeX's (the caption in plain words; the label is
    made safe by :func:`twolayer.study.render.latex.tex_label`).
    ``missing``: what a missing measurement shows.
    ``data``: what the CSV holds when it is not the shown cells (the raw numbers,
    written with ten significant digits).
    ``notes``: numbered notes under the table; ``footer``: a line under the
    Markdown table. The rest is LaTeX layout: ``long`` (a longtable; default:
    more than :data:`~twolayer.study.render.latex.LONG_ROWS` rows), ``rules_before``
    (rows with a rule above), ``groups`` ({title: {column: sub-header}}, adjacent
    columns headed together), ``widths`` ({column: width}: paragraph columns of
    those widths, in a ``\\footnotesize`` longtable) with ``short`` headers
    ({column: header}); ``aligned``: the Markdown marks numeric columns ``---:``.
    """

    frame: pd.DataFrame
    kinds: Mapping[str, str] = field(default_factory=dict)
    title: str | None = None
    caption: str | None = None
    label: str | None = None
    missing: str = "diverged"
    data: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()
    footer: str | None = None
    long: bool | None = None
    rules_before: tuple[int, ...] = ()
    groups: Mapping[str, Mapping[str, str]] | None = None
    widths: Mapping[str, str] | None = None
    short: Mapping[str, str] = field(default_factory=dict)
    aligned: bool = False

    def __post_init__(self):
        for col, name in self.kinds.items():
            kind(name)  # an unknown kind fails here, when the table is made
            if col not in self.frame.columns:
                raise KeyError(f"kinds names column {col!r}, which the table does not have ({', '.join(map(str, self.frame.columns))})")

    def kind(self, column):
        return kind(self.kinds.get(column))

    def cells(self):
        """The table as text: every value written by its column's kind (a frame of str)."""
        out = {}
        for col in self.frame.columns:
            k = self.kind(col)
            out[col] = [k.format(v, self.missing) for v in self.frame[col]]
        return pd.DataFrame(out, columns=list(self.frame.columns), dtype=object).reset_index(drop=True)

    def numeric_columns(self):
        """The columns whose kind is a number's."""
        return {c for c in self.frame.columns if c in self.kinds and self.kind(c).numeric}

    @classmethod
    def from_csv(cls, path, **kw):
        """A written CSV as a table of text (every cell exactly as written; kinds unknown)."""
        from .csv import read_csv

        header, rows = read_csv(path)
        return cls(pd.DataFrame(rows, columns=header, dtype=object), **kw)
