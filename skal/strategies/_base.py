"""What every query strategy is built from: chunked scoring and tie-aware top-n.

These are public: a strategy of your own that ranks points by a measure is
one call of :func:`query_by_measure`, and one that scores points its own
way ends with :func:`top_n` (see "Writing your own strategy" in the docs).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.utils import check_random_state

from .._containers import is_dask, iter_chunks, num_rows, take_rows
from .._validation import check_n_instances, check_pool, check_scalar

__all__ = [
    "SingleSampleWarning",
    "check_chunk_size",
    "iter_proba_samples",
    "labeled_set",
    "pool_outputs",
    "power_sample",
    "query_by_measure",
    "score_pool",
    "top_n",
]

#: Bytes one chunk of predictive samples ``(S, chunk, K)`` may take when
#: ``chunk_size=None``.
CHUNK_BYTES = 64 * 2**20
#: Rows of the first chunk, predicted before S and K are known.
_PROBE_ROWS = 1024
#: Rows of the first chunk when the pool holds images: a segmenter's samples
#: ``(S, rows, K, H, W)`` weigh ``H * W`` times a classifier's (a street
#: scene's, 8 x 19 x 720 x 1280 float64, over 1 GB per image).
_PROBE_IMAGES = 1


def check_chunk_size(chunk_size):
    """``None`` (automatic) or a positive int."""
    return check_scalar(chunk_size, "chunk_size", numbers.Integral, min_val=1, allow_none=True)


def _classes_or_none(classifier):
    from ..models import get_classes

    try:
        return get_classes(classifier)
    except AttributeError:
        return None


def iter_proba_samples(classifier, X_pool, *, chunk_size=None, predict_params=None, pixel_maps=False):
    """Yield ``(start, stop, samples)`` with samples ``(S, stop - start, K)`` over the pool.

    With ``chunk_size=None`` the first chunk has 1024 rows (one when the
    pool holds images, ``X_pool.ndim > 2``) and later chunks as many rows as
    fit in 64 MiB of samples (``S · rows · K`` floats, times ``H · W`` for a
    segmenter), so a pool of any size is scored in bounded memory.

    Parameters
    ----------
    classifier : object
        Anything :func:`skal.models.predict_proba_samples` accepts.
    X_pool : array-like, DataFrame, sparse matrix, tensor, list, Dataset or dask array
        Already validated pool, read chunk by chunk (a Dataset through
        DataLoader workers, a dask array one chunk at a time).
    chunk_size : int or None
    predict_params : dict or None
        Passed to ``predict_proba_samples`` (for example ``n_samples``).
    pixel_maps : bool, default=False
        Accept a segmenter's per-pixel samples ``(S, rows, K, H, W)``.
        Strategies that need one class distribution per row leave it False
        and raise a clear error for a segmenter.
    """
    from ..models import predict_proba_samples

    predict_params = predict_params or {}
    n = num_rows(X_pool)
    classes = _classes_or_none(classifier)

    def samples_of(rows, start, stop):
        P = np.asarray(predict_proba_samples(classifier, rows, **predict_params))
        if P.ndim < 3 or P.shape[1] != stop - start:
            raise ValueError(
                f"predict_proba_samples of {type(classifier).__name__} returned shape "
                f"{P.shape} for {stop - start} rows; expected (S, {stop - start}, K)."
            )
        if P.ndim > 3 and not pixel_maps:
            raise _pixel_maps_unsupported(classifier, P.shape)
        if classes is not None and P.shape[2] != len(classes):
            raise ValueError(
                f"{type(classifier).__name__} gave {P.shape[2]} probability columns "
                f"but has {len(classes)} classes."
            )
        # A full finite check costs as much as scoring; a model that emits
        # NaN does so from the first rows on, and later chunks are caught by
        # the finite check on their scores (score_pool).
        if P.dtype.kind != "f" or (start == 0 and not np.isfinite(P).all()):
            raise _non_finite(classifier)
        return P

    # The first chunk tells S and K (and a segmenter's H x W: a pool of
    # images is probed with one); later chunks hold 64 MiB of samples.
    probe = _PROBE_IMAGES if getattr(X_pool, "ndim", 2) > 2 else _PROBE_ROWS
    first = min(n, chunk_size or probe)
    P = samples_of(take_rows(X_pool, 0, first), 0, first)
    yield 0, first, P
    size = chunk_size or max(1, CHUNK_BYTES // (P.nbytes // P.shape[1]))
    for start, stop, rows in iter_chunks(X_pool, size, start=first):
        yield start, stop, samples_of(rows, start, stop)


def _pixel_maps_unsupported(classifier, shape):
    return ValueError(
        f"{type(classifier).__name__} gives per-pixel probabilities of shape {tuple(shape)} "
        "(a segmenter), but this strategy needs one class distribution per row (S, n, K). "
        "Segmenters work with the strategies that rank rows by a measure (entropy, bald, "
        "margin, var_ratios, ...), pooled per image with pixel_pooling=..., and with random."
    )


def _non_finite(classifier):
    return ValueError(
        f"{type(classifier).__name__} returned non-finite probabilities; "
        "check the model (diverged training?) and the pool's scale."
    )


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
    from ..measures import check_pixel_pooling

    pooling = None if pixel_pooling is None else check_pixel_pooling(pixel_pooling)
    scores = np.empty(num_rows(X_pool), dtype=np.float64)
    for start, stop, P in iter_proba_samples(
        classifier, X_pool, chunk_size=chunk_size, predict_params=predict_params, pixel_maps=True
    ):
        scores[start:stop] = _measure_samples(classifier, measure, P, pooling)
    return scores


class SingleSampleWarning(UserWarning):
    """A measure of the disagreement between samples was given a model with one sample.

    BALD, variation ratios, mean STD and the committee measures score every
    point 0 then, so the query is random.
    """


def warn_if_one_sample(classifier, measure, P):
    """Warn when ``measure`` needs several samples and ``P`` holds one.

    Called on a query's predictive samples ``P`` (S first); the measures of
    :mod:`skal.measures` that compare samples carry ``needs_samples``.
    """
    if not getattr(measure, "needs_samples", False) or P.shape[0] != 1:
        return
    warnings.warn(
        f"{getattr(measure, '__name__', 'the measure')} compares predictive samples, but "
        f"{type(classifier).__name__} gives one, so every point scores 0 and the query is "
        "random. Use a model with a posterior: skal's DeepProbabilisticEnsemble, DeepEnsemble "
        "or MCDropoutClassifier, a Committee, or a scikit-learn ensemble (random forest, "
        "bagging), whose members skal reads as samples. With one sample, query by "
        "uncertainty instead: margin, entropy, least_confident, or auto.",
        SingleSampleWarning,
        stacklevel=4,
    )


def _measure_samples(classifier, measure, P, pooling=None):
    """One finite float64 score per row of the samples ``P``.

    ``measure(P)`` for a classifier's ``(S, n, K)``; for a segmenter's
    ``(S, n, K, H, W)`` the measure of every pixel pooled per image by
    ``pooling`` (a checked :class:`~skal.measures.PixelPooling` or None).
    Shared by :func:`score_pool` and the blockwise scoring of dask pools.
    """
    from ..measures import score_images

    warn_if_one_sample(classifier, measure, P)
    if P.ndim > 3:
        scores = score_images(measure, P, pooling)
    elif pooling is not None:
        raise ValueError(
            f"pixel_pooling={pooling!r} was given, but {type(classifier).__name__} "
            "gives one class distribution per row, not per pixel: leave pixel_pooling=None."
        )
    else:
        scores = measure(P)
    scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).all():
        raise _non_finite(classifier)
    return scores


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


#: Rows embedded at once by :func:`pool_outputs` when ``chunk_size=None``.
_EMBED_ROWS = 4096


def pool_outputs(classifier, X, *, proba=False, embedding=False, chunk_size=None, predict_params=None):
    """The mean class probabilities and/or embeddings of every row, chunk by chunk.

    Parameters
    ----------
    classifier : object
        Anything :func:`skal.models.predict_proba_samples` (for ``proba``)
        and :func:`skal.models.embed` (for ``embedding``) accept.
    X : array-like, DataFrame, sparse matrix, tensor or list
    proba : bool, default=False
        Compute ``p̄ = mean_s p_s``, shape (n, K).
    embedding : bool, default=False
        Compute ``φ(x)``, shape (n, d).
    chunk_size : int or None, default=None
        Rows predicted at once (4096 when None).
    predict_params : dict or None, default=None
        Passed to ``predict_proba_samples``.

    Returns
    -------
    outputs : tuple of ndarray, float32
        ``p̄`` and/or ``φ``, in that order, as requested.
    """
    from ..models import embed, predict_proba_samples

    probas, features = [], []
    for _, _, rows in iter_chunks(X, chunk_size or _EMBED_ROWS):
        if proba:
            P = np.asarray(predict_proba_samples(classifier, rows, **(predict_params or {})))
            if P.ndim > 3:
                raise _pixel_maps_unsupported(classifier, P.shape)
            if P.ndim != 3 or not np.isfinite(P).all():
                raise _non_finite(classifier)
            probas.append(P.mean(axis=0, dtype=np.float64).astype(np.float32))
        if embedding:
            phi = np.asarray(embed(classifier, rows))
            features.append(phi.reshape(len(phi), -1).astype(np.float32, copy=False))
    out = []
    if proba:
        out.append(np.concatenate(probas))
    if embedding:
        phi = np.concatenate(features)
        if not np.isfinite(phi).all():
            raise ValueError(
                f"{type(classifier).__name__} returned non-finite embeddings; check the "
                "model (diverged training?) and the pool's scale."
            )
        out.append(phi)
    return tuple(out)


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
    if (scores < 0).any():
        raise ValueError(
            "power sampling needs non-negative scores; shift the measure (margin sampling "
            "uses 1 - (p1 - p2)) or use top_n."
        )
    seed = int(rng.randint(np.iinfo(np.int32).max))
    return top_n(power_keys(scores, power, seed, 0), n, rng)


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
    X_pool = check_pool(X_pool)
    n_instances = check_n_instances(n_instances, num_rows(X_pool))
    chunk_size = check_chunk_size(chunk_size)
    power = check_scalar(
        power, "power", numbers.Real, min_val=0, include_boundaries="neither", allow_none=True
    )
    rng = check_random_state(random_state)
    if is_dask(X_pool):  # scored where its chunks live; the same draw as below
        from ._dask import dask_select, score_rows

        scores = score_rows(classifier, X_pool, measure, predict_params, pixel_pooling=pixel_pooling)
        return dask_select(scores, n_instances, rng, power)
    scores = score_pool(
        classifier, X_pool, measure, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )
    if power is None:
        idx = top_n(scores, n_instances, rng)
    else:
        idx = power_sample(scores, n_instances, power, rng)
    return idx, scores[idx]
