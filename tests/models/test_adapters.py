"""predict_proba_samples / embed / get_classes on every kind of estimator."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import BaggingClassifier, ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from skal import ActiveLearner, Committee, measures
from skal.models import embed, get_classes, predict_proba_samples


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    return X[:300], y[:300]


@pytest.mark.parametrize("forest", [RandomForestClassifier, ExtraTreesClassifier])
def test_forest_gives_one_sample_per_tree(data, forest):
    X, y = data
    model = forest(n_estimators=7, random_state=0).fit(X, y)
    samples = predict_proba_samples(model, X[:11])
    assert samples.shape == (7, 11, 10)
    # the forest's predict_proba is the mean of its trees
    np.testing.assert_allclose(samples.mean(0), model.predict_proba(X[:11]))


def test_bagging_with_feature_subsets_and_string_labels(data):
    X, y = data
    labels = np.array([f"digit-{d}" for d in y])
    model = BaggingClassifier(
        DecisionTreeClassifier(max_depth=3), n_estimators=5, max_features=0.5, random_state=0
    ).fit(X, labels)
    samples = predict_proba_samples(model, X[:9])
    assert samples.shape == (5, 9, 10)
    np.testing.assert_allclose(samples.mean(0), model.predict_proba(X[:9]))
    assert get_classes(model)[0] == "digit-0"


def test_a_member_that_missed_a_class_gets_zero_for_it():
    X = np.arange(12, dtype=float).reshape(-1, 1)
    y = np.repeat([0, 1, 2], 4)
    # bootstrap samples of 2 rows cannot hold all three classes
    model = BaggingClassifier(
        DecisionTreeClassifier(), n_estimators=6, max_samples=2, random_state=0
    ).fit(X, y)
    samples = predict_proba_samples(model, X)
    assert samples.shape == (6, 12, 3)
    np.testing.assert_allclose(samples.sum(-1), 1.0)
    np.testing.assert_allclose(samples.mean(0), model.predict_proba(X))


def test_plain_classifier_and_pipeline(data):
    X, y = data
    knn = KNeighborsClassifier().fit(X, y)
    assert predict_proba_samples(knn, X[:4]).shape == (1, 4, 10)
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, random_state=0))
    pipe.fit(X, y)
    samples = predict_proba_samples(pipe, X[:4])
    assert samples.shape == (3, 4, 10)
    np.testing.assert_allclose(samples.mean(0), pipe.predict_proba(X[:4]))
    # embedding of a pipeline whose last step has none: the transformed features
    np.testing.assert_allclose(embed(pipe, X[:4]), pipe[0].transform(X[:4]))


def test_learner_and_committee_are_unwrapped(data):
    X, y = data
    learner = ActiveLearner(
        RandomForestClassifier(n_estimators=4, random_state=0), X_training=X, y_training=y
    )
    assert predict_proba_samples(learner, X[:5]).shape == (4, 5, 10)
    np.testing.assert_array_equal(get_classes(learner), np.arange(10))
    committee = Committee(
        [
            ActiveLearner(RandomForestClassifier(n_estimators=25, random_state=0), X_training=X, y_training=y),
            ActiveLearner(LogisticRegression(max_iter=500), X_training=X, y_training=y),
            ActiveLearner(GaussianNB(), X_training=X, y_training=y),
        ]
    )
    # Regression: the forest's 25 trees were flattened into the committee's
    # samples (S = 27), so consensus entropy was not H(committee.predict_proba)
    # and vote entropy counted tree votes. One sample per learner:
    samples = predict_proba_samples(committee, X[:50])
    assert samples.shape == (3, 50, 10)
    np.testing.assert_allclose(samples.mean(0), committee.predict_proba(X[:50]))
    np.testing.assert_allclose(
        measures.consensus_entropy(samples), measures.entropy(committee.predict_proba(X[:50]))
    )
    np.testing.assert_allclose(embed(committee, X[:5]), X[:5])


def test_committee_members_with_different_classes_are_aligned():
    X = np.arange(9, dtype=float).reshape(-1, 1)
    a = ActiveLearner(LogisticRegression(), X_training=X[:6], y_training=np.array(["a", "b"] * 3))
    b = ActiveLearner(LogisticRegression(), X_training=X, y_training=np.array(["a", "b", "c"] * 3))
    committee = Committee([a, b])
    np.testing.assert_array_equal(committee.classes_, ["a", "b", "c"])
    samples = predict_proba_samples(committee, X)
    assert samples.shape == (2, 9, 3)
    # the member that never saw "c" gives it probability 0
    np.testing.assert_array_equal(samples[0, :, 2], 0.0)
    np.testing.assert_allclose(samples.sum(-1), 1.0)


def test_dataframes_pass_through(data):
    X, y = data
    frame = pd.DataFrame(X, index=np.arange(1000, 1000 + len(X)))
    model = RandomForestClassifier(n_estimators=2, random_state=0).fit(frame, y)
    assert predict_proba_samples(model, frame.iloc[:3]).shape == (2, 3, 10)
    np.testing.assert_allclose(embed(model, frame.iloc[:3]), X[:3])


def test_clear_errors():
    from sklearn.linear_model import LinearRegression
    from sklearn.svm import LinearSVC

    X = np.arange(6, dtype=float).reshape(-1, 1)
    svm = LinearSVC().fit(X, [0, 1, 0, 1, 0, 1])
    with pytest.raises(TypeError, match="gives no class probabilities"):
        predict_proba_samples(svm, X)
    with pytest.raises(AttributeError, match="has no classes_"):
        get_classes(LinearRegression())
