"""SelectionViaProxy: the proxy selects, the target is trained on the result when needed."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from skal.learners import ActiveLearner, SelectionViaProxy
from skal.models import embed, get_classes, predict_proba_samples

from ._helpers import forest, logreg_pipe, split


class _CountingForest(RandomForestClassifier):
    def fit(self, X, y, **kwargs):
        self.n_fits_ = getattr(self, "n_fits_", 0) + 1
        return super().fit(X, y, **kwargs)


def test_the_proxy_selects_as_a_plain_learner_of_the_proxy_would(digits):
    X0, y0, X_pool, y_pool = split(digits)
    svp = SelectionViaProxy(forest(1), "entropy", X0, y0, proxy=logreg_pipe(), random_state=0)
    plain = ActiveLearner(logreg_pipe(), "entropy", X0, y0, random_state=0)
    for _ in range(3):
        idx, X_query = svp.query(X_pool, n_instances=5)
        np.testing.assert_array_equal(idx, plain.query(X_pool, n_instances=5)[0])
        svp.teach(X_query, y_pool[idx])
        plain.teach(X_query, y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)


def test_the_target_is_fitted_once_when_needed(digits):
    X0, y0, X_pool, y_pool = split(digits)
    target = _CountingForest(n_estimators=10, random_state=0)
    svp = SelectionViaProxy(target, "entropy", X0, y0, proxy=logreg_pipe())
    idx, X_query = svp.query(X_pool, n_instances=5)
    svp.teach(X_query, y_pool[idx])
    assert not hasattr(svp.estimator, "n_fits_")  # selecting never trained it
    svp.predict(X_pool[:3])
    svp.predict_proba(X_pool[:3])
    assert svp.estimator.n_fits_ == 1 and svp.estimator.n_features_in_ == X0.shape[1]
    reference = clone(target).fit(svp.X_training, svp.y_training)
    np.testing.assert_allclose(svp.predict_proba(X_pool), reference.predict_proba(X_pool))
    svp.teach(X_pool[:2], y_pool[:2])
    np.testing.assert_array_equal(get_classes(svp), np.arange(10))
    assert svp.estimator.n_fits_ == 2
    # the adapters read the target too
    assert predict_proba_samples(svp, X_pool[:4]).shape == (10, 4, 10)
    np.testing.assert_array_equal(embed(svp, X_pool[:4]), X_pool[:4])
    assert svp.score(X_pool, y_pool) == pytest.approx(svp.estimator.score(X_pool, y_pool))
    assert svp.estimator.n_fits_ == 2


def test_rank_correlation_of_proxy_and_target_scores(digits):
    X0, y0, X_pool, y_pool = split(digits)
    same = SelectionViaProxy(logreg_pipe(), "entropy", X0, y0, proxy=logreg_pipe(), rank_measure="entropy")
    same.query(X_pool, n_instances=5)
    assert same.rank_correlation_ == pytest.approx(1.0)
    other = SelectionViaProxy(forest(0), "margin", X0, y0, proxy=logreg_pipe(), rank_measure="least_confident")
    assert other.describe_round() == {"rank_correlation": None}
    other.query(X_pool, n_instances=5)
    assert 0.0 < other.rank_correlation_ < 1.0  # related, not the same ranking
    assert other.describe_round() == {"rank_correlation": other.rank_correlation_}


def test_the_proxy_is_cloned_and_seeded_from_random_state(digits):
    X0, y0, X_pool, _ = split(digits)
    proxy = RandomForestClassifier(n_estimators=5)

    def chosen(random_state):
        svp = SelectionViaProxy(LogisticRegression(), "entropy", X0, y0, proxy=proxy, random_state=random_state)
        return svp, svp.query(X_pool, n_instances=10)[0]

    (a, idx_a), (_, idx_b), (_, idx_c) = chosen(0), chosen(0), chosen(1)
    np.testing.assert_array_equal(idx_a, idx_b)
    assert not np.array_equal(idx_a, idx_c)
    assert proxy.random_state is None and not hasattr(proxy, "estimators_")
    assert isinstance(a.proxy_learner_.estimator.random_state, int)
    kept = SelectionViaProxy(LogisticRegression(), proxy=RandomForestClassifier(random_state=7), random_state=0)
    assert kept.proxy_learner_.estimator.random_state == 7


def test_unfitted_target_without_labels_is_a_clear_error(digits):
    _, _, X_pool, _ = split(digits)
    svp = SelectionViaProxy(forest(), proxy=logreg_pipe())
    with pytest.raises(NotFittedError):
        svp.predict(X_pool[:2])


BAD = {
    "proxy is not an estimator": (dict(proxy="logistic"), TypeError, "proxy must be a scikit-learn style"),
    "unknown measure": (dict(proxy=LogisticRegression(), rank_measure="entropyy"), ValueError,
                        "rank_measure='entropyy' is not a measure"),
    "no proxy": ({}, TypeError, "proxy"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_parameters_are_clear_errors(case):
    kwargs, error, match = BAD[case]
    with pytest.raises(error, match=match):
        SelectionViaProxy(forest(), **kwargs)
