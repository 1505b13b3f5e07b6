"""How sure is the winner? Replicate noise in a grid study.

With replicates, each grid point is trained n times with different seeds, giving
n validation accuracies per point. This module turns them into statements about
the winner, following two papers:

* Bouthillier et al., "Accounting for Variance in Machine Learning Benchmarks"
  (MLSys 2021): the probability of improvement P(A > B) over pairs of replicates,
  with a percentile bootstrap interval; A is meaningfully better than B when
  P(A > B) >= 0.75 and the interval's lower bound is above 0.5.
* Dodge et al., "Show Your Work" (EMNLP 2019): the expected maximum validation
  accuracy of k hyperparameter trials drawn at random (with replacement) from
  the N trials that were run, as a function of k.

Everything here is pure and deterministic: randomness comes only from
``np.random.default_rng(seed)`` with a seed the caller passes (and records).
NaN values are diverged replicates or trials; every function drops them first.
A caller who wants a diverged trial to count as a (bad) trial passes 0.0 instead.
"""

from __future__ import annotations

import numpy as np

from ...errors import InputError


def _finite(values, what="values"):
    """1-D float array of the non-NaN entries of ``values``; at least one must remain."""
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        raise InputError(f"{what}: no finite value (all replicates diverged?)")
    return x


def _check_confidence(confidence):
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must be in (0, 1), got {confidence}")


def summarize(values, confidence=0.95):
    """Mean of replicates and its Student-t confidence interval.

    values: 1-D array of n replicate results (NaN = diverged, dropped first).
    Returns a dict: ``n`` (number of finite values), ``mean``, ``std`` (sample
    std, ddof=1; 0.0 when n == 1), ``ci_low``, ``ci_high`` = mean -/+
    t_{(1+confidence)/2, n-1} * std / sqrt(n). With n == 1 there is no estimate of
    the spread, so the interval is NaN (not the dishonest [mean, mean]). With no
    finite value at all, n is 0 and everything else is NaN.
    """
    # scipy is a dependency of the package; imported here to keep `import certainty` light
    from scipy.stats import t

    _check_confidence(confidence)
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return {"n": 0, "mean": np.nan, "std": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    mean = float(x.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": 0.0, "ci_low": np.nan, "ci_high": np.nan}
    std = float(x.std(ddof=1))
    half = float(t.ppf((1.0 + confidence) / 2.0, n - 1)) * std / np.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def _wins(a, b):
    """(len(a), len(b)) matrix W[i, j] = [a_i > b_j] + 0.5 [a_i == b_j]."""
    a, b = a[:, None], b[None, :]
    return (a > b) + 0.5 * (a == b)


def prob_improvement(a, b):
    """P(A > B): the fraction of replicate pairs (a_i, b_j) where a_i beats b_j.

    a, b: 1-D arrays of replicate results (NaN dropped). Ties count a half.
    Equals the Mann-Whitney U statistic of a against b over len(a) * len(b).
    Exact, over all pairs: memory len(a) * len(b).
    """
    return float(_wins(_finite(a, "a"), _finite(b, "b")).mean())


def prob_improvement_ci(a, b, n_boot=2000, confidence=0.95, seed=0):
    """P(A > B) and its percentile bootstrap interval: (p, low, high).

    Each bootstrap round resamples a and b independently, with replacement, and
    recomputes P(A > B); low and high are the (1 - confidence)/2 and
    (1 + confidence)/2 quantiles of the n_boot values. A resample is described by
    how many times it draws each value (a multinomial count vector c_a, c_b), so
    P* = c_a @ W @ c_b / (len(a) len(b)) with W the pairwise win matrix: all
    rounds at once, memory n_boot * (len(a) + len(b)).

    seed: an int or np.random.SeedSequence for np.random.default_rng.
    With very few replicates the interval is too narrow (one replicate each: it
    collapses to p); read it together with n.
    """
    _check_confidence(confidence)
    a, b = _finite(a, "a"), _finite(b, "b")
    w = _wins(a, b)
    rng = np.random.default_rng(seed)
    ca = rng.multinomial(a.size, np.full(a.size, 1.0 / a.size), size=n_boot)  # (n_boot, len(a))
    cb = rng.multinomial(b.size, np.full(b.size, 1.0 / b.size), size=n_boot)  # (n_boot, len(b))
    p_star = np.einsum("ri,ij,rj->r", ca, w, cb) / (a.size * b.size)  # (n_boot,)
    low, high = np.quantile(p_star, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    return float(w.mean()), float(low), float(high)


def winner_certainty(groups, winner, threshold=0.75, n_boot=2000, seed=0, confidence=0.95):
    """Compare the winner with every other grid point.

    groups: dict point id -> 1-D array of replicate validation accuracies (NaN =
    diverged, dropped; every point needs at least one finite value).
    winner: a key of groups.

    Returns one dict per other point, sorted by mean descending (ties: point id):
    ``point``, ``n``, ``mean``, ``p_better`` = P(winner > point), ``p_low``,
    ``p_high`` (its bootstrap interval) and ``distinguishable``.

    Rule (Bouthillier et al. 2021): the winner is meaningfully better than B when
    P(winner > B) >= threshold (0.75) AND the interval's lower bound is > 0.5.
    Every other point is "indistinguishable from the winner". A point is also
    indistinguishable when it or the winner has a single finite replicate:
    one pair says nothing about seed noise.

    Each comparison has its own generator, SeedSequence(seed).spawn(len(groups))[i]
    with i the point's index in sorted point-id order, so results do not depend
    on the dict's insertion order.
    """
    if winner not in groups:
        raise InputError(f"winner {winner!r} is not one of the grid points")
    ids = sorted(groups)
    children = np.random.SeedSequence(seed).spawn(len(ids))
    best = _finite(groups[winner], f"point {winner!r}")
    rows = []
    for i, point in enumerate(ids):
        if point == winner:
            continue
        other = _finite(groups[point], f"point {point!r}")
        p, low, high = prob_improvement_ci(best, other, n_boot=n_boot, confidence=confidence, seed=children[i])
        enough = best.size >= 2 and other.size >= 2
        rows.append({"point": point, "n": int(other.size), "mean": float(other.mean()),
                     "p_better": p, "p_low": low, "p_high": high,
                     "distinguishable": bool(enough and p >= threshold and low > 0.5)})
    return sorted(rows, key=lambda r: -r["mean"])  # stable: equal means stay in point-id order


def _max_weights(n, k):
    """(len(k), n) probabilities that the i-th smallest of n values is the max of k draws.

    (i/n)^k - ((i-1)/n)^k, i = 1..n: P(max rank <= i) - P(max rank <= i - 1).
    """
    k = np.asarray(k)
    if np.any(k < 1) or not np.all(k == np.round(k)):
        raise InputError(f"k must be whole numbers >= 1, got {k}")
    cdf = (np.arange(n + 1) / n)[None, :] ** k.reshape(-1, 1).astype(float)  # (len(k), n + 1)
    return np.diff(cdf, axis=1)


def _max_moments(values, k):
    v = np.sort(_finite(values))
    w = _max_weights(v.size, k)
    m1, m2 = w @ v, w @ v**2
    std = np.sqrt(np.maximum(m2 - m1**2, 0.0))
    if np.ndim(k) == 0:
        return float(m1[0]), float(std[0])
    return m1.reshape(np.shape(k)), std.reshape(np.shape(k))


def expected_max(values, k):
    """Expected maximum of k trials drawn at random (Dodge et al. 2019).

    values: the N trials' validation accuracies (NaN = diverged, dropped).
    k: an int or array of ints >= 1.
    The k draws are i.i.d. from the empirical distribution of the N values (with
    replacement, as in the paper): with v sorted ascending,
    E[max] = sum_i v_i ((i/N)^k - ((i-1)/N)^k). Ties need no special case.
    k = 1 gives the mean; as k grows it tends to max(values).
    Returns a float for an int k, an array shaped like k otherwise.
    """
    return _max_moments(values, k)[0]


def expected_max_std(values, k):
    """Standard deviation of that maximum, sqrt(E[max^2] - E[max]^2); same arguments."""
    return _max_moments(values, k)[1]


def expected_max_curve(values):
    """The curve Dodge et al. plot: dict of arrays ``k`` = 1..N, ``mean``, ``std``."""
    k = np.arange(1, _finite(values).size + 1)
    mean, std = _max_moments(values, k)
    return {"k": k, "mean": mean, "std": std}
