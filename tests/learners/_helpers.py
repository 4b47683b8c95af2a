"""Strategies, data splits and loops shared by the learner tests."""

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skal.learners import ActiveLearner, Committee
from skal.models import predict_proba_samples

def uncertainty_pair(classifier, X_pool, n_instances=1):
    """Least confidence on the mean prediction, returning ``(idx, scores)``."""
    proba = predict_proba_samples(classifier, X_pool).mean(axis=0)
    scores = 1.0 - proba.max(axis=1)
    idx = np.argsort(-scores, kind="stable")[:n_instances]
    return idx, scores[idx]


def uncertainty_bare(classifier, X_pool, n_instances=1):
    """The same selection, returning bare indices (pre-0.4.2 modAL style)."""
    return uncertainty_pair(classifier, X_pool, n_instances)[0]


class Counting:
    """Wraps a strategy and counts the calls."""

    def __init__(self, func):
        self.func = func
        self.calls = 0

    def __call__(self, classifier, X_pool, n_instances=1):
        self.calls += 1
        return self.func(classifier, X_pool, n_instances)


def split(digits, n_seed=30, seed=0):
    X, y = digits
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(X))
    # Class-balanced seed set so every model knows every class from round 0.
    seed_idx = np.concatenate([order[y[order] == k][: n_seed // 10] for k in range(10)])
    pool_idx = np.setdiff1d(order, seed_idx)
    return X[seed_idx], y[seed_idx], X[pool_idx], y[pool_idx]


def forest(seed=0):
    return RandomForestClassifier(n_estimators=10, random_state=seed)


def logreg_pipe():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))


def run_rounds(learner, X_pool, y_pool, n_rounds=3, n_instances=5):
    n_start = len(learner.y_training)
    for _ in range(n_rounds):
        idx, X_query = learner.query(X_pool, n_instances=n_instances)
        assert idx.shape == (n_instances,)
        assert len(np.unique(idx)) == n_instances
        np.testing.assert_array_equal(X_query, X_pool[idx])
        learner.teach(X_query, y_pool[idx])
        keep = np.setdiff1d(np.arange(len(X_pool)), idx)
        X_pool, y_pool = X_pool[keep], y_pool[keep]
    assert len(learner.y_training) == n_start + n_rounds * n_instances
    return X_pool, y_pool



def make_committee(digits, strategy=uncertainty_pair, n_members=3, **kwargs):
    X0, y0, X_pool, y_pool = split(digits)
    members = [
        ActiveLearner(forest(s), uncertainty_pair, X0, y0, bootstrap_init=True, random_state=s)
        for s in range(n_members)
    ]
    return Committee(members, query_strategy=strategy, **kwargs), (X0, y0, X_pool, y_pool)



def unique_strategies():
    from skal.strategies import STRATEGIES

    seen = {}
    for name, func in STRATEGIES.items():
        seen.setdefault(func, name)
    return sorted((name, func) for func, name in seen.items())
