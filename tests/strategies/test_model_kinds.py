"""Models a strategy cannot use as asked: one predictive sample, several labels (issue 19, defect 4)."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier

from skal.learners import ActiveLearner
from skal.strategies import STRATEGIES, SingleSampleWarning

# strategies whose ranking is the disagreement between predictive samples
BETWEEN_SAMPLES = ["bald", "batch_bald", "power_bald", "var_ratios", "mean_std", "vote_entropy",
                   "max_disagreement", "suggestive_annotation"]
# strategies that rank by one predictive distribution
ONE_SAMPLE = ["margin", "entropy", "least_confident", "consensus_entropy", "power_margin"]


@pytest.mark.parametrize("name", BETWEEN_SAMPLES)
def test_a_measure_between_samples_warns_on_a_model_with_one(name, fitted_models, digits_split):
    _, _, X_pool = digits_split
    with pytest.warns(SingleSampleWarning, match="gives one, so every point scores 0") as caught:
        idx, scores = STRATEGIES[name](fitted_models["logreg"], X_pool, n_instances=3, random_state=0)
    assert "LogisticRegression" in str(caught[0].message)
    assert "DeepProbabilisticEnsemble" in str(caught[0].message)  # what to use instead
    assert "margin" in str(caught[0].message)  # and which strategies need no posterior
    assert len(set(idx.tolist())) == 3


@pytest.mark.parametrize("name", BETWEEN_SAMPLES + ONE_SAMPLE)
def test_no_warning_when_the_model_gives_samples_or_needs_none(name, fitted_models, digits_split):
    _, _, X_pool = digits_split
    models = ["forest", "committee"] + (["logreg"] if name in ONE_SAMPLE else [])
    with warnings.catch_warnings():
        warnings.simplefilter("error", SingleSampleWarning)
        for model in models:
            STRATEGIES[name](fitted_models[model], X_pool, n_instances=3, random_state=0)


@pytest.fixture(scope="module")
def multilabel():
    X, Y = make_multilabel_classification(n_samples=200, n_classes=4, random_state=0)
    return X, Y


@pytest.mark.parametrize("make_model", [
    lambda: RandomForestClassifier(n_estimators=5, random_state=0),
    lambda: MultiOutputClassifier(LogisticRegression(max_iter=300)),
], ids=["forest", "multi_output"])
@pytest.mark.parametrize("name", ["entropy", "margin", "bald", "batch_bald", "badge", "cluster_margin"])
def test_a_multilabel_model_is_refused_with_a_clear_error(name, make_model, multilabel):
    X, Y = multilabel
    model = make_model().fit(X[:50], Y[:50])
    with pytest.raises(ValueError, match="several labels per sample .*do not support yet"):
        STRATEGIES[name](model, X[50:], n_instances=3, random_state=0)


def test_a_learner_refuses_multilabel_y_at_the_boundary(multilabel):
    X, Y = multilabel
    with pytest.raises(ValueError, match=r"y has shape \(50, 4\): several labels per sample"):
        ActiveLearner(RandomForestClassifier(n_estimators=5), "entropy", X[:50], Y[:50])
    learner = ActiveLearner(RandomForestClassifier(n_estimators=5), "entropy", X[:50], Y[:50, 0])
    with pytest.raises(ValueError, match="several labels per sample"):
        learner.teach(X[50:55], Y[50:55])
    assert len(learner.y_training) == 50
