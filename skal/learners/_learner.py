"""modAL's ``ActiveLearner``, working on current scikit-learn."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._containers import is_pandas, num_rows, stack_columns, stack_rows, take_rows
from .._interrupt import propagate_interrupt
from .._validation import check_finite
from ._query import QueryMixin, resolve_strategy
from ._transaction import rollback_on_error

__all__ = ["ActiveLearner"]


def _final_estimator(estimator):
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def _fixed_classes(estimator):
    """The labels the estimator can take, when they are fixed before fitting; and why.

    ``("classes", labels)``: skorch nets (and skal's estimators built on
    them) size their output layer from ``classes``, so an unseen label would
    fail deep inside the loss with an index error. ``("classes_", labels)``:
    a fitted estimator with ``warm_start=True`` goes on from its first fit's
    classes.
    """
    last = _final_estimator(estimator)
    get_params = getattr(last, "get_params", None)
    if get_params is None:
        return None, None
    params = get_params(deep=False)
    if params.get("classes") is not None:
        return np.asarray(params["classes"]), "classes"
    fitted = getattr(last, "classes_", None)
    if params.get("warm_start") and fitted is not None and np.ndim(fitted) == 1:
        return np.asarray(fitted), "classes_"
    return None, None


def _label_kind(y):
    """``"number"``, ``"text"`` or None (anything else, mixed or empty)."""
    values = np.asarray(y)
    if values.dtype.kind in "biuf":
        return "number"
    if values.dtype.kind in "US":
        return "text"
    if values.dtype.kind == "O" and values.size:
        types = {type(v) for v in values.ravel().tolist()}
        if all(issubclass(t, str) for t in types):
            return "text"
        if all(issubclass(t, numbers.Number) and not issubclass(t, bool) for t in types):
            return "number"
    return None


def _check_label_kind(y_old, y_new):
    """Refuse labels of another kind than the labeled set's (``"3"`` taught after ``3``).

    NumPy would silently turn every label of the stacked set into a string.
    """
    old, new = _label_kind(y_old), _label_kind(y_new)
    if old and new and old != new:
        example = np.asarray(y_new).ravel()[:1].tolist()[0]
        raise ValueError(
            f"y holds {new} labels (for example {example!r}) but the labels taught so far "
            f"are {old}s: pass labels of the same type as before (convert them, e.g. with "
            "y.astype(...)), or start over with fit()."
        )


class ActiveLearner(QueryMixin):
    """Pool-based active learner with modAL's API, on any scikit-learn classifier.

    A drop-in for ``modAL.models.ActiveLearner`` (modAL-python 0.4.2.1) that
    works on scikit-learn >= 1.6 (modAL's own fails on >= 1.8), calls the
    query strategy exactly once per query and accepts strategies returning
    either bare indices or ``(indices, scores)``.

    Parameters
    ----------
    estimator : estimator object
        A scikit-learn compatible classifier or Pipeline. It is fitted in
        place (not cloned), as in modAL.
    query_strategy : callable or str, default=None
        ``strategy(learner, X_pool, n_instances=1, ...)`` returning pool
        indices or ``(indices, scores)``; a name from
        ``skal.strategies.STRATEGIES``; None for ``"least_confident"``.
        Strategies that name the parameters ``X_labeled`` / ``y_labeled`` /
        ``random_state`` receive the training set and a seed automatically.
    X_training, y_training : array-like, default=None
        Initial labeled set; when given, the estimator is fitted on it at once.
    bootstrap_init : bool, default=False
        Fit the initial estimator on a bootstrap resample of the initial set
        (useful for bagging committees).
    on_transformed : bool, default=False
        Tells strategies that work in feature space (modAL's batch
        strategies, for instance) to use :meth:`transform_without_estimating`,
        the pool transformed by the Pipeline's leading steps. As in modAL,
        the learner itself always hands the strategy the raw pool, because
        the strategy's ``predict_proba`` calls go through the whole Pipeline.
    random_state : int, RandomState instance or None, default=None
        Seeds bootstrap resampling and, through a fresh seed per query, the
        strategies that take ``random_state``. None uses numpy's global state.
    ensure_all_finite : bool, default=True
        Reject NaN/inf in numeric training data. Set to False for pipelines
        that impute missing values. (modAL's ``force_all_finite`` is accepted
        as an alias.)
    **fit_kwargs
        Passed to ``estimator.fit`` for the initial fit only (as in modAL).

    Attributes
    ----------
    X_training : array-like or None
        The labeled samples taught so far, in the container they came in
        (ndarray, sparse matrix, DataFrame, list).
    y_training : ndarray, Series or None
        Their labels.
    classes_ : ndarray
        The fitted estimator's class labels.

    See Also
    --------
    Committee : query by committee over several learners.

    Notes
    -----
    Subclasses that train on more than the labeled set (pseudo-labels,
    generated samples) override the hook :meth:`get_training_set`;
    ``X_training`` stays the labeled set that strategies see as
    ``X_labeled``. Such a subclass, whose training depends on the rounds
    before (not only on the labeled set), sets :attr:`history_dependent`
    so that the experiment harness replays every round when it resumes,
    and :attr:`replays_queries` when those rounds must be replayed with
    their queries (the state follows the pools the queries saw).

    A Ctrl-C during training reaches the caller even when the estimator's
    own loop swallows it (skorch nets do), so a loop never goes on with a
    half-trained model.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skal.learners import ActiveLearner
    >>> X, y = load_iris(return_X_y=True)
    >>> def most_uncertain(learner, X_pool, n_instances=1):
    ...     proba = learner.predict_proba(X_pool)
    ...     return (1 - proba.max(axis=1)).argsort()[::-1][:n_instances]
    >>> learner = ActiveLearner(
    ...     RandomForestClassifier(n_estimators=10, random_state=0),
    ...     query_strategy=most_uncertain,
    ...     X_training=X[[0, 50, 100]], y_training=y[[0, 50, 100]],
    ... )
    >>> query_idx, X_query = learner.query(X, n_instances=2)
    >>> X_query.shape
    (2, 4)
    >>> learner.teach(X[query_idx], y[query_idx])
    >>> len(learner.y_training)
    5
    """

    #: Whether what :meth:`teach` trains on depends on earlier rounds (and
    #: not only on the labeled set and the estimator's ``random_state``).
    #: The experiment harness resumes a learner that is not by fitting the
    #: labeled set once; one that is, by replaying every recorded round.
    history_dependent = False
    #: Whether what :meth:`teach` trains on depends on the pools earlier
    #: queries saw (CEAL's pseudo-labels): the harness then replays each
    #: recorded round as query then teach, not teach alone.
    replays_queries = False

    def __init__(
        self,
        estimator,
        query_strategy=None,
        X_training=None,
        y_training=None,
        bootstrap_init=False,
        on_transformed=False,
        *,
        random_state=None,
        ensure_all_finite=True,
        **fit_kwargs,
    ):
        if "force_all_finite" in fit_kwargs:
            # modAL's spelling; scikit-learn >= 1.8 only knows ensure_all_finite.
            ensure_all_finite = fit_kwargs.pop("force_all_finite")
        if not hasattr(estimator, "fit"):
            raise TypeError(
                f"estimator must be a scikit-learn style estimator with fit(), got "
                f"{type(estimator).__name__}."
            )
        self.estimator = estimator
        self.query_strategy = resolve_strategy(query_strategy, "least_confident")
        self.on_transformed = on_transformed
        self.random_state = random_state
        self.ensure_all_finite = ensure_all_finite
        self._rng = check_random_state(random_state)
        self.X_training = None
        self.y_training = None
        if X_training is None and y_training is not None:
            raise ValueError("y_training was given without X_training: pass both or neither.")
        if X_training is not None:
            self._add_training_data(X_training, y_training)
            self._fit_to_known(bootstrap=bootstrap_init, **fit_kwargs)

    def __repr__(self):
        strategy = getattr(self.query_strategy, "__name__", repr(self.query_strategy))
        n = 0 if self.X_training is None else num_rows(self.X_training, name="X_training")
        return (
            f"{type(self).__name__}(estimator={self.estimator!r}, "
            f"query_strategy={strategy}, n_training={n})"
        )

    # -- data ---------------------------------------------------------------

    def _validate_X_y(self, X, y):
        if X is None or y is None:
            raise ValueError("both X and y are required (got None).")
        if not is_pandas(y):
            y = np.asarray(y)
        if np.ndim(y) == 0:
            raise ValueError("y must hold one label per sample, got a scalar.")
        n_X, n_y = num_rows(X, name="X"), num_rows(y, name="y")
        if n_X != n_y:
            raise ValueError(
                f"X has {n_X} samples but y has {n_y} labels: pass one label per sample."
            )
        if n_X == 0:
            raise ValueError("X and y are empty: pass at least one labeled sample.")
        if np.ndim(y) == 2 and np.shape(y)[1] > 1:
            raise ValueError(
                f"y has shape {np.shape(y)}: several labels per sample (multi-label or "
                "multi-output), which skal's learners and strategies do not support yet. "
                "Pass one label per sample, y of shape (n_samples,)."
            )
        if self.ensure_all_finite:
            check_finite(X, name="X")
            check_finite(y, name="y")
        return X, y

    def _add_training_data(self, X, y):
        """Append ``(X, y)`` to the labeled set without refitting."""
        self.X_training, self.y_training = self._extended(*self._validate_X_y(X, y))

    def _extended(self, X, y):
        """The labeled set with the validated ``(X, y)`` appended, not yet stored.

        Everything that can be known wrong before fitting is checked here
        (shapes that do not stack, labels of another kind or outside the
        model's classes), so that :meth:`teach` fails before it changes
        anything.
        """
        self._check_labels(y)
        if self.X_training is None:
            return X, y
        _check_label_kind(self.y_training, y)
        return stack_rows(self.X_training, X, name="X"), stack_rows(self.y_training, y, name="y")

    def _transaction(self):
        """A context in which a failure leaves the learner as it was (see :meth:`teach`)."""
        return rollback_on_error(self, shared=(self.X_training, self.y_training))

    def get_training_set(self, X, y):
        """What the estimator is fitted on, given the labeled data ``(X, y)``.

        The hook for learners that train on more than the labeled set
        (CEAL's pseudo-labels, generated samples): override it to return
        ``(X', y')`` with the extra rows appended. It is called before every
        fit, on the rows about to be fitted (the labeled set, its bootstrap
        resample, or only the new rows with ``teach(only_new=True)``);
        ``X_training`` is left untouched.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of shape (n_samples, ...)
        y : array-like of shape (n_samples,)

        Returns
        -------
        X_fit, y_fit : the same containers
            By default ``(X, y)`` unchanged.
        """
        return X, y

    def _check_labels(self, y):
        declared, why = _fixed_classes(self.estimator)
        if declared is None or np.ndim(y) != 1:
            return
        unseen = np.setdiff1d(np.unique(np.asarray(y)), declared)
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()} that are not in the estimator's "
                f"{why}={declared.tolist()}: " + (
                    "add them to its `classes` parameter, or leave `classes` as None so "
                    "the labels are learned from y." if why == "classes" else
                    "a warm-started model keeps the classes of its first fit; declare every "
                    "class up front with its `classes` parameter, or set warm_start=False."
                )
            )

    def _fit(self, X, y, bootstrap=False, **fit_kwargs):
        if bootstrap:
            n = num_rows(X, name="X")
            rows = self._rng.randint(n, size=n)
            X, y = take_rows(X, rows), take_rows(y, rows)
        X, y = self.get_training_set(X, y)
        self._check_labels(y)
        with propagate_interrupt():
            self.estimator.fit(X, y, **fit_kwargs)
        return self

    def _fit_to_known(self, bootstrap=False, **fit_kwargs):
        """Refit the estimator on the whole labeled set."""
        if self.X_training is None:
            raise NotFittedError(
                "the learner has no training data yet: pass X_training/y_training "
                "or call teach() first."
            )
        return self._fit(self.X_training, self.y_training, bootstrap=bootstrap, **fit_kwargs)

    def _fit_on_new(self, X, y, bootstrap=False, **fit_kwargs):
        X, y = self._validate_X_y(X, y)
        return self._fit(X, y, bootstrap=bootstrap, **fit_kwargs)  # _fit checks the labels

    # -- modAL API ----------------------------------------------------------

    def fit(self, X, y, bootstrap=False, **fit_kwargs):
        """Replace the labeled set with ``(X, y)`` and fit the estimator on it.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of shape (n_samples, ...)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        bootstrap : bool, default=False
            Fit on a bootstrap resample of ``(X, y)``.
        **fit_kwargs
            Passed to ``estimator.fit``.

        Returns
        -------
        self : ActiveLearner
        """
        X, y = self._validate_X_y(X, y)
        self._check_labels(y)
        with self._transaction():
            self.X_training, self.y_training = X, y
            return self._fit_to_known(bootstrap=bootstrap, **fit_kwargs)

    def teach(self, X, y, bootstrap=False, only_new=False, **fit_kwargs):
        """Add newly labeled samples and refit.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of shape (n_samples, ...)
            The queried samples.
        y : array-like of shape (n_samples,)
            Their labels.
        bootstrap : bool, default=False
            Refit on a bootstrap resample of the training data.
        only_new : bool, default=False
            Fit on ``(X, y)`` only, for estimators that train incrementally
            (warm-started nets). The samples still join ``X_training``, so
            strategies see the whole labeled set (modAL's ActiveLearner drops
            them there; its Committee keeps them).
        **fit_kwargs
            Passed to ``estimator.fit``.

        Notes
        -----
        A ``teach`` that raises changes nothing: ``(X, y)`` are checked
        before they join the labeled set (shapes, NaN/inf, labels of the
        same kind as the earlier ones and within the model's fixed
        classes), and when the fit itself fails (or is interrupted) the
        labeled set, the estimator's fitted state and the random state are
        put back as they were.
        """
        X, y = self._validate_X_y(X, y)
        X_all, y_all = self._extended(X, y)
        with self._transaction():
            self.X_training, self.y_training = X_all, y_all
            if only_new:
                self._fit(X, y, bootstrap=bootstrap, **fit_kwargs)
            else:
                self._fit_to_known(bootstrap=bootstrap, **fit_kwargs)

    def _check_ready_to_query(self):
        if self.X_training is not None:
            return
        try:
            check_is_fitted(self.estimator)
        except TypeError:
            # Not a scikit-learn estimator: trust the caller, the strategy will tell.
            return
        except NotFittedError:
            raise NotFittedError(
                "the learner's estimator is not fitted: pass X_training/y_training, "
                "call teach() or fit(), or pass a fitted estimator before query()."
            ) from None

    def predict(self, X, **predict_kwargs):
        """Predictions of the estimator for ``X``."""
        return self.estimator.predict(X, **predict_kwargs)

    def predict_proba(self, X, **predict_proba_kwargs):
        """Class probabilities of the estimator for ``X``."""
        return self.estimator.predict_proba(X, **predict_proba_kwargs)

    def score(self, X, y, **score_kwargs):
        """The estimator's ``score`` (mean accuracy for classifiers) on ``(X, y)``."""
        return self.estimator.score(X, y, **score_kwargs)

    @property
    def classes_(self):
        """Class labels of the fitted estimator."""
        classes = getattr(self.estimator, "classes_", None)
        if classes is None:
            raise AttributeError("classes_ is only available once the estimator is fitted.")
        return classes

    def transform_without_estimating(self, X):
        """``X`` as the final estimator sees it: through the Pipeline's leading steps.

        For an ensemble of Pipelines (voting, stacking) the members'
        transformations are concatenated side by side; for any other
        estimator ``X`` comes back unchanged.
        """
        est = self.estimator
        if isinstance(est, Pipeline):
            return est[:-1].transform(X) if len(est.steps) > 1 else X
        members = [m for m in getattr(est, "estimators_", []) if isinstance(m, Pipeline)]
        if members:
            return stack_columns([m[:-1].transform(X) for m in members])
        return X
