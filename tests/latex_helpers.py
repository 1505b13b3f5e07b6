"""Compile a generated table with a real pdflatex (Debian's texlive): the tests of every room that write LaTeX use it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest


def tex_packages(tex):
    first = tex.splitlines()[0]
    m = re.fullmatch(r"% requires \\usepackage\{([a-z,]+)\}", first)
    assert m, f"first line does not state the packages: {first!r}"
    return m.group(1).split(",")


def need_tool(tool):
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("TWOLAYER_REQUIRE_LATEX") == "1":
            pytest.fail(f"{tool} is not installed but TWOLAYER_REQUIRE_LATEX=1 "
                        "(apt-get install texlive-latex-base texlive-latex-recommended poppler-utils)")
        pytest.skip(f"{tool} is not installed (apt-get install texlive-latex-base texlive-latex-recommended); "
                    "set TWOLAYER_REQUIRE_LATEX=1 to make this a failure")
    return path


def compile_tex(tex_file, workdir):
    """Compile ``tex_file`` in a minimal article with the packages its first line names; the PDF's path."""
    pdflatex = need_tool("pdflatex")
    packages = ",".join(tex_packages(tex_file.read_text()))
    shutil.copyfile(tex_file, workdir / "table.tex")  # \input a plain name, whatever the tmp path holds
    doc = workdir / f"{tex_file.stem}-doc.tex"
    doc.write_text("\\documentclass{article}\n"
                   f"\\usepackage{{{packages}}}\n"
                   "\\begin{document}\n"
                   "\\input{table}\n"
                   f"See Table~\\ref{{{re.search(r'label{(.*?)}', tex_file.read_text()).group(1)}}}.\n"
                   "\\end{document}\n")
    for _ in range(2):  # twice, so the \ref resolves and longtable settles its widths
        proc = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", doc.name],
                              cwd=workdir, capture_output=True, text=True, errors="replace", timeout=600)
        log = (workdir / f"{doc.stem}.log").read_text(errors="replace") if (workdir / f"{doc.stem}.log").exists() else ""
        assert proc.returncode == 0, f"pdflatex failed on {tex_file.name}:\n{proc.stdout[-3000:]}"
    assert "Overfull \\hbox" not in log, f"{tex_file.name} is wider than the text:\n{log}"
    assert "undefined" not in log.lower(), log
    pdf = workdir / f"{doc.stem}.pdf"
    assert pdf.stat().st_size > 0
    return pdf
