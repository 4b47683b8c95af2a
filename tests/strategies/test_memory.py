"""Scoring memory is bounded by the chunk, not by the pool."""

import tracemalloc

import numpy as np
import pytest

import skal.models  # noqa: F401  (imported before tracing: module imports are not scoring memory)
from skal.strategies import STRATEGIES


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
