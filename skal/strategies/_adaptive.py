"""Budget-aware sampling: the strategy that suits how many labels there are.

Hacohen, Dekel & Weinshall (2022) show that the best query changes with the
budget: with a handful of labels per class the model's uncertainty is
noise, and *typical* points (dense regions nothing labeled covers) teach it
most; once it has seen a few examples of every class, *uncertain* points
do, and a batch of them must also be *diverse* not to repeat itself.
:func:`auto` follows that rule, so that a user who does not want to choose
gets a strategy that is sound at both ends of the budget.
"""

from __future__ import annotations

import numbers

from .._containers import num_rows
from .._validation import check_scalar
from ._base import labeled_set
from ._diversity import typiclust
from ._docstrings import fill_doc
from ._hybrid import cluster_margin

__all__ = ["auto"]


def _n_classes(classifier):
    from ..models import get_classes

    try:
        return len(get_classes(classifier))
    except AttributeError:
        return None


@fill_doc
def auto(
    classifier,
    X_pool,
    n_instances=1,
    *,
    X_labeled=None,
    labels_per_class=5,
    random_state=None,
    chunk_size=None,
    verbose=False,
    **predict_params,
):
    """Budget-aware default: typical points first, then uncertain and diverse ones.

    While the labeled set holds fewer than ``labels_per_class`` labels per
    class on average, the batch is :func:`typiclust`'s (on the input
    features, which do not depend on a model trained on a handful of
    labels); from then on it is :func:`cluster_margin`'s, the most uncertain
    points by margin clustered so that the batch covers several regions.
    The switch uses only what a real campaign knows: the size of the
    labeled set and the number of classes.

    Parameters
    ----------
    {classifier}
    {X_pool}
    {n_instances}
    X_labeled : array-like of shape (n_labeled, ...), default=None
        The labeled set (skal's learners pass it; from a modAL learner it is
        read from ``classifier.X_training``). Without one, the budget counts
        as low.
    labels_per_class : float, default=5
        The low-budget regime ends when the labeled set reaches this many
        labels per class (Hacohen et al.'s low budgets are a few labels per
        class).
    random_state : int, RandomState instance or None, default=None
    {chunk_size}
    verbose : bool, default=False
        Progress bars of the strategy in use.
    {predict_params}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        The scores of the strategy in use (typicality, then margin
        uncertainty).

    See Also
    --------
    typiclust, cluster_margin : the two regimes.

    References
    ----------
    G. Hacohen, A. Dekel, D. Weinshall. Active Learning on a Budget:
    Opposite Strategies Suit High and Low Budgets. ICML 2022.

    {measure_example}
    """
    labels_per_class = check_scalar(
        labels_per_class, "labels_per_class", numbers.Real, min_val=0
    )
    X_labeled = labeled_set(classifier, X_labeled)
    n_labeled = 0 if X_labeled is None else num_rows(X_labeled, name="X_labeled")
    n_classes = _n_classes(classifier)
    if n_classes is None or n_labeled < labels_per_class * n_classes:
        return typiclust(
            classifier, X_pool, n_instances, X_labeled=X_labeled, representation="input",
            random_state=random_state, chunk_size=chunk_size,
        )
    return cluster_margin(
        classifier, X_pool, n_instances, random_state=random_state, chunk_size=chunk_size,
        verbose=verbose, **predict_params,
    )
