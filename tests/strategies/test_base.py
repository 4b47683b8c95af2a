"""skal.strategies._base: chunked scoring in bounded memory, tie-aware top-n, any pool."""

import tracemalloc

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skal.models  # noqa: F401  (imported before tracing: module imports are not scoring memory)
from skal import measures
from skal.strategies import STRATEGIES, query_by_measure, score_pool, top_n
from skal.strategies._base import check_chunk_size

class ViewSamples:
    """Pool rows index fixed samples; a contiguous chunk is a view (no allocation)."""

    def __init__(self, samples):
        self.samples = samples
        self.classes_ = np.arange(samples.shape[2])

    def predict_proba_samples(self, X):
        rows = np.asarray(X)[:, 0]
        return self.samples[:, rows[0] : rows[-1] + 1]


@pytest.mark.parametrize("name", ["bald", "entropy", "margin", "vote_entropy", "mean_std"])
def test_peak_memory_is_a_few_chunks(name):
    rng = np.random.default_rng(0)
    n, S, K = 200_000, 4, 5
    samples = rng.dirichlet(np.ones(K), size=(S, n))  # 32 MB
    pool = np.arange(n)[:, None]
    model = ViewSamples(samples)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        idx, _ = STRATEGIES[name](model, pool, n_instances=10, random_state=0, chunk_size=2_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(set(idx.tolist())) == 10
    # the scores (1.6 MB) and their partition copy, plus a few chunk-sized
    # temporaries; far below the 32 MB the samples take
    assert peak < 6 * 2**20, peak


def test_chunk_size_checks():
    assert check_chunk_size(None) is None and check_chunk_size(3) == 3
    with pytest.raises(ValueError, match="chunk_size == 0, must be >= 1"):
        check_chunk_size(0)
    with pytest.raises(TypeError, match="chunk_size must be an instance of int"):
        check_chunk_size(1.5)


@pytest.mark.parametrize("name", ["entropy", "bald", "batch_bald", "random"])
def test_list_of_images_pool(name, digits_split):
    X_l, y_l, X_pool = digits_split
    flatten = FunctionTransformer(lambda imgs: np.asarray(imgs).reshape(len(imgs), -1))
    model = make_pipeline(flatten, LogisticRegression(max_iter=300)).fit(
        list(X_l.reshape(-1, 8, 8)), y_l
    )
    images = list(X_pool.reshape(-1, 8, 8))  # a list of 8x8 images
    idx, scores = STRATEGIES[name](model, images, n_instances=3, random_state=0, chunk_size=50)
    assert len(set(idx.tolist())) == 3 and scores.shape == (3,)


def test_tensor_pool(fitted_models, digits_split):
    _, _, X_pool = digits_split

    class TensorModel:
        classes_ = fitted_models["logreg"].classes_

        def predict_proba(self, X):
            assert torch.is_tensor(X)
            return fitted_models["logreg"].predict_proba(X.numpy())

    idx, _ = STRATEGIES["margin"](TensorModel(), torch.as_tensor(X_pool), n_instances=3, random_state=0)
    expected, _ = STRATEGIES["margin"](fitted_models["logreg"], X_pool, n_instances=3, random_state=0)
    np.testing.assert_array_equal(idx, expected)


def test_top_n_breaks_ties_at_the_cut_off_with_random_state():
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    picks = {tuple(top_n(scores, 2, seed)) for seed in range(20)}
    assert all(p[0] == 0 and p[1] in (1, 2, 3) for p in picks) and len(picks) == 3
    np.testing.assert_array_equal(top_n(scores, 2, 4), top_n(scores, 2, 4))
    assert top_n(scores, 5, 0)[-1] == 4  # the whole pool, best first


def test_query_by_measure_and_score_pool_agree_with_the_measure(digits):
    X, y = digits
    model = LogisticRegression(max_iter=300).fit(X[:200], y[:200])
    full = measures.margin(model.predict_proba(X[200:]))
    # float32 probabilities (scikit-learn >= 1.8 keeps the input's dtype): a
    # chunk of 77 rows is multiplied by other BLAS kernels than the whole pool
    np.testing.assert_allclose(score_pool(model, X[200:], measures.margin, chunk_size=77), full,
                               rtol=1e-5, atol=1e-6)
    idx, scores = query_by_measure(model, X[200:], 5, measures.margin, random_state=0)
    np.testing.assert_allclose(scores, np.sort(full)[::-1][:5], rtol=1e-5, atol=1e-6)
