"""A teach() or fit() that raises leaves every learner exactly as it was (issue 19, defect 1)."""

import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skal.learners import CEAL, ActiveLearner, Committee, SelectionViaProxy

from ._helpers import forest, split, uncertainty_pair


class _FailingFit(ClassifierMixin, BaseEstimator):
    """Fits like a logistic regression until told to fail halfway through a fit."""

    def __init__(self, fail=False):
        self.fail = fail

    def fit(self, X, y):
        self.n_fits_ = getattr(self, "n_fits_", 0) + 1
        self.classes_ = np.unique(y)
        if self.fail:
            self.coef_ = "half-written"
            raise RuntimeError("the fit diverged")
        self.model_ = LogisticRegression(max_iter=200).fit(X, y)
        self.coef_ = self.model_.coef_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


def _state(learner):
    """What must not change: the labeled set and the fitted model's predictions."""
    return (
        np.array(learner.X_training, copy=True),
        np.array(learner.y_training, copy=True),
    )


def _assert_unchanged(learner, before, X_check):
    X_before, y_before, proba_before = before
    np.testing.assert_array_equal(learner.X_training, X_before)
    np.testing.assert_array_equal(learner.y_training, y_before)
    np.testing.assert_array_equal(learner.predict_proba(X_check), proba_before)


def _snapshot(learner, X_check):
    return (*_state(learner), learner.predict_proba(X_check))


BAD_TEACH = {
    "y as a column": (lambda X, y: (X, y.reshape(-1, 1)), ValueError, "rows of shape"),
    "string labels after integers": (lambda X, y: (X, y.astype(str)), ValueError, "text labels"),
    "one label short": (lambda X, y: (X, y[:-1]), ValueError, "labels"),
    "wrong width": (lambda X, y: (X[:, :10], y), ValueError, "features|shape"),
    "NaN": (lambda X, y: (np.where(X > 0.5, np.nan, X), y), ValueError, "NaN"),
}


@pytest.mark.parametrize("case", BAD_TEACH)
def test_rejected_teach_leaves_the_learner_unchanged(digits, case):
    make_bad, error, match = BAD_TEACH[case]
    X0, y0, X_pool, y_pool = split(digits)
    learner = ActiveLearner(forest(), uncertainty_pair, X0, y0)
    before = _snapshot(learner, X_pool[:20])
    with pytest.raises(error, match=match):
        learner.teach(*make_bad(X_pool[:3], y_pool[:3]))
    _assert_unchanged(learner, before, X_pool[:20])
    # and the learner goes on as if nothing happened
    learner.teach(X_pool[:3], y_pool[:3])
    assert len(learner.X_training) == len(learner.y_training) == len(y0) + 3


class _FixedClasses(ClassifierMixin, BaseEstimator):
    """Like a skorch net: the labels are fixed up front by ``classes``."""

    def __init__(self, classes=None, warm_start=False):
        self.classes = classes
        self.warm_start = warm_start

    def fit(self, X, y):
        if not (self.warm_start and hasattr(self, "classes_")):
            self.classes_ = np.asarray(self.classes if self.classes is not None else np.unique(y))
        if not np.isin(y, self.classes_).all():
            raise IndexError("target out of bounds")  # what a skorch net's loss raises
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


@pytest.mark.parametrize("params, match", [
    ({"classes": [0, 1, 2]}, r"not in the estimator's classes=\[0, 1, 2\]"),
    ({"warm_start": True}, r"not in the estimator's classes_=\[0, 1, 2\].*warm-started"),
])
def test_a_label_the_model_cannot_take_is_refused_before_it_is_stored(digits, params, match):
    X0, y0, X_pool, y_pool = split(digits)
    keep = y0 < 3
    learner = ActiveLearner(make_pipeline(StandardScaler(), _FixedClasses(**params)), uncertainty_pair,
                            X0[keep], y0[keep])
    n = len(learner.y_training)
    with pytest.raises(ValueError, match=match):
        learner.teach(X0[y0 == 9][:2], y0[y0 == 9][:2])
    assert len(learner.X_training) == len(learner.y_training) == n
    learner.teach(X0[y0 == 1][:2], y0[y0 == 1][:2])
    assert len(learner.y_training) == n + 2


def test_a_fit_that_fails_is_rolled_back_in_place(digits):
    X0, y0, X_pool, y_pool = split(digits)
    estimator = _FailingFit()
    learner = ActiveLearner(estimator, uncertainty_pair, X0, y0)
    before = _snapshot(learner, X_pool[:20])
    coef = estimator.coef_.copy()
    estimator.fail = True  # the caller's own reference, as modAL users hold it
    with pytest.raises(RuntimeError, match="diverged"):
        learner.teach(X_pool[:5], y_pool[:5])
    # the very object the caller holds has its fitted state back
    assert learner.estimator is estimator
    np.testing.assert_array_equal(estimator.coef_, coef)
    assert estimator.n_fits_ == 1
    estimator.fail = False
    _assert_unchanged(learner, before, X_pool[:20])


def test_a_pipeline_step_the_caller_holds_is_restored_too(digits):
    X0, y0, X_pool, y_pool = split(digits)
    step = _FailingFit()
    learner = ActiveLearner(make_pipeline(StandardScaler(), step), uncertainty_pair, X0, y0)
    coef = step.coef_.copy()
    step.fail = True
    with pytest.raises(RuntimeError):
        learner.teach(X_pool[:5], y_pool[:5])
    assert learner.estimator.steps[-1][1] is step
    np.testing.assert_array_equal(step.coef_, coef)


def test_a_failed_fit_leaves_the_random_state_where_it_was(digits):
    X0, y0, X_pool, y_pool = split(digits)
    estimator = _FailingFit()
    a = ActiveLearner(estimator, uncertainty_pair, X0, y0, random_state=0)
    b = ActiveLearner(_FailingFit(), uncertainty_pair, X0, y0, random_state=0)
    estimator.fail = True
    with pytest.raises(RuntimeError):
        a.teach(X_pool[:5], y_pool[:5], bootstrap=True)  # draws a resample, then fails
    estimator.fail = False
    a.teach(X_pool[:5], y_pool[:5], bootstrap=True)
    b.teach(X_pool[:5], y_pool[:5], bootstrap=True)
    np.testing.assert_array_equal(a.estimator.coef_, b.estimator.coef_)


def test_a_failed_fit_replacing_the_labeled_set_is_rolled_back(digits):
    X0, y0, X_pool, y_pool = split(digits)
    estimator = _FailingFit()
    learner = ActiveLearner(estimator, uncertainty_pair, X0, y0)
    before = _snapshot(learner, X_pool[:20])
    estimator.fail = True
    with pytest.raises(RuntimeError):
        learner.fit(X_pool[:5], y_pool[:5])
    estimator.fail = False
    _assert_unchanged(learner, before, X_pool[:20])


def test_a_rolled_back_learner_still_pickles(digits):
    X0, y0, X_pool, y_pool = split(digits)
    learner = ActiveLearner(forest(), uncertainty_pair, X0, y0)
    with pytest.raises(ValueError):
        learner.teach(X_pool[:3], y_pool[:3].astype(str))
    clone = pickle.loads(pickle.dumps(learner))
    np.testing.assert_array_equal(clone.predict(X_pool[:5]), learner.predict(X_pool[:5]))


def test_committee_teach_that_fails_for_one_member_changes_no_member(digits):
    X0, y0, X_pool, y_pool = split(digits)
    good = ActiveLearner(forest(), uncertainty_pair, X0, y0)
    failing = _FailingFit()
    bad = ActiveLearner(failing, uncertainty_pair, X0, y0)
    committee = Committee([good, bad])
    before = [_snapshot(m, X_pool[:20]) for m in committee]
    failing.fail = True
    with pytest.raises(RuntimeError):
        committee.teach(X_pool[:4], y_pool[:4])
    failing.fail = False
    for member, snap in zip(committee, before):
        _assert_unchanged(member, snap, X_pool[:20])
    with pytest.raises(ValueError, match="text labels"):
        committee.teach(X_pool[:4], y_pool[:4].astype(str))
    for member, snap in zip(committee, before):
        _assert_unchanged(member, snap, X_pool[:20])
    committee.teach(X_pool[:4], y_pool[:4])
    assert all(len(m.y_training) == len(y0) + 4 for m in committee)


def test_ceal_and_svp_teach_that_fails_change_nothing(digits):
    X0, y0, X_pool, y_pool = split(digits)
    ceal = CEAL(LogisticRegression(max_iter=300), "entropy", X_training=X0, y_training=y0)
    ceal.query(X_pool, n_instances=5)
    svp = SelectionViaProxy(forest(), proxy=LogisticRegression(max_iter=300),
                            query_strategy="entropy", X_training=X0, y_training=y0)
    for learner in (ceal, svp):
        before = _snapshot(learner, X_pool[:20])
        with pytest.raises(ValueError):
            learner.teach(X_pool[:3], y_pool[:3].reshape(-1, 1))
        with pytest.raises(ValueError, match="text labels"):
            learner.teach(X_pool[:3], y_pool[:3].astype(str))
        _assert_unchanged(learner, before, X_pool[:20])
        learner.teach(X_pool[:3], y_pool[:3])
        assert len(learner.y_training) == len(y0) + 3
