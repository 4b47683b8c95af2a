"""What every query strategy is built from: chunked scoring and tie-aware top-n.

These are public: a strategy of your own that ranks points by a measure is
one call of :func:`query_by_measure`, and one that scores points its own
way ends with :func:`top_n` (see "Writing your own strategy" in the docs).

Each strategy wraps its pool once, at its boundary (:func:`as_pool`), in a
pool object that knows the container's kind and executes the strategy's
work where the rows live (:mod:`skal.strategies._memory`,
:mod:`skal.strategies._dask`); what is computed per row is in
:mod:`skal.strategies._rows`, the reductions in
:mod:`skal.strategies._ranking` and :mod:`skal.strategies._geometry`.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

from .._containers import num_rows
from .._validation import check_n_instances, check_scalar
from ._memory import MemoryPool
from ._pool import as_pool
from ._ranking import gumbel_noise, top_n
from ._rows import (
    SingleSampleWarning,
    iter_proba_samples,
    pool_outputs,
    warn_if_one_sample,
)

__all__ = [
    "SingleSampleWarning",
    "as_pool",
    "check_chunk_size",
    "gumbel_noise",
    "iter_proba_samples",
    "labeled_set",
    "pool_outputs",
    "power_sample",
    "query_by_measure",
    "score_pool",
    "top_n",
    "warn_if_one_sample",
]


def check_chunk_size(chunk_size):
    """``None`` (automatic) or a positive int."""
    return check_scalar(chunk_size, "chunk_size", numbers.Integral, min_val=1, allow_none=True)


def score_pool(classifier, X_pool, measure, *, chunk_size=None, predict_params=None,
               pixel_pooling=None):
    """Apply ``measure`` to the whole pool, chunk by chunk; one score per row.

    For a segmenter (samples ``(S, n, K, H, W)``) the measure scores every
    pixel and ``pixel_pooling`` makes one score per image
    (:func:`skal.measures.score_images`).

    Parameters
    ----------
    classifier : object
        Anything :func:`skal.models.predict_proba_samples` accepts.
    X_pool : array-like, DataFrame, sparse matrix, tensor or list
        A validated pool (see :func:`query_by_measure`, which validates).
    measure : callable
        ``(S, n, K)`` probabilities to ``(n,)`` scores, higher first, such
        as those of :mod:`skal.measures`.
    chunk_size : int or None, default=None
        Rows predicted at once; ``None`` sizes chunks to about 64 MiB of
        predictive samples.
    predict_params : dict or None, default=None
        Passed to ``predict_proba_samples``.
    pixel_pooling : None, str, dict, PixelPooling or callable, default=None
        How a segmenter's pixel scores become one score per image:
        ``"mean"`` (None), ``"top_k"``, ``"class_balanced"``, see
        :func:`skal.measures.check_pixel_pooling`. An error for a
        classifier, which has no pixels to pool.

    Returns
    -------
    scores : ndarray of shape (n_pool,), float64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal import measures
    >>> from skal.strategies import score_pool
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> scores = score_pool(model, np.array([[0.5], [9.0]]), measures.entropy)
    >>> bool(scores[0] > scores[1])  # most uncertain on the boundary
    True
    """
    pool = as_pool(X_pool, validate=False)
    scores = pool.scores(classifier, measure, chunk_size=chunk_size, predict_params=predict_params,
                         pooling=check_pooling(pixel_pooling))
    return scores if pool.in_memory else np.asarray(scores.compute())


def check_pooling(pixel_pooling):
    """``pixel_pooling`` checked (:func:`skal.measures.check_pixel_pooling`), or None."""
    from ..measures import check_pixel_pooling

    return None if pixel_pooling is None else check_pixel_pooling(pixel_pooling)


def labeled_set(classifier, X_labeled=None, *, required_by=None):
    """The labeled set a strategy works from: ``X_labeled``, else the learner's ``X_training``.

    skal's learners pass ``X_labeled`` to strategies that name it; modAL's
    pass nothing, but hand the strategy the learner, whose ``X_training``
    is the same set (a committee's: its first learner's, which every
    ``teach`` extends like the others'). Returns None when there is none,
    or raises when the strategy ``required_by`` cannot work without it.
    """
    if X_labeled is None:
        members = getattr(classifier, "learner_list", None)
        holder = members[0] if members else classifier
        X_labeled = getattr(holder, "X_training", None)
    if X_labeled is not None and num_rows(X_labeled, name="X_labeled") > 0:
        return X_labeled
    if required_by is not None:
        raise ValueError(
            f"{required_by} needs the labeled set: pass X_labeled=..., or query through a "
            "skal or modAL learner, which provides it."
        )
    return None


def power_sample(scores, n, power, random_state):
    """Draw ``n`` distinct positions with probability proportional to ``scores ** power``.

    Stochastic batch acquisition (Kirsch et al. 2023): instead of the top
    ``n`` scores, which in a batch pile onto near-copies, a batch is drawn
    without replacement, each position weighted by its score raised to
    ``power`` (Gumbel-top-k: ``power · log s + Gumbel`` keys, top ``n``).
    As ``power`` grows the draw tends to :func:`top_n`. Scores must be
    non-negative; zeros are drawn only when fewer than ``n`` are positive.
    The Gumbel noise of a position depends only on the position and one
    seed drawn from ``random_state`` (:func:`gumbel_noise`), so a pool
    scored block by block, anywhere, draws the same batch.

    Parameters
    ----------
    scores : array-like of shape (n_pool,)
    n : int
    power : float
        The exponent γ > 0; 1 is Kirsch et al.'s default for BALD.
    random_state : int, RandomState instance or None

    Returns
    -------
    idx : ndarray of shape (n,), intp
        Positions in the order drawn.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.strategies import power_sample
    >>> power_sample(np.array([0.0, 1.0, 3.0]), 2, 1e6, 0)  # a huge power: the top 2
    array([2, 1])
    """
    rng = check_random_state(random_state)
    scores = np.asarray(scores, dtype=np.float64)
    vector = MemoryPool(scores, kind="array", n_rows=len(scores))
    return vector.power_sample(scores, n, power, rng)[0]


def query_by_measure(
    classifier,
    X_pool,
    n_instances,
    measure,
    *,
    random_state=None,
    chunk_size=None,
    predict_params=None,
    power=None,
    pixel_pooling=None,
):
    """Validate the query, score the pool with ``measure``, return the top ``n_instances``.

    The body of every strategy that ranks points one by one: the pool is
    checked (empty, NaN/inf), ``n_instances`` too, the pool is scored in
    bounded-memory chunks, and ties at the cut-off are broken with
    ``random_state``.

    Parameters
    ----------
    classifier : object
        Anything :func:`skal.models.predict_proba_samples` accepts.
    X_pool : array-like, DataFrame, sparse matrix, tensor or list
    n_instances : int
    measure : callable
        ``(S, n, K)`` probabilities to ``(n,)`` scores, higher first.
    random_state : int, RandomState instance or None, default=None
    chunk_size : int or None, default=None
    predict_params : dict or None, default=None
        Passed to ``predict_proba_samples``.
    power : float or None, default=None
        ``None`` takes the top ``n_instances``; a number γ > 0 draws them
        with probability proportional to ``score ** γ`` instead
        (:func:`power_sample`; the measure must be non-negative).
    pixel_pooling : None, str, dict, PixelPooling or callable, default=None
        For a segmenter: the measure scores every pixel and this pools each
        image's scores to one (``"mean"`` when None; ``"top_k"``,
        ``"class_balanced"``; see :func:`score_pool`).

    Returns
    -------
    query_idx : ndarray of shape (n_instances,)
        Distinct positions in ``X_pool``, best first (in the order drawn
        with ``power``).
    scores : ndarray of shape (n_instances,)
        Their scores.

    Examples
    --------
    A strategy that queries where the members' confidence varies the most:

    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skal.strategies import query_by_measure
    >>> def spread(P):  # (S, n, K) -> (n,)
    ...     return P.max(axis=2).std(axis=0)
    >>> def spread_sampling(classifier, X_pool, n_instances=1, *, random_state=None):
    ...     return query_by_measure(classifier, X_pool, n_instances, spread,
    ...                             random_state=random_state)
    >>> X, y = load_iris(return_X_y=True)
    >>> forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X[::5], y[::5])
    >>> idx, scores = spread_sampling(forest, X, n_instances=2, random_state=0)
    >>> len(set(idx.tolist())), bool(scores[0] >= scores[1])
    (2, True)
    """
    pool = as_pool(X_pool)
    n_instances = check_n_instances(n_instances, pool.n_rows)
    chunk_size = check_chunk_size(chunk_size)
    power = check_scalar(
        power, "power", numbers.Real, min_val=0, include_boundaries="neither", allow_none=True
    )
    rng = check_random_state(random_state)
    scores = pool.scores(classifier, measure, chunk_size=chunk_size, predict_params=predict_params,
                         pooling=check_pooling(pixel_pooling))
    return pool.select(scores, n_instances, rng, power)
