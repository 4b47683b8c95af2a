"""Selection via proxy (Coleman et al. 2020): a cheap model selects, the target learns."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.utils import check_random_state

from ._learner import ActiveLearner
from ._query import _MAX_SEED

__all__ = ["SelectionViaProxy"]

#: Point-wise measures a rank correlation may be computed with, by name.
_RANK_MEASURES = (
    "least_confident", "margin", "entropy", "bald", "var_ratios", "mean_std",
    "consensus_entropy", "vote_entropy", "max_disagreement",
)


def _resolve_measure(rank_measure):
    if rank_measure is None or callable(rank_measure):
        return rank_measure
    if isinstance(rank_measure, str) and rank_measure in _RANK_MEASURES:
        import skal.measures

        return getattr(skal.measures, rank_measure)
    raise ValueError(
        f"rank_measure={rank_measure!r} is not a measure: pass None, a callable "
        f"(S, n, K) -> (n,), or one of {', '.join(_RANK_MEASURES)}."
    )


def _seed_unset_random_states(estimator, rng):
    """Give every ``random_state`` parameter left to None (Pipelines included) a seed from ``rng``."""
    unset = [
        key for key, value in estimator.get_params(deep=True).items()
        if (key == "random_state" or key.endswith("__random_state")) and value is None
    ]
    if unset:
        estimator.set_params(**{key: int(rng.randint(_MAX_SEED)) for key in unset})
    return estimator


class SelectionViaProxy:
    """Selection via proxy: a small, cheap model does the selecting; the target learns.

    Two learners share one labeled set. The **proxy** (a fast model: a
    logistic regression, a small or briefly trained network) is refitted at
    every :meth:`teach` and is what the query strategy scores; the
    **target** (the model you want, e.g. a deep ensemble) is trained on the
    labeled set only when it is needed: by :meth:`predict`,
    :meth:`predict_proba`, :meth:`score`, :attr:`classes_`,
    :meth:`predict_proba_samples`, :meth:`embed` or :meth:`fit_target`, and
    only if labels were added since its last fit. A labeling campaign thus
    trains the target once, at the end, instead of every round (Coleman et
    al. 2020); the experiment harness, which scores the learner after every
    round, fits it then, outside the round's timed ``teach``, so that a run's
    ``train_seconds`` and ``query_seconds`` are the cost of selecting.

    Any strategy works: it receives the proxy's learner (whose
    ``X_training`` is the labeled set), so ``bald`` needs a proxy with
    predictive samples, ``coreset`` embeds with the proxy, and so on.

    Parameters
    ----------
    estimator : estimator object
        The target: a scikit-learn compatible classifier or Pipeline, fitted
        in place on the labeled set.
    query_strategy : callable or str, default=None
        Any strategy (see :class:`~skal.ActiveLearner`), applied to the
        proxy; None for ``"least_confident"``.
    X_training, y_training : array-like, default=None
        Initial labeled set; the proxy is fitted on it at once.
    bootstrap_init : bool, default=False
        Fit the initial proxy on a bootstrap resample.
    on_transformed : bool, default=False
        See :class:`~skal.ActiveLearner` (the proxy's Pipeline transforms).
    proxy : estimator object
        The selecting model, a scikit-learn compatible classifier or
        Pipeline. It is cloned; its ``random_state`` parameters left to None
        are seeded from ``random_state``.
    rank_measure : str, callable or None, default=None
        When given, every query also scores the whole pool with this measure
        under the proxy and under the target (fitting the target if it is
        out of date) and records Spearman's rank correlation of the two
        (:attr:`rank_correlation_`): how well the proxy stands in for the
        target. A name of :mod:`skal.measures` (``"entropy"``,
        ``"least_confident"``, ``"bald"``, ...) or a function
        ``(S, n, K) -> (n,)``. It costs a scoring of the pool by the target.
    random_state : int, RandomState instance or None, default=None
        Seeds the proxy's learner (bootstrap, strategies' seeds) and the
        proxy's unset ``random_state`` parameters.
    ensure_all_finite : bool, default=True
        See :class:`~skal.ActiveLearner`.

    Attributes
    ----------
    proxy_learner_ : ActiveLearner
        The learner of the proxy: it holds the labeled set and queries.
    target_learner_ : ActiveLearner
        The learner of the target, refitted on the labeled set when needed.
    rank_correlation_ : float or None
        Spearman's correlation of the proxy's and the target's scores of the
        last query's pool (``rank_measure`` given; NaN when one of them is
        constant), None otherwise.

    See Also
    --------
    ActiveLearner : selecting with the target itself.

    References
    ----------
    C. Coleman, C. Yeh, S. Mussmann, B. Mirzasoleiman, P. Bailis, P. Liang,
    J. Leskovec, M. Zaharia. Selection via Proxy: Efficient Data Selection
    for Deep Learning. ICLR 2020 (arXiv:1906.11829).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.learners import SelectionViaProxy
    >>> X, y = load_digits(return_X_y=True)
    >>> learner = SelectionViaProxy(
    ...     RandomForestClassifier(n_estimators=50, random_state=0), "entropy",
    ...     X_training=X[:50], y_training=y[:50],
    ...     proxy=LogisticRegression(max_iter=1000), rank_measure="entropy")
    >>> idx, X_query = learner.query(X[50:], n_instances=10)
    >>> learner.teach(X_query, y[50:][idx])
    >>> -1 <= learner.rank_correlation_ <= 1
    True
    >>> learner.score(X[500:], y[500:]) > 0.5  # the forest, fitted on the 60 labels
    True
    """

    #: The proxy and the target depend only on the labeled set.
    history_dependent = False

    def __init__(
        self,
        estimator,
        query_strategy=None,
        X_training=None,
        y_training=None,
        bootstrap_init=False,
        on_transformed=False,
        *,
        proxy,
        rank_measure=None,
        random_state=None,
        ensure_all_finite=True,
    ):
        if not hasattr(proxy, "fit") or not hasattr(proxy, "get_params"):
            raise TypeError(
                f"proxy must be a scikit-learn style classifier (with fit and get_params), "
                f"got {type(proxy).__name__}."
            )
        self.proxy = proxy
        self.rank_measure = rank_measure
        self._measure = _resolve_measure(rank_measure)
        self.random_state = random_state
        self.ensure_all_finite = ensure_all_finite
        seeded = _seed_unset_random_states(clone(proxy), check_random_state(random_state))
        self.target_learner_ = ActiveLearner(
            estimator, random_state=random_state, ensure_all_finite=ensure_all_finite
        )
        self.proxy_learner_ = ActiveLearner(
            seeded, query_strategy, X_training, y_training, bootstrap_init, on_transformed,
            random_state=random_state, ensure_all_finite=ensure_all_finite,
        )
        self._target_stale = X_training is not None
        self.rank_correlation_ = None

    def __repr__(self):
        return (
            f"SelectionViaProxy(estimator={self.estimator!r}, proxy={self.proxy!r}, "
            f"query_strategy={getattr(self.query_strategy, '__name__', self.query_strategy)!r})"
        )

    # -- what the learner holds -------------------------------------------------

    @property
    def estimator(self):
        """The target estimator (possibly not yet fitted on the latest labels)."""
        return self.target_learner_.estimator

    @property
    def query_strategy(self):
        """The strategy, applied to the proxy."""
        return self.proxy_learner_.query_strategy

    @property
    def on_transformed(self):
        return self.proxy_learner_.on_transformed

    @property
    def X_training(self):
        """The labeled samples (held by the proxy's learner)."""
        return self.proxy_learner_.X_training

    @property
    def y_training(self):
        """Their labels."""
        return self.proxy_learner_.y_training

    # -- training ---------------------------------------------------------------

    def teach(self, X, y, bootstrap=False, only_new=False, **fit_kwargs):
        """Add labeled samples and refit the proxy; the target is refitted when next needed.

        Parameters are those of :meth:`skal.ActiveLearner.teach`, applied to
        the proxy.
        """
        self.proxy_learner_.teach(X, y, bootstrap=bootstrap, only_new=only_new, **fit_kwargs)
        self._target_stale = True

    def fit(self, X, y, bootstrap=False, **fit_kwargs):
        """Replace the labeled set with ``(X, y)`` and refit the proxy.

        Returns
        -------
        self : SelectionViaProxy
        """
        self.proxy_learner_.fit(X, y, bootstrap=bootstrap, **fit_kwargs)
        self._target_stale = True
        return self

    def fit_target(self, **fit_kwargs):
        """Fit the target on the labeled set now.

        Parameters
        ----------
        **fit_kwargs
            Passed to the target's ``fit``.

        Returns
        -------
        self : SelectionViaProxy
        """
        self.target_learner_.fit(self.X_training, self.y_training, **fit_kwargs)
        self._target_stale = False
        return self

    def _target(self):
        if self._target_stale:
            self.fit_target()
        return self.target_learner_

    # -- selection ----------------------------------------------------------------

    def query(self, X_pool, *query_args, return_metrics=False, **query_kwargs):
        """Ask the strategy, applied to the proxy, which pool samples to label next.

        Parameters and return values are those of
        :meth:`skal.ActiveLearner.query`. With ``rank_measure`` the proxy
        and the target also score the whole pool (see
        :attr:`rank_correlation_`).
        """
        result = self.proxy_learner_.query(
            X_pool, *query_args, return_metrics=return_metrics, **query_kwargs
        )
        if self._measure is not None:
            from skal.strategies import score_pool

            target = self._target()
            proxy_scores = score_pool(self.proxy_learner_, X_pool, self._measure)
            target_scores = score_pool(target, X_pool, self._measure)
            if np.ptp(proxy_scores) == 0 or np.ptp(target_scores) == 0:
                self.rank_correlation_ = float("nan")
            else:
                self.rank_correlation_ = float(spearmanr(proxy_scores, target_scores).statistic)
        return result

    def describe_round(self, y_pool=None):
        """What the last query measured besides choosing the batch, as a JSON-able dict.

        Parameters
        ----------
        y_pool : array-like, default=None
            Accepted for a uniform call from the harness; not used.

        Returns
        -------
        info : dict
            ``rank_correlation`` (None without ``rank_measure``, or when undefined).
        """
        rho = self.rank_correlation_
        return {"rank_correlation": None if rho is None or np.isnan(rho) else rho}

    # -- prediction (the target) -----------------------------------------------------

    def predict(self, X, **predict_kwargs):
        """Predictions of the target (fitted first if out of date)."""
        return self._target().predict(X, **predict_kwargs)

    def predict_proba(self, X, **predict_proba_kwargs):
        """Class probabilities of the target (fitted first if out of date)."""
        return self._target().predict_proba(X, **predict_proba_kwargs)

    def predict_proba_samples(self, X, **kwargs):
        """Predictive samples ``(S, n, K)`` of the target (see :func:`skal.models.predict_proba_samples`)."""
        from skal.models import predict_proba_samples

        return predict_proba_samples(self._target().estimator, X, **kwargs)

    def embed(self, X):
        """The target's embedding of ``X`` (see :func:`skal.models.embed`)."""
        from skal.models import embed

        return embed(self._target().estimator, X)

    def score(self, X, y, **score_kwargs):
        """The target's ``score`` on ``(X, y)`` (fitted first if out of date)."""
        return self._target().score(X, y, **score_kwargs)

    @property
    def classes_(self):
        """Class labels of the target (fitted first if out of date)."""
        return self._target().classes_

    def transform_without_estimating(self, X):
        """``X`` through the leading steps of the proxy's Pipeline (what the strategy sees)."""
        return self.proxy_learner_.transform_without_estimating(X)
