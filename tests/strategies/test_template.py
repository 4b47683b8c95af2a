"""The shared template: every registered strategy passes every check here."""

import inspect

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.dummy import DummyClassifier

from skal import measures
from skal.strategies import STRATEGIES

# one entry per distinct function (aliases share a function)
UNIQUE = {}
for _name, _fn in STRATEGIES.items():
    UNIQUE.setdefault(_fn, _name)
NAMES = sorted(UNIQUE.values())
# strategies that forward **predict_params to predict_proba_samples ("auto" does
# only in its high-budget regime: tests/strategies/test_batch_aware.py)
PREDICTING = [
    n for n in NAMES
    if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(STRATEGIES[n]).parameters.values())
    and n not in ("random", "auto")
]
X_LABELED = {}


@pytest.fixture(autouse=True)
def _labeled_set(digits_split):
    X_LABELED["X"] = digits_split[0]


def query(name, *args, **kwargs):
    """Call a strategy as skal's learners do: the labeled set to those that name it."""
    strategy = STRATEGIES[name]
    if "X_labeled" in inspect.signature(strategy).parameters:
        kwargs.setdefault("X_labeled", X_LABELED["X"])
    return strategy(*args, **kwargs)

# measure each score-based strategy must reproduce
MEASURE_OF = {
    "least_confident": measures.least_confident,
    "margin": measures.margin,
    "entropy": measures.entropy,
    "vote_entropy": measures.vote_entropy,
    "consensus_entropy": measures.consensus_entropy,
    "max_disagreement": measures.max_disagreement,
    "bald": measures.bald,
    "var_ratios": measures.var_ratios,
    "mean_std": measures.mean_std,
}


# strategies that rank or draw by something other than one measure of the samples
OTHERS = {
    "random", "batch_bald", "power_bald", "power_entropy", "power_margin", "coreset",
    "typiclust", "badge", "cluster_margin", "suggestive_annotation", "information_density",
    "cal", "egl", "emoc", "auto", "learning_loss", "label_dispersion", "dal", "vaal", "mal",
}


def test_every_strategy_is_covered():
    assert set(NAMES) == set(MEASURE_OF) | OTHERS


def check_result(result, n_pool, n):
    assert isinstance(result, tuple) and len(result) == 2
    idx, scores = result
    assert isinstance(idx, np.ndarray) and idx.dtype.kind == "i"
    assert idx.shape == (n,) and scores.shape == (n,)
    assert len(set(idx.tolist())) == n
    assert idx.min() >= 0 and idx.max() < n_pool
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("model", ["forest", "logreg", "pipeline", "learner", "committee"])
def test_returns_distinct_valid_indices(name, model, fitted_models, digits_split):
    _, _, X_pool = digits_split
    result = query(name, fitted_models[model], X_pool, n_instances=4, random_state=0)
    check_result(result, len(X_pool), 4)


@pytest.mark.parametrize("name", NAMES)
def test_same_random_state_same_queries(name, fitted_models, digits_split):
    _, _, X_pool = digits_split
    a = query(name, fitted_models["forest"], X_pool, n_instances=5, random_state=3)
    b = query(name, fitted_models["forest"], X_pool, n_instances=5, random_state=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("name", NAMES)
def test_ties_are_broken_by_random_state(name, digits_split):
    X_l, y_l, X_pool = digits_split
    # a constant model on a pool of copies of one row: every row ties with every other
    dummy = DummyClassifier(strategy="prior").fit(X_l, y_l)
    copies = np.repeat(X_pool[:1], 40, axis=0)
    picks = {
        tuple(query(name, dummy, copies, n_instances=3, random_state=seed)[0])
        for seed in range(5)
    }
    assert len(picks) > 1


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [0, -2, "too_many"])
def test_bad_n_instances_is_a_clear_error(name, bad, fitted_models, digits_split):
    _, _, X_pool = digits_split
    n = len(X_pool) + 1 if bad == "too_many" else bad
    with pytest.raises(ValueError, match="n_instances"):
        query(name, fitted_models["forest"], X_pool, n_instances=n)


@pytest.mark.parametrize("name", NAMES)
def test_non_integer_n_instances_is_a_type_error(name, fitted_models, digits_split):
    _, _, X_pool = digits_split
    with pytest.raises(TypeError, match="n_instances must be an instance of int"):
        query(name, fitted_models["forest"], X_pool, n_instances=2.5)


@pytest.mark.parametrize("name", NAMES)
def test_empty_pool_is_a_clear_error(name, fitted_models, digits_split):
    _, _, X_pool = digits_split
    with pytest.raises(ValueError, match="X_pool is empty"):
        query(name, fitted_models["forest"], X_pool[:0])


@pytest.mark.parametrize("name", NAMES)
def test_nan_in_pool_is_a_clear_error(name, fitted_models, digits_split):
    _, _, X_pool = digits_split
    X_bad = X_pool.copy()
    X_bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="X_pool contains NaN or infinity"):
        query(name, fitted_models["forest"], X_bad)
    with pytest.raises(ValueError, match="X_pool contains NaN or infinity"):
        query(name, fitted_models["forest"], pd.DataFrame(X_bad))


@pytest.mark.parametrize("name", NAMES)
def test_dataframe_pool(name, fitted_models, digits_split):
    X_l, y_l, X_pool = digits_split
    columns = [f"px{i}" for i in range(X_l.shape[1])]
    model = fitted_models["logreg_df"]
    # a shuffled, non-default index: chunks must be taken by position
    df = pd.DataFrame(X_pool, columns=columns, index=np.arange(len(X_pool))[::-1] * 7)
    before = df.copy()
    idx, scores = query(name, model, df, n_instances=4, random_state=0, chunk_size=64)
    check_result((idx, scores), len(df), 4)
    expected, _ = query(name, fitted_models["logreg"], X_pool, n_instances=4, random_state=0, chunk_size=64)
    np.testing.assert_array_equal(idx, expected)
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("name", NAMES)
def test_sparse_pool_with_sklearn_model(name, fitted_models, digits_split):
    _, _, X_pool = digits_split
    model = fitted_models["logreg_sparse"]
    pool = sparse.coo_matrix(X_pool)  # not row-sliceable: converted internally
    idx, scores = query(name, model, pool, n_instances=3, random_state=0, chunk_size=100)
    check_result((idx, scores), X_pool.shape[0], 3)
    assert pool.format == "coo"


@pytest.mark.parametrize("name", NAMES)
def test_list_pool(name, fitted_models, digits_split):
    _, _, X_pool = digits_split
    rows = list(X_pool)
    idx, _ = query(name, fitted_models["logreg"], rows, n_instances=3, random_state=0)
    expected, _ = query(name, fitted_models["logreg"], X_pool, n_instances=3, random_state=0)
    np.testing.assert_array_equal(idx, expected)


@pytest.mark.parametrize("name", NAMES)
def test_callers_arrays_unchanged(name, fitted_models, digits_split):
    _, _, X_pool = digits_split
    before = X_pool.copy()
    query(name, fitted_models["pipeline"], X_pool, n_instances=3, random_state=0)
    np.testing.assert_array_equal(X_pool, before)


@pytest.mark.parametrize("name", NAMES)
def test_chunk_size_does_not_change_the_choice(name, fitted_models, digits_split):
    _, _, X_pool = digits_split
    model = fitted_models["forest"]
    a = query(name, model, X_pool, n_instances=4, random_state=1)
    b = query(name, model, X_pool, n_instances=4, random_state=1, chunk_size=37)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])


@pytest.mark.parametrize("name", sorted(MEASURE_OF))
def test_selects_the_highest_scores(name, fitted_models, digits_split):
    from skal.models import predict_proba_samples

    _, _, X_pool = digits_split
    model = fitted_models["forest"]
    idx, scores = query(name, model, X_pool, n_instances=6, random_state=0)
    full = MEASURE_OF[name](predict_proba_samples(model, X_pool))
    np.testing.assert_allclose(scores, full[idx])
    assert (np.diff(scores) <= 0).all()  # best first
    rest = np.delete(full, idx)
    assert scores.min() >= rest.max()


@pytest.mark.parametrize("name", NAMES)
def test_whole_pool_can_be_queried(name, fitted_models, digits_split):
    _, _, X_pool = digits_split
    small = X_pool[:7]
    idx, _ = query(name, fitted_models["forest"], small, n_instances=7, random_state=0)
    assert sorted(idx.tolist()) == list(range(7))


class RecordingModel:
    """Exposes ``predict_proba_samples`` with an option, and records what it got."""

    classes_ = np.arange(3)

    def __init__(self):
        self.calls = []

    def predict_proba_samples(self, X, n_samples=4):
        self.calls.append(n_samples)
        rng = np.random.default_rng(len(X))
        return rng.dirichlet(np.ones(3), size=(n_samples, len(X)))


@pytest.mark.parametrize("name", PREDICTING)
def test_predict_params_reach_predict_proba_samples(name):
    model = RecordingModel()
    pool = np.random.default_rng(0).random((50, 2))
    X_LABELED["X"] = pool[:5]
    idx, _ = query(name, model, pool, n_instances=2, random_state=0, n_samples=6)
    assert model.calls and set(model.calls) == {6}
    assert len(set(idx.tolist())) == 2


def test_wrong_number_of_columns_is_a_clear_error():
    class Broken(RecordingModel):
        classes_ = np.arange(5)  # but predicts 3 columns

    with pytest.raises(ValueError, match="3 probability columns but has 5 classes"):
        STRATEGIES["entropy"](Broken(), np.zeros((5, 2)))


def test_nan_probabilities_are_a_clear_error():
    class NaNModel(RecordingModel):
        def predict_proba_samples(self, X, n_samples=2):
            return np.full((n_samples, len(X), 3), np.nan)

    with pytest.raises(ValueError, match="non-finite probabilities"):
        STRATEGIES["bald"](NaNModel(), np.zeros((5, 2)))


@pytest.mark.parametrize("name", NAMES)
def test_nan_in_pool_passes_when_the_learner_imputes(name, digits_split):
    # ActiveLearner(ensure_all_finite=False) reaches every check the strategy
    # makes: the pool with holes is queried as its imputed copy would be
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    from skal.learners import ActiveLearner

    X_l, y_l, X_pool = digits_split
    rng = np.random.default_rng(0)
    holes_l, holes_pool = X_l.copy(), X_pool[:300].copy()
    holes_l[rng.random(X_l.shape) < 0.05] = np.nan
    holes_pool[rng.random(holes_pool.shape) < 0.05] = np.nan

    def learner(X_train):
        pipe = make_pipeline(SimpleImputer(), RandomForestClassifier(n_estimators=8, random_state=0))
        return ActiveLearner(pipe, name, X_train, y_l, ensure_all_finite=False, random_state=0)

    with_holes = learner(holes_l)
    imputer = with_holes.estimator[0]
    filled = learner(imputer.transform(holes_l))
    picked, _ = with_holes.query(holes_pool, n_instances=4)
    expected, _ = filled.query(imputer.transform(holes_pool), n_instances=4)
    np.testing.assert_array_equal(picked, expected)
    with pytest.raises(ValueError, match="X_pool contains NaN or infinity"):
        ActiveLearner(with_holes.estimator, name).query(holes_pool, n_instances=4)


def test_a_users_measure_honours_the_learners_nan_setting(digits_split):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from skal.learners import ActiveLearner
    from skal.strategies import query_by_measure

    def spread_sampling(classifier, X_pool, n_instances=1, *, random_state=None):
        return query_by_measure(classifier, X_pool, n_instances, measures.entropy,
                                random_state=random_state)

    X_l, y_l, X_pool = digits_split
    holes = X_pool.copy()
    holes[::7, 3] = np.nan
    pipe = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=300))
    learner = ActiveLearner(pipe, spread_sampling, X_l, y_l, ensure_all_finite=False, random_state=0)
    idx, _ = learner.query(holes, n_instances=3)
    scores = measures.entropy(learner.predict_proba(holes)[None])
    assert set(idx.tolist()) == set(np.argsort(-scores)[:3].tolist())


# --------------------------------------------------------------------------- pool kinds
# Every registered strategy on every kind of pool: an array, a memory-mapped
# array, a dask array (tiny blocks, dask's local scheduler) and a
# torch Dataset. The same random_state picks the same rows as the array, or,
# on a dask pool, the strategy refuses with a clear error before it reads
# the pool's rows here.
POOL_KINDS = ["array", "memmap", "dask", "dataset"]
# options that keep the strategies that train a model of their own fast
FAST = {
    "vaal": {"model": {"n_steps": 5}},
    "mal": {"model": {"n_steps": 5}},
    "learning_loss": {"loss_model": {"max_epochs": 2}},
    "label_dispersion": {"dynamics_model": {"max_epochs": 2}},
}
# (name, options) cases; a strategy whose options decide where it runs appears twice
KIND_CASES = [(name, FAST.get(name, {})) for name in NAMES] + [
    ("batch_bald", {"n_candidates": 30}),
    ("auto", {"labels_per_class": 1}),  # the high-budget regime (cluster_margin)
    ("coreset", {"representation": "input"}),
    ("information_density", {"representation": "model", "n_reference": 40}),
    ("suggestive_annotation", {"n_reference": 40}),
    ("emoc", {"n_reference": 40}),
]
# what cannot run where a dask pool's blocks live: they train on, or cluster,
# every pool row (auto with a small labeled set is typiclust), or hold every
# row's predictive samples (batch_bald without n_candidates)
REFUSE_DASK = {"typiclust", "auto", "dal", "vaal", "mal", "label_dispersion", "batch_bald"}


def _case_id(case):
    name, options = case
    return name + "".join(f"-{k}={v}" for k, v in options.items() if k not in FAST.get(name, {}))


@pytest.fixture(scope="module")
def kind_problem(digits, tmp_path_factory):
    """A forest, a labeled set of 3 per class (auto's low budget) and a pool of 120 rows."""
    from sklearn.ensemble import RandomForestClassifier

    X, y = digits
    labeled = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(10)])
    X_l, y_l, pool = X[labeled], y[labeled], X[1000:1120]
    model = RandomForestClassifier(n_estimators=6, max_depth=5, random_state=0).fit(X_l, y_l)
    path = tmp_path_factory.mktemp("kinds") / "pool.npy"
    np.save(path, pool)
    return model, X_l, y_l, pool, path


def _pool_of_kind(kind, pool, path):
    if kind == "array":
        return pool
    if kind == "memmap":
        return np.load(path, mmap_mode="r")
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        return da.from_array(pool, chunks=(23, pool.shape[1]))
    import torch

    return torch.utils.data.TensorDataset(torch.as_tensor(pool))


def _query_kind(name, options, problem, pool):
    model, X_l, y_l, _, _ = problem
    strategy = STRATEGIES[name]
    params = inspect.signature(strategy).parameters
    kwargs = {"random_state": 0, **options}
    if "X_labeled" in params:
        kwargs["X_labeled"] = X_l
    if "y_labeled" in params:
        kwargs["y_labeled"] = y_l
    if "chunk_size" in params:
        kwargs["chunk_size"] = 17
    return strategy(model, pool, 3, **kwargs)


class ClientRows:
    """Records what dask computes into this process: rows of vectors, and 1-D values.

    ``dask.compute`` (which ``.compute()``, ``np.asarray`` and
    ``Delayed.compute`` go through) is wrapped; every array it returns is
    inspected. An array of two dimensions or more whose rows are vectors
    (more than 3 values: the position-key-payload triples of a top-n's
    candidates are not) counts its rows as rows brought here; the others
    are values (one per row at most, say).
    """

    def __init__(self, monkeypatch):
        import dask
        import dask.base

        self.vector_rows = 0
        self.largest_values = 0
        original = dask.base.compute

        def compute(*args, **kwargs):
            results = original(*args, **kwargs)
            self._inspect(results)
            return results

        monkeypatch.setattr(dask.base, "compute", compute)
        monkeypatch.setattr(dask, "compute", compute)

    def _inspect(self, value):
        if isinstance(value, (tuple, list)):
            for item in value:
                self._inspect(item)
            return
        arr = np.asarray(value) if isinstance(value, np.ndarray) or np.isscalar(value) else None
        if arr is None:
            return
        if arr.ndim >= 2 and np.prod(arr.shape[1:]) > 3:
            self.vector_rows += arr.shape[0]
        else:
            self.largest_values = max(self.largest_values, arr.size)


def test_the_client_rows_detector_sees_a_pool_pulled_here(kind_problem, monkeypatch):
    from skal.strategies._rows import features

    model, _, _, pool, path = kind_problem
    dask_pool = _pool_of_kind("dask", pool, path)
    seen = ClientRows(monkeypatch)
    features(model, dask_pool, chunk_size=17)  # chunk by chunk, as strategies once did
    assert seen.vector_rows == len(pool)


@pytest.mark.parametrize("kind", POOL_KINDS)
@pytest.mark.parametrize("case", KIND_CASES, ids=_case_id)
def test_every_pool_kind_selects_what_the_array_selects(case, kind, kind_problem, monkeypatch):
    name, options = case
    pool = kind_problem[3]
    expected = _query_kind(name, options, kind_problem, pool)
    if kind == "array":
        check_result(expected, len(pool), 3)
        return
    pooled = _pool_of_kind(kind, pool, kind_problem[4])
    seen = ClientRows(monkeypatch) if kind == "dask" else None
    refuses = kind == "dask" and name in REFUSE_DASK and not (
        (name == "batch_bald" and "n_candidates" in options) or (name == "auto" and options)
    )
    if refuses:
        with pytest.raises(ValueError, match=f"cannot run on a dask array pool.*compute\\(\\)"):
            _query_kind(name, options, kind_problem, pooled)
    else:
        got = _query_kind(name, options, kind_problem, pooled)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-5)
    if seen is not None:
        # never most of the pool's rows as vectors here; 1-D values at most O(n)
        assert seen.vector_rows < len(pool) / 2, seen.vector_rows
        assert seen.largest_values <= 3 * len(pool), seen.largest_values
