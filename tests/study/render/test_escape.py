"""Markdown and LaTeX escape what they must.
"""

import pandas as pd

from twolayer.study.render.latex import to_latex
from twolayer.study.render.markdown import to_markdown


def test_markdown_and_latex_escape():
    df = pd.DataFrame({"a|b": ["x_y", "50%"]})
    assert to_markdown(df).splitlines()[0] == "| a|b |"
    assert "x\\_y" in to_latex(df) and "50\\%" in to_latex(df)
