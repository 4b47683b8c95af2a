"""Uncertainty sampling: query where the mean prediction ``p̄`` is least sure.

These measures read only ``p̄ = mean_s p_s``, so they work with any
classifier (S = 1 for a plain one). With an ensemble they ignore whether the
members agree; for that, see the disagreement strategies.
"""

from .. import measures
from ._base import query_by_measure
from ._docstrings import fill_doc

__all__ = ["entropy", "least_confident", "margin"]


@fill_doc
def least_confident(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, **predict_params
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
    )


@fill_doc
def margin(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, **predict_params
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
    )


@fill_doc
def entropy(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, **predict_params
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
    )
