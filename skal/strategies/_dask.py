"""The executor of pools that are ``dask.array`` arrays: work runs where the blocks live.

A pool too large for one machine's memory, or spread over a cluster, is a
dask array chunked along its rows. :class:`DaskPool` runs a strategy's
per-row work on every block where it lives (the fitted model is one
``dask.delayed`` value every block depends on: serialised once, sent to
each worker once), and keeps the per-row values there, as lazy dask
arrays. Only reductions come back: a block's candidates for a top-n
(``O(n)`` values), its maximum or its sum of weights for a greedy step,
one row's factors per chosen centre (``O(d)``), and at most an ``O(n)``
vector of one value per row. Dask does the scheduling, data movement and
retries (a block lost with a worker is recomputed); nothing here is a
scheduler.

The draws themselves are made by the reductions of
:mod:`skal.strategies._ranking` and :mod:`skal.strategies._geometry`, the
same code that draws for a pool in memory, from the blocks' summaries: the
same ``random_state`` selects the same rows whether the pool is a NumPy
array or a dask array on a cluster (the Gumbel noise of power sampling is
a function of the row's position; k-means++ draws one uniform per pick).

Without a cluster, dask's local scheduler runs the same graphs in threads.
Strategies that need every row's vector in one place (a clustering of the
whole pool, a model trained on it) refuse a dask pool with a clear error
(:meth:`DaskPool.require_memory`).
"""

from __future__ import annotations

import numpy as np

from ._geometry import DistanceStore, FactoredPoints, _Centres, _LazyBounds
from ._memory import Coverage, Pool, coverage_dots, coverage_gains
from ._ranking import block_candidates, block_maximum, top_n
from ._rows import measure_rows

__all__ = ["DaskPool", "RUNS_ON_DASK"]

#: What runs where a dask pool's blocks live, for the message of the others.
RUNS_ON_DASK = (
    "random, the strategies that rank by a measure (entropy, margin, least_confident, bald, "
    "var_ratios, mean_std, the committee measures and the power_* variants), batch_bald "
    "with n_candidates, coreset, badge, cluster_margin (and auto once the labeled set is "
    "large), egl, emoc, information_density, suggestive_annotation, cal and learning_loss"
)


def _ship(value):
    import dask

    return dask.delayed(value, pure=True, traverse=False)


def _offsets(chunks):
    return np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)


def _start(block_info):
    return block_info[0]["array-location"][0][0]


class DaskPool(Pool):
    """A dask array pool: per-row values are lazy dask arrays computed where the blocks live."""

    in_memory = False

    def __init__(self, data, **facts):
        super().__init__(data, **facts)
        # chunked along rows only: every other axis in one chunk
        self.blocks = data.rechunk({axis: -1 for axis in range(1, data.ndim)})
        self.offsets = _offsets(self.blocks.chunks[0])

    # ----------------------------------------------------------------- rows
    def subset(self, positions):
        if positions is None:
            return self
        positions = np.asarray(positions, dtype=np.intp)
        return DaskPool(self.data[positions], name=self.name, kind="dask", n_rows=len(positions))

    def require_memory(self, strategy, reason):
        raise ValueError(
            f"{strategy} cannot run on a dask array pool: it {reason}, which would bring "
            "the pool's rows to this process. Pass X_pool.compute() (or a memory-mapped "
            "array) if the pool fits in memory, or use a strategy that runs where a dask "
            f"pool's blocks live: {RUNS_ON_DASK}."
        )

    # ------------------------------------------------------- per-row work
    def map_rows(self, func, model, *, chunk_size=None, vector=False, **kwargs):
        X = self.blocks
        shipped = _ship((model, kwargs))
        if vector:
            def apply(rows, shipped):
                model, kwargs = shipped
                return np.asarray(func(model, rows, **kwargs), dtype=np.float64)

            return X.map_blocks(apply, shipped=shipped, drop_axis=list(range(1, X.ndim)),
                                chunks=(X.chunks[0],), dtype=np.float64)
        # the structure of the result (arrays, widths, dtypes) from two rows
        probe = func(model, np.asarray(X[: min(2, self.n_rows)].compute()), **kwargs)
        single = not isinstance(probe, tuple)
        outputs = [np.asarray(p) for p in ((probe,) if single else probe)]
        widths = [1 if p.ndim == 1 else p.shape[1] for p in outputs]
        dtype = np.result_type(*[p.dtype for p in outputs])

        def apply(rows, shipped):
            model, kwargs = shipped
            out = func(model, rows, **kwargs)
            out = (out,) if single else out
            return np.concatenate([np.asarray(o, dtype=dtype).reshape(len(rows), -1) for o in out], axis=1)

        packed = X.map_blocks(apply, shipped=shipped, drop_axis=list(range(2, X.ndim)),
                              chunks=(X.chunks[0], (sum(widths),)), dtype=dtype)
        split, first = [], 0
        for p, width in zip(outputs, widths):
            part = packed[:, first] if p.ndim == 1 else packed[:, first : first + width]
            split.append(part if part.dtype == p.dtype else part.astype(p.dtype))
            first += width
        return split[0] if single else tuple(split)

    def map_values(self, func, *values, **shared):
        import dask
        import dask.array as da
        from dask.delayed import Delayed

        values = [v.rechunk({0: self.blocks.chunks[0], **{a: -1 for a in range(1, v.ndim)}})
                  for v in values]
        blocks = [v.to_delayed().reshape(len(self.blocks.chunks[0]), -1)[:, 0] for v in values]
        call = dask.delayed(func, pure=True)
        shared = {k: v if isinstance(v, Delayed) else _ship(v) for k, v in shared.items()}
        parts = [
            da.from_delayed(call(*[b[i] for b in blocks], **shared), shape=(int(size),), dtype=np.float64)
            for i, size in enumerate(self.blocks.chunks[0])
        ]
        return da.concatenate(parts)

    def map_blocks(self, func, values):
        def apply(block, block_info=None):
            return func(block, _start(block_info))

        return values.map_blocks(apply, dtype=np.float64)

    def rows_of(self, values, positions=None):
        import dask

        selected = values if positions is None else values[np.asarray(positions, dtype=np.intp)]
        return dask.delayed(np.asarray, pure=True)(selected)

    def gather(self, values, positions):
        return np.asarray(values[np.asarray(positions, dtype=np.intp)].compute())

    def scores(self, classifier, measure, *, chunk_size=None, predict_params=None, pooling=None):
        return self.map_rows(measure_rows, classifier, vector=True, measure=measure,
                             predict_params=predict_params or {}, pooling=pooling)

    # ---------------------------------------------------------- reductions
    def top_n(self, values, n, rng, *, payload=None):
        """:func:`~skal.strategies.top_n` of the union of every block's candidates.

        Each block returns every row at or above its own n-th largest key
        (ties included): ``O(n)`` values per block. Their union holds every
        row at or above the global cut-off; put in pool order, ``top_n``
        draws from it exactly as from the whole vector.
        """
        import dask.array as da

        columns = [values] if payload is None else [values, payload]
        stacked = da.stack(columns, axis=1).rechunk({1: -1})

        def candidates(block, block_info=None):
            keep = block_candidates(block[:, 0], n)
            return np.column_stack([_start(block_info) + keep, block[keep]])

        union = stacked.map_blocks(
            candidates, chunks=(tuple(np.nan for _ in stacked.chunks[0]), (1 + len(columns),)),
            dtype=np.float64,
        )
        union = np.asarray(union.compute())
        union = union[np.argsort(union[:, 0], kind="stable")]
        rows = union[top_n(union[:, 1], n, rng)]
        positions = rows[:, 0].astype(np.intp)
        if payload is None:
            return positions, rows[:, 1]
        return positions, rows[:, 1], rows[:, 2]

    def distances(self, factors, capacity, *, anchors=None, weights=None):
        if weights is not None:
            raise ValueError("weighted draws of a dask pool's rows are not supported.")
        return DaskDistances(factors, anchors=anchors)

    def coverage(self, reference):
        return DaskCoverage(reference)


class DaskCoverage(Coverage):
    """:class:`~skal.strategies._memory.Coverage` with the reference vectors on a worker.

    The reference is gathered once into one block where dask puts it;
    each step sends the candidates' vectors there and brings back one
    gain per candidate, or the ``O(n_reference)`` similarities of a pick.
    """

    def __init__(self, reference):
        import dask

        self.reference = dask.delayed(np.asarray, pure=True)(reference).persist()
        self.covered = np.zeros(reference.shape[0], dtype=np.float32)

    def gains(self, vectors):
        import dask

        return dask.delayed(coverage_gains)(self.reference, self.covered, vectors).compute()

    def cover(self, vector):
        import dask

        dots = dask.delayed(coverage_dots)(self.reference, vector).compute()
        self.covered = np.maximum(self.covered, dots)


# --------------------------------------------------------------------------- greedy
def _sq_dist_block(*factors_and_centre, n_factors):
    """Squared distances of a block's points to one centre (factors as in FactoredPoints)."""
    import torch

    factors, centre = factors_and_centre[:n_factors], factors_and_centre[n_factors:]
    points = FactoredPoints([np.asarray(f) for f in factors])
    vectors = [torch.as_tensor(np.asarray(c), dtype=torch.float32) for c in centre]
    sq_norm = torch.prod(torch.stack([v.square().sum() for v in vectors]))
    return (points.sq_norms + sq_norm - 2 * points.dots(vectors)).clamp_min_(0).numpy()


def _nearest_anchor_block(*factors_and_anchors, n_factors):
    import torch

    factors, anchors = factors_and_anchors[:n_factors], factors_and_anchors[n_factors:]
    points = FactoredPoints([np.asarray(f) for f in factors])
    centres = _Centres(points, len(anchors[0]))
    centres.add([torch.as_tensor(a) for a in anchors])
    lazy = _LazyBounds(points, centres)
    lazy.refresh()
    return lazy.bound.numpy()


def _sq_norm_block(*factors):
    return np.prod([np.square(np.asarray(f)).sum(1) for f in factors], axis=0).astype(np.float32)


def _mark_chosen(block, position, block_info=None):
    start = _start(block_info)
    if start <= position < start + len(block):
        block = block.copy()
        block[position - start] = -1.0
    return block


def _draw_weights(block):
    return np.where(block >= 0, block, 0).astype(np.float64)


def _block_sum(weights):
    return np.cumsum(weights)[-1] if len(weights) else 0.0


def _block_search(weights, target):
    return int(np.searchsorted(np.cumsum(weights), target, side="right"))


class DaskDistances(DistanceStore):
    """Squared distances to the nearest centre, one persisted vector per block where it lives.

    Every choice updates every block (``O(n_block · Σ d_f)`` on its
    worker); a step brings back the blocks' maxima (k-center) or sums
    (k-means++), and the chosen row's factors.
    """

    def __init__(self, factors, *, anchors=None):
        import dask.array as da

        chunks = factors[0].chunks[0]
        self.factors = [f.rechunk({0: chunks, 1: -1}) for f in factors]
        self.n = int(factors[0].shape[0])
        self.offsets = _offsets(chunks)
        self.d2 = None
        if anchors is not None and len(anchors[0]):
            anchors = [np.asarray(a, dtype=np.float32) for a in anchors]
            self.d2 = da.map_blocks(_nearest_anchor_block, *self.factors, *anchors,
                                    n_factors=len(self.factors), drop_axis=1,
                                    dtype=np.float32).persist()
        self.has_anchors = self.d2 is not None

    def _maxima(self, values):
        import dask

        blocks = values.to_delayed().ravel()
        return dask.compute(*[dask.delayed(block_maximum)(b, int(s))
                              for b, s in zip(blocks, self.offsets[:-1])])

    def norm_maxima(self):
        import dask.array as da

        return self._maxima(da.map_blocks(_sq_norm_block, *self.factors, drop_axis=1, dtype=np.float32))

    def farthest_maxima(self):
        return self._maxima(self.d2)

    def block_sums(self):
        import dask

        self._weights = self.d2.map_blocks(_draw_weights, dtype=np.float64).to_delayed().ravel()
        sums = dask.compute(*[dask.delayed(_block_sum)(b) for b in self._weights])
        return np.asarray(sums, dtype=np.float64), self.offsets

    def search(self, block, target):
        import dask

        return dask.compute(dask.delayed(_block_search)(self._weights[block], target))[0]

    def free_positions(self):
        return np.flatnonzero(np.asarray(self.d2.compute()) >= 0)

    def distance(self, u):
        return float(self.d2[u].compute()) if self.d2 is not None else np.inf

    def choose(self, u):
        import dask.array as da

        centre = [np.asarray(f[u].compute(), dtype=np.float32) for f in self.factors]
        to_centre = da.map_blocks(_sq_dist_block, *self.factors, *centre,
                                  n_factors=len(self.factors), drop_axis=1, dtype=np.float32)
        d2 = to_centre if self.d2 is None else da.minimum(self.d2, to_centre)
        self.d2 = d2.map_blocks(_mark_chosen, u, dtype=np.float32).persist()

    def covering_radius(self):
        return float(self.d2.max().compute())
