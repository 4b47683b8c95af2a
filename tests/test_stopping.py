"""Stopping criteria: sensible verdicts on real campaigns (digits), and the shared protocol."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from skal import ActiveLearner
from skal.stopping import (
    CRITERIA,
    ClassificationChange,
    MaxUncertainty,
    OverallUncertainty,
    StabilizingPredictions,
    StoppingReport,
    ValidationPlateau,
    criterion_from_spec,
    default_criteria,
)


@pytest.fixture(scope="module")
def digits_random_campaign():
    """Models of a long random-sampling campaign on digits, and a fixed stop set."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    stop = rng.choice(len(X), 400, replace=False)
    learner = ActiveLearner(GaussianNB(), "random", X_training=X[order[:20]], y_training=y[order[:20]])
    steps = []
    for n in range(20, 1000, 20):
        # an early model may not have seen every class: its proba has fewer columns
        steps.append((n, learner.predict_proba(X[stop]), learner.classes_.copy(),
                      ~np.isin(stop, order[:n])))
        learner.teach(X[order[n:n + 20]], y[order[n:n + 20]])
    return steps


def test_stabilizing_predictions_says_stop_in_a_long_random_campaign(digits_random_campaign):
    steps = digits_random_campaign
    criterion = StabilizingPredictions()  # the paper's kappa >= 0.99 over 3 successive pairs
    verdicts = []
    for n, proba, classes, _ in steps:
        criterion.update(proba=proba, classes=classes)
        verdicts.append((n, criterion.should_stop))
    assert not any(stop for n, stop in verdicts if n <= 200)  # not while the model is moving
    assert any(stop for n, stop in verdicts)
    kappas = np.asarray(criterion.kappas_)
    assert len(kappas) == len(steps) - 1
    assert kappas[-10:].mean() > kappas[:10].mean() + 0.1


def test_classification_change_falls_as_labels_grow(digits_random_campaign):
    steps = digits_random_campaign
    change = ClassificationChange()
    changes = [change.update(proba=proba, classes=classes, mask=unlabeled)
               for _, proba, classes, unlabeled in steps]
    assert changes[0] is None
    assert np.mean(changes[1:6]) > 5 * np.mean(changes[-5:])
    assert any(c == 0.0 for c in changes)  # some rounds change nothing: the paper's stop point


def test_uncertainty_of_a_logistic_regression_falls_with_labels():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(1)
    order = rng.permutation(len(X))
    stop = X[order[-300:]]
    max_u, overall = MaxUncertainty(threshold=0.1), OverallUncertainty(threshold=0.05)
    values = []
    for n in (20, 100, 400):
        model = LogisticRegression(max_iter=200).fit(X[order[:n]], y[order[:n]])
        values.append((max_u.update(model, stop), overall.update(model, stop)))
    assert values[0][1] > values[1][1] > values[2][1]
    assert values[0][0] >= values[2][0]
    assert not max_u.should_stop and not overall.should_stop  # a well-regularised model stays unsure


def test_validation_plateau_on_flat_and_rising_curves():
    flat = ValidationPlateau(patience=3, min_delta=0.005)
    noise = np.random.default_rng(0).normal(0, 0.001, size=8)
    flat_verdicts = [(flat.update(score=0.9 + e), flat.should_stop)[1] for e in noise]
    assert flat_verdicts[:3] == [False] * 3 and all(flat_verdicts[3:])
    rising = ValidationPlateau(patience=3, min_delta=0.005)
    assert not any((rising.update(score=0.5 + 0.02 * r), rising.should_stop)[1] for r in range(10))


def test_validation_plateau_reads_a_learners_score():
    X, y = load_digits(return_X_y=True)
    model = GaussianNB().fit(X[:200], y[:200])
    criterion = ValidationPlateau(patience=1)
    criterion.update(model, X[1000:], y[1000:])
    assert criterion.scores_ == [pytest.approx(model.score(X[1000:], y[1000:]))]


def test_protocol_of_every_criterion():
    proba = np.eye(3)[[0, 1, 2, 2]] * 0.8 + 0.2 / 3
    for criterion in default_criteria():
        if criterion.needs == "score":
            values = [criterion.update(score=0.8) for _ in range(5)]
        else:
            values = [criterion.update(proba=proba, classes=["a", "b", "c"]) for _ in range(5)]
        assert values[-1] == criterion.value_ is not None and criterion.history_ == values
        report = criterion.report()
        assert isinstance(report, StoppingReport) and report.n_updates == 5
        assert report.should_stop is criterion.should_stop
        assert report.name in str(report) and report.as_dict()["threshold"] == criterion.threshold
        rebuilt = criterion_from_spec({"name": criterion.name, "params": criterion.get_params()})
        assert repr(rebuilt) == repr(criterion) and rebuilt.value_ is None
        criterion.reset()
        assert criterion.value_ is None and criterion.n_updates_ == 0
    assert set(CRITERIA) == {c.name for c in default_criteria()}


def test_protocol_errors():
    with pytest.raises(ValueError, match="needs proba="):
        StabilizingPredictions().update()
    with pytest.raises(ValueError, match="needs score="):
        ValidationPlateau().update()
    crit = StabilizingPredictions()
    crit.update(proba=np.eye(2))
    with pytest.raises(ValueError, match="fixed stop set"):
        crit.update(proba=np.eye(3))
    with pytest.raises(ValueError, match="classes has 3 labels"):
        ClassificationChange().update(proba=np.eye(2), classes=[0, 1, 2])
    with pytest.raises(ValueError, match="mask must have shape"):
        OverallUncertainty().update(proba=np.eye(2), mask=[True])
    with pytest.raises(ValueError, match="measure"):
        MaxUncertainty(measure="variance")
    with pytest.raises(ValueError, match="threshold"):
        StabilizingPredictions(threshold=2)
    with pytest.raises(ValueError, match="unknown stopping criterion"):
        criterion_from_spec({"name": "os.system"})


def test_update_with_a_learner_reads_its_classes():
    X, y = load_digits(return_X_y=True)
    labels = np.array([f"digit{v}" for v in y])
    learner = ActiveLearner(GaussianNB(), "random", X_training=X[:100], y_training=labels[:100])
    crit = ClassificationChange()
    crit.update(learner, X[500:600])
    learner.teach(X[100:200], labels[100:200])
    assert 0.0 <= crit.update(learner, X[500:600]) <= 1.0
