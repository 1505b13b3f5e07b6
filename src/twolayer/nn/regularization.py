"""L2 regularisation with an explicit, named convention.

The sources disagree on the factor in front of the penalty:

* ``"half"``: ``0.5 * reg * sum(W**2)``, gradient ``reg * W`` (the CS231n
  case study, ``003_...``);
* ``"full"``: ``reg * sum(W**2)``, gradient ``2 * reg * W`` (the MNIST report
  ``002_...`` and the 2017 CS231n two-layer notebook, whose toy loss
  1.30378789133 assumes it).

``000_...`` computes the loss with ``half`` and the gradient with ``full``;
here the loss and its gradient always come from the same convention. Only
weight matrices are penalised, never biases.
"""

from __future__ import annotations

import numpy as np

L2_CONVENTIONS = {
    "half": 0.5,
    "full": 1.0,
}


def l2_coefficient(convention):
    """The factor ``c`` of the penalty ``c * reg * sum(W**2)`` (gradient ``2*c*reg*W``)."""
    try:
        return L2_CONVENTIONS[convention]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(L2_CONVENTIONS))
        raise ValueError(
            f"unknown L2 convention {convention!r}; valid conventions are: {valid}"
        ) from None


def l2_penalty(weights, reg, convention):
    """Penalty over the weight matrices in ``weights`` (an iterable of arrays)."""
    coef = l2_coefficient(convention)
    if reg == 0:
        return 0.0
    # vdot of the flattened matrix: one pass over W, no temporary of W's size.
    return coef * reg * sum(float(np.vdot(w.ravel(), w.ravel())) for w in weights)


def l2_grad_scale(reg, convention):
    """The factor ``k`` such that the penalty's gradient with respect to W is ``k * W``."""
    return 2.0 * l2_coefficient(convention) * reg
