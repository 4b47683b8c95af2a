"""Maximum-entropy sampling query strategy."""

from .. import measures
from ._base import query_by_measure

__all__ = ["entropy"]


def entropy(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, **predict_params
):
    """Maximum-entropy sampling: query where the predictive entropy ``H(p̄)`` is highest.

    Parameters
    ----------
    classifier : estimator, learner or committee
        A fitted classifier: modAL/skal ``ActiveLearner`` or ``Committee``, a
        Pipeline, a scikit-learn ensemble (one sample per member), one of
        skal's probabilistic estimators or any classifier with
        ``predict_proba`` (S = 1). Probabilities are read through
        :func:`skal.models.predict_proba_samples`.
    X_pool : array-like, DataFrame, sparse matrix, tensor or list of shape (n_pool, ...)
        Unlabeled samples; never modified.
    n_instances : int, default=1
        Number of pool rows to return, ``1 <= n_instances <= n_pool``.
    random_state : int, RandomState instance or None, default=None
        Breaks ties between equal scores.
    chunk_size : int or None, default=None
        Rows scored at once; ``None`` sizes chunks to about 64 MiB of
        predictive samples.
    **predict_params
        Passed to ``predict_proba_samples`` (for example ``n_samples`` for MC
        dropout).

    Returns
    -------
    query_idx : ndarray of shape (n_instances,)
        Distinct positions in ``X_pool``, best first.
    scores : ndarray of shape (n_instances,)
        Predictive entropies of the selected rows.

    See Also
    --------
    skal.measures.entropy : the measure on ``(S, n, K)`` probability arrays.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.strategies import entropy
    >>> X, y = load_iris(return_X_y=True)
    >>> model = LogisticRegression(max_iter=500).fit(X[::5], y[::5])
    >>> query_idx, scores = entropy(model, X, n_instances=3, random_state=0)
    >>> query_idx.shape, scores.shape
    ((3,), (3,))
    """
    return query_by_measure(
        classifier,
        X_pool,
        n_instances,
        measures.entropy,
        random_state=random_state,
        chunk_size=chunk_size,
        predict_params=predict_params,
    )
