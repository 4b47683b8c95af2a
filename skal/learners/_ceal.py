"""Cost-Effective Active Learning (Wang et al. 2016): confident pool points train too."""

from __future__ import annotations

import numbers

import numpy as np

from .._containers import num_rows, stack_rows, take_rows
from .._validation import check_scalar
from ._learner import ActiveLearner

__all__ = ["CEAL"]


class CEAL(ActiveLearner):
    """Cost-Effective Active Learning: also train on confident pool points, pseudo-labeled.

    Each round the query strategy picks the batch to label, as in
    :class:`~skal.ActiveLearner`; besides, the pool points whose predictive
    entropy is below ``delta_t = delta - delta_decay * t`` (``t`` = queries
    made before this one) are given the label the model predicts for them.
    The fits until the next query train on the labeled set *and* those
    pseudo-labeled points (Wang et al. 2016); the pseudo-labels never join
    the labeled set (``X_training``, what strategies see as ``X_labeled``)
    and are chosen afresh at every query.

    **Where the pool comes from.** The learner remembers the pool of its
    last :meth:`query`: the candidates are that pool minus the rows the
    query returned, and the model that predicts their labels is the one
    that queried (as in the paper, before the new labels arrive). Nothing
    else has to be passed, so a modAL-style loop works unchanged.

    Parameters
    ----------
    estimator : estimator object
        A scikit-learn compatible classifier or Pipeline, fitted in place.
    query_strategy : callable or str, default=None
        Any strategy (see :class:`~skal.ActiveLearner`); None is
        ``"entropy"``, the uncertainty measure of the paper.
    X_training, y_training : array-like, default=None
        Initial labeled set; when given, the estimator is fitted on it at once.
    bootstrap_init : bool, default=False
        Fit the initial estimator on a bootstrap resample.
    on_transformed : bool, default=False
        See :class:`~skal.ActiveLearner`.
    delta : float, default=0.05
        The entropy threshold of the first query, ``delta_0``, in nats
        (the maximum is ``log K``); 0 turns pseudo-labeling off.
    delta_decay : float, default=0.0033
        Decrease of the threshold per query, ``d``: the model is trusted
        less and less as real labels accumulate. ``delta=0.05`` and
        ``delta_decay=0.0033`` are the paper's values for its face data.
    random_state : int, RandomState instance or None, default=None
        See :class:`~skal.ActiveLearner`.
    ensure_all_finite : bool, default=True
        See :class:`~skal.ActiveLearner`.
    **fit_kwargs
        Passed to ``estimator.fit`` for the initial fit only.

    Attributes
    ----------
    pseudo_labeled_ : tuple of ndarray ``(indices, labels)``
        The pseudo-labeled points of the last query: positions in the pool
        it was given, and their predicted labels. Empty before a query.
    delta_ : float or None
        The threshold of the last query.
    rounds_ : list of dict
        One entry per query: ``delta`` and ``n_pseudo`` (how many points
        were pseudo-labeled).

    See Also
    --------
    ActiveLearner : the loop without pseudo-labels.

    Notes
    -----
    Scoring the pool for pseudo-labels costs one more prediction of the pool
    per query. The learner is ``history_dependent``: what it trains on
    depends on the pools it was shown, so the experiment harness replays
    each round, its query then its teach, when it resumes a run
    (``replays_queries``).

    References
    ----------
    K. Wang, D. Zhang, Y. Li, R. Zhang, L. Lin. Cost-Effective Active
    Learning for Deep Image Classification. IEEE TCSVT 27(12), 2017
    (arXiv:1701.03551, 2016).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.learners import CEAL
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> learner = CEAL(LogisticRegression(max_iter=500), "entropy",
    ...                X_training=X[:100], y_training=y[:100], delta=0.5)
    >>> idx, _ = learner.query(X[100:], n_instances=10)
    >>> pseudo_idx, pseudo_labels = learner.pseudo_labeled_
    >>> len(pseudo_idx) > 0 and bool((pseudo_labels == y[100:][pseudo_idx]).mean() > 0.95)
    True
    >>> learner.teach(X[100:][idx], y[100:][idx])  # trains on the pseudo-labels too
    >>> len(learner.y_training)
    110
    """

    history_dependent = True
    replays_queries = True

    def __init__(
        self,
        estimator,
        query_strategy=None,
        X_training=None,
        y_training=None,
        bootstrap_init=False,
        on_transformed=False,
        *,
        delta=0.05,
        delta_decay=0.0033,
        random_state=None,
        ensure_all_finite=True,
        **fit_kwargs,
    ):
        self.delta = check_scalar(delta, "delta", numbers.Real, min_val=0)
        self.delta_decay = check_scalar(delta_decay, "delta_decay", numbers.Real, min_val=0)
        self._forget_pseudo_labels()
        super().__init__(
            estimator,
            "entropy" if query_strategy is None else query_strategy,
            X_training,
            y_training,
            bootstrap_init,
            on_transformed,
            random_state=random_state,
            ensure_all_finite=ensure_all_finite,
            **fit_kwargs,
        )

    def _forget_pseudo_labels(self):
        self.pseudo_labeled_ = (np.empty(0, dtype=np.intp), np.empty(0))
        self._pseudo_X = None
        self._pool_size = None
        self.delta_ = None
        self.rounds_ = []

    def query(self, X_pool, *query_args, return_metrics=False, **query_kwargs):
        """Query the strategy, then pseudo-label the confident rest of ``X_pool``.

        Same parameters and return values as :meth:`skal.ActiveLearner.query`.
        """
        result = super().query(X_pool, *query_args, return_metrics=return_metrics, **query_kwargs)
        self._pseudo_label(X_pool, result[0])
        return result

    def _pseudo_label(self, X_pool, queried):
        from skal.measures import entropy
        from skal.strategies._base import pool_outputs

        delta = self.delta - self.delta_decay * len(self.rounds_)
        rest = np.setdiff1d(np.arange(num_rows(X_pool)), queried)
        idx, labels = np.empty(0, dtype=np.intp), np.empty(0, dtype=self.classes_.dtype)
        if delta > 0 and len(rest):
            (proba,) = pool_outputs(self, take_rows(X_pool, rest), proba=True)
            confident = entropy(proba) < delta
            idx = rest[confident]
            labels = self.classes_[proba[confident].argmax(axis=1)]
        self.pseudo_labeled_ = (idx, labels)
        self._pseudo_X = take_rows(X_pool, idx) if len(idx) else None
        self._pool_size = num_rows(X_pool)
        self.delta_ = float(delta)
        self.rounds_.append({"delta": self.delta_, "n_pseudo": int(len(idx))})

    def get_training_set(self, X, y):
        """The rows ``(X, y)`` followed by the pseudo-labeled points of the last query.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of shape (n_samples, ...)
        y : array-like of shape (n_samples,)

        Returns
        -------
        X_fit, y_fit : the same containers, longer by ``len(pseudo_labeled_[0])``
        """
        if self._pseudo_X is None:
            return X, y
        return stack_rows(X, self._pseudo_X), stack_rows(y, self.pseudo_labeled_[1], name="y")

    def fit(self, X, y, bootstrap=False, **fit_kwargs):
        """Start over on the labeled set ``(X, y)``: pseudo-labels and threshold schedule are reset.

        Parameters and return value as :meth:`skal.ActiveLearner.fit`.
        """
        with self._transaction():
            self._forget_pseudo_labels()
            return super().fit(X, y, bootstrap=bootstrap, **fit_kwargs)

    def describe_round(self, y_pool=None):
        """What the last query did besides choosing the batch, as a JSON-able dict.

        Parameters
        ----------
        y_pool : array-like of shape (n_pool,), default=None
            The true labels of the pool given to the last query, when they
            are known (a simulation): the pseudo-labels are then scored.

        Returns
        -------
        info : dict
            ``delta`` (the threshold of the last query, None before any)
            and ``n_pseudo``; with ``y_pool`` also ``n_pseudo_correct``.
        """
        idx, labels = self.pseudo_labeled_
        info = {"delta": self.delta_, "n_pseudo": int(len(idx))}
        if y_pool is not None:
            truth = np.asarray(y_pool)
            if self._pool_size is None or truth.shape != (self._pool_size,):
                raise ValueError(
                    f"y_pool has shape {truth.shape}; it must hold one label per row of the "
                    f"pool given to the last query ({self._pool_size} rows)."
                )
            info["n_pseudo_correct"] = int(np.sum(truth[idx] == labels))
        return info
