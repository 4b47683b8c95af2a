"""Greedy geometry on embeddings, without an n x n matrix.

Diversity strategies choose points far from each other in an embedding:
k-center greedy (core-set) takes the point farthest from everything chosen,
k-means++ seeding (BADGE) samples points with probability proportional to
their squared distance to it. Written naively, each of the b steps updates
the distance of all n points to their nearest centre: ``O(n·b·d)`` time,
memory-bound. Two things make it fast here:

* **Factored points.** A point may be an outer product
  ``g = v_1 ⊗ v_2 ⊗ ...`` (BADGE's gradient embedding is
  ``(p̄ - e_ŷ) ⊗ [φ(x), 1]``); inner products factor,
  ``<g, h> = Π_f <v_f, w_f>``, so distances cost ``O(Σ d_f)`` instead of
  ``O(Π d_f)``, and the ``(n, K·d)`` embedding is never built.
* **Lazy distances** for k-center greedy. A point's distance to its
  nearest centre only shrinks as centres are added, so a value computed
  earlier is an upper bound. Points are examined in decreasing order of
  their bounds and only those are brought up to date, until the best
  exact distance beats every remaining bound (Minoux's lazy greedy). In
  high dimension a new centre rarely moves most points' nearest distance,
  and a step touches a handful of points instead of all n. The choices
  are the ones the full computation makes (up to float32 rounding and
  ties).

k-means++ draws need every distance up to date (one ``O(n·Σ d_f)`` update
per pick) and draw by inverse CDF with one uniform per pick, so that a
blockwise (Dask) implementation that sums the same distances draws the
same points.

The greedy loop (:func:`select_centers`) is written once, over a
*distance store*: the squared distance of every point to its nearest
centre, wherever it lives. :class:`LazyDistances` is the store of points
held in memory (the lazy updates above); a dask pool's store keeps one
distance vector per block where the block lives
(:mod:`skal.strategies._dask`). The loop asks a store for block maxima
and block sums and draws through :mod:`skal.strategies._ranking`.

The arithmetic is torch (float32), on the device the factors live on.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state

from ._ranking import block_maximum, draw_by_weight, random_argmax

__all__ = ["DistanceStore", "FactoredPoints", "LazyDistances", "greedy_centers", "select_centers"]

#: Bytes of the (rows, centres) block when assigning points to initial centres.
_BLOCK_BYTES = 64 * 2**20


class FactoredPoints:
    """Points ``g_i = F_1[i] ⊗ F_2[i] ⊗ ...`` given by their factors.

    Parameters
    ----------
    factors : sequence of array-like of shape (n, d_f)
        One factor: plain vectors. Converted to float32 torch tensors
        (without a copy when already float32 on CPU).
    device : torch device, default=None
        Where the arithmetic runs (default: where the first factor is).

    Examples
    --------
    >>> import numpy as np
    >>> from skal.strategies._geometry import FactoredPoints
    >>> a, b = np.array([[1.0, 0.0]]), np.array([[3.0, 4.0]])
    >>> float(FactoredPoints([a, b]).sq_norms[0])  # |a|² |b|²
    25.0
    """

    def __init__(self, factors, device=None):
        factors = [torch.as_tensor(f) for f in factors]
        if not factors or any(f.ndim != 2 for f in factors):
            raise ValueError("factors must be one or more 2-d arrays (n, d_f).")
        n = factors[0].shape[0]
        if any(f.shape[0] != n for f in factors):
            raise ValueError("every factor must have the same number of rows.")
        device = factors[0].device if device is None else torch.device(device)
        self.factors = [f.to(device=device, dtype=torch.float32) for f in factors]
        self.sq_norms = _prod(f.square().sum(1) for f in self.factors)
        self.n = n
        self.device = device

    def row(self, i):
        """The factors of point ``i``, as vectors."""
        return [f[i] for f in self.factors]

    def dots(self, vectors, rows=None):
        """Inner products of the points (or of ``rows``, a bool mask) with one point."""
        if rows is None:
            return _prod(f @ v for f, v in zip(self.factors, vectors))
        return _prod(f[rows] @ v for f, v in zip(self.factors, vectors))



def _prod(terms):
    out = None
    for t in terms:
        out = t if out is None else out * t
    return out


class _Centres:
    """The chosen centres, as stacked factors with their squared norms (capacity preallocated)."""

    def __init__(self, points, capacity):
        self.factors = [torch.empty((capacity, f.shape[1]), device=points.device) for f in points.factors]
        self.sq_norms = torch.empty(capacity, device=points.device)
        self.size = 0

    def __len__(self):
        return self.size

    def add(self, factors):
        factors = [torch.as_tensor(f, dtype=torch.float32, device=self.sq_norms.device) for f in factors]
        factors = [f if f.ndim == 2 else f[None] for f in factors]
        k = factors[0].shape[0]
        for c, f in zip(self.factors, factors):
            c[self.size : self.size + k] = f
        self.sq_norms[self.size : self.size + k] = _prod(f.square().sum(1) for f in factors)
        self.size += k


class _LazyBounds:
    """Squared distance of every point to its nearest centre, brought up to date on demand.

    ``bound[i]`` is exact for the first ``seen[i]`` centres, hence an upper
    bound of the distance to all of them. Chosen points carry ``-1``.
    """

    def __init__(self, points, centres):
        self.points, self.centres = points, centres
        self.bound = torch.full((points.n,), float("inf"), device=points.device)
        self.seen = torch.zeros(points.n, dtype=torch.long, device=points.device)

    def refresh(self, rows=None):
        """Bring ``rows`` (an index tensor; all points when None) up to date, in blocks."""
        total = len(self.centres)
        if rows is None:
            # all points in contiguous blocks: views of the factors, where gathering
            # by index would copy the whole pool at each step of k-means++
            first, n_rows = int(self.seen.min()), self.points.n
        else:
            rows = rows[(self.seen[rows] < total) & (self.bound[rows] >= 0)]
            if not len(rows):
                return
            first, n_rows = int(self.seen[rows].min()), len(rows)
        if first >= total:
            return
        block = max(1, _BLOCK_BYTES // (4 * (total - first)))
        others = [f[first:total] for f in self.centres.factors]
        for start in range(0, n_rows, block):
            sel = slice(start, min(n_rows, start + block)) if rows is None else rows[start : start + block]
            dots = _prod(f[sel] @ o.T for f, o in zip(self.points.factors, others))
            dist = self.points.sq_norms[sel, None] + self.centres.sq_norms[None, first:total] - 2 * dots
            best = dist.clamp_min_(0).min(dim=1).values
            bound = self.bound[sel]
            # chosen points keep -1; a row already seen up to a later centre gains
            # nothing from the earlier ones it meets again (its minimum is unchanged)
            self.bound[sel] = torch.where(bound >= 0, torch.minimum(bound, best), bound)
        if rows is None:
            self.seen.fill_(total)
        else:
            self.seen[rows] = total

    def choose(self, u):
        self.bound[u] = -1.0  # never farthest, never sampled, never refreshed


class DistanceStore:
    """What the greedy loop asks of the squared distances to the nearest centre.

    An executor's store holds them where the points live. Blocks: a store
    in memory is one block; a dask pool's has one per block of rows.
    Chosen points carry a negative distance (never farthest, never drawn).
    """

    #: Number of points.
    n = 0
    #: Whether centres existed before the first choice (the labeled set).
    has_anchors = False

    def norm_maxima(self):
        """:func:`~skal.strategies._ranking.block_maximum` of the squared norms, per block."""
        raise NotImplementedError

    def farthest_maxima(self):
        """Block maxima of the distances, exact at least where the maximum is."""
        raise NotImplementedError

    def block_sums(self):
        """``(sums, offsets)``: each block's sum of draw weights (``d²``, or ``weight · d²``)."""
        raise NotImplementedError

    def search(self, block, target):
        """First position of ``block`` whose running weight exceeds ``target``."""
        raise NotImplementedError

    def free_positions(self):
        """Positions not chosen yet (a vector of ``n`` at most)."""
        raise NotImplementedError

    def distance(self, u):
        """Squared distance of ``u`` to its nearest centre, before it is chosen."""
        raise NotImplementedError

    def choose(self, u):
        """Make ``u`` a centre."""
        raise NotImplementedError

    def covering_radius(self):
        """The largest squared distance of a point to its nearest centre."""
        raise NotImplementedError


class LazyDistances(DistanceStore):
    """The distance store of points in memory: lazy bounds, one block.

    Parameters
    ----------
    points : FactoredPoints
    capacity : int
        Centres to make room for (choices plus anchors).
    anchors : sequence of array-like, default=None
        Initial centres, factored like the points.
    weights : array-like of shape (n,), default=None
        Draw weights multiplying ``d²`` (weighted k-means++).
    """

    def __init__(self, points, capacity, *, anchors=None, weights=None):
        n_anchors = 0 if anchors is None else len(anchors[0])
        self.points, self.n = points, points.n
        self.centres = _Centres(points, n_anchors + capacity)
        self.lazy = _LazyBounds(points, self.centres)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.has_anchors = bool(n_anchors)
        self._cdf = None
        if n_anchors:
            self.centres.add(anchors)
            self.lazy.refresh()

    def norm_maxima(self):
        return [block_maximum(self.points.sq_norms.cpu().numpy())]

    def farthest_maxima(self):
        _refresh_farthest(self.lazy)
        return [block_maximum(self.lazy.bound.cpu().numpy())]

    def block_sums(self):
        self.lazy.refresh()  # every distance to the newest centre
        d2 = self.lazy.bound.double().cpu().numpy()
        p = np.where(d2 >= 0, d2, 0.0)
        if self.weights is not None:
            p *= self.weights
        self._cdf = np.cumsum(p)
        return self._cdf[-1:], np.array([0, self.n])

    def search(self, block, target):
        return int(np.searchsorted(self._cdf, target, side="right"))

    def free_positions(self):
        return np.flatnonzero(self.lazy.bound.cpu().numpy() >= 0)

    def distance(self, u):
        return float(self.lazy.bound[u])

    def choose(self, u):
        self.lazy.choose(u)
        self.centres.add(self.points.row(u))

    def covering_radius(self):
        self.lazy.refresh()
        return float(self.lazy.bound.max())


def select_centers(store, n_select, *, rule="farthest", first="random", weights=None,
                   random_state=None, progress=None):
    """The greedy loop of :func:`greedy_centers` over any :class:`DistanceStore`.

    Written once for every executor: each step asks the store for block
    maxima (k-center) or block sums (k-means++) and draws through
    ``random_state`` exactly as from the whole vector.
    """
    rng = check_random_state(random_state)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
    chosen, gains = [], []
    for step in range(n_select):
        if step == 0 and not store.has_anchors:
            if first == "max_norm":
                u = random_argmax(store.norm_maxima(), rng)
            elif weights is not None and weights.sum() > 0:
                u = int(rng.choice(store.n, p=weights / weights.sum()))
            else:
                u = int(rng.randint(store.n))
        elif rule == "farthest":
            u = random_argmax(store.farthest_maxima(), rng)
        else:
            u = draw_by_weight(store, rng)
        gains.append(store.distance(u))
        chosen.append(u)
        store.choose(u)
        if step == 0 and not store.has_anchors:
            # Every distance was infinite: give the first pick the largest
            # distance of a point to it (its covering radius).
            gains[0] = max(store.covering_radius(), 0.0)
        if progress is not None:
            progress.update(1)
    return np.asarray(chosen, dtype=np.intp), np.asarray(gains)


def greedy_centers(points, n_select, *, rule="farthest", anchors=None, first="random",
                   weights=None, random_state=None, progress=None):
    """Choose ``n_select`` points greedily: k-center (``"farthest"``) or k-means++ (``"d2"``).

    Parameters
    ----------
    points : FactoredPoints
        The candidates.
    n_select : int
        How many to choose (``<= points.n``).
    rule : {"farthest", "d2"}, default="farthest"
        ``"farthest"``: each step takes the point farthest from every centre
        (ties broken at random), k-center greedy (Gonzalez 1985; Sener &
        Savarese 2018). ``"d2"``: each step draws a point with probability
        proportional to its squared distance to the nearest centre, k-means++
        seeding (Arthur & Vassilvitskii 2007; BADGE, Ash et al. 2020).
    anchors : sequence of array-like of shape (m, d_f), default=None
        Centres that exist before the first choice (the labeled set), as
        factors like ``points``'.
    first : {"random", "max_norm"}, default="random"
        The first choice when there are no anchors: a point drawn at random
        (in proportion to ``weights`` when given), or the one of largest
        norm (BADGE's first pick).
    weights : array-like of shape (n,), default=None
        With ``rule="d2"``, draw in proportion to ``weights * d²`` (weighted
        k-means++ seeding); non-negative.
    random_state : int, RandomState instance or None, default=None
    progress : tqdm-like or None
        Updated once per choice.

    Returns
    -------
    chosen : ndarray of shape (n_select,)
        Distinct positions, in the order chosen.
    sq_dist : ndarray of shape (n_select,)
        Each choice's squared distance to the nearest earlier centre (anchors
        included) when it was chosen; for a first choice without anchors,
        the largest squared distance of any point to it.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.strategies._geometry import FactoredPoints, greedy_centers
    >>> X = np.array([[0.0], [1.0], [5.0], [11.0]])
    >>> chosen, sq_dist = greedy_centers(FactoredPoints([X]), 2, anchors=[np.array([[0.0]])])
    >>> chosen, sq_dist  # 11 is farthest from 0, then 5 is farthest from {0, 11}
    (array([3, 2]), array([121.,  25.]))
    """
    store = LazyDistances(points, n_select, anchors=anchors, weights=weights)
    return select_centers(store, n_select, rule=rule, first=first, weights=weights,
                          random_state=random_state, progress=progress)


#: Points brought up to date together in one step of the lazy searches.
_BLOCK = 64


def _refresh_farthest(lazy):
    """Refresh the largest bounds until the farthest point's distance is exact.

    A block of the largest bounds is brought up to date until its best exact
    distance is strictly above every bound outside it; when ties reach the
    block's edge, the block widens. The winner is then drawn among every
    point at that distance, in pool order, exactly as from the full vector
    (the same draw a blockwise computation makes).
    """
    alive = int((lazy.bound >= 0).sum())
    k = min(_BLOCK, alive)
    while True:
        values, top = torch.topk(lazy.bound, min(k + 1, lazy.points.n))
        block = top[:k]
        lazy.refresh(block)
        best = lazy.bound[block].max()
        rest = values[k] if k < alive else None
        if rest is None or best > rest:
            return
        if best == rest:  # ties spill over the block: look at more points
            k = min(2 * k, alive)
