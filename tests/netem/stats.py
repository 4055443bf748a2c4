"""Small statistics for link-fidelity assertions."""

import math


def wilson_interval(k: int, n: int, z: float = 3.29) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (z=3.29: 99.9% two-sided)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half
