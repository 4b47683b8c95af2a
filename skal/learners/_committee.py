"""modAL's query-by-committee ``Committee``, working on current scikit-learn."""

from __future__ import annotations

import contextlib

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.utils import check_random_state

from .._containers import is_pandas, num_rows, stack_columns, stack_rows
from ._query import QueryMixin, resolve_strategy
from ._transaction import rollback_on_error

__all__ = ["Committee"]


def _member_classes(learner):
    # modAL's learners have no classes_ of their own; their estimator does.
    classes = getattr(learner, "classes_", None)
    if classes is None:
        classes = learner.estimator.classes_
    return np.asarray(classes)


def _member_transaction(learner):
    # skal's learners know what they hold; modAL's get the generic snapshot.
    transaction = getattr(learner, "_transaction", None)
    if transaction is not None:
        return transaction()
    held = (getattr(learner, "X_training", None), getattr(learner, "y_training", None))
    return rollback_on_error(learner, shared=held)


def _same_rows(a, b):
    if a is b:
        return True
    if type(a) is not type(b) or num_rows(a, name="X") != num_rows(b, name="X"):
        return False
    if sp.issparse(a):
        return a.shape == b.shape and (a != b).nnz == 0
    if is_pandas(a):
        return a.equals(b)
    if isinstance(a, list):
        return all(x is y or np.array_equal(x, y) for x, y in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b))


class Committee(QueryMixin):
    """Query by committee with modAL's API, on current scikit-learn.

    A drop-in for ``modAL.models.Committee`` (modAL-python 0.4.2.1). Its
    members are :class:`ActiveLearner` objects (modAL's learners work too);
    the committee predicts by consensus (mean of the members' class
    probabilities) over the union of the classes its members know.

    Parameters
    ----------
    learner_list : list of ActiveLearner
        The members. Each keeps its own training data; :meth:`teach` adds
        the new samples to all of them.
    query_strategy : callable or str, default=None
        ``strategy(committee, X_pool, n_instances=1, ...)`` returning pool
        indices or ``(indices, scores)``; a name from
        ``skal.strategies.STRATEGIES``; None for ``"vote_entropy"``.
    on_transformed : bool, default=False
        Tells feature-space strategies to use
        :meth:`transform_without_estimating` (see :class:`ActiveLearner`).
    random_state : int, RandomState instance or None, default=None
        A fresh seed per query for strategies that take ``random_state``.

    Attributes
    ----------
    classes_ : ndarray or None
        Sorted union of the members' classes (None while a member is unfitted).
    n_classes_ : int
        ``len(classes_)`` (0 while a member is unfitted).
    X_training, y_training : array-like or None
        The committee's labeled set: the members' common training data, or
        all of it stacked when the members were started on different data.

    Notes
    -----
    ``query`` takes ``return_metrics`` by keyword only, like modAL's
    ``ActiveLearner.query``; modAL's ``Committee.query`` takes it as the
    second positional argument, so there ``committee.query(X, 5)`` silently
    means ``return_metrics=5``. :meth:`vote` keeps the labels' dtype where
    modAL casts them to float.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skal.learners import ActiveLearner, Committee
    >>> X, y = load_iris(return_X_y=True)
    >>> members = [
    ...     ActiveLearner(RandomForestClassifier(n_estimators=5, random_state=s),
    ...                   query_strategy=lambda c, X, n_instances=1: list(range(n_instances)),
    ...                   X_training=X[[s, 50 + s, 100 + s]],
    ...                   y_training=y[[s, 50 + s, 100 + s]])
    ...     for s in range(3)
    ... ]
    >>> def disagreement(committee, X_pool, n_instances=1):
    ...     votes = committee.vote(X_pool)
    ...     n_distinct = [len(set(row)) for row in votes]
    ...     return sorted(range(len(n_distinct)), key=lambda i: -n_distinct[i])[:n_instances]
    >>> committee = Committee(members, query_strategy=disagreement)
    >>> idx, X_query = committee.query(X, n_instances=3)
    >>> committee.teach(X[idx], y[idx])
    >>> committee.vote_proba(X[:2]).shape
    (2, 3, 3)
    """

    def __init__(self, learner_list, query_strategy=None, on_transformed=False, *, random_state=None):
        if not isinstance(learner_list, (list, tuple)) or len(learner_list) == 0:
            raise ValueError("learner_list must be a non-empty list of ActiveLearner objects.")
        for i, learner in enumerate(learner_list):
            if not (hasattr(learner, "estimator") and hasattr(learner, "teach")):
                raise TypeError(
                    f"learner_list[{i}] is a {type(learner).__name__}; wrap each estimator "
                    "in an ActiveLearner first."
                )
        self.learner_list = list(learner_list)
        self.query_strategy = resolve_strategy(query_strategy, "vote_entropy")
        self.on_transformed = on_transformed
        self.random_state = random_state
        self._rng = check_random_state(random_state)
        self._set_classes()

    def __iter__(self):
        return iter(self.learner_list)

    def __len__(self):
        return len(self.learner_list)

    def __repr__(self):
        strategy = getattr(self.query_strategy, "__name__", repr(self.query_strategy))
        return f"Committee(n_learners={len(self)}, query_strategy={strategy})"

    def _set_classes(self):
        # A regressor has no classes_: unchecked, a committee of them would read
        # as "not fitted" however often it is fitted. Here, construction fails.
        for i, learner in enumerate(self.learner_list):
            estimator = getattr(learner, "estimator", None)
            try:
                regressor = is_regressor(estimator)
            except AttributeError:  # no scikit-learn tags: judged by its classes_ below
                regressor = False
            if regressor:
                raise TypeError(
                    f"learner_list[{i}] wraps a regressor ({type(estimator).__name__}), but "
                    "Committee is for classifiers: it votes on labels and its strategies "
                    "read class probabilities. A committee of regressors (querying where "
                    "their predictions spread most) is not supported yet; it is planned as "
                    "a separate CommitteeRegressor. Use classifiers here, or one "
                    "ActiveLearner with a regressor and a strategy of your own."
                )
        try:
            known = [_member_classes(learner) for learner in self.learner_list]
        except AttributeError:
            # A member is not fitted yet: modAL's convention.
            self.classes_, self.n_classes_ = None, 0
            return
        self.classes_ = np.unique(np.concatenate(known))
        self.n_classes_ = len(self.classes_)

    def _labeled(self):
        sets = [
            (learner.X_training, learner.y_training)
            for learner in self.learner_list
            if getattr(learner, "X_training", None) is not None
        ]
        if not sets:
            return None, None
        X0, y0 = sets[0]
        if all(_same_rows(X, X0) and _same_rows(y, y0) for X, y in sets[1:]):
            return X0, y0
        X, y = X0, y0
        for Xi, yi in sets[1:]:
            X, y = stack_rows(X, Xi), stack_rows(y, yi, name="y")
        return X, y

    @property
    def X_training(self):
        """The committee's labeled samples (see the class docstring)."""
        return self._labeled()[0]

    @property
    def y_training(self):
        """Labels of :attr:`X_training`."""
        return self._labeled()[1]

    def _check_ready_to_query(self):
        if self.classes_ is None:
            self._set_classes()
        if self.classes_ is None:
            raise NotFittedError(
                "not every committee member is fitted: give each ActiveLearner "
                "X_training/y_training, or call the committee's teach() or fit() first."
            )

    # -- training -----------------------------------------------------------

    def _add_training_data(self, X, y):
        for learner in self.learner_list:
            learner._add_training_data(X, y)

    @contextlib.contextmanager
    def _transaction(self):
        """A context in which a failure leaves the committee and every member as they were."""
        with contextlib.ExitStack() as stack:
            for learner in self.learner_list:
                stack.enter_context(_member_transaction(learner))
            # the members are put back by their own transactions
            stack.enter_context(rollback_on_error(self, shared=(self.learner_list, *self.learner_list)))
            yield

    def _fit_to_known(self, bootstrap=False, **fit_kwargs):
        for learner in self.learner_list:
            learner._fit_to_known(bootstrap=bootstrap, **fit_kwargs)
        self._set_classes()
        return self

    def _fit_on_new(self, X, y, bootstrap=False, **fit_kwargs):
        for learner in self.learner_list:
            learner._fit_on_new(X, y, bootstrap=bootstrap, **fit_kwargs)
        self._set_classes()
        return self

    def fit(self, X, y, bootstrap=False, **fit_kwargs):
        """Replace every member's training data with ``(X, y)`` and refit.

        Parameters
        ----------
        X, y : array-like
            The labeled data.
        bootstrap : bool, default=False
            Fit each member on its own bootstrap resample (bagging).
        **fit_kwargs
            Passed to each member's ``estimator.fit``.

        Returns
        -------
        self : Committee
        """
        with self._transaction():
            for learner in self.learner_list:
                learner.fit(X, y, bootstrap=bootstrap, **fit_kwargs)
            self._set_classes()
        return self

    def teach(self, X, y, bootstrap=False, only_new=False, **fit_kwargs):
        """Add newly labeled samples to every member and refit them.

        Parameters
        ----------
        X, y : array-like
            The queried samples and their labels.
        bootstrap : bool, default=False
            Fit each member on its own bootstrap resample.
        only_new : bool, default=False
            Fit on ``(X, y)`` only (incrementally trained members); the
            samples still join every member's training data.
        **fit_kwargs
            Passed to each member's ``estimator.fit``.

        Notes
        -----
        A ``teach`` that raises, for any member, changes no member: each
        is put back as it was (see :meth:`ActiveLearner.teach`).
        """
        with self._transaction():
            self._add_training_data(X, y)
            if only_new:
                self._fit_on_new(X, y, bootstrap=bootstrap, **fit_kwargs)
            else:
                self._fit_to_known(bootstrap=bootstrap, **fit_kwargs)

    def rebag(self, **fit_kwargs):
        """Refit every member on a bootstrap resample of its own training data."""
        with self._transaction():
            self._fit_to_known(bootstrap=True, **fit_kwargs)

    # -- prediction ---------------------------------------------------------

    def vote(self, X, **predict_kwargs):
        """Each member's predicted labels.

        Returns
        -------
        votes : ndarray of shape (n_samples, n_learners)
            Labels keep their own dtype (strings stay strings).
        """
        return np.column_stack(
            [np.asarray(learner.predict(X, **predict_kwargs)) for learner in self.learner_list]
        )

    def vote_proba(self, X, **predict_proba_kwargs):
        """Each member's class probabilities, columns aligned on :attr:`classes_`.

        A class a member has not seen gets probability 0 from that member.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_learners, n_classes)
        """
        self._check_ready_to_query()
        lookup = {c: i for i, c in enumerate(self.classes_.tolist())}
        out = None
        for j, learner in enumerate(self.learner_list):
            proba = np.asarray(learner.predict_proba(X, **predict_proba_kwargs))
            if out is None:
                out = np.zeros((proba.shape[0], len(self), self.n_classes_), dtype=float)
            cols = [lookup[c] for c in _member_classes(learner).tolist()]
            out[:, j, cols] = proba
        return out

    def predict_proba(self, X, **predict_proba_kwargs):
        """Consensus probabilities: the members' mean, shape (n_samples, n_classes)."""
        return self.vote_proba(X, **predict_proba_kwargs).mean(axis=1)

    def predict(self, X, **predict_proba_kwargs):
        """The consensus label: arg-max of :meth:`predict_proba`."""
        return self.classes_[np.argmax(self.predict_proba(X, **predict_proba_kwargs), axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy of the consensus prediction on ``(X, y)``."""
        return accuracy_score(y, self.predict(X), sample_weight=sample_weight)

    def transform_without_estimating(self, X):
        """The members' transformed features, side by side."""
        return stack_columns(
            [learner.transform_without_estimating(X) for learner in self.learner_list]
        )
