"""Expected model change: query the points whose label would move the model most.

Both strategies work on the last linear layer, where the gradient of the
cross-entropy at a label y has a closed form: for logits ``W [φ(x), 1]``,
``∇_W L(x, y) = (p - e_y) ⊗ [φ(x), 1]``, so ``‖∇_W L‖ = ‖p - e_y‖ · ‖[φ(x), 1]‖``.
No backward pass is needed, only the model's embedding and probabilities.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

from .._validation import check_n_instances, check_scalar
from ._base import as_pool, check_chunk_size
from ._docstrings import fill_doc
from ._rows import EMBED_ROWS, outputs_of_rows

__all__ = ["egl", "emoc"]


def _expected_residual_norm(proba, ord):
    """``Σ_y p̄_y ‖p̄ - e_y‖_ord`` for every row (ord 1 or 2)."""
    proba = proba.astype(np.float64)
    if ord == 2:
        # ‖p̄ - e_y‖² = ‖p̄‖² - 2 p̄_y + 1
        sq = (proba**2).sum(axis=1, keepdims=True) - 2 * proba + 1
        return (proba * np.sqrt(np.maximum(sq, 0))).sum(axis=1)
    # ‖p̄ - e_y‖₁ = (‖p̄‖₁ - p̄_y) + (1 - p̄_y) = 2 (1 - p̄_y) for a distribution
    return (proba * 2 * (1 - proba)).sum(axis=1)


def _egl_rows(model, rows, predict_params=None):
    """EGL of a batch of rows: ``‖[φ, 1]‖ · Σ_y p̄_y ‖p̄ - e_y‖``."""
    proba, phi = outputs_of_rows(model, rows, proba=True, embedding=True, predict_params=predict_params)
    feature_norm = np.sqrt((phi.astype(np.float64) ** 2).sum(axis=1) + 1.0)
    return feature_norm * _expected_residual_norm(proba, ord=2)


def _emoc_rows(model, rows, predict_params=None):
    """EMOC's two factors of a batch of rows: ``Σ_y p̄_y ‖p̄ - e_y‖₁`` and ``[φ, 1]``."""
    proba, phi = outputs_of_rows(model, rows, proba=True, embedding=True, predict_params=predict_params)
    b = np.concatenate([phi, np.ones((len(phi), 1), dtype=phi.dtype)], axis=1)
    return _expected_residual_norm(proba, ord=1), b


def _output_change(residual, b, reference):
    """``residual · mean_{x'} |<[φ(x'), 1], [φ(x), 1]>|`` of every row, in row blocks."""
    alignment = np.empty(len(b))
    rows = max(1, 2**24 // max(1, len(reference)))  # (rows, R) float32 blocks of 64 MiB
    for start in range(0, len(b), rows):
        alignment[start : start + rows] = np.abs(b[start : start + rows] @ reference.T).mean(axis=1)
    return residual * alignment


@fill_doc
def egl(classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, **predict_params):
    """Expected gradient length (Settles et al. 2008), closed form for the last layer.

    ``EGL(x) = Σ_y p̄(y|x) ‖∇_θ L(x, y)‖`` over the weights and bias of the
    last linear layer, ``= ‖[φ(x), 1]‖ · Σ_y p̄_y ‖p̄ - e_y‖``: large where
    the model is unsure *and* the embedding is large (a label there would
    change the output layer most).

    Parameters
    ----------
    {classifier}
        Its embedding and mean class probabilities are used.
    {X_pool}
    {n_instances}
    random_state : int, RandomState instance or None, default=None
        Breaks ties.
    {chunk_size}
    {predict_params}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Expected last-layer gradient norms of the picks.

    References
    ----------
    B. Settles, M. Craven, S. Ray. Multiple-Instance Active Learning. NIPS 2008.

    {measure_example}
    """
    pool = as_pool(X_pool)
    n_instances = check_n_instances(n_instances, pool.n_rows)
    chunk_size = check_chunk_size(chunk_size)
    rng = check_random_state(random_state)
    scores = pool.map_rows(_egl_rows, classifier, chunk_size=chunk_size or EMBED_ROWS, vector=True,
                           predict_params=predict_params)
    return pool.top_n(scores, n_instances, rng)


@fill_doc
def emoc(
    classifier,
    X_pool,
    n_instances=1,
    *,
    n_reference=1000,
    random_state=None,
    chunk_size=None,
    **predict_params,
):
    """Expected model output change (Freytag et al. 2014; Käding et al. 2016), first order, last layer.

    One gradient step on ``(x, y)`` changes the logits of a point x' by
    about ``∇_θ f(x')ᵀ ∇_θ L(x, y)``; for the last layer that is
    ``(p - e_y) · <[φ(x'), 1], [φ(x), 1]>``. Its L1 norm, averaged over
    reference points x' of the pool and over ``y ~ p̄``:
    ``EMOC(x) = Σ_y p̄_y ‖p̄ - e_y‖₁ · mean_{x'} |<[φ(x'), 1], [φ(x), 1]>|``.
    It prefers uncertain points whose embedding is aligned with much of the
    pool: a label there moves many predictions.

    Parameters
    ----------
    {classifier}
        Its embedding and mean class probabilities are used.
    {X_pool}
    {n_instances}
    n_reference : int or None, default=1000
        The points x' whose output change is averaged: the whole pool when
        smaller, else this many drawn at random (``None``: always all; the
        cost is ``O(n · n_reference · d)``).
    random_state : int, RandomState instance or None, default=None
        Draws the reference points and breaks ties.
    {chunk_size}
    {predict_params}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Expected L1 change of the reference points' logits.

    References
    ----------
    A. Freytag, E. Rodner, J. Denzler. Selecting Influential Examples:
    Active Learning with Expected Model Output Changes. ECCV 2014.
    C. Käding, E. Rodner, A. Freytag, J. Denzler. Active and Continuous
    Exploration with Deep Neural Networks and Expected Model Output
    Changes. NIPS Workshop 2016.

    {measure_example}
    """
    pool = as_pool(X_pool)
    n_pool = pool.n_rows
    n_instances = check_n_instances(n_instances, n_pool)
    n_reference = check_scalar(n_reference, "n_reference", numbers.Integral, min_val=1, allow_none=True)
    chunk_size = check_chunk_size(chunk_size)
    rng = check_random_state(random_state)
    residual, b = pool.map_rows(_emoc_rows, classifier, chunk_size=chunk_size or EMBED_ROWS,
                                predict_params=predict_params)
    reference = None  # every pool row
    if n_reference is not None and n_pool > n_reference:
        reference = np.sort(rng.choice(n_pool, size=n_reference, replace=False))
    # the reference vectors go where the pool's blocks are, not here
    scores = pool.map_values(_output_change, residual, b, reference=pool.rows_of(b, reference))
    return pool.top_n(scores, n_instances, rng)
