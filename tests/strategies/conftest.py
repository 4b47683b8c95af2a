"""Fitted models on digits and modAL-like wrappers shared by the strategy tests."""

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class LearnerLike:
    """Duck-typed stand-in for modAL's ``ActiveLearner`` (what the adapters look for)."""

    def __init__(self, estimator):
        self.estimator = estimator

    def predict_proba(self, X):
        return self.estimator.predict_proba(X)

    def query(self, X_pool, n_instances=1):  # pragma: no cover - shape of the API only
        raise AssertionError("strategies must not call learner.query")

    def teach(self, X, y):  # pragma: no cover
        raise AssertionError("strategies must not call learner.teach")


class CommitteeLike:
    """Duck-typed stand-in for modAL's ``Committee``."""

    def __init__(self, learner_list):
        self.learner_list = learner_list

    def query(self, X_pool, n_instances=1):  # pragma: no cover
        raise AssertionError("strategies must not call committee.query")


@pytest.fixture(scope="session")
def digits_split(digits):
    X, y = digits
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    labeled, pool = order[:150], order[150:750]
    return X[labeled], y[labeled], X[pool]


@pytest.fixture(scope="session")
def fitted_models(digits_split):
    X_l, y_l, _ = digits_split
    forest = RandomForestClassifier(n_estimators=8, max_depth=6, random_state=0).fit(X_l, y_l)
    logreg = LogisticRegression(max_iter=300).fit(X_l, y_l)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X_l, y_l)
    members = [
        LearnerLike(
            RandomForestClassifier(n_estimators=3, max_depth=5, random_state=s).fit(
                X_l[s::2], y_l[s::2]
            )
        )
        for s in range(2)
    ]
    import pandas as pd
    from scipy import sparse

    columns = [f"px{i}" for i in range(X_l.shape[1])]
    return {
        "logreg_df": LogisticRegression(max_iter=300).fit(pd.DataFrame(X_l, columns=columns), y_l),
        "logreg_sparse": LogisticRegression(max_iter=300).fit(sparse.csr_matrix(X_l), y_l),
        "forest": forest,
        "logreg": logreg,
        "pipeline": pipe,
        "learner": LearnerLike(forest),
        "committee": CommitteeLike(members),
    }
