"""Clear errors at the boundary of the Committee and of run_experiment (issue 19, defect 7).

These belong with tests/learners/test_committee.py and
tests/experiments/test_experiment.py; they live here while those files are
being edited for other issues.
"""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skal.experiments import run_experiment
from skal.learners import ActiveLearner, Committee


def _rows(n_rows=40, n_features=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_rows, n_features)
    return X, (X[:, 0] > 0).astype(int)


# -- Committee of regressors -------------------------------------------------------------------
@pytest.mark.parametrize(
    "regressor", [LinearRegression(), make_pipeline(StandardScaler(), LinearRegression())]
)
@pytest.mark.parametrize("fitted", [True, False])
def test_a_committee_of_regressors_says_it_is_for_classifiers(regressor, fitted):
    X, _ = _rows()
    data = {"X_training": X, "y_training": X.sum(axis=1)} if fitted else {}
    members = [ActiveLearner(regressor, **data) for _ in range(2)]
    # it used to be built, then say "not every committee member is fitted" however fitted
    with pytest.raises(TypeError, match=r"learner_list\[0\] wraps a regressor .*CommitteeRegressor"):
        Committee(members)


def test_one_regressor_among_classifiers_is_named():
    X, y = _rows()
    members = [
        ActiveLearner(LogisticRegression(), X_training=X, y_training=y),
        ActiveLearner(LinearRegression(), X_training=X, y_training=X.sum(axis=1)),
    ]
    with pytest.raises(TypeError, match=r"learner_list\[1\] wraps a regressor \(LinearRegression\)"):
        Committee(members)


def test_a_committee_of_classifiers_still_waits_for_unfitted_members():
    X, y = _rows()
    committee = Committee([ActiveLearner(LogisticRegression()) for _ in range(2)])
    assert committee.classes_ is None
    committee.teach(X, y)
    np.testing.assert_array_equal(committee.classes_, [0, 1])


# -- run_experiment: X_test of the wrong shape -------------------------------------------------
class CountingFits(LogisticRegression):
    """LogisticRegression that counts its fits (class-level: clones share it)."""

    fits = 0

    def fit(self, X, y, sample_weight=None):
        type(self).fits += 1
        return super().fit(X, y, sample_weight=sample_weight)


SETTINGS = {"n_initial": 10, "batch_size": 10, "budget": 20, "progress": False, "strategies": "random"}


@pytest.mark.parametrize("memmapped", [False, True])
def test_an_x_test_of_another_width_fails_before_any_fit_naming_x_test(tmp_path, memmapped):
    X, y = _rows(60, 4)
    X_test, y_test = _rows(20, 3, seed=1)
    if memmapped:  # out of core: checked from its shape, not loaded
        X_test = np.lib.format.open_memmap(tmp_path / "X_test.npy", mode="w+", shape=X_test.shape)
        X_test[:] = _rows(20, 3, seed=1)[0]
    CountingFits.fits = 0
    expected = r"X_test has samples of shape \(3,\) .*but X has \(4,\) .*X\.shape=\(60, 4\)"
    with pytest.raises(ValueError, match=expected):
        run_experiment(CountingFits(), X, y, X_test=X_test, y_test=y_test, **SETTINGS)
    assert CountingFits.fits == 0


def test_image_shaped_x_test_must_match_the_samples_of_x():
    rng = np.random.RandomState(0)
    X, y = rng.rand(30, 1, 4, 4), np.arange(30) % 2
    with pytest.raises(ValueError, match=r"X_test has samples of shape \(1, 4, 3\) .*but X has \(1, 4, 4\)"):
        run_experiment(CountingFits(), X, y, X_test=rng.rand(10, 1, 4, 3), y_test=np.arange(10) % 2,
                       **SETTINGS)


def test_an_x_test_of_the_right_width_runs():
    X, y = _rows(60, 4)
    X_test, y_test = _rows(20, 4, seed=1)
    results = run_experiment(LogisticRegression(), X, y, X_test=X_test, y_test=y_test, **SETTINGS)
    assert [r["n_labels"] for r in results.records] == [10, 20]
