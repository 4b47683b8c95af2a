"""CEAL, BGADL and SelectionViaProxy keep the learner contract: rounds, labels, Pipelines, strategies, resume."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skal.experiments import read_run_file, run_experiment
from skal.experiments._records import TIMING_FIELDS
from skal.learners import BGADL, CEAL, SelectionViaProxy
from skal.models import VAEACGAN

from ._helpers import Counting, run_rounds, unique_strategies


def flatten(X):
    return X.reshape(len(X), -1)


def image_pipeline(C=10.0):
    """Images (n, 1, 8, 8) flattened into a logistic regression: the classifier of these tests."""
    return make_pipeline(FunctionTransformer(flatten), LogisticRegression(C=C, max_iter=500))


#: name -> factory(estimator, query_strategy, random_state=...), as the harness calls it.
LEARNERS = {
    "ceal": lambda estimator, query_strategy, random_state=None: CEAL(
        estimator, query_strategy, delta=0.5, random_state=random_state
    ),
    "bgadl": lambda estimator, query_strategy, random_state=None: BGADL(
        estimator, query_strategy, generator=VAEACGAN(n_steps=5, width=4), random_state=random_state
    ),
    "svp": lambda estimator, query_strategy, random_state=None: SelectionViaProxy(
        estimator, query_strategy, proxy=image_pipeline(C=0.1), random_state=random_state
    ),
}


@pytest.fixture(scope="module")
def images():
    """digits as (n, 1, 8, 8) images in [0, 1] and string labels."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8), np.array([f"digit {k}" for k in y])


def _seed_and_pool(images, n_seed=30):
    X, y = images
    rng = np.random.RandomState(0)
    order = rng.permutation(len(X))
    seed = np.concatenate([order[y[order] == k][: n_seed // 10] for k in np.unique(y)])
    pool = np.setdiff1d(order, seed)[:600]
    return X[seed], y[seed], X[pool], y[pool]


@pytest.mark.parametrize("name", LEARNERS)
def test_rounds_on_images_with_string_labels_and_a_pipeline(images, name):
    X0, y0, X_pool, y_pool = _seed_and_pool(images)
    copies = [a.copy() for a in (X0, y0, X_pool, y_pool)]
    learner = LEARNERS[name](image_pipeline(), "entropy", random_state=0)
    learner.teach(X0, y0)
    before = learner.score(X_pool, y_pool)
    X_rest, y_rest = run_rounds(learner, X_pool, y_pool, n_rounds=3, n_instances=10)
    # only the queried rows are labeled, whatever else the model trains on
    assert learner.X_training.shape == (len(y0) + 30, 1, 8, 8)
    assert set(learner.classes_) == set(np.unique(y0)) and learner.predict(X_rest[:3]).dtype.kind == "U"
    np.testing.assert_allclose(learner.predict_proba(X_rest[:5]).sum(axis=1), 1.0, rtol=1e-6)
    assert learner.score(X_rest, y_rest) > max(before - 0.02, 0.5)
    for original, copy in zip((X0, y0, X_pool, y_pool), copies):
        np.testing.assert_array_equal(original, copy)


_STRATEGIES = [s for s in unique_strategies() if s[0] in ("random", "margin", "bald", "coreset", "badge")]


@pytest.mark.parametrize("name", LEARNERS)
@pytest.mark.parametrize("strategy_name, strategy", _STRATEGIES, ids=[n for n, _ in _STRATEGIES])
def test_any_strategy_drives_the_learner(images, name, strategy_name, strategy):
    X0, y0, X_pool, y_pool = _seed_and_pool(images)
    counting = Counting(strategy)
    learner = LEARNERS[name](image_pipeline(), counting, random_state=0)
    learner.teach(X0, y0)
    run_rounds(learner, X_pool[:200], y_pool[:200], n_rounds=2, n_instances=4)
    assert counting.calls == 2


def entropy_first(classifier, X_pool, n_instances=1, *, random_state=None):
    from skal.strategies import entropy

    return entropy(classifier, X_pool, n_instances, random_state=random_state)


class StopAt:
    """The strategy above, raising KeyboardInterrupt (a Ctrl-C) on its k-th call."""

    __name__ = "entropy_first"

    def __init__(self, k):
        self.k, self.calls = k, 0

    def __call__(self, classifier, X_pool, n_instances=1, *, random_state=None):
        self.calls += 1
        if self.calls == self.k:
            raise KeyboardInterrupt
        return entropy_first(classifier, X_pool, n_instances, random_state=random_state)


def _strip(records):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


_RESUME = ["ceal", "bgadl", "svp"]


@pytest.mark.parametrize("name", _RESUME)
def test_a_run_cut_by_ctrl_c_resumes_as_if_never_cut(images, tmp_path, name):
    X, y = images
    kwargs = dict(learner=LEARNERS[name], n_initial=10, batch_size=10, budget=50, progress=False,
                  output_dir=tmp_path / "cut")
    reference = run_experiment(image_pipeline(), X, y, strategies={"s": entropy_first},
                               **{**kwargs, "output_dir": None})
    with pytest.raises(KeyboardInterrupt):
        run_experiment(image_pipeline(), X, y, strategies={"s": StopAt(3)}, **kwargs)
    assert len(read_run_file(tmp_path / "cut" / "runs" / "s__seed0.jsonl")[1]) == 3
    resumed = run_experiment(image_pipeline(), X, y, strategies={"s": StopAt(10**9)}, **kwargs)
    assert _strip(resumed.records) == _strip(reference.records)
    # every round records what the learner did besides its batch
    info = [r["learner"] for r in reference.records]
    if name == "ceal":
        assert all(i["n_pseudo"] > 0 and 0 <= i["n_pseudo_correct"] <= i["n_pseudo"] for i in info[1:])
    elif name == "bgadl":
        assert info[-1]["n_generated"] == 40  # a twin per image taught after the seed set
    else:
        assert set(info[-1]) == {"rank_correlation"}


def test_ceal_of_these_tests_does_pseudo_label(images):
    # the resume test above needs pseudo-labels to mean anything
    X0, y0, X_pool, y_pool = _seed_and_pool(images)
    learner = LEARNERS["ceal"](image_pipeline(), "entropy", random_state=0)
    learner.teach(X0, y0)
    run_rounds(learner, X_pool, y_pool, n_rounds=2, n_instances=10)
    assert all(r["n_pseudo"] > 20 for r in learner.rounds_)
