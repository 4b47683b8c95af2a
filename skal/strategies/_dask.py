"""Pools that are ``dask.array`` arrays: scored where their chunks live.

A pool too large for one machine's memory, or spread over a cluster, is a
dask array chunked along its rows. The fitted model is shipped to the
workers once (a ``dask.delayed`` value every block depends on), each block
turns its rows into scores (and, for diversity strategies, embeddings that
stay on the workers), and only reductions come back: the candidates of a
top-n (``O(b)`` values), one row's embedding per greedy step (``O(d)``).
Dask does the scheduling, data movement and retries (a block lost with a
worker is recomputed); nothing here is a scheduler.

Every reduction reproduces its in-memory twin, so the same
``random_state`` selects the same rows whether the pool is a NumPy array
or a dask array on a cluster:

* top-n: each block returns every row at or above its own n-th largest
  score (ties included), which contains every row at or above the global
  cut-off; :func:`~skal.strategies.top_n` on that union, in pool order,
  draws exactly as on the whole array;
* power sampling: the Gumbel noise of a row is a function of its position
  (:func:`~skal.strategies._base.gumbel_noise`);
* k-center greedy and k-means++: one running squared-distance vector per
  block; each step brings back the block maxima, or block sums for the
  inverse-CDF draw of k-means++ (one uniform per pick, as in memory).

Without a cluster, dask's local scheduler runs the same graphs in threads.
"""

from __future__ import annotations

import numpy as np

from .._containers import is_dask
from ._base import _non_finite, power_keys, top_n

__all__ = ["dask_rows", "dask_select", "dask_top_n", "is_dask", "map_rows", "score_rows"]


def dask_rows(X):
    """``X`` chunked along its rows only (every other axis in one chunk)."""
    return X.rechunk({axis: -1 for axis in range(1, X.ndim)})


def _offsets(X):
    return np.concatenate([[0], np.cumsum(X.chunks[0])])


def _ship(model):
    import dask

    return dask.delayed(model, pure=True, traverse=False)


def map_rows(X, func, model, *, columns=None, dtype=np.float64, **kwargs):
    """``func(model, rows, **kwargs)`` on every block of rows, where the block lives.

    Returns a lazy dask array of shape ``(n,)``, or ``(n, columns)``. The
    model is one ``dask.delayed`` value that every block depends on: it is
    serialised once and sent to each worker once.
    """
    X = dask_rows(X)

    def apply(rows, model):
        return func(model, rows, **kwargs)

    if columns is None:
        return X.map_blocks(
            apply, model=_ship(model), drop_axis=list(range(1, X.ndim)),
            chunks=(X.chunks[0],), dtype=dtype,
        )
    return X.map_blocks(
        apply, model=_ship(model), drop_axis=list(range(2, X.ndim)),
        chunks=(X.chunks[0], (columns,)), dtype=dtype,
    )


def _measure_rows(model, rows, measure, predict_params):
    from ..models import predict_proba_samples

    P = np.asarray(predict_proba_samples(model, rows, **predict_params))
    scores = np.asarray(measure(P), dtype=np.float64)
    if not np.isfinite(scores).all():
        raise _non_finite(model)
    return scores


def score_rows(classifier, X_pool, measure, predict_params=None):
    """The scores of every row, a lazy dask array ``(n,)``; see :func:`map_rows`."""
    return map_rows(X_pool, _measure_rows, classifier, measure=measure, predict_params=predict_params or {})


def _block_candidates(block, n, block_info=None):
    """Rows of one block whose key (column 0) is at or above the block's n-th largest, all ties kept.

    Returns ``(k, 1 + columns)``: the rows' positions in the pool, then their columns.
    """
    start = block_info[0]["array-location"][0][0]
    keys = block[:, 0]
    keep = np.arange(len(keys))
    if len(keys) > n:
        cut = np.partition(keys, len(keys) - n)[len(keys) - n]
        keep = np.flatnonzero(keys >= cut)
    return np.column_stack([start + keep, block[keep]])


def dask_top_n(keys, n, rng, *, payload=None):
    """:func:`~skal.strategies.top_n` of a dask array of keys, ``O(n)`` values back per block.

    Returns ``(positions, keys, payload)`` of the selection, best first,
    exactly what ``top_n`` of the whole array draws with the same ``rng``
    (the union of the blocks' candidates holds every row at or above the
    global cut-off, and is put in pool order before ``top_n`` sees it).
    ``payload`` (a dask array of the same rows, e.g. the scores behind
    power-sampling keys) comes back for the selected rows.
    """
    import dask.array as da

    columns = [keys] if payload is None else [keys, payload]
    stacked = da.stack(columns, axis=1).rechunk({1: -1})
    blocks = stacked.map_blocks(
        _block_candidates, n, chunks=(tuple(np.nan for _ in stacked.chunks[0]), (1 + len(columns),)),
        dtype=np.float64,
    )
    union = np.asarray(blocks.compute())
    union = union[np.argsort(union[:, 0], kind="stable")]
    picked = top_n(union[:, 1], n, rng)
    rows = union[picked]
    return rows[:, 0].astype(np.intp), rows[:, 1], (rows[:, 2] if payload is not None else None)


def dask_select(scores, n, rng, power=None):
    """Top-n of dask ``scores``, or a power-sampled draw; ``(positions, their scores)``.

    Consumes ``rng`` exactly as :func:`~skal.strategies.top_n` or
    :func:`~skal.strategies.power_sample` do in memory.
    """
    if power is None:
        positions, values, _ = dask_top_n(scores, n, rng)
        return positions, values
    seed = int(rng.randint(np.iinfo(np.int32).max))

    def keys(block, block_info=None):
        if (block < 0).any():
            raise ValueError(
                "power sampling needs non-negative scores; shift the measure (margin sampling "
                "uses 1 - (p1 - p2)) or use top_n."
            )
        return power_keys(block, power, seed, block_info[0]["array-location"][0][0])

    positions, _, values = dask_top_n(scores.map_blocks(keys, dtype=np.float64), n, rng, payload=scores)
    return positions, values


# --------------------------------------------------------------------------- embeddings
def _embed_rows(model, rows, representation):
    from ._diversity import features

    return features(model, rows, representation=representation)


def dask_features(classifier, X, representation="model"):
    """The embedding of every row, a dask array ``(n, d)`` float32 computed where the rows live."""
    from ._diversity import features

    d = features(classifier, X[:2].compute(), representation=representation).shape[1]
    return map_rows(X, _embed_rows, classifier, columns=d, dtype=np.float32, representation=representation)


def _gradient_rows(model, rows, predict_params):
    from ._base import pool_outputs
    from ._hybrid import gradient_embedding

    proba, phi = pool_outputs(model, rows, proba=True, embedding=True, predict_params=predict_params)
    a, b = gradient_embedding(proba, phi)
    return np.concatenate([a, b], axis=1)


def dask_gradient_embedding(classifier, X, predict_params=None):
    """BADGE's two factors ``(p̄ - e_ŷ, [φ, 1])`` of every row, as dask arrays."""
    from ._base import pool_outputs

    proba, phi = pool_outputs(classifier, X[:2].compute(), proba=True, embedding=True,
                              predict_params=predict_params)
    K, d = proba.shape[1], phi.shape[1] + 1
    both = map_rows(X, _gradient_rows, classifier, columns=K + d, dtype=np.float32,
                    predict_params=predict_params or {})
    return [both[:, :K], both[:, K:]]


# --------------------------------------------------------------------------- greedy
def _sq_dist_block(*factors_and_centre, n_factors):
    """Squared distances of a block's points to one centre (factors as in FactoredPoints)."""
    import torch

    from ._geometry import FactoredPoints

    factors, centre = factors_and_centre[:n_factors], factors_and_centre[n_factors:]
    points = FactoredPoints([np.asarray(f) for f in factors])
    vectors = [torch.as_tensor(np.asarray(c), dtype=torch.float32) for c in centre]
    sq_norm = torch.prod(torch.stack([v.square().sum() for v in vectors]))
    return (points.sq_norms + sq_norm - 2 * points.dots(vectors)).clamp_min_(0).numpy()


def _nearest_anchor_block(*factors_and_anchors, n_factors):
    import torch

    from ._geometry import FactoredPoints, _Centres, _LazyDistances

    factors, anchors = factors_and_anchors[:n_factors], factors_and_anchors[n_factors:]
    points = FactoredPoints([np.asarray(f) for f in factors])
    centres = _Centres(points, len(anchors[0]))
    centres.add([torch.as_tensor(a) for a in anchors])
    lazy = _LazyDistances(points, centres)
    lazy.refresh()
    return lazy.bound.numpy()


def _mark_chosen(block, position, block_info=None):
    start = block_info[0]["array-location"][0][0]
    if start <= position < start + len(block):
        block = block.copy()
        block[position - start] = -1.0
    return block


def _block_max(block, block_info=None):
    """``[max, position of every row at that max...]`` of one block (ties all reported)."""
    start = block_info[0]["array-location"][0][0]
    top = block.max()
    return np.concatenate([[top], start + np.flatnonzero(block == top)]).astype(np.float64)


def dask_random_argmax(values, rng):
    """Position of the largest value of a dask array, ties broken through ``rng`` as in memory."""
    import dask

    parts = dask.compute(*[dask.delayed(_block_max)(b, block_info=[{"array-location": [(s, None)]}])
                           for b, s in zip(values.to_delayed().ravel(), _offsets(values)[:-1])])
    top = max(p[0] for p in parts)
    ties = np.sort(np.concatenate([p[1:] for p in parts if p[0] == top])).astype(np.intp)
    return int(ties[rng.randint(len(ties))]) if len(ties) > 1 else int(ties[0])


def dask_greedy_centers(factors, n_select, *, rule="farthest", anchors=None, first="random",
                        random_state=None, progress=None):
    """:func:`~skal.strategies._geometry.greedy_centers` on dask factors, the same choices.

    One persisted squared-distance vector per block stays where the block
    lives; each step brings back one row's factors and the blocks' maxima
    (k-center) or sums (k-means++).
    """
    import dask.array as da
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    factors = [f.rechunk({0: factors[0].chunks[0], 1: -1}) for f in factors]
    n_factors = len(factors)
    n = factors[0].shape[0]
    if anchors is not None and len(anchors[0]):
        anchors = [np.asarray(a, dtype=np.float32) for a in anchors]
        d2 = da.map_blocks(_nearest_anchor_block, *factors, *anchors, n_factors=n_factors,
                           drop_axis=1, dtype=np.float32).persist()
    else:
        anchors, d2 = None, None
    chosen, gains = [], []
    for step in range(n_select):
        if d2 is None:
            if first == "max_norm":
                sq_norms = da.map_blocks(
                    lambda *fs: np.prod([np.square(np.asarray(f)).sum(1) for f in fs], axis=0).astype(np.float32),
                    *factors, drop_axis=1, dtype=np.float32,
                )
                u = dask_random_argmax(sq_norms, rng)
            else:
                u = int(rng.randint(n))
        elif rule == "farthest":
            u = dask_random_argmax(d2, rng)
        else:
            u = _dask_draw_d2(d2, rng)
        centre = [np.asarray(f[u].compute(), dtype=np.float32) for f in factors]
        gains.append(float(d2[u].compute()) if d2 is not None else np.inf)
        to_centre = da.map_blocks(_sq_dist_block, *factors, *centre, n_factors=n_factors,
                                  drop_axis=1, dtype=np.float32)
        d2 = to_centre if d2 is None else da.minimum(d2, to_centre)
        d2 = d2.map_blocks(_mark_chosen, u, dtype=np.float32).persist()
        if step == 0 and anchors is None:
            gains[0] = float(d2.max().compute())
        chosen.append(u)
        if progress is not None:
            progress.update(1)
    return np.asarray(chosen, dtype=np.intp), np.asarray(gains)


def _dask_draw_d2(d2, rng):
    """The inverse-CDF draw of :func:`skal.strategies._geometry._draw_d2`, block by block."""
    import dask

    weights = d2.map_blocks(lambda b: np.where(b >= 0, b, 0).astype(np.float64), dtype=np.float64)
    blocks = weights.to_delayed().ravel()
    sums = np.asarray(dask.compute(*[dask.delayed(lambda b: np.cumsum(b)[-1] if len(b) else 0.0)(b)
                                     for b in blocks]))
    u = rng.random_sample()
    offsets = _offsets(d2)
    if sums.sum() <= 0:
        free = np.flatnonzero(d2.compute() >= 0)
        return int(free[int(u * len(free))])
    cdf = np.cumsum(sums)
    target = u * cdf[-1]
    k = int(np.searchsorted(cdf, target, side="right"))
    k = min(k, len(blocks) - 1)
    before = cdf[k - 1] if k else 0.0
    local = dask.compute(dask.delayed(lambda b, t: int(np.searchsorted(np.cumsum(b), t, side="right")))(
        blocks[k], target - before))[0]
    return int(offsets[k] + min(local, offsets[k + 1] - offsets[k] - 1))
