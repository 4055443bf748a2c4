"""Exact small-sample statistics: binomial tails, Wilson intervals, Fisher's exact test."""

from __future__ import annotations

import math


def binom_pmf(k: int, n: int, p: float) -> float:
    return math.comb(n, k) * p**k * (1 - p) ** (n - k)


def binomial_acceptance(rate: tuple[float, float], n: int, alpha: float = 0.001) -> tuple[int, int]:
    """Counts of failures out of n consistent with a failure probability in [lo, hi] at level alpha:
    the smallest k_lo with P(X < k_lo | lo) <= alpha/2 ... and likewise above for hi."""
    lo_p, hi_p = rate
    k_lo, cum = 0, 0.0
    for k in range(n + 1):
        cum += binom_pmf(k, n, lo_p)
        if cum > alpha / 2:
            k_lo = k
            break
    k_hi, cum = n, 0.0
    for k in range(n, -1, -1):
        cum += binom_pmf(k, n, hi_p)
        if cum > alpha / 2:
            k_hi = k
            break
    return k_lo, k_hi


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p-value for the 2x2 table [[a, b], [c, d]] (failures, successes per group)."""
    n1, n2, k = a + b, c + d, a + c
    n = n1 + n2

    def p(x: int) -> float:
        return math.comb(n1, x) * math.comb(n2, k - x) / math.comb(n, k)

    observed = p(a)
    lo, hi = max(0, k - n2), min(k, n1)
    return min(1.0, sum(p(x) for x in range(lo, hi + 1) if p(x) <= observed * (1 + 1e-9)))


def fisher_one_sided(k1: int, n1: int, k2: int, n2: int) -> float:
    """P(group 1 has >= k1 failures | margins): small when group 1 fails more than group 2."""
    k, n = k1 + k2, n1 + n2
    if n1 == 0 or n2 == 0:
        return 1.0
    total = math.comb(n, k)
    return sum(math.comb(n1, x) * math.comb(n2, k - x) for x in range(k1, min(k, n1) + 1)) / total


def power_one_sided(n0: int, n1: int, p0: float, alpha: float, delta: float) -> float:
    """Power of the one-sided Fisher test to see group 1 (n1) fail more than group 0 (n0)
    when the true rates are p0 and p0 + delta (exact, by enumeration)."""
    if n0 == 0 or n1 == 0:
        return 0.0
    p0 = min(max(p0, 0.0), 1.0)
    p1 = min(p0 + delta, 1.0)
    power = 0.0
    for k1 in range(n1 + 1):
        w1 = binom_pmf(k1, n1, p1)
        if w1 < 1e-12:
            continue
        for k0 in range(n0 + 1):
            w0 = binom_pmf(k0, n0, p0)
            if w0 < 1e-12:
                continue
            if fisher_one_sided(k1, n1, k0, n0) < alpha:
                power += w1 * w0
    return power
