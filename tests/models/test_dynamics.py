"""TrainingDynamics: label dispersion and forgetting events, recorded on every skorch net."""

import numpy as np
import pytest
from sklearn.base import clone
from skorch import NeuralNetClassifier

from skal.models import (
    MLP,
    DeepEnsemble,
    DeepProbabilisticEnsemble,
    LearningLossClassifier,
    MCDropoutClassifier,
    TrainingDynamics,
    forgetting_events_from_history,
    label_dispersion_from_history,
)

HISTORY = np.array([
    # T = 5 records of 4 points
    [0, 1, 2, 3],
    [0, 1, 2, 1],
    [0, 2, 1, 3],
    [0, 1, 1, 2],
    [0, 1, 2, 0],
])


def test_label_dispersion_of_a_recorded_toy_history():
    # point 0: always 0 -> 0; point 1: 1 four times -> 1 - 4/5;
    # point 2: 2 three times -> 1 - 3/5; point 3: 3 twice -> 1 - 2/5
    np.testing.assert_allclose(label_dispersion_from_history(HISTORY), [0.0, 0.2, 0.4, 0.6])


def test_forgetting_events_of_a_recorded_toy_history():
    y = np.array([0, 1, 2, 3])
    # point 0 never forgotten; point 1 right, wrong at t=2, right again: 1 event;
    # point 2 right, right, wrong, wrong, right: 1 event (t=2); point 3
    # right, wrong, right, wrong, wrong: 2 events (t=1 and t=3)
    np.testing.assert_array_equal(forgetting_events_from_history(HISTORY, y), [0, 1, 1, 2])


def test_history_functions_reject_an_empty_history():
    with pytest.raises(ValueError, match="T >= 1"):
        label_dispersion_from_history(np.empty((0, 3), dtype=int))


SMALL = {"max_epochs": 12, "random_state": 0, "device": "cpu", "module__hidden_units": (16,)}


@pytest.mark.parametrize(
    "make",
    [
        lambda cb: MCDropoutClassifier(callbacks=[cb], n_samples=4, **SMALL),
        lambda cb: DeepProbabilisticEnsemble(callbacks=[cb], n_estimators=2, **SMALL),
        lambda cb: DeepEnsemble(callbacks=[cb], n_estimators=2, **SMALL),
        lambda cb: LearningLossClassifier(callbacks=[cb], **SMALL),
    ],
    ids=["mc_dropout", "dpe", "deep_ensemble", "learning_loss"],
)
def test_running_counts_match_the_recorded_history_on_skal_estimators(digits, make):
    X, y = digits
    recorder = TrainingDynamics(X[200:500])
    clf = make(recorder).fit(X[:200], y[:200])
    assert recorder.n_records_ == 12
    pool = recorder.pool_history_
    assert pool.shape == (12, 300) and pool.dtype == np.int8
    np.testing.assert_allclose(recorder.label_dispersion(), label_dispersion_from_history(pool))
    # the last record is the fitted net's own prediction
    np.testing.assert_array_equal(clf.classes_[pool[-1]], clf.net_.predict(X[200:500]))
    train = recorder.train_history_
    codes = np.searchsorted(clf.classes_, y[:200])
    report = recorder.forgetting_report()
    np.testing.assert_array_equal(report.events, forgetting_events_from_history(train, codes))
    np.testing.assert_array_equal(report.ever_learned, (train == codes).any(axis=0))
    assert report.counts.sum() == report.ever_learned.sum()
    assert report.unforgettable.sum() == report.counts[0]


def test_a_plain_skorch_net_and_every(digits):
    X, y = digits
    recorder = TrainingDynamics(X[200:260], every=3)
    net = NeuralNetClassifier(
        MLP, module__n_features=64, module__n_classes=10, max_epochs=10, train_split=None,
        callbacks=[recorder], verbose=0,
    )
    net.fit(X[:100], y[:100])
    assert recorder.n_records_ == 3  # epochs 3, 6, 9
    assert recorder.pool_history_.shape == (3, 60)


def test_recording_does_not_change_training(digits):
    X, y = digits
    plain = MCDropoutClassifier(n_samples=4, **SMALL).fit(X[:150], y[:150])
    recorded = MCDropoutClassifier(
        n_samples=4, callbacks=[TrainingDynamics(X[150:400])], **SMALL
    ).fit(X[:150], y[:150])
    np.testing.assert_array_equal(plain.predict_proba(X[400:450]), recorded.predict_proba(X[400:450]))


def test_counts_only_and_training_only(digits):
    X, y = digits
    counts_only = TrainingDynamics(X[100:200], keep_history=False, record_training=False)
    MCDropoutClassifier(callbacks=[counts_only], **SMALL).fit(X[:100], y[:100])
    assert counts_only.pool_counts_.sum(axis=1).tolist() == [12] * 100
    assert counts_only.label_dispersion().shape == (100,)
    with pytest.raises(ValueError, match="keep_history=True"):
        counts_only.pool_history_
    with pytest.raises(ValueError, match="recorded no training point"):
        counts_only.forgetting_report()
    train_only = TrainingDynamics()
    MCDropoutClassifier(callbacks=[train_only], **SMALL).fit(X[:100], y[:100])
    assert train_only.forgetting_report().events.shape == (100,)
    with pytest.raises(ValueError, match="was given no X_pool"):
        train_only.label_dispersion()


def test_records_restart_with_each_fit_and_survive_clone(digits):
    X, y = digits
    clf = MCDropoutClassifier(callbacks=[TrainingDynamics(X[100:150])], **SMALL)
    clf.fit(X[:100], y[:100]).fit(X[:80], y[:80])
    recorder = clf.callbacks[0]  # callbacks are used as given
    assert any(cb is recorder for _, cb in clf.net_.callbacks_)
    assert recorder.n_records_ == 12 and recorder.forgetting_report().events.shape == (80,)
    twin = clone(clf)
    assert twin.callbacks[0] is not clf.callbacks[0]
    twin.fit(X[:100], y[:100])
    assert twin.callbacks[0].n_records_ == 12


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"every": 0}, ValueError, "every"),
        ({"every": 1.5}, TypeError, "every"),
        ({"keep_history": "yes"}, TypeError, "keep_history"),
        ({"X_pool": np.full((3, 64), np.nan)}, ValueError, "NaN"),
    ],
)
def test_bad_parameters_are_clear_errors(digits, params, error, match):
    X, y = digits
    with pytest.raises(error, match=match):
        MCDropoutClassifier(callbacks=[TrainingDynamics(**params)], **SMALL).fit(X[:50], y[:50])


def test_nothing_recorded_yet_is_a_clear_error():
    with pytest.raises(ValueError, match="no record yet"):
        TrainingDynamics(np.zeros((3, 2))).initialize().label_dispersion()
