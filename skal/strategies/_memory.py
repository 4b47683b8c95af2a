"""The pool a strategy works on, and the executor of a pool held by this process.

A strategy wraps its ``X_pool`` once, at its boundary
(:func:`skal.strategies._pool.as_pool`), in a :class:`Pool`: the
container's kind and length are known from then on, and the pool executes
the strategy's work. A strategy says *what* to compute per row (a function
of a batch of rows, :mod:`skal.strategies._rows`) and *which reduction*
turns the values into picks (top-n, power sampling, greedy centres,
max-cover); the pool runs both where its rows are:

* :class:`MemoryPool` (this module): arrays, memmaps, sparse matrices,
  frames, tensors, lists and ``torch.utils.data.Dataset`` pools, read
  chunk by chunk by this process; per-row values are NumPy arrays;
* :class:`~skal.strategies._dask.DaskPool`: dask arrays, computed block by
  block where the blocks live; per-row values stay there as lazy arrays.

The values a pool returns are only ever handed back to the same pool
(``pool.top_n(values, ...)``), so a strategy never looks at where they
live. Every reduction is written once (:mod:`skal.strategies._ranking`,
:mod:`skal.strategies._geometry`) over the blocks an executor provides.
"""

from __future__ import annotations

import numpy as np

from .._containers import Rows
from ._geometry import FactoredPoints, LazyDistances, select_centers
from ._ranking import check_non_negative, power_keys, power_seed, top_n
from ._rows import iter_proba_samples, measure_samples

__all__ = ["Coverage", "MemoryPool", "Pool", "coverage_dots", "coverage_gains"]


class Pool(Rows):
    """A validated pool: its rows (kind and length known once) and the executor of a query.

    Subclasses run per-row work and reductions where the rows live; what
    is common (the composition of reductions) is written here once.
    """

    #: Whether the rows live in this process (every kind but dask arrays).
    in_memory = True

    # ----------------------------------------------------------------- rows
    def subset(self, positions):
        """The pool of the rows at ``positions`` (in that order)."""
        raise NotImplementedError

    def require_memory(self, strategy, reason):
        """Raise a clear error when ``strategy`` cannot run where these rows live."""

    # ------------------------------------------------------- per-row work
    def map_rows(self, func, model, *, chunk_size=None, vector=False, **kwargs):
        """``func(model, rows, **kwargs)`` over every row: one value or vector per row.

        ``func`` returns an array of ``len(rows)`` values or vectors, or a
        tuple of such arrays; the result has the same structure, over the
        whole pool. ``chunk_size`` is how many rows a pool in memory passes
        at once (None: all of them); ``vector`` says that ``func`` returns
        one float per row (an executor then needs no probe of its output).
        """
        raise NotImplementedError

    def map_values(self, func, *values, **shared):
        """``func(*blocks, **shared)``: one value per row from per-row values of this pool.

        ``values`` are what :meth:`map_rows` returned (rows aligned);
        ``shared`` are passed whole to every call (a :meth:`rows_of`
        selection of per-row values stays where it lives).
        """
        raise NotImplementedError

    def rows_of(self, values, positions=None):
        """The per-row ``values`` at ``positions`` (all when None), to be shared by :meth:`map_values`."""
        raise NotImplementedError

    def gather(self, values, positions):
        """The per-row ``values`` at ``positions`` (few), as NumPy arrays here."""
        raise NotImplementedError

    def scores(self, classifier, measure, *, chunk_size=None, predict_params=None, pooling=None):
        """``measure`` of every row's predictive samples: one float64 score per row."""
        raise NotImplementedError

    # ---------------------------------------------------------- reductions
    def top_n(self, values, n, rng, *, payload=None):
        """:func:`~skal.strategies.top_n` of per-row values: ``(positions, values[positions])``.

        With ``payload`` (other per-row values), ``payload[positions]`` too.
        """
        raise NotImplementedError

    def power_sample(self, values, n, power, rng):
        """:func:`~skal.strategies.power_sample` of per-row values: ``(positions, values[positions])``."""
        seed = power_seed(rng)

        def keys(block, start):
            return power_keys(check_non_negative(block), power, seed, start)

        positions, _, picked = self.top_n(self.map_blocks(keys, values), n, rng, payload=values)
        return positions, picked

    def select(self, values, n, rng, power=None):
        """The top ``n`` values, or ``n`` drawn by :meth:`power_sample` when ``power`` is a number."""
        if power is None:
            return self.top_n(values, n, rng)
        return self.power_sample(values, n, power, rng)

    def map_blocks(self, func, values):
        """``func(block, start)`` on a per-row vector, block by block (``start``: the block's first row)."""
        raise NotImplementedError

    def distances(self, factors, capacity, *, anchors=None, weights=None):
        """The :class:`~skal.strategies._geometry.DistanceStore` of per-row factors."""
        raise NotImplementedError

    def greedy_centers(self, factors, n_select, *, rule="farthest", anchors=None, first="random",
                       weights=None, random_state=None, progress=None):
        """:func:`~skal.strategies._geometry.greedy_centers` of per-row factors, where they live."""
        store = self.distances(factors, n_select, anchors=anchors, weights=weights)
        return select_centers(store, n_select, rule=rule, first=first, weights=weights,
                              random_state=random_state, progress=progress)

    def coverage(self, reference):
        """The :class:`Coverage` of the (normalised) per-row vectors ``reference`` (all rows)."""
        raise NotImplementedError


def coverage_gains(reference, covered, vectors):
    """What each of ``vectors`` (rows) would add to the coverage of ``reference``."""
    return np.maximum(vectors @ reference.T - covered, 0).sum(axis=1)


def coverage_dots(reference, vector):
    """The similarities ``<vector, r_j>`` of one vector to every reference vector."""
    return vector @ reference.T


class Coverage:
    """How well chosen vectors cover reference vectors: ``Σ_j max(0, max_i <c_i, r_j>)``.

    Suggestive annotation's max-cover, kept where the reference vectors
    are. In memory, ``reference`` is an array here.
    """

    def __init__(self, reference):
        self.reference = reference
        self.covered = np.zeros(len(reference), dtype=np.float32)

    def gains(self, vectors):
        """What each of ``vectors`` (rows) would add to the coverage."""
        return coverage_gains(self.reference, self.covered, vectors)

    def cover(self, vector):
        """Add ``vector`` to the chosen ones."""
        self.covered = np.maximum(self.covered, coverage_dots(self.reference, vector))


class MemoryPool(Pool):
    """A pool read by this process, chunk by chunk; per-row values are NumPy arrays.

    Arrays (memmaps included), sparse matrices, frames, tensors, lists and
    ``torch.utils.data.Dataset`` pools (read through DataLoader workers).
    """

    def subset(self, positions):
        if positions is None:
            return self
        return MemoryPool(self.take(positions), name=self.name)

    def map_rows(self, func, model, *, chunk_size=None, vector=False, **kwargs):
        if chunk_size is None:
            return func(model, self.whole(), **kwargs)
        parts = [func(model, rows, **kwargs) for _, _, rows in self.chunks(chunk_size)]
        if isinstance(parts[0], tuple):
            return tuple(np.concatenate(column) for column in zip(*parts))
        return np.concatenate(parts)

    def map_values(self, func, *values, **shared):
        return func(*values, **shared)

    def map_blocks(self, func, values):
        return func(values, 0)

    def rows_of(self, values, positions=None):
        return values if positions is None else values[positions]

    def gather(self, values, positions):
        return values[positions]

    def scores(self, classifier, measure, *, chunk_size=None, predict_params=None, pooling=None):
        scores = np.empty(self.n_rows, dtype=np.float64)
        for start, stop, P in iter_proba_samples(
            classifier, self, chunk_size=chunk_size, predict_params=predict_params, pixel_maps=True
        ):
            scores[start:stop] = measure_samples(classifier, measure, P, pooling)
        return scores

    def top_n(self, values, n, rng, *, payload=None):
        idx = top_n(values, n, rng)
        if payload is None:
            return idx, values[idx]
        return idx, values[idx], payload[idx]

    def distances(self, factors, capacity, *, anchors=None, weights=None):
        return LazyDistances(FactoredPoints(factors), capacity, anchors=anchors, weights=weights)

    def coverage(self, reference):
        return Coverage(reference)

