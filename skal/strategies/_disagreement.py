"""Disagreement sampling: query where the predictive samples disagree.

The samples are committee members, ensemble members or MC-dropout passes
(S of them). Points the samples agree on score 0 whatever ``p̄`` says, so
these measures separate what the model does not know (epistemic
uncertainty, which labels reduce) from noise in the labels (aleatoric
uncertainty, which they do not). With a single sample (S = 1) vote entropy,
variation ratios, BALD, max disagreement and mean STD are 0 everywhere and
the choice is random.
"""

from .. import measures
from ._base import query_by_measure
from ._docstrings import fill_doc

__all__ = [
    "bald",
    "consensus_entropy",
    "max_disagreement",
    "mean_std",
    "power_bald",
    "var_ratios",
    "vote_entropy",
]


@fill_doc
def vote_entropy(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, pixel_pooling=None,
    **predict_params,
):
    """Vote entropy (query by committee): ``H(V/S)``, V(y) the samples voting for y.

    modAL's ``vote_entropy_sampling``. Each sample votes for its arg-max class.

    Parameters
    ----------
    {measure_parameters}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Vote entropies of the selected rows (nats).

    See Also
    --------
    skal.measures.vote_entropy : the measure on ``(S, n, K)`` probability arrays.

    {measure_example}
    """
    return query_by_measure(
        classifier, X_pool, n_instances, measures.vote_entropy,
        random_state=random_state, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )


@fill_doc
def consensus_entropy(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, pixel_pooling=None,
    **predict_params,
):
    """Consensus entropy (query by committee): ``H(p̄)`` of the members' mean.

    modAL's ``consensus_entropy_sampling``; the same choice as
    :func:`entropy`, named for committees.

    Parameters
    ----------
    {measure_parameters}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Consensus entropies of the selected rows (nats).

    See Also
    --------
    skal.measures.consensus_entropy : the measure on ``(S, n, K)`` probability arrays.

    {measure_example}
    """
    return query_by_measure(
        classifier, X_pool, n_instances, measures.consensus_entropy,
        random_state=random_state, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )


@fill_doc
def max_disagreement(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, pixel_pooling=None,
    **predict_params,
):
    """Max disagreement (query by committee): ``max_s KL(p_s ‖ p̄)``.

    modAL's ``max_disagreement_sampling``: the member furthest from the
    consensus decides. (The mean KL over members is :func:`bald`.)

    Parameters
    ----------
    {measure_parameters}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Largest KL divergence to the consensus of the selected rows (nats).

    See Also
    --------
    skal.measures.max_disagreement : the measure on ``(S, n, K)`` probability arrays.

    {measure_example}
    """
    return query_by_measure(
        classifier, X_pool, n_instances, measures.max_disagreement,
        random_state=random_state, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )


@fill_doc
def bald(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, pixel_pooling=None,
    **predict_params,
):
    """BALD: query where the label is most informative about the model.

    The mutual information ``I(y; ω | x) = H(p̄) - mean_s H(p_s)``
    (Houlsby et al. 2011; Gal et al. 2017): high where the samples are each
    confident but disagree. Ranking points one by one, a batch can spend
    several slots on near-copies; :func:`batch_bald` does not.

    Not for budgets below a few hundred labels with batches of 10 or more:
    on the reduced MNIST protocol with a DPE of MLPs (20 to 150 labels, 3
    seeds; ``docs/label_efficiency.rst``) its AUBC is 0.031 below
    random's, because a top-b batch piles onto the few classes the model
    confuses (5.0 classes per batch of 10 in the first rounds, random
    6.7). There, :func:`power_bald` or a batch-aware strategy
    (:func:`cluster_margin`, :func:`auto`) keeps the batch diverse.

    Parameters
    ----------
    {measure_parameters}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Mutual information of the selected rows (nats).

    See Also
    --------
    skal.measures.bald : the measure on ``(S, n, K)`` probability arrays.
    batch_bald : the joint mutual information of a batch.

    {measure_example}
    """
    return query_by_measure(
        classifier, X_pool, n_instances, measures.bald,
        random_state=random_state, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )


@fill_doc
def var_ratios(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, pixel_pooling=None,
    **predict_params,
):
    """Variation ratios: ``1 - (count of the modal vote) / S``.

    Gal et al. (2017)'s best strategy on MNIST with MC dropout.

    Parameters
    ----------
    {measure_parameters}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Variation ratios of the selected rows, in ``[0, 1 - 1/K]``.

    See Also
    --------
    skal.measures.var_ratios : the measure on ``(S, n, K)`` probability arrays.

    {measure_example}
    """
    return query_by_measure(
        classifier, X_pool, n_instances, measures.var_ratios,
        random_state=random_state, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )


@fill_doc
def mean_std(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, pixel_pooling=None,
    **predict_params,
):
    """Mean STD: the samples' standard deviation of each class probability, averaged.

    ``(1/K) Σ_k sqrt(E_s[p_k²] - E_s[p_k]²)`` (Kampffmeyer et al. 2016).

    Parameters
    ----------
    {measure_parameters}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Mean standard deviations of the selected rows.

    See Also
    --------
    skal.measures.mean_std : the measure on ``(S, n, K)`` probability arrays.

    {measure_example}
    """
    return query_by_measure(
        classifier, X_pool, n_instances, measures.mean_std,
        random_state=random_state, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )


@fill_doc
def power_bald(
    classifier, X_pool, n_instances=1, *, power=1.0, random_state=None, chunk_size=None,
    pixel_pooling=None, **predict_params,
):
    """PowerBALD: a batch drawn with probability ∝ ``BALD ** power`` (Kirsch et al. 2023).

    Stochastic batch acquisition: top-b BALD fills a batch with near-copies,
    and BatchBALD's joint information saturates at ``log S`` for an
    ensemble of S members (after 3 or 4 picks for S = 8); drawing the batch
    in proportion to BALD keeps it informative and diverse at the cost of
    one BALD pass.

    Parameters
    ----------
    {power_parameters}

    Returns
    -------
    {query_idx}
        In the order drawn.
    scores : ndarray of shape (n_instances,)
        BALD scores of the picks (nats).

    {power_reference}

    {measure_example}
    """
    return query_by_measure(
        classifier, X_pool, n_instances, measures.bald, power=power,
        random_state=random_state, chunk_size=chunk_size, predict_params=predict_params,
        pixel_pooling=pixel_pooling,
    )
