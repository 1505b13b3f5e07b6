r"""A table's LaTeX, paper-ready: booktabs rules, numbers typeset, the packages it needs on its first line.

The first line names the packages (``% requires \usepackage{booktabs}``; a
``longtable``, which breaks across pages, also needs ``longtable``); numeric
columns are right-aligned, plain decimals aligned on their points, 1e-06 is
set as $10^{-6}$ and 5e-05 as $5 \times 10^{-5}$, the header ``lambda`` as
$\lambda$, long headers break into two lines; a caption in words and a
``\label`` make it a float. ``\input`` it where the table goes.

Cells are typeset from the text the CSV holds (see :mod:`.numbers`), so a
number reads the same in every format.
"""

from __future__ import annotations

import re

_TEX = {"±": r"$\pm$", "–": "--", "λ": r"$\lambda$", "η": r"$\eta$", "−": "$-$", "×": r"$\times$", "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
        # the default (OT1) text font has no |, < or >: it would print —, ¡ and ¿
        "|": r"\textbar{}", "<": r"\textless{}", ">": r"\textgreater{}"}

# Column headers and cells that LaTeX typesets as mathematics (the CSV and Markdown keep the plain word).
TEX_HEADERS = {"lambda": r"$\lambda$"}
TEX_CELLS = {"lambda": r"L2 strength $\lambda$"}
# Cells of a numeric column that are not numbers (set in text, right-aligned like the numbers).
PLACEHOLDERS = {"", "diverged"}
LONG_ROWS = 40  # tables with more rows than this are set as a longtable (it breaks across pages)

_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


_SUPERSCRIPT = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
_POWER = re.compile("([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)")


def tex(s):
    """Text for LaTeX: special characters escaped, Greek letters and ± as mathematics, and the
    figures' powers of ten (10⁻⁵) as $10^{-5}$ (pdflatex knows no superscript characters).
    Two hyphens stay two hyphens (``--cores``, not an en dash); an en dash "–" is one."""
    parts = _POWER.split(str(s))
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"$^{{{part.translate(_SUPERSCRIPT)}}}$")
        else:
            out.append("".join("-{}" if ch == "-" and part[j + 1:j + 2] == "-" else _TEX.get(ch, ch)
                               for j, ch in enumerate(part)))
    return "".join(out)


def _is_number(s):
    return bool(_FLOAT.fullmatch(str(s).strip()))


def _tex_number(s):
    """A number as a paper prints it: 1e-06 -> $10^{-6}$, 5e-05 -> $5 \\times 10^{-5}$, 60000 -> 60\\,000."""
    s = str(s).strip()
    if _INT.fullmatch(s):
        sign, digits = ("-", s[1:]) if s.startswith("-") else ("", s)
        if len(digits) > 4:  # thin-space thousands separators, as siunitx would group them
            head = len(digits) % 3 or 3
            digits = digits[:head] + "".join(r"\," + digits[i:i + 3] for i in range(head, len(digits), 3))
        return f"${sign}{digits}$" if sign else digits
    mantissa, _, exponent = s.lower().partition("e")
    sign = ""
    if mantissa.startswith("-"):
        sign, mantissa = "-", mantissa[1:]
    if not exponent:
        return f"${sign}{mantissa}$" if sign else mantissa
    exp = int(exponent)
    if mantissa.rstrip("0").rstrip(".") == "1":
        return f"${sign}10^{{{exp}}}$"
    return f"${sign}{mantissa} \\times 10^{{{exp}}}$"


def _tex_cell(v):
    """A cell in LaTeX: numbers (also comma-separated lists of them) typeset, anything else escaped."""
    s = str(v)
    if s in TEX_CELLS:
        return TEX_CELLS[s]
    parts = s.split(", ")
    if s.strip() and all(_is_number(p) for p in parts):
        return ", ".join(_tex_number(p) for p in parts)
    return tex(s)


def _numeric(values):
    """A column is numeric (right-aligned) if it holds numbers and, besides them, only placeholders."""
    vals = [str(v).strip() for v in values]
    return any(_is_number(v) for v in vals) and all(_is_number(v) or v in PLACEHOLDERS for v in vals)


def _decimal_aligned(values, cells):
    """Right-aligned plain decimals (no e-notation) padded with phantom digits so the decimal points align."""
    vals = [str(v).strip() for v in values]
    nums = [v for v in vals if _is_number(v)]
    if any("e" in v.lower() for v in nums) or not any("." in v for v in nums):
        return cells
    frac = {v: len(v.partition(".")[2]) + ("." in v) for v in nums}  # digits after the point, and the point
    width = max(frac.values())
    return [cell + (rf"\phantom{{{('.' if '.' not in v else '') + '0' * (width - frac[v] - ('.' not in v))}}}" if v in frac and frac[v] < width else "")
            for v, cell in zip(vals, cells)]


def tex_label(label):
    """``label`` with every character but letters, digits, '-' and ':' replaced by '-'."""
    return re.sub(r"[^A-Za-z0-9:-]", "-", str(label))


# A header of two or more words and at least this many characters is set on two lines.
WRAP_HEADER = 10
# \twolayerhead{<alignment>}{<line 1>}{<line 2>}{<header>}: <header> in a box as wide as the wider of its
# two lines, so it breaks into (at most) those two lines; bottom-aligned with the other headers.
HEAD_MACRO = (r"\providecommand{\twolayerhead}[4]{\settowidth{\dimen0}{#2}\settowidth{\dimen2}{#3}"
              r"\ifdim\dimen2>\dimen0 \dimen0=\dimen2\fi\parbox[b]{\dimen0}{#1#4}}")


def _split_header(h):
    """The two lines a long header breaks into (the most balanced split, before a "(" if as good), or None."""
    words = str(h).split(" ")
    if len(words) < 2 or len(str(h)) < WRAP_HEADER:
        return None
    splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
    return min(splits, key=lambda ab: (max(len(ab[0]), len(ab[1])), not ab[1].startswith("(")))


def _tex_header(h, numeric, wrap=True):
    h = str(h)
    if h in TEX_HEADERS:
        return TEX_HEADERS[h]
    split = _split_header(h) if wrap else None
    if split is None:
        return tex(h)
    align = r"\raggedleft" if numeric else r"\raggedright"
    return rf"\twolayerhead{{{align}}}{{{tex(split[0])}}}{{{tex(split[1])}}}{{{tex(h)}}}"


def _header_rows(cols, numeric, groups):
    """The header line(s): with ``groups`` ({title: {column: sub-header}}), a spanning row and a ``\\cmidrule`` above."""
    grouped = {c: (title, sub) for title, members in (groups or {}).items() for c, sub in members.items() if c in cols}
    if not grouped:
        return [" & ".join(_tex_header(c, num) for c, num in zip(cols, numeric)) + r" \\"]
    # two header rows: a long header of another column puts its first line in the top row
    top, bottom, rules, i = [], [], [], 0
    while i < len(cols):
        if cols[i] not in grouped:
            split = None if cols[i] in TEX_HEADERS else _split_header(cols[i])
            top.append(tex(split[0]) if split else "")
            bottom.append(tex(split[1]) if split else _tex_header(cols[i], numeric[i], wrap=False))
            i += 1
            continue
        title = grouped[cols[i]][0]
        j = i
        while j + 1 < len(cols) and cols[j + 1] in grouped and grouped[cols[j + 1]][0] == title:
            j += 1
        top.append(rf"\multicolumn{{{j - i + 1}}}{{c}}{{{tex(title)}}}")
        bottom += [tex(grouped[c][1]) for c in cols[i:j + 1]]
        rules.append(rf"\cmidrule(lr){{{i + 1}-{j + 1}}}")
        i = j + 1
    return [" & ".join(top) + r" \\", " ".join(rules), " & ".join(bottom) + r" \\"]


def to_latex(df, caption=None, label=None, long=None, rules_before=(), groups=None, small=None, numeric=()):
    """``df`` as a booktabs table; the first line is a comment naming the packages it needs.

    Numeric columns (see :func:`_numeric`) are right-aligned, numbers in
    e-notation become powers of ten, the header ``lambda`` becomes
    ``$\\lambda$``, long headers break into two lines. With a ``caption`` or
    a ``label``, the tabular is wrapped in a ``table`` float (caption above);
    with ``long`` (default: more than :data:`LONG_ROWS` rows) it is a
    ``longtable`` instead, which breaks across pages and repeats its header.
    ``rules_before``: row indices that get a ``\\midrule`` above them.
    ``groups``: {title: {column: sub-header}}, adjacent columns headed
    together. ``small`` (default: with a caption or a label): set in
    ``\\small`` with narrower column gaps, as papers do. ``numeric``: columns
    right-aligned even with no number in them (an empty table).
    """
    cols = list(df.columns)
    long = len(df) > LONG_ROWS if long is None else long
    small = bool(caption or label or long) if small is None else small
    known = set(numeric)
    numeric = [_numeric(df[c]) or (c in known and all(str(v).strip() in PLACEHOLDERS for v in df[c])) for c in cols]
    spec = "@{}" + "".join("r" if num else "l" for num in numeric) + "@{}"
    header = _header_rows(cols, numeric, groups)
    cells = [[_tex_cell(v) for v in df[c]] for c in cols]
    for k, c in enumerate(cols):
        if numeric[k]:
            cells[k] = _decimal_aligned(df[c], cells[k])
    rows = []
    for i in range(len(df)):
        if i in rules_before:
            rows.append(r"\midrule")
        rows.append(" & ".join(col[i] for col in cells) + r" \\")
    if not rows:
        rows.append(rf"\multicolumn{{{len(cols)}}}{{@{{}}l}}{{\emph{{none}}}} \\")
    packages = ["booktabs", "longtable"] if long else ["booktabs"]
    lines = [rf"% requires \usepackage{{{','.join(packages)}}}"]
    if r"\twolayerhead" in "".join(header):
        lines.append(HEAD_MACRO)
    size = [r"\small", r"\setlength{\tabcolsep}{4pt}"] if small else []
    label = tex_label(label) if label else None
    if long:
        n = len(cols)
        lines += [r"\begingroup", *size, rf"\begin{{longtable}}{{{spec}}}"]
        if caption or label:
            lines += [(rf"\caption{{{tex(caption)}}}" if caption else r"\caption{}") + (rf"\label{{{label}}}" if label else "") + r" \\"]
        lines += [r"\toprule", *header, r"\midrule", r"\endfirsthead",
                  rf"\multicolumn{{{n}}}{{@{{}}l}}{{\emph{{(continued)}}}} \\", r"\toprule", *header, r"\midrule", r"\endhead",
                  r"\midrule", rf"\multicolumn{{{n}}}{{r@{{}}}}{{\emph{{(continued on the next page)}}}} \\", r"\endfoot",
                  r"\bottomrule", r"\endlastfoot", *rows, r"\end{longtable}", r"\endgroup"]
        return "\n".join(lines) + "\n"
    tabular = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", *header, r"\midrule", *rows, r"\bottomrule", r"\end{tabular}"]
    if not (caption or label):
        if small:
            tabular = [r"\begingroup", *size, *tabular, r"\endgroup"]
        return "\n".join(lines + tabular) + "\n"
    lines += [r"\begin{table}[htbp]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{tex(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [r"\smallskip", *size, *tabular, r"\end{table}"]
    return "\n".join(lines) + "\n"




def _paragraph_longtable(table, cells):
    """A longtable of paragraph columns of the table's ``widths`` (headed by its ``short``
    headers), in ``\\footnotesize``, with its numbered notes below: for tables of long text."""
    cols = list(cells.columns)
    aligned = {True: r">{\raggedleft\arraybackslash}p{%s}", False: r">{\raggedright\arraybackslash}p{%s}"}
    spec = "@{}" + "".join(aligned[table.kind(c).numeric] % table.widths[c] for c in cols) + "@{}"
    header = " & ".join(tex(table.short.get(c, c)) for c in cols) + r" \\"
    # \hspace{0pt}: TeX hyphenates no paragraph's first word ("§Hyperparameter") without it
    body = [" & ".join((r"\hspace{0pt}" if table.kind(c).prose else "") + tex(v) for c, v in zip(cols, row)) + r" \\"
            for row in cells.itertuples(index=False)]
    label = rf"\label{{{tex_label(table.label)}}}" if table.label else ""
    notes = [r"\item[{[" + str(i) + r"]}] " + tex(n) for i, n in enumerate(table.notes, 1)]
    return "\n".join([
        r"% requires \usepackage{array,booktabs,longtable}",
        r"\begingroup\footnotesize\setlength{\tabcolsep}{2pt}",
        r"\begin{longtable}{" + spec + "}",
        r"\caption{" + tex(table.caption or "") + "}" + label + r"\\",
        r"\toprule", header, r"\midrule", r"\endfirsthead",
        r"\toprule", header, r"\midrule", r"\endhead",
        *body,
        r"\bottomrule",
        r"\end{longtable}",
        *([r"\begin{enumerate}", *notes, r"\end{enumerate}"] if notes else []),
        r"\endgroup",
        "",
    ])


def latex(table):
    """The LaTeX file of ``table`` (a :class:`~twolayer.study.render.table.Table`)."""
    cells = table.cells()
    if table.widths:
        return _paragraph_longtable(table, cells)
    return to_latex(cells, caption=table.caption, label=table.label, long=table.long, rules_before=table.rules_before,
                    groups=table.groups, numeric=table.numeric_columns())
