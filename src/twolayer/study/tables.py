r"""The source documents' tables, regenerated from a study's results.

* ``table1``: the hyperparameters tested (the report's Table 1);
* ``table2``: the top-5 models by validation accuracy (the report's Table 2);
* ``listing``: every model with its train and validation accuracy, sorted by
  hyperparameters (the CS231n notebook's printout);
* ``test``: the winner and its test accuracy.

Each is written as CSV, Markdown and LaTeX. Accuracies are percentages with
two decimals; a diverged model shows "diverged", never a number.

The LaTeX (``.tex``) is paper-ready: its first line names the packages it
needs (``% requires \usepackage{booktabs}``; the listing, a ``longtable``
that breaks across pages, also needs ``longtable``); rules are booktabs',
numeric columns are right-aligned, 1e-06 is set as $10^{-6}$ and 5e-05 as
$5 \times 10^{-5}$, the L2 strength is headed $\lambda$; the table carries
``\label{tab:<study>-<table>}`` and a caption in words (the dataset's name,
never the study id). ``\input`` it where the table goes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path, write_text
from ..errors import InputError
from .aggregate import pick_winner, ranked, read_table
from .axes import AXES

TABLES = ("table1", "table2", "listing", "test")
# Columns that hold numbers besides the numeric axes (right-aligned in LaTeX even when a table has no rows).
NUMERIC_RESULT_COLUMNS = {"Accuracy (Val Set, %)", "Accuracy (Test Set, %)", "Train accuracy (%)", "Val accuracy (%)", "Test examples",
                          "Replicates", "Accuracy (Val Set, %, mean ± std)", "Accuracy (Test Set, %, mean ± 95% CI)"}


def numeric_columns():
    return {*(a.label for a in AXES.values() if a.type is not str), *NUMERIC_RESULT_COLUMNS}


def _num(v):
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _pct(v):
    return "diverged" if v is None or pd.isna(v) else f"{100 * v:.2f}"


def _axis_values(df, axis):
    col = AXES[axis].column
    vals = [v for v in df[col].dropna().unique()]
    return sorted(vals, key=lambda v: (isinstance(v, str), v))


def table1(df, axes, test=None):
    rows = [{"Hyperparameter": AXES[a].label, "Values": ", ".join(_num(v) for v in _axis_values(df, a))} for a in axes]
    rows.append({"Hyperparameter": "Models trained", "Values": str(len(df))})
    return pd.DataFrame(rows)


def _hp_frame(rows, axes):
    out = pd.DataFrame({AXES[a].label: [_num(v) if not pd.isna(v) else "" for v in rows[AXES[a].column]] for a in axes})
    return out.reset_index(drop=True)


VAL_MEAN_STD = "Accuracy (Val Set, %, mean ± std)"
TEST_MEAN_CI = "Accuracy (Test Set, %, mean ± 95% CI)"


def table2(df, axes, test=None, k=5):
    """The top k points. With replicates: the points with the most replicates first (a refined
    grid: its refined points), each with the mean ± std over its replicates, then the others."""
    if "replicates" not in df:
        top = ranked(df).head(k)
        out = _hp_frame(top, axes)
        out["Accuracy (Val Set, %)"] = [_pct(v) for v in top["val_acc"]]
        return out
    ok = df[(df["status"] == "ok") & df["val_acc"].notna()]
    top = ok.assign(_r=-ok["replicates"], _v=-ok["val_acc"]).sort_values(["_r", "_v", "n_params", "point"], kind="stable").head(k)
    out = _hp_frame(top, axes)
    out[VAL_MEAN_STD] = [f"{_pct(m)} ± {_pct(s)}" if n > 1 else _pct(m)
                         for m, s, n in zip(top["val_acc"], top["val_acc_std"], top["replicates"])]
    out["Replicates"] = [str(int(n)) for n in top["replicates"]]
    return out


def listing(df, axes, test=None):
    cols = [AXES[a].column for a in axes]
    rows = df.sort_values(cols, kind="stable")
    out = _hp_frame(rows, axes)
    out["Train accuracy (%)"] = [_pct(v) for v in rows["train_acc"]]
    out["Val accuracy (%)"] = [_pct(v) for v in rows["val_acc"]]
    out["Status"] = [s if s == "ok" else f"diverged at step {int(d)}" if not pd.isna(d) else s for s, d in zip(rows["status"], rows["diverged_step"])]
    return out


def test_table(df, axes, test=None):
    win = pick_winner(df)
    if win is None or test is None or test.get("accuracy") is None:
        return pd.DataFrame([{"Result": "no winner (every model diverged)"}])
    out = _hp_frame(pd.DataFrame([win]), axes)
    out["Accuracy (Val Set, %)"] = _pct(win["val_acc"])
    out["Accuracy (Test Set, %)"] = _pct(test["accuracy"])
    out["Test examples"] = str(test["n"])
    rep = test.get("replicates")
    if rep and rep.get("n", 0) > 1:  # the single run above is the paper's; each replicate tested once
        out["Accuracy (Val Set, %)"] = _pct(win.get("val_acc_run0", win["val_acc"]))
        out[VAL_MEAN_STD] = f"{_pct(win['val_acc'])} ± {_pct(win['val_acc_std'])}"
        out[TEST_MEAN_CI] = f"{_pct(rep['mean'])} ± {_pct(rep['ci_high'] - rep['mean'])}"
        out["Replicates"] = str(rep["n"])
    return out


BUILDERS = {"table1": table1, "table2": table2, "listing": listing, "test": test_table}


def to_markdown(df):
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in r) + " |")
    return "\n".join(lines) + "\n"


_TEX = {"±": r"$\pm$", "–": "--", "λ": r"$\lambda$", "η": r"$\eta$", "−": "$-$", "×": r"$\times$", "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}

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


def _tex(s):
    """Text for LaTeX: special characters escaped, Greek letters and ± as mathematics, and the
    figures' powers of ten (10⁻⁵) as $10^{-5}$ (pdflatex knows no superscript characters)."""
    parts = _POWER.split(str(s))
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"$^{{{part.translate(_SUPERSCRIPT)}}}$")
        else:
            out.append("".join(_TEX.get(ch, ch) for ch in part))
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
    return _tex(s)


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
        return _tex(h)
    align = r"\raggedleft" if numeric else r"\raggedright"
    return rf"\twolayerhead{{{align}}}{{{_tex(split[0])}}}{{{_tex(split[1])}}}{{{_tex(h)}}}"


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
            top.append(_tex(split[0]) if split else "")
            bottom.append(_tex(split[1]) if split else _tex_header(cols[i], numeric[i], wrap=False))
            i += 1
            continue
        title = grouped[cols[i]][0]
        j = i
        while j + 1 < len(cols) and cols[j + 1] in grouped and grouped[cols[j + 1]][0] == title:
            j += 1
        top.append(rf"\multicolumn{{{j - i + 1}}}{{c}}{{{_tex(title)}}}")
        bottom += [_tex(grouped[c][1]) for c in cols[i:j + 1]]
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
            lines += [(rf"\caption{{{_tex(caption)}}}" if caption else r"\caption{}") + (rf"\label{{{label}}}" if label else "") + r" \\"]
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
        lines.append(rf"\caption{{{_tex(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [r"\smallskip", *size, *tabular, r"\end{table}"]
    return "\n".join(lines) + "\n"


CAPTIONS = {
    "table1": "Hyperparameters tested",
    "table2": "Top-5 models by validation accuracy",
    "listing": "Every model: train and validation accuracy",
    "test": "The winner on the test set",
}
# The LaTeX captions, in plain words: no study ids; "{on}" is " on <dataset>" or nothing.
TEX_CAPTIONS = {
    "table1": "Hyperparameters tested{on}.",
    "table2": "Top {k} models by validation accuracy{on}.",
    "listing": "Every model trained{on}, with its training and validation accuracy, sorted by hyperparameters.",
    "test": "The model with the best validation accuracy, and its accuracy on the test set{of}.",
}
# Columns headed together in LaTeX: {table: {title: {column: sub-header}}}.
TEX_GROUPS = {"listing": {"Accuracy (%)": {"Train accuracy (%)": "Train", "Val accuracy (%)": "Validation"}}}
# Datasets in words, for captions; other datasets use their description up to the first " (".
DATASET_WORDS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "spiral": "the spiral data"}
_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def dataset_words(dataset):
    """The dataset's name in words (e.g. "Fashion-MNIST"), or None if unknown."""
    if not dataset:
        return None
    if dataset in DATASET_WORDS:
        return DATASET_WORDS[dataset]
    try:
        from ..data.sources import builtin_specs

        desc = builtin_specs().get(dataset, {}).get("description")
    except Exception:  # noqa: BLE001 - a caption is never worth a failure
        desc = None
    return desc.split(" (")[0].strip() if desc else None


def _dataset_of(test):
    """The dataset named by test.json's data file (``results/data/<dataset>/<recipe>.h5``), or None."""
    data_file = (test or {}).get("data_file")
    parts = Path(data_file).parts if data_file else ()
    return parts[-2] if len(parts) >= 3 and parts[-3] == "data" else None


def tex_caption(name, out, dataset=None):
    """The LaTeX caption of table ``name`` (``out``: its rows), in words, without ids."""
    words = dataset_words(dataset)
    on, of = (f" on {words}", f" of {words}") if words else ("", "")
    k = len(out)
    if name == "table2" and "Replicates" in out.columns:
        return (f"Top {_NUMBER_WORDS[k] if k < len(_NUMBER_WORDS) else k} models{on}: the points with the most "
                "replicates first, by their mean validation accuracy (mean ± standard deviation over the "
                "replicates), then the others by their single run.")
    if name == "test" and "Replicates" in out.columns:
        return (f"The model with the best mean validation accuracy over its replicates, and its accuracy on the test "
                f"set{of}: its single run, and the mean ± 95% confidence half-width over its replicates.")
    if name == "table2" and k < 5:
        if k == 0:
            return f"No model ranked by validation accuracy{on}: every model diverged."
        if k == 1:
            return f"The only model that did not diverge{on}, with its validation accuracy."
        return f"The {_NUMBER_WORDS[k]} models that did not diverge{on}, by validation accuracy."
    if name == "test" and list(out.columns) == ["Result"]:
        return f"No test-set result{on}: every model diverged."
    return TEX_CAPTIONS[name].format(on=on, of=of, k=_NUMBER_WORDS[k] if k < len(_NUMBER_WORDS) else str(k))


def write_tables(name, study, table_csv, axes, out_prefix, test_json=None, dataset=None):
    """Write ``<out_prefix>.csv``, ``.md`` and ``.tex`` of table ``name``.

    The LaTeX is labelled ``tab:<study>-<name>`` (see :func:`tex_label`);
    its caption names the dataset in words: ``dataset`` or, if not given,
    the one test.json's data file belongs to.
    """
    if name not in BUILDERS:
        raise InputError(f"unknown table {name!r}; tables are: {', '.join(TABLES)}")
    df = read_table(table_csv)
    test = json.loads(Path(test_json).read_text()) if test_json else None
    out = BUILDERS[name](df, list(axes), test=test)
    prefix = Path(out_prefix)
    with atomic_path(prefix.with_suffix(".csv")) as tmp:
        out.to_csv(tmp, index=False)
    write_text(prefix.with_suffix(".md"), f"**{study}: {CAPTIONS[name]}**\n\n" + to_markdown(out))
    dataset = dataset or _dataset_of(test)
    tex = to_latex(out, caption=tex_caption(name, out, dataset), label=f"tab:{study}-{name}", long=True if name == "listing" else None,
                   rules_before=(len(out) - 1,) if name == "table1" else (), groups=TEX_GROUPS.get(name), numeric=numeric_columns())
    write_text(prefix.with_suffix(".tex"), tex)
    return out
