"""The harness's objects: settings as one object, a campaign's data, a run's identity, the learner protocol."""

import inspect

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skal.experiments import (
    CampaignSettings,
    HarnessLearner,
    LearnerCapabilities,
    learner_capabilities,
    run_experiment,
    simulate_campaign,
)
from skal.experiments._campaign import CampaignData, RunSetup, RunSpec, run_campaign
from skal.experiments._records import TIMING_FIELDS
from skal.learners import ActiveLearner, Committee

SMALL = dict(n_initial=10, batch_size=10, budget=30)


def first_rows(classifier, X_pool, n_instances=1, *, random_state=None):
    return np.arange(n_instances), np.ones(n_instances)


def _strip(records):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


# -- settings: keywords or one object ------------------------------------------------


def test_settings_object_runs_as_the_keywords(digits):
    X, y = digits
    by_keywords = run_experiment(LogisticRegression(max_iter=100), X, y, strategies=first_rows,
                                 progress=False, **SMALL)
    by_object = run_experiment(LogisticRegression(max_iter=100), X, y, strategies=first_rows,
                               settings=CampaignSettings(**SMALL), progress=False)
    assert _strip(by_object.records) == _strip(by_keywords.records)
    assert [r["n_labels"] for r in by_object.records] == [10, 20, 30]


@pytest.mark.parametrize("keywords", [{"budget": 30}, {"n_initial": 20}, {"pool_subset": None},
                                      {"test_size": 0.25, "warm_start": False}])
def test_settings_and_setting_keywords_together_are_an_error(digits, keywords):
    # even a keyword equal to the default counts: it was passed on purpose
    X, y = digits
    with pytest.raises(TypeError, match=rf"not both: {', '.join(sorted(keywords))} given with settings"):
        run_experiment(LogisticRegression(), X, y, strategies=first_rows,
                       settings=CampaignSettings(**SMALL), **keywords)


def test_settings_must_be_a_campaign_settings(digits):
    X, y = digits
    with pytest.raises(TypeError, match="settings must be a CampaignSettings, got dict"):
        run_experiment(LogisticRegression(), X, y, strategies=first_rows, settings=dict(SMALL))


def test_the_keywords_show_the_defaults_of_the_settings():
    params = inspect.signature(run_experiment).parameters
    for name in ("n_initial", "balanced_initial", "batch_size", "budget", "warm_start", "pool_subset",
                 "test_size"):
        assert repr(params[name].default) == repr(getattr(CampaignSettings(), name))
    assert "budget=100" in str(inspect.signature(run_experiment))


# -- the data of a campaign, the identity of a run ------------------------------------


def test_campaign_data_classes_and_test_sets():
    X = np.arange(20.0).reshape(10, 2)
    y = np.array([0, 1] * 5)
    data = CampaignData(X, y, X[:3], np.array([2, 0, 1]))
    np.testing.assert_array_equal(data.classes, [0, 1, 2])  # the test labels count
    X_test, y_test = data.test_set()
    assert X_test is data.X_test and y_test is data.y_test
    held_out = CampaignData(X, y)
    np.testing.assert_array_equal(held_out.classes, [0, 1])
    X_test, y_test = held_out.test_set(np.array([1, 4]))
    np.testing.assert_array_equal(X_test, X[[1, 4]])
    np.testing.assert_array_equal(y_test, [1, 0])
    assert CampaignData(X, y, classes=[0, 1, 5]).classes.tolist() == [0, 1, 5]


def test_campaign_data_reports_its_size_so_dask_scatters_it_once():
    # joblib's dask backend scatters an argument once when dask's sizeof says > 1 kB
    sizeof = pytest.importorskip("dask.sizeof").sizeof
    data = CampaignData(np.zeros((1000, 8)), np.zeros(1000))
    assert sizeof(data) >= 9 * 8000


def test_run_spec_key():
    run = RunSpec(name="margin", strategy="margin", seed=3, pool_idx=np.arange(5), initial_idx=np.arange(2))
    assert run.key == ("margin", 3) and run.test_idx is None


def test_run_campaign_is_what_simulate_campaign_runs(digits):
    X, y = digits
    pool, test = np.arange(1000), np.arange(1000, len(y))
    initial = np.concatenate([pool[y[pool] == k][:1] for k in range(10)])
    settings = CampaignSettings(**SMALL)
    public = simulate_campaign(LogisticRegression(max_iter=100), first_rows, X, y, X[test], y[test],
                               pool_idx=pool, initial_idx=initial, seed=4, settings=settings)
    # the same run, its test set held out of X by position
    run = RunSpec(name="first_rows", strategy=first_rows, seed=4, pool_idx=pool, initial_idx=initial,
                  test_idx=test)
    task = run_campaign(run, CampaignData(X, y), RunSetup(LogisticRegression(max_iter=100), settings=settings))
    assert _strip(task) == _strip(public)


# -- what a learner offers the harness -------------------------------------------------


class Plain:
    """A learner with modAL's methods and nothing declared (as a modAL learner)."""

    def teach(self, X, y, **kwargs):
        pass

    def query(self, X_pool, *args, **kwargs):
        pass

    def predict_proba(self, X, **kwargs):
        pass


class Declares(Plain):
    history_dependent = True
    replays_queries = 1  # truthy is true

    def describe_round(self, y_pool=None):
        return {}


def test_skal_learners_and_plain_ones_satisfy_the_protocol():
    assert isinstance(ActiveLearner(LogisticRegression()), HarnessLearner)
    assert isinstance(Committee([ActiveLearner(LogisticRegression())]), HarnessLearner)
    assert isinstance(Plain(), HarnessLearner)
    assert not isinstance(LogisticRegression(), HarnessLearner)  # no teach, no query


@pytest.mark.parametrize(
    "learner, expected",
    [
        (Plain(), LearnerCapabilities()),
        (ActiveLearner(LogisticRegression()), LearnerCapabilities()),
        (Committee([ActiveLearner(LogisticRegression())]), LearnerCapabilities()),
        (Declares(), LearnerCapabilities(history_dependent=True, replays_queries=True, describes_rounds=True)),
    ],
    ids=["nothing declared", "ActiveLearner", "Committee", "all declared"],
)
def test_learner_capabilities_reads_what_is_declared_and_defaults_the_rest(learner, expected):
    assert learner_capabilities(learner) == expected


def test_the_skal_learners_declare_their_capabilities():
    from skal.learners import BGADL, CEAL, SelectionViaProxy

    assert learner_capabilities(CEAL.__new__(CEAL)) == LearnerCapabilities(True, True, True)
    assert learner_capabilities(BGADL.__new__(BGADL)) == LearnerCapabilities(True, False, True)
    assert learner_capabilities(SelectionViaProxy.__new__(SelectionViaProxy)) == LearnerCapabilities(False, False, True)


class Describes(ActiveLearner):
    """Says what it did each round: how many candidates the query saw."""

    def describe_round(self, y_pool=None):
        return {"n_candidates": None if y_pool is None else len(y_pool)}


def test_a_learner_that_describes_its_rounds_has_them_recorded(digits):
    X, y = digits
    res = run_experiment(LogisticRegression(max_iter=100), X, y, strategies=first_rows, learner=Describes,
                         pool_subset=50, progress=False, **SMALL)
    assert [r["learner"] for r in res.records] == [{"n_candidates": None}, {"n_candidates": 50},
                                                   {"n_candidates": 50}]
    plain = run_experiment(LogisticRegression(max_iter=100), X, y, strategies=first_rows, progress=False,
                           **SMALL)
    assert all("learner" not in r for r in plain.records)
