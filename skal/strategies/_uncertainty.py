"""Uncertainty sampling: query where the mean prediction ``p̄`` is least sure.

These measures read only ``p̄ = mean_s p_s``, so they work with any
classifier (S = 1 for a plain one). With an ensemble they ignore whether the
members agree; for that, see the disagreement strategies.
"""

from .. import measures
from ._base import query_by_measure
from ._docstrings import fill_doc

__all__ = ["entropy", "least_confident", "margin", "power_entropy", "power_margin"]


@fill_doc
def least_confident(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, pixel_pooling=None,
    **predict_params,
):
    """Least-confidence sampling: query where ``1 - max_y p̄(y|x)`` is highest.

    modAL's ``uncertainty_sampling`` (registered under that name too).

    Parameters
    ----------
    {measure_parameters}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        ``1 - max_y p̄(y|x)`` of the selected rows.

    See Also
    --------
    skal.measures.least_confident : the measure on ``(S, n, K)`` probability arrays.

    {measure_example}
    """
    return query_by_measure(
        classifier, X_pool, n_instances, measures.least_confident,
        random_state=random_state, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )


@fill_doc
def margin(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, pixel_pooling=None,
    **predict_params,
):
    """Margin sampling: query where the two most probable classes of ``p̄`` are closest.

    modAL's ``margin_sampling``. The score is the negated margin
    ``-(p̄₁ - p̄₂)``, so that higher still means "query first".

    Parameters
    ----------
    {measure_parameters}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Negated margins of the selected rows (in ``[-1, 0]``).

    See Also
    --------
    skal.measures.margin : the measure on ``(S, n, K)`` probability arrays.

    {measure_example}
    """
    return query_by_measure(
        classifier, X_pool, n_instances, measures.margin,
        random_state=random_state, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )


@fill_doc
def entropy(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, pixel_pooling=None,
    **predict_params,
):
    """Maximum-entropy sampling: query where the predictive entropy ``H(p̄)`` is highest.

    modAL's ``entropy_sampling``; Gal et al. (2017)'s "max entropy".

    Parameters
    ----------
    {measure_parameters}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Predictive entropies of the selected rows (nats).

    See Also
    --------
    skal.measures.entropy : the measure on ``(S, n, K)`` probability arrays.

    {measure_example}
    """
    return query_by_measure(
        classifier, X_pool, n_instances, measures.entropy,
        random_state=random_state, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )


@fill_doc
def power_entropy(
    classifier, X_pool, n_instances=1, *, power=1.0, random_state=None, chunk_size=None,
    pixel_pooling=None, **predict_params,
):
    """Stochastic entropy sampling: a batch drawn with probability ∝ ``H(p̄) ** power``.

    Top-b entropy spends a batch on near-copies of the most confusing
    point; drawing the batch in proportion to the scores keeps it on
    uncertain points but spreads it (Kirsch et al. 2023), at the cost of
    one top-b.

    Parameters
    ----------
    {power_parameters}

    Returns
    -------
    {query_idx}
        In the order drawn.
    scores : ndarray of shape (n_instances,)
        Predictive entropies of the picks.

    {power_reference}

    {measure_example}
    """
    return query_by_measure(
        classifier, X_pool, n_instances, measures.entropy, power=power,
        random_state=random_state, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )


def _one_minus_margin(proba_samples):
    """``1 - (p̄₁ - p̄₂)`` in [0, 1]: the margin as a non-negative uncertainty."""
    return 1 + measures.margin(proba_samples)


@fill_doc
def power_margin(
    classifier, X_pool, n_instances=1, *, power=1.0, random_state=None, chunk_size=None,
    pixel_pooling=None, **predict_params,
):
    """Stochastic margin sampling: a batch drawn with probability ∝ ``(1 - (p̄₁ - p̄₂)) ** power``.

    The margin made non-negative, then drawn as :func:`power_entropy` draws
    entropies (Kirsch et al. 2023).

    Parameters
    ----------
    {power_parameters}

    Returns
    -------
    {query_idx}
        In the order drawn.
    scores : ndarray of shape (n_instances,)
        ``1 - (p̄₁ - p̄₂)`` of the picks.

    {power_reference}

    {measure_example}
    """
    return query_by_measure(
        classifier, X_pool, n_instances, _one_minus_margin, power=power,
        random_state=random_state, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )
