"""BALD query strategy."""

from .. import measures
from ._base import query_by_measure

__all__ = ["bald"]


def bald(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, **predict_params
):
    """BALD: query where the mutual information ``H(p̄) - mean_s H(p_s)`` is highest.

    Houlsby et al. (2011), Gal et al. (2017). Needs several predictive samples
    (ensemble, MC dropout, committee); a single model gives 0 everywhere.

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
        Mutual informations of the selected rows.

    See Also
    --------
    skal.measures.bald : the measure on ``(S, n, K)`` probability arrays.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skal.strategies import bald
    >>> X, y = load_iris(return_X_y=True)
    >>> model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X[::5], y[::5])
    >>> query_idx, scores = bald(model, X, n_instances=3, random_state=0)
    >>> query_idx.shape, scores.shape
    ((3,), (3,))
    """
    return query_by_measure(
        classifier,
        X_pool,
        n_instances,
        measures.bald,
        random_state=random_state,
        chunk_size=chunk_size,
        predict_params=predict_params,
    )
