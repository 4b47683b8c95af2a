"""What strategies compute per row: predictive samples, scores, embeddings.

Each function here turns a batch of rows into one value (or one vector)
per row, independently of the other rows: an executor
(:mod:`skal.strategies._memory`, :mod:`skal.strategies._dask`) runs it
over a pool chunk by chunk, or block by block where the blocks live, and
the reductions of :mod:`skal.strategies._ranking` turn the results into
picks. Nothing here knows what kind of pool the rows came from.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._containers import Rows

__all__ = [
    "SingleSampleWarning",
    "embedding_rows",
    "features",
    "gradient_embedding",
    "gradient_rows",
    "iter_proba_samples",
    "measure_rows",
    "outputs_of_rows",
    "pool_outputs",
    "warn_if_one_sample",
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
#: Rows embedded at once by :func:`pool_outputs` when ``chunk_size=None``.
EMBED_ROWS = 4096


def _classes_or_none(classifier):
    from ..models import get_classes

    try:
        return get_classes(classifier)
    except AttributeError:
        return None


def as_rows(X):
    """``X`` as :class:`~skal._containers.Rows` (a pool object already is one)."""
    return X if isinstance(X, Rows) else Rows(X)


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
    rows = as_rows(X_pool)
    n = rows.n_rows
    classes = _classes_or_none(classifier)

    def samples_of(batch, start, stop):
        P = np.asarray(predict_proba_samples(classifier, batch, **predict_params))
        if P.ndim < 3 or P.shape[1] != stop - start:
            raise ValueError(
                f"predict_proba_samples of {type(classifier).__name__} returned shape "
                f"{P.shape} for {stop - start} rows; expected (S, {stop - start}, K)."
            )
        if P.ndim > 3 and not pixel_maps:
            raise pixel_maps_unsupported(classifier, P.shape)
        if classes is not None and P.shape[2] != len(classes):
            raise ValueError(
                f"{type(classifier).__name__} gave {P.shape[2]} probability columns "
                f"but has {len(classes)} classes."
            )
        # A full finite check costs as much as scoring; a model that emits
        # NaN does so from the first rows on, and later chunks are caught by
        # the finite check on their scores (score_pool).
        if P.dtype.kind != "f" or (start == 0 and not np.isfinite(P).all()):
            raise non_finite(classifier)
        return P

    # The first chunk tells S and K (and a segmenter's H x W: a pool of
    # images is probed with one); later chunks hold 64 MiB of samples.
    probe = _PROBE_IMAGES if rows.ndim > 2 else _PROBE_ROWS
    first = min(n, chunk_size or probe)
    P = samples_of(rows.take(0, first), 0, first)
    yield 0, first, P
    size = chunk_size or max(1, CHUNK_BYTES // (P.nbytes // P.shape[1]))
    for start, stop, batch in rows.chunks(size, start=first):
        yield start, stop, samples_of(batch, start, stop)


def pixel_maps_unsupported(classifier, shape):
    return ValueError(
        f"{type(classifier).__name__} gives per-pixel probabilities of shape {tuple(shape)} "
        "(a segmenter), but this strategy needs one class distribution per row (S, n, K). "
        "Segmenters work with the strategies that rank rows by a measure (entropy, bald, "
        "margin, var_ratios, ...), pooled per image with pixel_pooling=..., and with random."
    )


def non_finite(classifier):
    return ValueError(
        f"{type(classifier).__name__} returned non-finite probabilities; "
        "check the model (diverged training?) and the pool's scale."
    )


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


def measure_samples(classifier, measure, P, pooling=None):
    """One finite float64 score per row of the samples ``P``.

    ``measure(P)`` for a classifier's ``(S, n, K)``; for a segmenter's
    ``(S, n, K, H, W)`` the measure of every pixel pooled per image by
    ``pooling`` (a checked :class:`~skal.measures.PixelPooling` or None).
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
        raise non_finite(classifier)
    return scores


def measure_rows(model, rows, measure, predict_params, pooling):
    """The scores of a batch of rows: ``measure`` of their predictive samples."""
    from ..models import predict_proba_samples

    P = np.asarray(predict_proba_samples(model, rows, **(predict_params or {})))
    return measure_samples(model, measure, P, pooling)


def outputs_of_rows(model, rows, *, proba=False, embedding=False, predict_params=None):
    """The mean class probabilities and/or embeddings of a batch of rows (float32)."""
    from ..models import embed, predict_proba_samples

    out = []
    if proba:
        P = np.asarray(predict_proba_samples(model, rows, **(predict_params or {})))
        if P.ndim > 3:
            raise pixel_maps_unsupported(model, P.shape)
        if P.ndim != 3 or not np.isfinite(P).all():
            raise non_finite(model)
        out.append(P.mean(axis=0, dtype=np.float64).astype(np.float32))
    if embedding:
        phi = np.asarray(embed(model, rows))
        phi = phi.reshape(len(phi), -1).astype(np.float32, copy=False)
        if not np.isfinite(phi).all():
            raise ValueError(
                f"{type(model).__name__} returned non-finite embeddings; check the "
                "model (diverged training?) and the pool's scale."
            )
        out.append(phi)
    return tuple(out)


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
    parts = [
        outputs_of_rows(classifier, batch, proba=proba, embedding=embedding,
                        predict_params=predict_params)
        for _, _, batch in as_rows(X).chunks(chunk_size or EMBED_ROWS)
    ]
    return tuple(np.concatenate(column) for column in zip(*parts))


def embedding_rows(model, rows, representation="model"):
    """The vectors of a batch of rows: the model's embedding or the input features."""
    if representation == "model":
        return outputs_of_rows(model, rows, embedding=True)[0]
    if representation != "input":
        raise ValueError(f"representation must be 'model' or 'input', got {representation!r}.")
    from ..models._adapters import input_features

    phi = np.asarray(input_features(model, rows), dtype=np.float32)
    return phi.reshape(len(phi), -1)


def check_representation(representation):
    if representation not in ("model", "input"):
        raise ValueError(f"representation must be 'model' or 'input', got {representation!r}.")
    return representation


def embedding_chunks(representation, chunk_size):
    """Rows embedded at once in memory: ``chunk_size`` (4096) for a model, all at once for inputs."""
    return (chunk_size or EMBED_ROWS) if representation == "model" else None


def features(classifier, X, *, representation="model", chunk_size=None):
    """Rows of ``X`` as vectors: the model's embedding or the input features.

    ``"model"`` is :func:`skal.models.embed` (penultimate layer of a
    network; a Pipeline's transformed features when its last step has no
    embedding). ``"input"`` is X as the final estimator receives it (through
    a Pipeline's leading steps), flattened: a representation that does not
    depend on a model trained on a few labels.
    """
    check_representation(representation)
    rows = as_rows(X)
    size = embedding_chunks(representation, chunk_size)
    if size is None:
        return embedding_rows(classifier, rows.whole(), representation)
    return np.concatenate([
        embedding_rows(classifier, batch, representation) for _, _, batch in rows.chunks(size)
    ])


def gradient_embedding(proba, phi):
    """BADGE's factors: ``g = (p̄ - e_ŷ) ⊗ [φ, 1]`` as the pair ``(p̄ - e_ŷ, [φ, 1])``.

    ``g`` is the gradient of the cross-entropy at the predicted label
    ``ŷ = argmax p̄`` with respect to the last linear layer's weights and
    bias; it is never formed, only its two factors (see
    :class:`~skal.strategies._geometry.FactoredPoints`).
    """
    a = proba.astype(np.float32, copy=True)
    a[np.arange(len(a)), a.argmax(axis=1)] -= 1.0
    b = np.empty((len(phi), phi.shape[1] + 1), dtype=np.float32)
    b[:, :-1] = phi
    b[:, -1] = 1.0
    return a, b


def gradient_rows(model, rows, predict_params=None):
    """BADGE's two factors of a batch of rows."""
    proba, phi = outputs_of_rows(model, rows, proba=True, embedding=True, predict_params=predict_params)
    return gradient_embedding(proba, phi)
