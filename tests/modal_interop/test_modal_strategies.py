"""Every skal strategy inside the REAL modAL (modAL-python 0.4.2.1), and back.

This module needs modAL, which cannot live in the main environment (it pins
``skorch==0.9.0`` and its ``teach`` breaks on scikit-learn >= 1.8). ``.ci/run``
builds a second environment (scikit-learn < 1.8, modAL installed with
``--no-deps``, torch/skorch shared with the main one) and runs this module
there; the default pytest run ignores it (see pyproject's ``addopts``).

modAL's ``query`` unpacks ``idx, metrics = strategy(...)`` under a bare
``except`` and calls the strategy again when that fails; counting the calls
is what shows a strategy honours the contract.
"""

import functools
import warnings

import numpy as np
import pytest
import sklearn

# Imported unconditionally: in the interop environment a missing modAL must
# fail the run, not skip it.
import modAL
from modAL.disagreement import (
    consensus_entropy_sampling,
    max_disagreement_sampling,
    vote_entropy_sampling,
)
from modAL.batch import uncertainty_batch_sampling
from modAL.models import ActiveLearner as ModalActiveLearner
from modAL.models import Committee as ModalCommittee
from modAL.uncertainty import entropy_sampling, margin_sampling, uncertainty_sampling
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skal.learners
from skal.models import DeepProbabilisticEnsemble
from skal.strategies import STRATEGIES

N_ROUNDS = 3
N_INSTANCES = 4

# modAL's check_X_y(force_all_finite=...) warns on scikit-learn 1.6/1.7.
pytestmark = pytest.mark.filterwarnings("ignore:'force_all_finite' was renamed:FutureWarning")


def _unique_strategies():
    """One entry per strategy function (the registry also holds aliases)."""
    seen = {}
    for name, func in STRATEGIES.items():
        seen.setdefault(func, name)
    return sorted((name, func) for func, name in seen.items())


SKAL_STRATEGIES = _unique_strategies()


def test_environment_is_the_one_modal_needs():
    major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
    assert (major, minor) < (1, 8), sklearn.__version__
    assert modAL.models.ActiveLearner is ModalActiveLearner
    import skorch
    import torch

    assert int(skorch.__version__.split(".")[0]) >= 1
    assert torch.__version__
    # The registry is not empty and holds the strategies issue 3 names.
    names = {name for name, _ in SKAL_STRATEGIES} | set(STRATEGIES)
    for required in ["least_confident", "margin", "entropy", "random_sampling", "vote_entropy",
                     "consensus_entropy", "max_disagreement", "bald", "var_ratios", "mean_std",
                     "batch_bald"]:
        assert required in names


class Counting:
    """Counts calls and records each result, passing everything through."""

    def __init__(self, func):
        functools.update_wrapper(self, func)
        self.func = func
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.func(*args, **kwargs)


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    rng = np.random.RandomState(0)
    order = rng.permutation(len(X))
    seed = np.concatenate([order[y[order] == k][:3] for k in range(10)])
    pool = np.setdiff1d(order, seed)[:300]
    return X[seed], y[seed], X[pool], y[pool]


def _tiny_dpe(seed=0):
    return make_pipeline(
        StandardScaler(),
        DeepProbabilisticEnsemble(n_estimators=2, max_epochs=2, random_state=seed),
    )


def _forest_committee(X0, y0, strategy, learner_cls, committee_cls):
    members = [
        learner_cls(
            estimator=RandomForestClassifier(n_estimators=5, random_state=s),
            X_training=X0, y_training=y0,
        )
        for s in range(3)
    ]
    return committee_cls(learner_list=members, query_strategy=strategy)


def _run_rounds(model, counting, X_pool, y_pool, **query_kwargs):
    for r in range(N_ROUNDS):
        before = counting.calls
        idx, X_query = model.query(X_pool, n_instances=N_INSTANCES, random_state=r, **query_kwargs)
        assert counting.calls == before + 1, "the strategy ran more than once for one query"
        idx = np.asarray(idx)
        assert idx.shape == (N_INSTANCES,)
        assert np.issubdtype(idx.dtype, np.integer)
        assert len(np.unique(idx)) == N_INSTANCES
        assert idx.min() >= 0 and idx.max() < len(X_pool)
        np.testing.assert_array_equal(np.asarray(X_query), X_pool[idx])
        model.teach(X_pool[idx], y_pool[idx])
        keep = np.setdiff1d(np.arange(len(X_pool)), idx)
        X_pool, y_pool = X_pool[keep], y_pool[keep]
    assert counting.calls == N_ROUNDS


# -- skal strategies inside modAL --------------------------------------------------


@pytest.mark.parametrize("name, strategy", SKAL_STRATEGIES, ids=[n for n, _ in SKAL_STRATEGIES])
def test_skal_strategy_in_modal_active_learner_with_dpe(data, name, strategy):
    X0, y0, X_pool, y_pool = data
    counting = Counting(strategy)
    learner = ModalActiveLearner(
        estimator=_tiny_dpe(), query_strategy=counting, X_training=X0, y_training=y0
    )
    _run_rounds(learner, counting, X_pool, y_pool)
    assert len(learner.y_training) == len(y0) + N_ROUNDS * N_INSTANCES


@pytest.mark.parametrize("name, strategy", SKAL_STRATEGIES, ids=[n for n, _ in SKAL_STRATEGIES])
def test_skal_strategy_in_modal_committee_of_forests(data, name, strategy):
    X0, y0, X_pool, y_pool = data
    counting = Counting(strategy)
    committee = _forest_committee(X0, y0, counting, ModalActiveLearner, ModalCommittee)
    _run_rounds(committee, counting, X_pool, y_pool)
    for learner in committee:
        assert len(learner.y_training) == len(y0) + N_ROUNDS * N_INSTANCES


@pytest.mark.parametrize("name, strategy", SKAL_STRATEGIES, ids=[n for n, _ in SKAL_STRATEGIES])
def test_modal_return_metrics_gets_skal_scores(data, name, strategy):
    X0, y0, X_pool, _ = data
    committee = _forest_committee(X0, y0, strategy, ModalActiveLearner, ModalCommittee)
    with warnings.catch_warnings():
        # modAL warns when it could not unpack (idx, metrics): that must not happen.
        warnings.simplefilter("error", UserWarning)
        idx, _, metrics = committee.query(X_pool, return_metrics=True, n_instances=N_INSTANCES,
                                          random_state=0)
    assert np.shape(metrics) == (N_INSTANCES,)
    assert np.all(np.isfinite(metrics))


# -- modAL's own strategies inside skal's learners (the drop-in direction) ----------


MODAL_SINGLE = [uncertainty_sampling, margin_sampling, entropy_sampling]
MODAL_COMMITTEE = [vote_entropy_sampling, consensus_entropy_sampling, max_disagreement_sampling]


@pytest.mark.parametrize("strategy", MODAL_SINGLE, ids=lambda f: f.__name__)
def test_modal_strategy_in_skal_active_learner(data, strategy):
    X0, y0, X_pool, y_pool = data
    counting = Counting(strategy)
    learner = skal.learners.ActiveLearner(
        estimator=_tiny_dpe(), query_strategy=counting, X_training=X0, y_training=y0
    )
    for r in range(N_ROUNDS):
        idx, X_query = learner.query(X_pool, n_instances=N_INSTANCES)
        assert counting.calls == r + 1
        assert len(np.unique(idx)) == N_INSTANCES
        learner.teach(X_query, y_pool[idx])


@pytest.mark.parametrize("strategy", MODAL_COMMITTEE, ids=lambda f: f.__name__)
def test_modal_strategy_in_skal_committee(data, strategy):
    X0, y0, X_pool, y_pool = data
    counting = Counting(strategy)
    committee = _forest_committee(
        X0, y0, counting, skal.learners.ActiveLearner, skal.learners.Committee
    )
    for r in range(N_ROUNDS):
        idx, X_query = committee.query(X_pool, n_instances=N_INSTANCES)
        assert counting.calls == r + 1
        assert len(np.unique(idx)) == N_INSTANCES
        committee.teach(X_query, y_pool[idx])


def test_modal_batch_strategy_on_transformed_in_skal_learner(data):
    """modAL's ranked batch mode reads X_training and transform_without_estimating."""
    X0, y0, X_pool, y_pool = data
    learner = skal.learners.ActiveLearner(
        estimator=make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0)),
        query_strategy=uncertainty_batch_sampling, X_training=X0, y_training=y0,
        on_transformed=True,
    )
    modal_twin = ModalActiveLearner(
        estimator=make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0)),
        query_strategy=uncertainty_batch_sampling, X_training=X0, y_training=y0,
        on_transformed=True,
    )
    idx, _ = learner.query(X_pool, n_instances=N_INSTANCES)
    modal_idx, _ = modal_twin.query(X_pool, n_instances=N_INSTANCES)
    np.testing.assert_array_equal(idx, modal_idx)
    np.testing.assert_allclose(
        learner.transform_without_estimating(X_pool), modal_twin.transform_without_estimating(X_pool)
    )


# -- the same numbers as modAL's own committee measures ----------------------------


@pytest.mark.parametrize(
    "skal_measure, modal_name",
    [("max_disagreement", "KL_max_disagreement"), ("vote_entropy", "vote_entropy"),
     ("consensus_entropy", "consensus_entropy")],
)
def test_committee_measures_equal_modals_on_a_modal_committee(data, skal_measure, modal_name):
    """skal's max_disagreement is modAL's max-over-members KL (not the mean KL), and a
    committee of forests gives one sample per member, as modAL's measures read it."""
    import modAL.disagreement

    from skal import measures
    from skal.strategies import score_pool

    X0, y0, X_pool, _ = data
    committee = _forest_committee(X0, y0, None, ModalActiveLearner, ModalCommittee)
    ours = score_pool(committee, X_pool, getattr(measures, skal_measure))
    theirs = getattr(modAL.disagreement, modal_name)(committee, X_pool)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
