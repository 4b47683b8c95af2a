"""The reductions that turn per-row values into picks, each written once.

Every reduction here works on *blocks*: a pool held in memory is one
block, a pool spread over dask workers is many, and the executors
(:mod:`skal.strategies._memory`, :mod:`skal.strategies._dask`) only
bring each block's summary back (its candidates for a top-n, its maximum
and the positions that reach it, its sum of weights). The draw itself is
made here, from those summaries, through the same ``random_state`` calls
whatever the number of blocks: a pool selects the same rows in memory and
on a cluster.

* :func:`top_n`: the ``n`` largest values, ties at the cut-off drawn at
  random. A block's candidates (every row at or above its own n-th
  largest value) contain every row at or above the global cut-off, so
  ``top_n`` of their union, in pool order, draws as on the whole vector.
* Power sampling: Gumbel-top-k keys (:func:`power_keys`) whose noise is a
  function of the row's position (:func:`gumbel_noise`), then ``top_n``.
* :func:`random_argmax`: the position of the largest value, ties drawn
  among all the positions that reach it (in pool order).
* :func:`draw_by_weight`: one position drawn with probability proportional
  to a weight, by inverse CDF with one uniform, block sums first.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "check_non_negative",
    "draw_by_weight",
    "gumbel_noise",
    "power_keys",
    "power_seed",
    "random_argmax",
    "top_n",
]


def top_n(scores, n, random_state):
    """Positions of the ``n`` highest scores, best first, ties broken at random.

    O(N) selection (``np.partition``) followed by a sort of the n winners;
    points tied at the cut-off are drawn at random, and ties among the
    winners are ordered at random, all through ``random_state``.

    Parameters
    ----------
    scores : array-like of shape (n_pool,)
        Higher is better.
    n : int
        How many positions to return, ``n <= len(scores)``.
    random_state : int, RandomState instance or None
        Breaks ties.

    Returns
    -------
    idx : ndarray of shape (n,), intp

    Examples
    --------
    >>> import numpy as np
    >>> from skal.strategies import top_n
    >>> top_n(np.array([0.1, 0.9, 0.5]), 2, 0)
    array([1, 2])
    """
    rng = check_random_state(random_state)
    scores = np.asarray(scores)
    N = len(scores)
    if n < N:
        kth = np.partition(scores, N - n)[N - n]
        above = np.flatnonzero(scores > kth)
        tied = np.flatnonzero(scores == kth)
        need = n - len(above)
        if need < len(tied):
            tied = rng.choice(tied, need, replace=False)
        idx = np.concatenate([above, tied])
    else:
        idx = np.arange(N)
    idx = idx[rng.permutation(len(idx))]
    return idx[np.argsort(-scores[idx], kind="stable")]


def block_candidates(keys, n):
    """Positions (in the block) of every key at or above the block's n-th largest, ties kept.

    The union of every block's candidates holds every row at or above the
    whole vector's cut-off: what :func:`top_n` of a blockwise vector
    gathers before it draws.
    """
    keep = np.arange(len(keys))
    if len(keys) > n:
        cut = np.partition(keys, len(keys) - n)[len(keys) - n]
        keep = np.flatnonzero(keys >= cut)
    return keep


def check_non_negative(scores):
    """Power sampling draws in proportion to the scores: they must not be negative."""
    if (np.asarray(scores) < 0).any():
        raise ValueError(
            "power sampling needs non-negative scores; shift the measure (margin sampling "
            "uses 1 - (p1 - p2)) or use top_n."
        )
    return scores


def power_seed(rng):
    """The one seed of a power-sampled draw's Gumbel noise, drawn from ``rng``."""
    return int(rng.randint(np.iinfo(np.int32).max))


def power_keys(scores, power, seed, start):
    """Gumbel-top-k keys ``power · log s + G`` of the scores at positions ``start, start + 1, ...``."""
    with np.errstate(divide="ignore"):
        keys = power * np.log(scores)
    return keys + gumbel_noise(seed, start, start + len(scores))


#: Positions whose Gumbel noise comes from one seeded stream.
_NOISE_BLOCK = 2**16


def gumbel_noise(seed, start, stop):
    """Standard Gumbel noise of positions ``start..stop-1``, a function of ``(seed, position)``.

    Positions are grouped in fixed blocks of 65,536, each drawn from its own
    stream ``SeedSequence([seed, block])``: any range of positions gets the
    same values however the pool is split.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.strategies._base import gumbel_noise
    >>> whole = gumbel_noise(7, 0, 100_000)
    >>> np.array_equal(whole[70_000:70_010], gumbel_noise(7, 70_000, 70_010))
    True
    """
    out = np.empty(max(0, stop - start))
    for block in range(start // _NOISE_BLOCK, -(-stop // _NOISE_BLOCK)):
        first = block * _NOISE_BLOCK
        rng = np.random.default_rng(np.random.SeedSequence([seed, block]))
        noise = rng.gumbel(size=_NOISE_BLOCK)
        a, b = max(start, first), min(stop, first + _NOISE_BLOCK)
        out[a - start : b - start] = noise[a - first : b - first]
    return out


def block_maximum(values, start=0):
    """``(max, positions of every value at that max)`` of one block (positions in the pool)."""
    values = np.asarray(values)
    if not len(values):
        return -np.inf, np.empty(0, dtype=np.intp)
    top = values.max()
    return top, start + np.flatnonzero(values == top)


def random_argmax(maxima, rng):
    """Position of the largest value, from each block's :func:`block_maximum`.

    Ties are drawn through ``rng`` among every position at the maximum, in
    pool order (no draw when there is one).
    """
    maxima = [(top, positions) for top, positions in maxima if len(positions)]
    top = max(value for value, _ in maxima)
    ties = np.sort(np.concatenate([p for value, p in maxima if value == top])).astype(np.intp)
    return int(ties[rng.randint(len(ties))]) if len(ties) > 1 else int(ties[0])


def draw_by_weight(weights, rng):
    """A position drawn with probability proportional to its weight, by inverse CDF.

    ``weights`` is the executor's view of a weight vector split in blocks
    (a :class:`~skal.strategies._geometry.DistanceStore`): ``block_sums()``
    (and the offsets of the blocks), ``search(k, t)`` the first position of
    block ``k`` whose running sum exceeds ``t``, and ``free_positions()``
    (positions that may still be drawn, for when every weight is zero: one
    of them is drawn uniformly). One uniform per draw, whatever the blocks.
    """
    sums, offsets = weights.block_sums()
    u = rng.random_sample()
    if sums.sum() <= 0:
        free = weights.free_positions()
        return int(free[int(u * len(free))])
    cdf = np.cumsum(sums)
    target = u * cdf[-1]
    k = min(int(np.searchsorted(cdf, target, side="right")), len(sums) - 1)
    local = weights.search(k, target - (cdf[k - 1] if k else 0.0))
    return int(offsets[k] + min(local, offsets[k + 1] - offsets[k] - 1))
