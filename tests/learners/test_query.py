"""skal.learners._query: the strategy is called once, and what it returns is read right."""

import numpy as np
import pytest

from skal.learners import ActiveLearner, Committee

from ._helpers import (
    Counting,
    forest,
    make_committee,
    run_rounds,
    split,
    uncertainty_bare,
    uncertainty_pair,
    unique_strategies,
)

def test_two_bare_indices_are_not_read_as_idx_and_scores(digits):
    X0, y0, X_pool, _ = split(digits)
    for result in [(3, 7), (np.int64(3), np.int64(7)), [3, 7], np.array([3, 7])]:
        counting = Counting(lambda c, X, n=1, r=result: r)
        learner = ActiveLearner(forest(), counting, X0, y0)
        idx, X_query = learner.query(X_pool)
        np.testing.assert_array_equal(idx, [3, 7])
        np.testing.assert_array_equal(X_query, X_pool[[3, 7]])
        assert counting.calls == 1


def test_idx_and_scores_return_and_metrics(digits):
    X0, y0, X_pool, _ = split(digits)
    learner = ActiveLearner(forest(), uncertainty_pair, X0, y0)
    idx, X_query, metrics = learner.query(X_pool, n_instances=4, return_metrics=True)
    expected_idx, expected_scores = uncertainty_pair(learner, X_pool, 4)
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_allclose(metrics, expected_scores)
    # A single index with a float score, modAL's n_instances=1 shape.
    learner.query_strategy = lambda c, X, n_instances=1: (5, 0.25)
    idx, _, metrics = learner.query(X_pool, return_metrics=True)
    np.testing.assert_array_equal(idx, [5])
    assert metrics == 0.25


def test_bare_return_with_return_metrics_warns(digits):
    X0, y0, X_pool, _ = split(digits)
    learner = ActiveLearner(forest(), uncertainty_bare, X0, y0)
    with pytest.warns(UserWarning, match="no metrics"):
        idx, _, metrics = learner.query(X_pool, n_instances=2, return_metrics=True)
    assert metrics is None and len(idx) == 2


def test_labeled_set_and_seed_reach_strategies_that_name_them(digits):
    X0, y0, X_pool, _ = split(digits)
    seen = {}

    def wants_everything(classifier, X_pool, n_instances=1, *, X_labeled=None,
                         y_labeled=None, random_state=None):
        seen.update(X_labeled=X_labeled, y_labeled=y_labeled, random_state=random_state)
        return np.arange(n_instances), np.zeros(n_instances)

    def forwards_kwargs(classifier, X_pool, n_instances=1, **predict_kwargs):
        # A **kwargs strategy typically forwards to predict_proba: nothing extra may land here.
        seen["forwarded"] = predict_kwargs
        return np.arange(n_instances)

    learner = ActiveLearner(forest(), wants_everything, X0, y0, random_state=7)
    learner.query(X_pool, n_instances=2)
    assert seen["X_labeled"] is learner.X_training
    assert seen["y_labeled"] is learner.y_training
    first_seed = seen["random_state"]
    assert isinstance(first_seed, int)
    learner.query(X_pool, n_instances=2)
    assert seen["random_state"] != first_seed  # a fresh seed each round
    # ... reproducibly so:
    again = ActiveLearner(forest(), wants_everything, X0, y0, random_state=7)
    again.query(X_pool, n_instances=2)
    assert seen["random_state"] == first_seed
    # What the caller passes wins, by name or by position.
    learner.query(X_pool, 2, random_state=123, X_labeled="mine")
    assert seen["random_state"] == 123 and seen["X_labeled"] == "mine"
    # No random_state on the learner: the strategy keeps its own default.
    ActiveLearner(forest(), wants_everything, X0, y0).query(X_pool)
    assert seen["random_state"] is None

    ActiveLearner(forest(), forwards_kwargs, X0, y0, random_state=0).query(X_pool, n_instances=2)
    assert seen["forwarded"] == {}


def test_strategy_errors_propagate_and_strategy_is_not_retried(digits):
    X0, y0, X_pool, _ = split(digits)

    def broken(classifier, X_pool, n_instances=1):
        broken.calls += 1
        raise RuntimeError("boom")

    broken.calls = 0
    learner = ActiveLearner(forest(), broken, X0, y0)
    with pytest.raises(RuntimeError, match="boom"):
        learner.query(X_pool)
    assert broken.calls == 1


@pytest.mark.parametrize(
    "result, match",
    [
        (np.array([0, 10_000]), "position 10000 for a pool"),
        (np.array([1, 1]), "repeated positions"),
        (np.array([0.5, 1.0]), "dtype float64"),
        (np.zeros((2, 2), dtype=int), "1-d array"),
    ],
)
def test_bad_strategy_output_is_reported(digits, result, match):
    X0, y0, X_pool, _ = split(digits)
    learner = ActiveLearner(forest(), lambda c, X, n_instances=1: result, X0, y0)
    with pytest.raises(ValueError, match=match):
        learner.query(X_pool)



def test_default_and_named_strategies():
    from skal.strategies import least_confident, vote_entropy

    assert ActiveLearner(forest()).query_strategy is least_confident
    assert ActiveLearner(forest(), "uncertainty_sampling").query_strategy is least_confident
    member = ActiveLearner(forest())
    assert Committee([member]).query_strategy is vote_entropy
    with pytest.raises(ValueError, match="query_strategy: unknown query strategy 'nope'"):
        ActiveLearner(forest(), query_strategy="nope")


_SKAL_STRATEGIES = unique_strategies()


@pytest.mark.parametrize("name, strategy", _SKAL_STRATEGIES, ids=[n for n, _ in _SKAL_STRATEGIES])
def test_every_skal_strategy_in_skal_learner_and_committee(digits, name, strategy):
    X0, y0, X_pool, y_pool = split(digits)
    X_pool, y_pool = X_pool[:300], y_pool[:300]
    counting = Counting(strategy)
    learner = ActiveLearner(forest(), counting, X0, y0)
    run_rounds(learner, X_pool, y_pool, n_rounds=2, n_instances=4)
    committee, _ = make_committee(digits, Counting(strategy), n_members=2)
    run_rounds(committee, X_pool, y_pool, n_rounds=2, n_instances=4)
    assert counting.calls == 2 and committee.query_strategy.calls == 2
