"""twolayer.study.analysis.statistics, checked against independent computations on hand-made inputs."""

import itertools
import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from twolayer.errors import InputError
from twolayer.study.analysis.statistics import (
    expected_max,
    expected_max_curve,
    expected_max_std,
    prob_improvement,
    prob_improvement_ci,
    summarize,
    winner_certainty,
)

# --- summarize ---------------------------------------------------------------

ACC5 = [0.81, 0.84, 0.79, 0.86, 0.83]


def test_summarize_mean_std_match_numpy():
    s = summarize(ACC5)
    assert s["n"] == 5
    assert s["mean"] == pytest.approx(np.mean(ACC5))
    assert s["std"] == pytest.approx(np.std(ACC5, ddof=1))


@pytest.mark.parametrize("confidence, t_table", [(0.95, 2.776445), (0.90, 2.131847)])
def test_summarize_interval_is_student_t_from_a_table(confidence, t_table):
    # t quantiles for 4 degrees of freedom, typed in from a table
    mean = sum(ACC5) / 5
    s = math.sqrt(sum((x - mean) ** 2 for x in ACC5) / 4)
    half = t_table * s / math.sqrt(5)
    got = summarize(ACC5, confidence=confidence)
    assert got["ci_low"] == pytest.approx(mean - half, rel=1e-6)
    assert got["ci_high"] == pytest.approx(mean + half, rel=1e-6)


def test_summarize_single_value_has_no_interval():
    s = summarize([0.8])
    assert (s["n"], s["mean"], s["std"]) == (1, 0.8, 0.0)
    assert math.isnan(s["ci_low"]) and math.isnan(s["ci_high"])


def test_summarize_drops_nan():
    s = summarize([0.8, float("nan"), 0.9])
    assert s["n"] == 2
    assert s["mean"] == pytest.approx(0.85)
    half = 12.706205 * math.sqrt(0.005) / math.sqrt(2)  # t_{0.975, 1}; s^2 = (0.05^2 * 2) / 1
    assert s["ci_high"] == pytest.approx(0.85 + half, rel=1e-6)


def test_summarize_all_nan():
    s = summarize([float("nan")] * 3)
    assert s["n"] == 0 and math.isnan(s["mean"])


def test_summarize_rejects_bad_confidence():
    with pytest.raises(InputError):
        summarize(ACC5, confidence=1.5)


# --- prob_improvement --------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([3, 4], [1, 2], 1.0),
        ([1, 2], [3, 4], 0.0),
        ([1, 2, 3], [1, 2, 3], 0.5),  # 3 wins, 3 ties, 3 losses out of 9
        ([1, 3], [2], 0.5),
        ([1, 2, 2], [2, 3], 1 / 6),  # only the two (2, 2) ties count, a half each
        ([2, 2, 5], [1, 2], 5 / 6),  # 4 wins + 2 ties of 6 pairs
        ([3, float("nan"), 4], [1, 2], 1.0),  # diverged replicate dropped
    ],
)
def test_prob_improvement_by_hand(a, b, expected):
    assert prob_improvement(a, b) == pytest.approx(expected)


def test_prob_improvement_is_mann_whitney_u():
    rng = np.random.default_rng(3)
    for na, nb in [(5, 5), (7, 3), (20, 31)]:
        a = np.round(rng.normal(0.3, 1.0, na), 1)  # rounded: ties happen
        b = np.round(rng.normal(0.0, 1.0, nb), 1)
        u = mannwhitneyu(a, b).statistic
        assert prob_improvement(a, b) == pytest.approx(u / (na * nb))


def test_prob_improvement_needs_a_finite_value():
    with pytest.raises(InputError):
        prob_improvement([float("nan")], [1.0])


# --- prob_improvement_ci -----------------------------------------------------


def noisy(n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(0.5, 1.0, n), rng.normal(0.0, 1.0, n)


def test_ci_contains_p():
    a, b = noisy(30)
    p, low, high = prob_improvement_ci(a, b)
    assert p == prob_improvement(a, b)
    assert 0.0 <= low <= p <= high <= 1.0


def test_ci_shrinks_with_more_replicates():
    _, low_small, high_small = prob_improvement_ci(*noisy(8))
    _, low_big, high_big = prob_improvement_ci(*noisy(200))
    assert high_big - low_big < 0.5 * (high_small - low_small)


def test_ci_is_one_point_when_a_always_wins():
    assert prob_improvement_ci([5, 6, 7], [1, 2, 3, 4]) == (1.0, 1.0, 1.0)


def test_ci_reproducible_and_seeded():
    a, b = noisy(10)
    assert prob_improvement_ci(a, b, seed=7) == prob_improvement_ci(a, b, seed=7)
    assert prob_improvement_ci(a, b, seed=7)[1:] != prob_improvement_ci(a, b, seed=8)[1:]


def test_ci_agrees_with_a_literal_resampling_bootstrap():
    # resample the values themselves, one round at a time: an independent implementation
    a, b = noisy(10, seed=4)
    rng = np.random.default_rng(123)
    stats = []
    for _ in range(3000):
        ra, rb = rng.choice(a, a.size), rng.choice(b, b.size)
        stats.append(sum((x > y) + 0.5 * (x == y) for x in ra for y in rb) / (a.size * b.size))
    _, low, high = prob_improvement_ci(a, b, n_boot=4000)
    assert low == pytest.approx(np.quantile(stats, 0.025), abs=0.03)
    assert high == pytest.approx(np.quantile(stats, 0.975), abs=0.03)


# --- expected_max (Dodge et al.) ---------------------------------------------


def brute_force_max(values, k):
    """Mean and std of max over all N^k equally likely ordered k-tuples."""
    maxima = [max(t) for t in itertools.product(values, repeat=k)]
    return np.mean(maxima), np.std(maxima)


@pytest.mark.parametrize("values", [[0.2, 0.5, 0.5, 0.9], [0.61, 0.7, 0.55, 0.7, 0.64]])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_expected_max_equals_enumeration(values, k):
    mean, std = brute_force_max(values, k)
    assert expected_max(values, k) == pytest.approx(mean)
    assert expected_max_std(values, k) == pytest.approx(std)


def test_expected_max_by_hand():
    # two values 0 and 1, k = 2: the max is 1 unless both draws are 0 (probability 1/4)
    assert expected_max([0.0, 1.0], 2) == pytest.approx(0.75)
    assert expected_max_std([0.0, 1.0], 2) == pytest.approx(math.sqrt(3 / 16))


def test_expected_max_limits():
    values = [0.2, 0.5, 0.5, 0.9]
    assert expected_max(values, 1) == pytest.approx(np.mean(values))
    assert expected_max_std(values, 1) == pytest.approx(np.std(values))
    assert expected_max(values, 200) == pytest.approx(0.9, abs=1e-12)
    assert expected_max_std(values, 200) == pytest.approx(0.0, abs=1e-6)


def test_expected_max_array_k_and_nan():
    values = [0.2, float("nan"), 0.5, 0.5, 0.9]
    got = expected_max(values, np.array([1, 2, 3]))
    assert isinstance(got, np.ndarray) and got.shape == (3,)
    for k, g in zip([1, 2, 3], got):
        assert g == pytest.approx(brute_force_max([0.2, 0.5, 0.5, 0.9], k)[0])
    assert np.all(np.diff(got) >= 0)


def test_expected_max_curve():
    values = [0.61, 0.7, 0.55, 0.7, 0.64]
    curve = expected_max_curve(values)
    assert curve["k"].tolist() == [1, 2, 3, 4, 5]
    for k, m, s in zip(curve["k"], curve["mean"], curve["std"]):
        if k <= 3:
            assert (m, s) == pytest.approx(brute_force_max(values, int(k)))
    assert curve["mean"][0] == pytest.approx(np.mean(values))


def test_expected_max_rejects_bad_k():
    with pytest.raises(InputError):
        expected_max([0.1, 0.2], 0)
    with pytest.raises(InputError):
        expected_max([0.1, 0.2], 1.5)


# --- winner_certainty --------------------------------------------------------

GROUPS = {
    "win": [0.90, 0.91, 0.89, 0.92, 0.90],
    "close": [0.90, 0.89, 0.91, 0.88, 0.905],  # overlaps the winner: P = 16/25 by hand
    "bad": [0.70, 0.72, 0.71, 0.69, 0.73],  # below every winner replicate
}


def test_winner_certainty_hand_made():
    rows = winner_certainty(GROUPS, "win")
    assert [r["point"] for r in rows] == ["close", "bad"]  # by mean, descending
    close, bad = rows
    assert close["p_better"] == pytest.approx(16 / 25)
    assert close["mean"] == pytest.approx(np.mean(GROUPS["close"]))
    assert close["p_low"] <= 0.64 <= close["p_high"]
    assert not close["distinguishable"]
    assert (bad["p_better"], bad["p_low"], bad["p_high"]) == (1.0, 1.0, 1.0)
    assert bad["distinguishable"]
    assert bad["n"] == 5


def test_winner_certainty_ignores_dict_order():
    reordered = {k: GROUPS[k] for k in reversed(list(GROUPS))}
    assert winner_certainty(reordered, "win", seed=5) == winner_certainty(GROUPS, "win", seed=5)


def test_winner_certainty_threshold():
    # P = 0.64 is below 0.75 but above 0.6: a lower threshold alone is not enough
    # unless the interval also clears 0.5
    row = winner_certainty(GROUPS, "win", threshold=0.6)[0]
    assert row["distinguishable"] == (row["p_low"] > 0.5)


def test_winner_certainty_single_replicates_are_not_distinguishable():
    rows = winner_certainty({"w": [0.9], "x": [0.5]}, "w")
    assert rows[0]["p_better"] == 1.0 and not rows[0]["distinguishable"]


def test_winner_certainty_unknown_winner():
    with pytest.raises(InputError):
        winner_certainty(GROUPS, "nope")
