"""Strategies that train a model of their own: learning loss, label dispersion; and what
the five such strategies (DAL, VAAL, MAL too) share: the labeled set, options, learners."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skal import ActiveLearner
from skal.models import (
    MAL,
    LearningLossClassifier,
    MCDropoutClassifier,
    TrainingDynamics,
)
from skal.strategies import (
    dal,
    find_training_dynamics,
    label_dispersion,
    learning_loss,
    mal,
    vaal,
)

from .conftest import CommitteeLike, LearnerLike

LABELED = {"learning_loss", "label_dispersion", "dal", "vaal", "mal"}
STRATEGY = {
    "learning_loss": learning_loss, "label_dispersion": label_dispersion, "dal": dal,
    "vaal": vaal, "mal": mal,
}


# -- learning loss -------------------------------------------------------------------


@pytest.fixture(scope="module")
def loss_classifier(digits_split):
    X_l, y_l, _ = digits_split
    return LearningLossClassifier(max_epochs=20, random_state=0, device="cpu").fit(X_l, y_l)


def test_learning_loss_reads_the_classifiers_own_loss_head(loss_classifier, digits_split):
    _, _, X_pool = digits_split
    idx, scores = learning_loss(loss_classifier, X_pool, n_instances=5, random_state=0)
    full = loss_classifier.predict_loss(X_pool)
    np.testing.assert_allclose(scores, full[idx])
    assert scores.min() >= np.delete(full, idx).max()
    # through a learner, the same picks (the labeled set is not needed)
    learner = LearnerLike(loss_classifier)
    np.testing.assert_array_equal(learning_loss(learner, X_pool, n_instances=5, random_state=0)[0], idx)


def test_learning_loss_in_a_pipeline_scores_the_transformed_pool(digits_split):
    X_l, y_l, X_pool = digits_split
    pipe = make_pipeline(
        StandardScaler(), LearningLossClassifier(max_epochs=5, random_state=0, device="cpu")
    ).fit(X_l, y_l)
    _, scores = learning_loss(pipe, X_pool, n_instances=3)
    full = pipe[-1].predict_loss(pipe[0].transform(X_pool))
    np.testing.assert_allclose(scores, np.sort(full)[::-1][:3])


@pytest.fixture(scope="module")
def small_mcd(digits_split):
    """A small MC dropout MLP, 8 epochs: the network the strategies train a sibling of."""
    X_l, y_l, _ = digits_split
    return MCDropoutClassifier(
        max_epochs=8, module__hidden_units=(16,), random_state=0, device="cpu"
    ).fit(X_l, y_l)


def test_learning_loss_trains_a_sibling_of_a_skal_network(small_mcd, digits_split):
    X_l, y_l, X_pool = digits_split
    mcd = small_mcd
    a = learning_loss(mcd, X_pool, n_instances=4, X_labeled=X_l, y_labeled=y_l, random_state=0)
    b = learning_loss(mcd, X_pool, n_instances=4, X_labeled=X_l, y_labeled=y_l, random_state=0)
    np.testing.assert_array_equal(a[0], b[0])
    # a dict changes the default loss model's parameters
    c = learning_loss(mcd, X_pool, n_instances=4, X_labeled=X_l, y_labeled=y_l, random_state=0,
                      loss_model={"loss_weight": 5.0})
    assert not np.allclose(a[1], c[1])


# -- label dispersion ------------------------------------------------------------------


def test_label_dispersion_reads_a_recorder_that_saw_a_superset_of_the_pool(digits_split):
    X_l, y_l, X_pool = digits_split
    recorder = TrainingDynamics(X_pool)
    clf = MCDropoutClassifier(max_epochs=15, callbacks=[recorder], random_state=0, device="cpu")
    clf.fit(X_l, y_l)
    assert find_training_dynamics(clf) is recorder
    assert find_training_dynamics(make_pipeline(clf)) is recorder
    dispersion = recorder.label_dispersion()
    assert dispersion.max() > 0  # the net did change its mind about some points
    subset = np.arange(len(X_pool))[::-3]  # rows in another order, a third of them
    idx, scores = label_dispersion(clf, X_pool[subset], n_instances=6, random_state=0)
    np.testing.assert_allclose(scores, dispersion[subset][idx])
    assert scores.min() >= np.delete(dispersion[subset], idx).max()


def test_label_dispersion_errors_for_rows_the_recorder_never_saw(digits, digits_split):
    X, _ = digits
    X_l, y_l, X_pool = digits_split
    clf = MCDropoutClassifier(max_epochs=2, callbacks=[TrainingDynamics(X_pool[:50])],
                              random_state=0, device="cpu").fit(X_l, y_l)
    with pytest.raises(ValueError, match="50 rows of X_pool were not recorded"):
        label_dispersion(clf, X_pool[:100])
    blind = MCDropoutClassifier(max_epochs=2, callbacks=[TrainingDynamics()], random_state=0,
                                device="cpu").fit(X_l, y_l)
    with pytest.raises(ValueError, match="recorded no pool"):
        label_dispersion(blind, X_pool)


def test_label_dispersion_trains_and_records_its_own_network(small_mcd, digits_split):
    X_l, y_l, X_pool = digits_split
    mcd = small_mcd
    a = label_dispersion(mcd, X_pool, n_instances=5, X_labeled=X_l, y_labeled=y_l, random_state=0)
    b = label_dispersion(mcd, X_pool, n_instances=5, X_labeled=X_l, y_labeled=y_l, random_state=0)
    np.testing.assert_array_equal(a[0], b[0])
    # dispersions over T = 8 records are multiples of 1/8
    np.testing.assert_allclose(a[1] * 8, np.round(a[1] * 8))
    # every=3: T = 2 records
    _, scores = label_dispersion(mcd, X_pool, n_instances=5, X_labeled=X_l, y_labeled=y_l,
                                 every=3, random_state=0)
    assert set(np.round(scores * 2, 6)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="recorded nothing"):
        label_dispersion(mcd, X_pool, X_labeled=X_l, y_labeled=y_l, every=20)


# -- the labeled set, from wherever it comes ---------------------------------------------


@pytest.mark.parametrize("name", sorted(LABELED))
def test_no_labeled_set_is_a_clear_error(name, fitted_models, digits_split):
    _, _, X_pool = digits_split
    with pytest.raises(ValueError, match=f"{name} needs the labeled set"):
        STRATEGY[name](fitted_models["forest"], X_pool)


def _cheap(name):
    return {
        "learning_loss": {"loss_model": {"max_epochs": 2}},
        "label_dispersion": {"dynamics_model": {"max_epochs": 2}},
        "dal": {"n_subqueries": 1},
        "vaal": {"model": {"n_steps": 2}},
        "mal": {"model": {"n_steps": 2}},
    }[name]


@pytest.mark.parametrize("name", sorted(LABELED))
def test_labeled_set_from_a_modal_learner_or_committee(name, fitted_models, digits_split):
    X_l, y_l, X_pool = digits_split
    learner = LearnerLike(fitted_models["forest"])
    learner.X_training, learner.y_training = X_l, y_l  # what a modAL learner holds
    idx, _ = STRATEGY[name](learner, X_pool, n_instances=3, random_state=0, **_cheap(name))
    assert len(set(idx.tolist())) == 3
    # a modAL committee's X_training is None: its first member's is used
    committee = CommitteeLike([learner])
    committee.X_training = None
    again, _ = STRATEGY[name](committee, X_pool, n_instances=3, random_state=0, **_cheap(name))
    assert len(set(again.tolist())) == 3


@pytest.mark.parametrize("name", ["learning_loss", "label_dispersion", "mal"])
def test_labels_of_another_length_are_a_clear_error(name, fitted_models, digits_split):
    X_l, y_l, X_pool = digits_split
    with pytest.raises(ValueError, match="y_labeled has 10 labels for 150 rows"):
        STRATEGY[name](fitted_models["forest"], X_pool, X_labeled=X_l, y_labeled=y_l[:10])


@pytest.mark.parametrize(
    "name, options, error, match",
    [
        ("learning_loss", {"loss_model": LogisticRegression()}, TypeError, "loss_model must be"),
        ("learning_loss", {"loss_model": {"nope": 1}}, ValueError, "nope"),
        ("label_dispersion", {"dynamics_model": LogisticRegression()}, TypeError,
         "dynamics_model must be"),
        ("label_dispersion", {"every": 0}, ValueError, "every"),
        ("dal", {"n_subqueries": 0}, ValueError, "n_subqueries"),
        ("dal", {"n_subqueries": 1.5}, TypeError, "n_subqueries"),
        ("dal", {"discriminator": "mlp"}, TypeError, "discriminator must be"),
        ("dal", {"representation": "pixels"}, ValueError, "representation"),
        ("vaal", {"model": MAL()}, TypeError, "model must be None, a dict .* VAAL; got MAL"),
        ("vaal", {"model": {"n_steps": -1}}, ValueError, "n_steps"),
        ("mal", {"model": 3}, TypeError, "model must be"),
        ("mal", {"model": {"temperature": 0}}, ValueError, "temperature"),
    ],
)
def test_bad_options_are_clear_errors(name, options, error, match, fitted_models, digits_split):
    X_l, y_l, X_pool = digits_split
    with pytest.raises(error, match=match):
        STRATEGY[name](fitted_models["forest"], X_pool, X_labeled=X_l, **options)


@pytest.mark.parametrize("name", sorted(LABELED))
def test_in_skal_active_learner_rounds(name, digits_split):
    """skal's learner passes X_labeled / y_labeled; three rounds of query and teach."""
    X_l, y_l, X_pool = digits_split
    rng = np.random.RandomState(0)
    y_pool = rng.randint(0, 10, len(X_pool))
    learner = ActiveLearner(
        MCDropoutClassifier(max_epochs=2, module__hidden_units=(16,), random_state=0, device="cpu"),
        query_strategy=name, X_training=X_l, y_training=y_l, random_state=0,
    )
    for _ in range(3):
        idx, _ = learner.query(X_pool, n_instances=2, **_cheap(name))
        learner.teach(X_pool[idx], y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    assert len(learner.y_training) == len(y_l) + 6


def test_in_the_harness_with_options_from_a_config(digits):
    """What ``skal run`` does: each strategy by name with a dict of options, three rounds, logged."""
    from skal.experiments import run_experiment

    X, y = digits
    strategies = [(name, _cheap(name)) for name in sorted(LABELED)]
    results = run_experiment(
        MCDropoutClassifier(max_epochs=2, module__hidden_units=(16,), random_state=0, device="cpu"),
        X[:400], y[:400], strategies=strategies, test_size=0.25, n_initial=20, batch_size=5,
        budget=35, seeds=(0,), progress=False,
    )
    runs = results.runs()
    assert set(results.strategies) == LABELED
    for name in LABELED:
        assert [r["n_labels"] for r in runs[(name, 0)]] == [20, 25, 30, 35]
        assert all(np.isfinite(r["accuracy"]) for r in runs[(name, 0)])
