"""skal.learners.ActiveLearner: modAL's loop on current scikit-learn, real models and data."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skal.learners import ActiveLearner
from skal.models import predict_proba_samples

from ._helpers import Counting, forest, logreg_pipe, run_rounds, split, uncertainty_bare, uncertainty_pair

# -- full rounds on digits -------------------------------------------------------


@pytest.mark.parametrize("make_estimator", [forest, logreg_pipe])
@pytest.mark.parametrize("strategy", [uncertainty_pair, uncertainty_bare])
def test_query_teach_rounds_on_digits(digits, make_estimator, strategy):
    X0, y0, X_pool, y_pool = split(digits)
    counting = Counting(strategy)
    learner = ActiveLearner(make_estimator(), query_strategy=counting, X_training=X0, y_training=y0)
    before = learner.score(X_pool, y_pool)
    X_rest, y_rest = run_rounds(learner, X_pool, y_pool, n_rounds=4, n_instances=10)
    assert counting.calls == 4
    assert learner.X_training.shape == (len(y0) + 40, X0.shape[1])
    assert learner.predict(X_rest[:7]).shape == (7,)
    proba = learner.predict_proba(X_rest[:7])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(learner.classes_, np.arange(10))
    # Forty uncertainty-chosen labels on top of thirty random ones help.
    assert learner.score(X_rest, y_rest) > before - 0.02


def test_teach_without_initial_data_then_query(digits):
    X0, y0, X_pool, _ = split(digits)
    learner = ActiveLearner(forest(), query_strategy=uncertainty_pair)
    assert learner.X_training is None
    learner.teach(X0, y0)
    idx, _ = learner.query(X_pool, n_instances=3)
    assert len(idx) == 3


def test_prefitted_estimator_can_query_without_training_data(digits):
    X0, y0, X_pool, _ = split(digits)
    learner = ActiveLearner(forest().fit(X0, y0), query_strategy=uncertainty_pair)
    idx, _ = learner.query(X_pool, n_instances=2)
    assert len(idx) == 2


def test_fit_replaces_the_training_data(digits):
    X0, y0, X_pool, y_pool = split(digits)
    learner = ActiveLearner(forest(), uncertainty_pair, X0, y0)
    learner.fit(X_pool[:20], y_pool[:20])
    np.testing.assert_array_equal(learner.X_training, X_pool[:20])
    np.testing.assert_array_equal(learner.estimator.classes_, np.unique(y_pool[:20]))


def test_only_new_fits_on_new_rows_but_keeps_them_labeled(digits):
    X0, y0, X_pool, y_pool = split(digits)
    learner = ActiveLearner(forest(), uncertainty_pair, X0, y0)
    learner.teach(X_pool[:12], y_pool[:12], only_new=True)
    assert learner.estimator.n_features_in_ == X0.shape[1]
    assert len(learner.y_training) == len(y0) + 12
    np.testing.assert_array_equal(learner.estimator.classes_, np.unique(y_pool[:12]))



# -- data containers -------------------------------------------------------------


def test_pandas_pool_with_a_shuffled_index(digits):
    pd = pytest.importorskip("pandas")
    X0, y0, X_pool, y_pool = split(digits)
    cols = [f"px{i}" for i in range(X0.shape[1])]
    # A non-default index: positional rows must come back, not labelled ones.
    index = np.random.RandomState(0).permutation(len(X_pool)) + 10_000
    pool = pd.DataFrame(X_pool, columns=cols, index=index)
    labels = pd.Series(y_pool, index=index)
    learner = ActiveLearner(
        logreg_pipe(), uncertainty_pair, pd.DataFrame(X0, columns=cols), pd.Series(y0)
    )
    for _ in range(2):
        idx, X_query = learner.query(pool, n_instances=4)
        assert isinstance(X_query, pd.DataFrame)
        np.testing.assert_array_equal(X_query.to_numpy(), X_pool[idx])
        learner.teach(X_query, labels.iloc[idx])
    assert isinstance(learner.X_training, pd.DataFrame)
    assert list(learner.X_training.columns) == cols
    assert learner.X_training.shape == (len(y0) + 8, len(cols))
    assert isinstance(learner.y_training, pd.Series) and len(learner.y_training) == len(y0) + 8
    # Rows given as a plain array join the frame under its columns.
    learner.teach(X_pool[:2], y_pool[:2])
    assert list(learner.X_training.columns) == cols


def test_sparse_pool(digits):
    X0, y0, X_pool, y_pool = split(digits)
    learner = ActiveLearner(
        LogisticRegression(max_iter=300), uncertainty_pair, sp.csr_matrix(X0), y0
    )
    pool = sp.csr_matrix(X_pool)
    idx, X_query = learner.query(pool, n_instances=3)
    assert sp.issparse(X_query) and X_query.shape == (3, X0.shape[1])
    learner.teach(X_query, y_pool[idx])
    assert sp.issparse(learner.X_training) and learner.X_training.format == "csr"
    assert learner.X_training.shape[0] == len(y0) + 3
    # coo has no row indexing; the rows still come back in coo.
    _, X_coo = learner.query(pool.tocoo(), n_instances=2)
    assert X_coo.format == "coo"


def test_list_data_stays_a_list(digits):
    X0, y0, X_pool, y_pool = split(digits)
    learner = ActiveLearner(forest(), uncertainty_pair, [row for row in X0], list(y0))
    pool = [row for row in X_pool]
    idx, X_query = learner.query(pool, n_instances=2)
    assert isinstance(X_query, list) and len(X_query) == 2
    learner.teach(X_query, y_pool[idx])
    assert isinstance(learner.X_training, list) and len(learner.X_training) == len(y0) + 2
    assert learner.X_training[-1] is X_query[-1]


def test_callers_arrays_are_not_modified(digits):
    X0, y0, X_pool, y_pool = split(digits)
    copies = [a.copy() for a in (X0, y0, X_pool, y_pool)]
    learner = ActiveLearner(forest(), uncertainty_pair, X0, y0, bootstrap_init=True, random_state=0)
    idx, X_query = learner.query(X_pool, n_instances=3)
    learner.teach(X_query, y_pool[idx], bootstrap=True)
    for original, copy in zip((X0, y0, X_pool, y_pool), copies):
        np.testing.assert_array_equal(original, copy)


# -- on_transformed, bootstrap, extension point ----------------------------------


def test_on_transformed_gives_strategies_the_pipeline_features(digits):
    X0, y0, X_pool, _ = split(digits)
    seen = {}

    def farthest_from_labeled(classifier, X_pool, n_instances=1, *, X_labeled=None):
        # modAL's batch strategies do exactly this with on_transformed.
        if classifier.on_transformed:
            X_pool = classifier.transform_without_estimating(X_pool)
            X_labeled = classifier.transform_without_estimating(X_labeled)
        seen["pool"] = X_pool
        d = ((X_pool[:, None, :] - X_labeled[None, :, :]) ** 2).sum(-1).min(axis=1)
        return np.argsort(-d)[:n_instances], np.sort(d)[::-1][:n_instances]

    pipe = logreg_pipe()
    learner = ActiveLearner(pipe, farthest_from_labeled, X0, y0, on_transformed=True)
    learner.query(X_pool[:50], n_instances=2)
    np.testing.assert_allclose(seen["pool"], pipe[0].transform(X_pool[:50]))
    plain = ActiveLearner(logreg_pipe(), farthest_from_labeled, X0, y0)
    plain.query(X_pool[:50], n_instances=2)
    np.testing.assert_array_equal(seen["pool"], X_pool[:50])
    # A bare estimator has no leading steps.
    assert ActiveLearner(forest(), uncertainty_pair, X0, y0).transform_without_estimating(X_pool) is X_pool


class _RecordingLogReg(LogisticRegression):
    def fit(self, X, y, **kwargs):
        self.fit_X_ = np.asarray(X)
        return super().fit(X, y, **kwargs)


def test_bootstrap_is_reproducible_and_resamples(digits):
    X0, y0, X_pool, y_pool = split(digits)

    def make(seed):
        return ActiveLearner(_RecordingLogReg(max_iter=300), uncertainty_pair, X0, y0,
                             bootstrap_init=True, random_state=seed)

    a, b, c = make(0), make(0), make(1)
    np.testing.assert_array_equal(a.estimator.fit_X_, b.estimator.fit_X_)
    assert not np.array_equal(a.estimator.fit_X_, c.estimator.fit_X_)
    fitted = a.estimator.fit_X_
    assert fitted.shape == X0.shape
    assert len(np.unique(fitted, axis=0)) < len(X0)  # drawn with replacement
    np.testing.assert_array_equal(a.X_training, X0)  # the labeled set is untouched
    a.teach(X_pool[:5], y_pool[:5], bootstrap=True)
    assert a.estimator.fit_X_.shape == (len(X0) + 5, X0.shape[1])
    a.teach(X_pool[5:10], y_pool[5:10])
    np.testing.assert_array_equal(a.estimator.fit_X_, a.X_training)


def test_training_set_hook_trains_on_extra_rows_without_labeling_them(digits):
    X0, y0, X_pool, y_pool = split(digits)

    class PseudoLabeling(ActiveLearner):
        """CEAL-like: also train on confident pool points with predicted labels."""

        extra = (X_pool[:15], y_pool[:15])

        def get_training_set(self, X, y):
            return np.concatenate([X, self.extra[0]]), np.concatenate([y, self.extra[1]])

    learner = PseudoLabeling(_RecordingLogReg(max_iter=300), uncertainty_pair, X0, y0)
    assert learner.estimator.fit_X_.shape[0] == len(X0) + 15
    assert learner.X_training.shape[0] == len(X0)
    seen = {}

    def record(classifier, X_pool, n_instances=1, X_labeled=None):
        seen["X_labeled"] = X_labeled
        return np.arange(n_instances)

    learner.query_strategy = record
    learner.query(X_pool)
    assert seen["X_labeled"].shape[0] == len(X0)



# -- errors ------------------------------------------------------------------------


def _with_nan(X):
    X = X.copy()
    X[0, 0] = np.nan
    return X


# (what is done with a fitted learner and the data, exception, message)
BAD_INPUT = {
    "X/y lengths at init": (
        lambda _, X0, y0, Xp: ActiveLearner(forest(), uncertainty_pair, X0, y0[:-1]),
        ValueError, "X has 30 samples but y has 29",
    ),
    "y without X at init": (
        lambda _, X0, y0, Xp: ActiveLearner(forest(), uncertainty_pair, y_training=y0),
        ValueError, "y_training was given without X_training",
    ),
    "X/y lengths at teach": (
        lambda learner, X0, y0, Xp: learner.teach(Xp[:2], y0[:3]),
        ValueError, "X has 2 samples but y has 3",
    ),
    "other features at teach": (
        lambda learner, X0, y0, Xp: learner.teach(Xp[:2, :10], y0[:2]),
        ValueError, r"rows of shape \(10,\)",
    ),
    "empty teach": (
        lambda learner, X0, y0, Xp: learner.teach(Xp[:0], y0[:0]),
        ValueError, "X and y are empty",
    ),
    "NaN at teach": (
        lambda learner, X0, y0, Xp: learner.teach(_with_nan(Xp[:2]), y0[:2]),
        ValueError, "X contains NaN or infinity",
    ),
    "empty pool": (
        lambda learner, X0, y0, Xp: learner.query(Xp[:0]),
        ValueError, "X_pool is empty",
    ),
    # Regression: a list of rows holding a NaN passed the pool check (and
    # was rejected by teach): one finite check serves both now.
    "NaN in a list-of-rows pool": (
        lambda learner, X0, y0, Xp: learner.query(list(_with_nan(Xp[:5])), n_instances=1),
        ValueError, "X_pool contains NaN or infinity",
    ),
    "unfitted": (
        lambda _, X0, y0, Xp: ActiveLearner(forest(), uncertainty_pair).query(Xp),
        NotFittedError, "not fitted",
    ),
    "strategy not callable": (
        lambda _, X0, y0, Xp: ActiveLearner(forest(), query_strategy=42),
        TypeError, "query_strategy must be callable",
    ),
    "not an estimator": (
        lambda _, X0, y0, Xp: ActiveLearner("not an estimator", uncertainty_pair),
        TypeError, "with fit",
    ),
    "fewer positions than n_instances": (
        lambda learner, X0, y0, Xp: ActiveLearner(
            forest(), lambda c, X, n_instances=1: [0], X0, y0
        ).query(Xp, n_instances=3),
        ValueError, "returned 1 positions for n_instances=3",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_a_clear_error(digits, case):
    action, error, match = BAD_INPUT[case]
    X0, y0, X_pool, _ = split(digits)
    learner = ActiveLearner(forest(), uncertainty_pair, X0, y0)
    with pytest.raises(error, match=match):
        action(learner, X0, y0, X_pool)


def test_nan_allowed_when_the_pipeline_imputes(digits):
    X0, y0, X_pool, _ = split(digits)
    X_nan = X0.copy()
    X_nan[::3, 5] = np.nan
    pipe = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=300))
    learner = ActiveLearner(pipe, uncertainty_pair, X_nan, y0, ensure_all_finite=False)
    assert learner.query(X_pool, n_instances=2)[0].shape == (2,)
    # modAL's spelling of the same switch.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ActiveLearner(pipe, uncertainty_pair, X_nan, y0, force_all_finite=False)


class _FixedClasses(ClassifierMixin, BaseEstimator):
    """An estimator that, like a skorch net, fixes its labels up front."""

    def __init__(self, classes=None):
        self.classes = classes

    def fit(self, X, y):
        self.classes_ = np.asarray(self.classes if self.classes is not None else np.unique(y))
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


def test_labels_outside_a_fixed_class_list_are_rejected(digits):
    X0, y0, X_pool, _ = split(digits)
    learner = ActiveLearner(make_pipeline(StandardScaler(), _FixedClasses(classes=[0, 1, 2])),
                            uncertainty_pair)
    keep = y0 < 3
    learner.teach(X0[keep], y0[keep])
    with pytest.raises(ValueError, match=r"labels \[9\] that are not in the estimator's classes"):
        learner.teach(X0[y0 == 9][:1], y0[y0 == 9][:1])



def test_pipeline_dpe_with_bald_rounds(digits):
    from skal.measures import bald as bald_measure
    from skal.models import DeepProbabilisticEnsemble
    from skal.strategies import bald

    X0, y0, X_pool, y_pool = split(digits)
    X_pool, y_pool = X_pool[:400], y_pool[:400]
    pipe = make_pipeline(
        StandardScaler(), DeepProbabilisticEnsemble(n_estimators=2, max_epochs=30, lr=1e-2, random_state=0)
    )
    counting = Counting(bald)
    learner = ActiveLearner(pipe, counting, X0, y0, random_state=0)
    for _ in range(2):
        idx, X_query, scores = learner.query(X_pool, n_instances=5, return_metrics=True)
        assert len(np.unique(idx)) == 5
        # the scores are BALD of the learner's own samples, best first
        # float32 nets: the pool's chunks and the query's rows meet other BLAS kernels
        np.testing.assert_allclose(scores, bald_measure(predict_proba_samples(learner, X_query)),
                                   rtol=1e-5)
        assert (np.diff(scores) <= 0).all()
        learner.teach(X_query, y_pool[idx])
    assert counting.calls == 2
    assert learner.X_training.shape[0] == len(y0) + 10
    assert predict_proba_samples(learner, X_pool[:3]).shape == (2, 3, 10)
    assert learner.score(X_pool, y_pool) > 0.3  # ten classes: chance is 0.1


def test_modal_loop_example_runs(capsys):
    import pathlib
    import runpy

    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "modal_loop_digits.py"
    example = runpy.run_path(str(path), run_name="example")
    example["main"](["--rounds", "1", "--n-instances", "5", "--n-estimators", "2", "--max-epochs", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["labels", "accuracy", "seconds"]
    assert [int(line.split()[0]) for line in lines[1:]] == [20, 25]
