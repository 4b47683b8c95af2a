"""CEAL: confident pool points, pseudo-labeled, train the model without joining the labeled set."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skal.learners import CEAL

from ._helpers import split


class _RecordingLogReg(LogisticRegression):
    def fit(self, X, y, **kwargs):
        self.fit_X_, self.fit_y_ = np.asarray(X), np.asarray(y)
        return super().fit(X, y, **kwargs)


def _learner(digits, **kwargs):
    X0, y0, X_pool, y_pool = split(digits)
    learner = CEAL(_RecordingLogReg(C=10, max_iter=1000), "entropy", X0, y0, random_state=0, **kwargs)
    return learner, X_pool, y_pool


def test_pseudo_labels_at_a_low_delta_are_right_on_digits(digits):
    learner, X_pool, y_pool = _learner(digits, delta=0.2, delta_decay=0.0)
    n_pseudo = n_right = 0
    for _ in range(3):
        idx, X_query = learner.query(X_pool, n_instances=10)
        pseudo_idx, labels = learner.pseudo_labeled_
        assert not np.isin(pseudo_idx, idx).any()  # the queried rows get real labels
        n_pseudo += len(pseudo_idx)
        n_right += int(np.sum(labels == y_pool[pseudo_idx]))
        assert learner.describe_round(y_pool)["n_pseudo_correct"] == np.sum(labels == y_pool[pseudo_idx])
        learner.teach(X_query, y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    assert n_pseudo > 30
    assert n_right / n_pseudo > 0.95


def test_pseudo_labels_train_the_model_but_are_not_labeled(digits):
    learner, X_pool, y_pool = _learner(digits, delta=0.3)
    idx, X_query = learner.query(X_pool, n_instances=5)
    pseudo_idx, labels = learner.pseudo_labeled_
    assert len(pseudo_idx) > 0
    learner.teach(X_query, y_pool[idx])
    n_labeled = len(learner.y_training)
    assert n_labeled == 35
    est = learner.estimator
    np.testing.assert_array_equal(est.fit_X_[:n_labeled], learner.X_training)
    np.testing.assert_array_equal(est.fit_X_[n_labeled:], X_pool[pseudo_idx])
    np.testing.assert_array_equal(est.fit_y_[n_labeled:], labels)
    seen = {}

    def record(classifier, X_pool, n_instances=1, X_labeled=None):
        seen["n"] = len(X_labeled)
        return np.arange(n_instances)

    learner.query_strategy = record
    learner.query(X_pool[:50], n_instances=1)
    assert seen["n"] == n_labeled  # strategies see the labeled set only


def test_the_threshold_decays_per_query_and_fit_starts_over(digits):
    learner, X_pool, y_pool = _learner(digits, delta=0.3, delta_decay=0.1)
    for _ in range(4):
        idx, X_query = learner.query(X_pool, n_instances=5)
        learner.teach(X_query, y_pool[idx])
    assert [r["delta"] for r in learner.rounds_] == pytest.approx([0.3, 0.2, 0.1, 0.0])
    # delta_t <= 0: nothing is pseudo-labeled, the fit is on the labeled set alone
    assert learner.rounds_[-1]["n_pseudo"] == 0 and len(learner.estimator.fit_X_) == 50
    learner.fit(learner.X_training, learner.y_training)
    assert learner.rounds_ == [] and learner.delta_ is None
    learner.query(X_pool, n_instances=5)
    assert learner.delta_ == pytest.approx(0.3)


def test_delta_zero_is_the_plain_learner(digits):
    learner, X_pool, y_pool = _learner(digits, delta=0.0)
    idx, X_query = learner.query(X_pool, n_instances=5)
    learner.teach(X_query, y_pool[idx])
    assert len(learner.pseudo_labeled_[0]) == 0
    np.testing.assert_array_equal(learner.estimator.fit_X_, learner.X_training)


BAD = {
    "negative delta": (dict(delta=-0.1), ValueError, "delta == -0.1, must be >= 0"),
    "delta as text": (dict(delta="0.1"), TypeError, "delta must be an instance of"),
    "negative decay": (dict(delta_decay=-1.0), ValueError, "delta_decay == -1.0, must be >= 0"),
    "bool decay": (dict(delta_decay=True), TypeError, "delta_decay must be an instance of .*, not bool"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_parameters_are_clear_errors(digits, case):
    kwargs, error, match = BAD[case]
    with pytest.raises(error, match=match):
        _learner(digits, **kwargs)


def test_pool_labels_must_match_the_last_pool(digits):
    learner, X_pool, y_pool = _learner(digits)
    with pytest.raises(ValueError, match=r"pool given to the last query \(None rows\)"):
        learner.describe_round(y_pool)
    learner.query(X_pool, n_instances=2)
    with pytest.raises(ValueError, match=rf"one label per row of the pool given to the last query \({len(y_pool)} rows\)"):
        learner.describe_round(y_pool[:-1])
