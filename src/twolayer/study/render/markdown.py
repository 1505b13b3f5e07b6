"""A table's Markdown: a pipe table (cells as the CSV writes them, ``|`` escaped), with its
title above and its footer and numbered notes below.

Written by hand rather than by ``DataFrame.to_markdown`` (tabulate), which pads every cell
to its column's width: the files keep their unpadded form.
"""

from __future__ import annotations


def to_markdown(df, right=()):
    """The pipe table of a frame of text; columns in ``right`` are marked right-aligned (``---:``)."""
    cols = [str(c) for c in df.columns]
    rule = "|" + "|".join("---:" if c in right else "---" for c in df.columns) + "|"
    lines = ["| " + " | ".join(cols) + " |", rule]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in r) + " |")
    return "\n".join(lines) + "\n"


def markdown(table):
    """The Markdown file of ``table``."""
    parts = [f"**{table.title}**\n\n"] if table.title else []
    parts.append(to_markdown(table.cells(), right=table.numeric_columns() if table.aligned else ()))
    if table.footer:
        parts.append(f"\n{table.footer}\n")
    if table.notes:
        parts.append("\n" + "\n".join(f"[{i}] {note}  " for i, note in enumerate(table.notes, 1)))
    return "".join(parts).rstrip() + "\n"
