"""skal's modAL-compatible ActiveLearner and Committee on real scikit-learn models."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skal.learners import ActiveLearner, Committee
from skal.models import predict_proba_samples


# -- strategies used as fixtures: the two return shapes modAL users meet ------


def uncertainty_pair(classifier, X_pool, n_instances=1):
    """Least confidence on the mean prediction, returning ``(idx, scores)``."""
    proba = predict_proba_samples(classifier, X_pool).mean(axis=0)
    scores = 1.0 - proba.max(axis=1)
    idx = np.argsort(-scores, kind="stable")[:n_instances]
    return idx, scores[idx]


def uncertainty_bare(classifier, X_pool, n_instances=1):
    """The same selection, returning bare indices (pre-0.4.2 modAL style)."""
    return uncertainty_pair(classifier, X_pool, n_instances)[0]


class Counting:
    """Wraps a strategy and counts the calls."""

    def __init__(self, func):
        self.func = func
        self.calls = 0

    def __call__(self, classifier, X_pool, n_instances=1):
        self.calls += 1
        return self.func(classifier, X_pool, n_instances)


def _split(digits, n_seed=30, seed=0):
    X, y = digits
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(X))
    # Class-balanced seed set so every model knows every class from round 0.
    seed_idx = np.concatenate([order[y[order] == k][: n_seed // 10] for k in range(10)])
    pool_idx = np.setdiff1d(order, seed_idx)
    return X[seed_idx], y[seed_idx], X[pool_idx], y[pool_idx]


def _forest(seed=0):
    return RandomForestClassifier(n_estimators=10, random_state=seed)


def _logreg_pipe():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))


def _run_rounds(learner, X_pool, y_pool, n_rounds=3, n_instances=5):
    n_start = len(learner.y_training)
    for _ in range(n_rounds):
        idx, X_query = learner.query(X_pool, n_instances=n_instances)
        assert idx.shape == (n_instances,)
        assert len(np.unique(idx)) == n_instances
        np.testing.assert_array_equal(X_query, X_pool[idx])
        learner.teach(X_query, y_pool[idx])
        keep = np.setdiff1d(np.arange(len(X_pool)), idx)
        X_pool, y_pool = X_pool[keep], y_pool[keep]
    assert len(learner.y_training) == n_start + n_rounds * n_instances
    return X_pool, y_pool


# -- full rounds on digits -------------------------------------------------------


@pytest.mark.parametrize("make_estimator", [_forest, _logreg_pipe])
@pytest.mark.parametrize("strategy", [uncertainty_pair, uncertainty_bare])
def test_query_teach_rounds_on_digits(digits, make_estimator, strategy):
    X0, y0, X_pool, y_pool = _split(digits)
    counting = Counting(strategy)
    learner = ActiveLearner(make_estimator(), query_strategy=counting, X_training=X0, y_training=y0)
    before = learner.score(X_pool, y_pool)
    X_rest, y_rest = _run_rounds(learner, X_pool, y_pool, n_rounds=4, n_instances=10)
    assert counting.calls == 4
    assert learner.X_training.shape == (len(y0) + 40, X0.shape[1])
    assert learner.predict(X_rest[:7]).shape == (7,)
    proba = learner.predict_proba(X_rest[:7])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(learner.classes_, np.arange(10))
    # Forty uncertainty-chosen labels on top of thirty random ones help.
    assert learner.score(X_rest, y_rest) > before - 0.02


def test_teach_without_initial_data_then_query(digits):
    X0, y0, X_pool, _ = _split(digits)
    learner = ActiveLearner(_forest(), query_strategy=uncertainty_pair)
    assert learner.X_training is None
    learner.teach(X0, y0)
    idx, _ = learner.query(X_pool, n_instances=3)
    assert len(idx) == 3


def test_prefitted_estimator_can_query_without_training_data(digits):
    X0, y0, X_pool, _ = _split(digits)
    learner = ActiveLearner(_forest().fit(X0, y0), query_strategy=uncertainty_pair)
    idx, _ = learner.query(X_pool, n_instances=2)
    assert len(idx) == 2


def test_fit_replaces_the_training_data(digits):
    X0, y0, X_pool, y_pool = _split(digits)
    learner = ActiveLearner(_forest(), uncertainty_pair, X0, y0)
    learner.fit(X_pool[:20], y_pool[:20])
    np.testing.assert_array_equal(learner.X_training, X_pool[:20])
    np.testing.assert_array_equal(learner.estimator.classes_, np.unique(y_pool[:20]))


def test_only_new_fits_on_new_rows_but_keeps_them_labeled(digits):
    X0, y0, X_pool, y_pool = _split(digits)
    learner = ActiveLearner(_forest(), uncertainty_pair, X0, y0)
    learner.teach(X_pool[:12], y_pool[:12], only_new=True)
    assert learner.estimator.n_features_in_ == X0.shape[1]
    assert len(learner.y_training) == len(y0) + 12
    np.testing.assert_array_equal(learner.estimator.classes_, np.unique(y_pool[:12]))


# -- the strategy call -------------------------------------------------------------


def test_two_bare_indices_are_not_read_as_idx_and_scores(digits):
    X0, y0, X_pool, _ = _split(digits)
    for result in [(3, 7), (np.int64(3), np.int64(7)), [3, 7], np.array([3, 7])]:
        counting = Counting(lambda c, X, n=1, r=result: r)
        learner = ActiveLearner(_forest(), counting, X0, y0)
        idx, X_query = learner.query(X_pool)
        np.testing.assert_array_equal(idx, [3, 7])
        np.testing.assert_array_equal(X_query, X_pool[[3, 7]])
        assert counting.calls == 1


def test_idx_and_scores_return_and_metrics(digits):
    X0, y0, X_pool, _ = _split(digits)
    learner = ActiveLearner(_forest(), uncertainty_pair, X0, y0)
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
    X0, y0, X_pool, _ = _split(digits)
    learner = ActiveLearner(_forest(), uncertainty_bare, X0, y0)
    with pytest.warns(UserWarning, match="no metrics"):
        idx, _, metrics = learner.query(X_pool, n_instances=2, return_metrics=True)
    assert metrics is None and len(idx) == 2


def test_labeled_set_and_seed_reach_strategies_that_name_them(digits):
    X0, y0, X_pool, _ = _split(digits)
    seen = {}

    def wants_everything(classifier, X_pool, n_instances=1, *, X_labeled=None,
                         y_labeled=None, random_state=None):
        seen.update(X_labeled=X_labeled, y_labeled=y_labeled, random_state=random_state)
        return np.arange(n_instances), np.zeros(n_instances)

    def forwards_kwargs(classifier, X_pool, n_instances=1, **predict_kwargs):
        # A **kwargs strategy typically forwards to predict_proba: nothing extra may land here.
        seen["forwarded"] = predict_kwargs
        return np.arange(n_instances)

    learner = ActiveLearner(_forest(), wants_everything, X0, y0, random_state=7)
    learner.query(X_pool, n_instances=2)
    assert seen["X_labeled"] is learner.X_training
    assert seen["y_labeled"] is learner.y_training
    first_seed = seen["random_state"]
    assert isinstance(first_seed, int)
    learner.query(X_pool, n_instances=2)
    assert seen["random_state"] != first_seed  # a fresh seed each round
    # ... reproducibly so:
    again = ActiveLearner(_forest(), wants_everything, X0, y0, random_state=7)
    again.query(X_pool, n_instances=2)
    assert seen["random_state"] == first_seed
    # What the caller passes wins, by name or by position.
    learner.query(X_pool, 2, random_state=123, X_labeled="mine")
    assert seen["random_state"] == 123 and seen["X_labeled"] == "mine"
    # No random_state on the learner: the strategy keeps its own default.
    ActiveLearner(_forest(), wants_everything, X0, y0).query(X_pool)
    assert seen["random_state"] is None

    ActiveLearner(_forest(), forwards_kwargs, X0, y0, random_state=0).query(X_pool, n_instances=2)
    assert seen["forwarded"] == {}


def test_strategy_errors_propagate_and_strategy_is_not_retried(digits):
    X0, y0, X_pool, _ = _split(digits)

    def broken(classifier, X_pool, n_instances=1):
        broken.calls += 1
        raise RuntimeError("boom")

    broken.calls = 0
    learner = ActiveLearner(_forest(), broken, X0, y0)
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
    X0, y0, X_pool, _ = _split(digits)
    learner = ActiveLearner(_forest(), lambda c, X, n_instances=1: result, X0, y0)
    with pytest.raises(ValueError, match=match):
        learner.query(X_pool)


# -- data containers -------------------------------------------------------------


def test_pandas_pool_with_a_shuffled_index(digits):
    pd = pytest.importorskip("pandas")
    X0, y0, X_pool, y_pool = _split(digits)
    cols = [f"px{i}" for i in range(X0.shape[1])]
    # A non-default index: positional rows must come back, not labelled ones.
    index = np.random.RandomState(0).permutation(len(X_pool)) + 10_000
    pool = pd.DataFrame(X_pool, columns=cols, index=index)
    labels = pd.Series(y_pool, index=index)
    learner = ActiveLearner(
        _logreg_pipe(), uncertainty_pair, pd.DataFrame(X0, columns=cols), pd.Series(y0)
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
    X0, y0, X_pool, y_pool = _split(digits)
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
    X0, y0, X_pool, y_pool = _split(digits)
    learner = ActiveLearner(_forest(), uncertainty_pair, [row for row in X0], list(y0))
    pool = [row for row in X_pool]
    idx, X_query = learner.query(pool, n_instances=2)
    assert isinstance(X_query, list) and len(X_query) == 2
    learner.teach(X_query, y_pool[idx])
    assert isinstance(learner.X_training, list) and len(learner.X_training) == len(y0) + 2
    assert learner.X_training[-1] is X_query[-1]


def test_callers_arrays_are_not_modified(digits):
    X0, y0, X_pool, y_pool = _split(digits)
    copies = [a.copy() for a in (X0, y0, X_pool, y_pool)]
    learner = ActiveLearner(_forest(), uncertainty_pair, X0, y0, bootstrap_init=True, random_state=0)
    idx, X_query = learner.query(X_pool, n_instances=3)
    learner.teach(X_query, y_pool[idx], bootstrap=True)
    for original, copy in zip((X0, y0, X_pool, y_pool), copies):
        np.testing.assert_array_equal(original, copy)


# -- on_transformed, bootstrap, extension point ----------------------------------


def test_on_transformed_gives_strategies_the_pipeline_features(digits):
    X0, y0, X_pool, _ = _split(digits)
    seen = {}

    def farthest_from_labeled(classifier, X_pool, n_instances=1, *, X_labeled=None):
        # modAL's batch strategies do exactly this with on_transformed.
        if classifier.on_transformed:
            X_pool = classifier.transform_without_estimating(X_pool)
            X_labeled = classifier.transform_without_estimating(X_labeled)
        seen["pool"] = X_pool
        d = ((X_pool[:, None, :] - X_labeled[None, :, :]) ** 2).sum(-1).min(axis=1)
        return np.argsort(-d)[:n_instances], np.sort(d)[::-1][:n_instances]

    pipe = _logreg_pipe()
    learner = ActiveLearner(pipe, farthest_from_labeled, X0, y0, on_transformed=True)
    learner.query(X_pool[:50], n_instances=2)
    np.testing.assert_allclose(seen["pool"], pipe[0].transform(X_pool[:50]))
    plain = ActiveLearner(_logreg_pipe(), farthest_from_labeled, X0, y0)
    plain.query(X_pool[:50], n_instances=2)
    np.testing.assert_array_equal(seen["pool"], X_pool[:50])
    # A bare estimator has no leading steps.
    assert ActiveLearner(_forest(), uncertainty_pair, X0, y0).transform_without_estimating(X_pool) is X_pool


class _RecordingLogReg(LogisticRegression):
    def fit(self, X, y, **kwargs):
        self.fit_X_ = np.asarray(X)
        return super().fit(X, y, **kwargs)


def test_bootstrap_is_reproducible_and_resamples(digits):
    X0, y0, X_pool, y_pool = _split(digits)

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
    X0, y0, X_pool, y_pool = _split(digits)

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


# -- committee -------------------------------------------------------------------


def _committee(digits, strategy=uncertainty_pair, n_members=3, **kwargs):
    X0, y0, X_pool, y_pool = _split(digits)
    members = [
        ActiveLearner(_forest(s), uncertainty_pair, X0, y0, bootstrap_init=True, random_state=s)
        for s in range(n_members)
    ]
    return Committee(members, query_strategy=strategy, **kwargs), (X0, y0, X_pool, y_pool)


def test_committee_rounds_vote_and_consensus(digits):
    counting = Counting(uncertainty_pair)
    committee, (X0, y0, X_pool, y_pool) = _committee(digits, counting)
    X_rest, y_rest = _run_rounds(committee, X_pool, y_pool, n_rounds=3, n_instances=6)
    assert counting.calls == 3
    for learner in committee:
        assert len(learner.y_training) == len(y0) + 18
    assert len(committee) == 3
    np.testing.assert_array_equal(committee.classes_, np.arange(10))
    votes = committee.vote(X_rest[:9])
    assert votes.shape == (9, 3)
    np.testing.assert_array_equal(votes[:, 1], committee.learner_list[1].predict(X_rest[:9]))
    vote_proba = committee.vote_proba(X_rest[:9])
    assert vote_proba.shape == (9, 3, 10)
    consensus = committee.predict_proba(X_rest[:9])
    np.testing.assert_allclose(consensus, vote_proba.mean(axis=1))
    np.testing.assert_array_equal(committee.predict(X_rest[:9]), consensus.argmax(axis=1))
    assert committee.score(X_rest, y_rest) > 0.5
    # The adapters see one sample per member (each a 10-tree forest), whose
    # mean is the committee's consensus.
    samples = predict_proba_samples(committee, X_rest[:4])
    assert samples.shape == (3, 4, 10)
    np.testing.assert_allclose(samples.mean(0), committee.predict_proba(X_rest[:4]))


def test_committee_aligns_members_that_know_different_classes(digits):
    X, y = digits
    low = np.flatnonzero(y < 5)[:40]
    high = np.flatnonzero(y >= 3)[:40]
    members = [
        ActiveLearner(_forest(0), uncertainty_pair, X[low], y[low]),
        ActiveLearner(_forest(1), uncertainty_pair, X[high], y[high]),
    ]
    committee = Committee(members, query_strategy=uncertainty_pair)
    np.testing.assert_array_equal(committee.classes_, np.arange(10))
    vp = committee.vote_proba(X[:20])
    assert vp.shape == (20, 2, 10)
    assert np.all(vp[:, 0, 5:] == 0) and np.all(vp[:, 1, :3] == 0)
    np.testing.assert_allclose(vp.sum(axis=2), 1.0, rtol=1e-5)
    # Members started on different data: the labeled set is all of it.
    assert committee.X_training.shape[0] == 80
    idx, _ = committee.query(X[100:200], n_instances=3)
    assert len(idx) == 3


def test_committee_shares_one_labeled_set_and_string_labels_vote(digits):
    X0, y0, X_pool, y_pool = _split(digits)
    names = np.array(list("abcdefghij"))
    members = [ActiveLearner(_forest(s), uncertainty_pair, X0, names[y0]) for s in range(2)]
    committee = Committee(members, query_strategy=uncertainty_bare)
    idx, X_query = committee.query(X_pool, n_instances=4)
    committee.teach(X_query, names[y_pool[idx]])
    assert committee.X_training.shape[0] == len(y0) + 4  # shared, not doubled
    votes = committee.vote(X_pool[:3])
    assert votes.dtype.kind == "U" and set(votes.ravel()) <= set(names)
    assert set(committee.predict(X_pool[:3])) <= set(names)


def test_committee_rebag_fit_and_only_new(digits):
    committee, (X0, y0, X_pool, y_pool) = _committee(digits)
    before = [m.predict(X_pool[:100]) for m in committee]
    labeled = [m.X_training for m in committee]
    committee.rebag()
    # Fresh bootstrap draws change the members, not their labeled sets.
    assert all(
        not np.array_equal(m.predict(X_pool[:100]), p) for m, p in zip(committee, before)
    )
    assert all(m.X_training is t for m, t in zip(committee, labeled))
    committee.fit(X_pool[:30], y_pool[:30])
    for m in committee:
        np.testing.assert_array_equal(m.X_training, X_pool[:30])
    np.testing.assert_array_equal(committee.classes_, np.unique(y_pool[:30]))
    committee.teach(X_pool[30:40], y_pool[30:40], only_new=True)
    np.testing.assert_array_equal(committee.classes_, np.unique(y_pool[30:40]))
    assert committee.X_training.shape[0] == 40


def test_committee_transform_without_estimating_stacks_members(digits):
    X0, y0, X_pool, _ = _split(digits)
    members = [ActiveLearner(_logreg_pipe(), uncertainty_pair, X0, y0) for _ in range(2)]
    committee = Committee(members, uncertainty_pair, on_transformed=True)
    Xt = committee.transform_without_estimating(X_pool[:5])
    assert Xt.shape == (5, 2 * X0.shape[1])


# -- errors ------------------------------------------------------------------------


def test_bad_input_errors(digits):
    X0, y0, X_pool, _ = _split(digits)
    with pytest.raises(ValueError, match="X has 30 samples but y has 29"):
        ActiveLearner(_forest(), uncertainty_pair, X0, y0[:-1])
    with pytest.raises(ValueError, match="y_training was given without X_training"):
        ActiveLearner(_forest(), uncertainty_pair, y_training=y0)
    learner = ActiveLearner(_forest(), uncertainty_pair, X0, y0)
    with pytest.raises(ValueError, match="X has 2 samples but y has 3"):
        learner.teach(X_pool[:2], y0[:3])
    with pytest.raises(ValueError, match="rows of shape \\(10,\\)"):
        learner.teach(X_pool[:2, :10], y0[:2])
    with pytest.raises(ValueError, match="empty"):
        learner.teach(X_pool[:0], y0[:0])
    bad = X_pool[:2].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        learner.teach(bad, y0[:2])
    with pytest.raises(ValueError, match="X_pool is empty"):
        learner.query(X_pool[:0])
    with pytest.raises(NotFittedError, match="not fitted"):
        ActiveLearner(_forest(), uncertainty_pair).query(X_pool)
    with pytest.raises(TypeError, match="query_strategy must be callable"):
        ActiveLearner(_forest(), query_strategy=42)
    with pytest.raises(TypeError, match="fit"):
        ActiveLearner("not an estimator", uncertainty_pair)
    with pytest.raises(ValueError, match="non-empty list"):
        Committee([], uncertainty_pair)
    with pytest.raises(TypeError, match="wrap each estimator"):
        Committee([_forest()], uncertainty_pair)
    with pytest.raises(NotFittedError, match="committee member"):
        Committee([ActiveLearner(_forest(), uncertainty_pair)], uncertainty_pair).query(X_pool)


def test_nan_allowed_when_the_pipeline_imputes(digits):
    X0, y0, X_pool, _ = _split(digits)
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
    X0, y0, X_pool, _ = _split(digits)
    learner = ActiveLearner(make_pipeline(StandardScaler(), _FixedClasses(classes=[0, 1, 2])),
                            uncertainty_pair)
    keep = y0 < 3
    learner.teach(X0[keep], y0[keep])
    with pytest.raises(ValueError, match=r"labels \[9\] that are not in the estimator's classes"):
        learner.teach(X0[y0 == 9][:1], y0[y0 == 9][:1])


# -- skal's own strategies and estimators -----------------------------------------


def _unique_strategies():
    from skal.strategies import STRATEGIES

    seen = {}
    for name, func in STRATEGIES.items():
        seen.setdefault(func, name)
    return sorted((name, func) for func, name in seen.items())


def test_default_and_named_strategies():
    from skal.strategies import least_confident, vote_entropy

    assert ActiveLearner(_forest()).query_strategy is least_confident
    assert ActiveLearner(_forest(), "uncertainty_sampling").query_strategy is least_confident
    member = ActiveLearner(_forest())
    assert Committee([member]).query_strategy is vote_entropy
    with pytest.raises(ValueError, match="query_strategy: unknown query strategy 'nope'"):
        ActiveLearner(_forest(), query_strategy="nope")


_SKAL_STRATEGIES = _unique_strategies()


@pytest.mark.parametrize("name, strategy", _SKAL_STRATEGIES, ids=[n for n, _ in _SKAL_STRATEGIES])
def test_every_skal_strategy_in_skal_learner_and_committee(digits, name, strategy):
    X0, y0, X_pool, y_pool = _split(digits)
    X_pool, y_pool = X_pool[:300], y_pool[:300]
    counting = Counting(strategy)
    learner = ActiveLearner(_forest(), counting, X0, y0)
    _run_rounds(learner, X_pool, y_pool, n_rounds=2, n_instances=4)
    committee, _ = _committee(digits, Counting(strategy), n_members=2)
    _run_rounds(committee, X_pool, y_pool, n_rounds=2, n_instances=4)
    assert counting.calls == 2 and committee.query_strategy.calls == 2


def test_pipeline_dpe_with_bald_rounds(digits):
    from skal.models import DeepProbabilisticEnsemble
    from skal.strategies import bald

    X0, y0, X_pool, y_pool = _split(digits)
    X_pool, y_pool = X_pool[:400], y_pool[:400]
    pipe = make_pipeline(
        StandardScaler(), DeepProbabilisticEnsemble(n_estimators=2, max_epochs=2, random_state=0)
    )
    counting = Counting(bald)
    learner = ActiveLearner(pipe, counting, X0, y0, random_state=0)
    for _ in range(2):
        idx, X_query, scores = learner.query(X_pool, n_instances=5, return_metrics=True)
        assert len(np.unique(idx)) == 5 and np.all(scores >= 0)
        learner.teach(X_query, y_pool[idx])
    assert counting.calls == 2
    assert learner.X_training.shape[0] == len(y0) + 10
    assert predict_proba_samples(learner, X_pool[:3]).shape == (2, 3, 10)
    assert 0.0 <= learner.score(X_pool, y_pool) <= 1.0


def test_modal_loop_example_runs(capsys):
    import pathlib
    import runpy

    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "modal_loop_digits.py"
    example = runpy.run_path(str(path), run_name="example")
    example["main"](["--rounds", "1", "--n-instances", "5", "--n-estimators", "2", "--max-epochs", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["labels", "accuracy", "seconds"]
    assert [int(line.split()[0]) for line in lines[1:]] == [20, 25]
