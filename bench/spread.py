"""How sure a benchmark's median is: a bootstrap interval over its rounds (or pairs).

A VM shared with other jobs changes speed from second to second, so a figure alone says little:
these helpers give the interval a reader needs to tell a difference from that drift. Resampling
is seeded, so one set of samples always gives the same interval.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence

RESAMPLES = 2000


def bootstrap(
    estimate: Callable[[Sequence[int]], float],
    count: int,
    coverage: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """The ``coverage`` percentile interval of ``estimate`` over ``count`` samples drawn with
    replacement (``estimate`` gets the drawn indexes: paired samples stay paired)."""
    rng = random.Random(seed)
    values = sorted(
        estimate([rng.randrange(count) for _ in range(count)]) for _ in range(RESAMPLES)
    )
    tail = (1 - coverage) / 2
    return values[int(tail * (RESAMPLES - 1))], values[int((1 - tail) * (RESAMPLES - 1))]


def median_of(samples: Sequence[float], indexes: Sequence[int]) -> float:
    """The median of ``samples`` at ``indexes`` (one bootstrap draw)."""
    return statistics.median(samples[index] for index in indexes)


def quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """The first quartile, the median and the third quartile of ``samples``."""
    first, median, third = statistics.quantiles(samples, n=4)
    return first, median, third
