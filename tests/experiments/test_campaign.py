"""simulate_campaign and CampaignSettings: one loop that drives any learner."""

import dataclasses
import functools

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from skal.experiments import CampaignSettings, read_run_file, run_experiment, simulate_campaign
from skal.experiments._records import TIMING_FIELDS
from skal.learners import ActiveLearner, Committee
from skal.strategies import vote_entropy

SMALL = dict(n_initial=10, batch_size=10, budget=50)


def first_rows(classifier, X_pool, n_instances=1, *, random_state=None):
    return np.arange(n_instances), np.ones(n_instances)


def last_rows(classifier, X_pool, n_instances=1):
    # negative positions count from the end of the pool, as in the learners
    return -np.arange(1, n_instances + 1)


class StopAt:
    """A strategy that raises KeyboardInterrupt (a Ctrl-C) on its k-th call."""

    def __init__(self, k, strategy=first_rows):
        self.k, self.calls, self.strategy = k, 0, strategy
        self.__name__ = "stop_at"

    def __call__(self, classifier, X_pool, n_instances=1, *, random_state=None):
        self.calls += 1
        if self.calls == self.k:
            raise KeyboardInterrupt
        return self.strategy(classifier, X_pool, n_instances, random_state=random_state)


def _strip(records):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


def _campaign(digits, strategy, **kwargs):
    X, y = digits
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    pool, test = order[:1200], order[1200:]
    initial = np.concatenate([pool[y[pool] == k][:1] for k in range(10)])
    settings = kwargs.pop("settings", CampaignSettings(**SMALL))
    return simulate_campaign(
        kwargs.pop("estimator", LogisticRegression(max_iter=200)), strategy, X, y, X[test], y[test],
        pool_idx=pool, initial_idx=initial, seed=0, settings=settings, **kwargs,
    )


# -- settings ------------------------------------------------------------------------


def test_settings_are_frozen_and_serialisable():
    settings = CampaignSettings(n_initial=20, batch_size=50, budget=300)
    assert settings.n_rounds == 1 + 6  # the seed set, then 280 labels by 50 (the last takes 30)
    assert settings.as_dict()["batch_size"] == 50
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.budget = 10


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_initial": 0}, ValueError, "n_initial == 0, must be >= 1"),
        ({"n_initial": True}, TypeError, "n_initial must be an instance of int, not bool"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an instance of int, not float"),
        ({"budget": 5}, ValueError, "must be at least n_initial=20"),
        ({"pool_subset": 5}, ValueError, "pool_subset == 5, must be >= 10"),
        ({"pool_subset": "all"}, TypeError, "pool_subset must be an instance of int"),
        ({"balanced_initial": "yes"}, TypeError, "balanced_initial must be an instance of bool"),
        ({"test_size": 0.0}, ValueError, "test_size == 0.0, must be > 0"),
        ({"test_size": float("nan")}, ValueError, "test_size"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        CampaignSettings(**kwargs)


def test_settings_must_be_the_settings_object(digits):
    with pytest.raises(TypeError, match="settings must be a CampaignSettings"):
        _campaign(digits, first_rows, settings={"budget": 30})


# -- the loop ------------------------------------------------------------------------


def test_round_zero_teaches_the_seed_set_and_later_rounds_the_queries(digits):
    records = _campaign(digits, first_rows)
    assert [r["n_labels"] for r in records] == [10, 20, 30, 40, 50]
    assert records[0]["scores"] is None and records[1]["scores"] == [1.0] * 10
    labeled = np.concatenate([r["queried"] for r in records])
    assert len(np.unique(labeled)) == 50


def test_negative_positions_from_a_strategy_mean_what_they_mean_in_the_learner(digits):
    records = _campaign(digits, last_rows, settings=CampaignSettings(n_initial=10, batch_size=3, budget=13))
    X, y = digits
    pool = np.random.default_rng(0).permutation(len(y))[:1200]
    initial = set(records[0]["queried"])
    candidates = np.sort([i for i in pool if i not in initial])
    assert records[1]["queried"] == candidates[[-1, -2, -3]].tolist()


def test_a_committee_runs_through_a_learner_factory(digits):
    def committee(estimator, query_strategy, random_state):
        members = [
            ActiveLearner(RandomForestClassifier(n_estimators=5, random_state=random_state + k))
            for k in range(3)
        ]
        return Committee(members, query_strategy=query_strategy, random_state=random_state)

    records = _campaign(digits, vote_entropy, learner=committee)
    assert [r["n_labels"] for r in records] == [10, 20, 30, 40, 50]
    # vote entropy of a 3-member committee: at most log 3, and the batch is disputed
    scores = np.asarray(records[1]["scores"])
    assert scores.max() <= np.log(3) + 1e-12 and scores.min() > 0
    assert records[-1]["accuracy"] > 0.5


class ForgetsItsFirstRows(ActiveLearner):
    """Trains on the labeled set minus one row per round taught so far: history matters."""

    history_dependent = True

    def teach(self, X, y, **kwargs):
        self.rounds = getattr(self, "rounds", 0) + 1
        super().teach(X, y, **kwargs)

    def get_training_set(self, X, y):
        return X[self.rounds :], y[self.rounds :]


@pytest.mark.parametrize(
    "learner, warm_start",
    [(ForgetsItsFirstRows, False), (None, True)],
    ids=["history-dependent learner", "warm start"],
)
def test_resume_replays_rounds_when_training_depends_on_them(digits, tmp_path, learner, warm_start):
    X, y = digits
    estimator = LogisticRegression(max_iter=30, warm_start=warm_start)
    kwargs = dict(learner=learner, warm_start=warm_start, output_dir=tmp_path / "cut", progress=False,
                  n_initial=10, batch_size=10, budget=60)
    reference = run_experiment(estimator, X, y, strategies={"s": first_rows}, **{**kwargs, "output_dir": None})
    with pytest.raises(KeyboardInterrupt):
        run_experiment(estimator, X, y, strategies={"s": StopAt(3)}, **kwargs)
    _, partial = read_run_file(tmp_path / "cut" / "runs" / "s__seed0.jsonl")
    assert len(partial) == 3
    resumed = run_experiment(estimator, X, y, strategies={"s": StopAt(10**9)}, **kwargs)
    assert _strip(resumed.records) == _strip(reference.records)


def test_a_learner_factory_without_random_state_and_the_header_holds_the_settings(digits, tmp_path):
    X, y = digits
    learner = functools.partial(ActiveLearner, bootstrap_init=False)
    run_experiment(LogisticRegression(max_iter=100), X, y, strategies=first_rows, learner=learner,
                   output_dir=tmp_path, progress=False, **SMALL)
    header, rounds = read_run_file(tmp_path / "runs" / "first_rows__seed0.jsonl")
    assert len(rounds) == 5
    settings = header["settings"]
    assert {k: settings[k] for k in SMALL} == SMALL
    assert settings["learner"] == "skal.learners._learner.ActiveLearner"
    assert settings["warm_start"] is False and settings["pool_subset"] is None
