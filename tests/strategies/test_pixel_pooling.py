"""Strategies on a segmenter: every measure strategy ranks images by a pooled pixel score."""

import inspect

import numpy as np
import pytest

from skal import measures
from skal.measures import pixel_scores, pool_pixels
from skal.strategies import STRATEGIES, query_by_measure, score_pool
from skal.strategies import _rows


class FixedSegmenter:
    """Pool rows index fixed per-pixel samples ``(S, n, K, H, W)``; records the rows of each call."""

    def __init__(self, samples):
        self.samples = samples
        self.classes_ = np.arange(samples.shape[2])
        self.calls = []

    def predict_proba_samples(self, X):
        rows = np.asarray(X)[:, 0, 0, 0].astype(int)
        self.calls.append(len(rows))
        return self.samples[:, rows]


def _samples(n=30, S=4, K=3, H=4, W=5, seed=0):
    rng = np.random.default_rng(seed)
    return np.moveaxis(rng.dirichlet(np.full(K, 0.4), size=(S, n, H, W)), -1, 2)


def _pool(n, H=4, W=5):
    return np.broadcast_to(np.arange(n, dtype=float)[:, None, None, None], (n, 1, H, W)).copy()


@pytest.mark.parametrize("pixel_pooling", [None, "mean", "top_k", "class_balanced",
                                           {"method": "top_k", "top_fraction": 0.5}])
@pytest.mark.parametrize("measure", [measures.entropy, measures.bald, measures.margin],
                         ids=lambda m: m.__name__)
def test_score_pool_pools_the_per_pixel_measure_per_image(measure, pixel_pooling):
    P = _samples()
    model = FixedSegmenter(P)
    scores = score_pool(model, _pool(30), measure, chunk_size=7, pixel_pooling=pixel_pooling)
    spec = measures.check_pixel_pooling(pixel_pooling)
    expected = pool_pixels(pixel_scores(measure, P), spec.method, top_fraction=spec.top_fraction,
                           label_maps=P.mean(0).argmax(1))
    np.testing.assert_allclose(scores, expected)
    assert model.calls == [7, 7, 7, 7, 2]


@pytest.mark.parametrize("name", ["least_confident", "margin", "entropy", "vote_entropy",
                                  "consensus_entropy", "max_disagreement", "bald", "var_ratios",
                                  "mean_std", "power_bald", "power_entropy", "power_margin"])
def test_every_measure_strategy_takes_a_segmenter_and_a_pooling(name):
    P = _samples()
    idx, scores = STRATEGIES[name](FixedSegmenter(P), _pool(30), n_instances=4, random_state=0,
                                   pixel_pooling="top_k")
    assert len(set(idx.tolist())) == 4 and scores.shape == (4,)


def test_the_top_images_are_those_of_highest_pooled_score():
    P = _samples(seed=3)
    pooled = pool_pixels(pixel_scores(measures.bald, P), "top_k", top_fraction=0.2)
    idx, scores = query_by_measure(FixedSegmenter(P), _pool(30), 5, measures.bald, random_state=0,
                                   pixel_pooling={"method": "top_k", "top_fraction": 0.2})
    np.testing.assert_array_equal(idx, np.argsort(-pooled)[:5])
    np.testing.assert_allclose(scores, np.sort(pooled)[::-1][:5])


def test_automatic_chunks_of_images_stay_within_the_byte_budget(monkeypatch):
    P = _samples(n=200, S=4, K=3, H=4, W=5)  # 3,840 bytes of samples per image
    monkeypatch.setattr(_rows, "CHUNK_BYTES", 40_000)
    model = FixedSegmenter(P)
    score_pool(model, _pool(200), measures.entropy)
    per_image = P[:, :1].nbytes
    assert model.calls[0] == _rows._PROBE_IMAGES
    assert max(model.calls[1:]) * per_image <= 40_000
    assert sum(model.calls) == 200


@pytest.mark.parametrize("name", ["coreset", "typiclust", "information_density", "suggestive_annotation"])
def test_strategies_on_embeddings_and_pooled_scores_take_a_segmenter(name):
    # their uncertainty goes through score_pool (mean pooling); diversity reads embeddings
    strategy = STRATEGIES[name]
    options = {"X_labeled": _pool(3)} if "X_labeled" in inspect.signature(strategy).parameters else {}
    idx, _ = strategy(FixedSegmenter(_samples()), _pool(30), n_instances=3, random_state=0, **options)
    assert len(set(np.asarray(idx).tolist())) == 3


@pytest.mark.parametrize("name", ["batch_bald", "badge", "cluster_margin", "egl", "emoc", "cal"])
def test_strategies_that_need_one_distribution_per_row_reject_a_segmenter_clearly(name):
    strategy = STRATEGIES[name]
    labeled = {"X_labeled": _pool(3), "y_labeled": np.zeros(3)}
    options = {k: v for k, v in labeled.items() if k in inspect.signature(strategy).parameters}
    with pytest.raises(ValueError, match=r"per-pixel probabilities of shape .* \(a segmenter\)"):
        strategy(FixedSegmenter(_samples()), _pool(30), n_instances=2, random_state=0, **options)


def test_a_pooling_for_a_classifier_is_a_mistake_said_so():
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(ValueError, match="leave pixel_pooling=None"):
        STRATEGIES["entropy"](model, np.array([[0.5], [0.2]]), pixel_pooling="top_k")


def test_random_sampling_takes_the_pooling_option_and_ignores_it():
    idx, _ = STRATEGIES["random"](None, _pool(10), n_instances=3, random_state=0, pixel_pooling="top_k")
    assert len(set(idx.tolist())) == 3


@pytest.mark.parametrize("pixel_pooling", [None, "top_k", "class_balanced"])
@pytest.mark.parametrize("power", [None, 1.0])
def test_a_dask_pool_of_images_selects_what_the_array_selects(pixel_pooling, power):
    da = pytest.importorskip("dask.array")
    P, pool = _samples(), _pool(30)
    options = {"random_state": 3, "pixel_pooling": pixel_pooling, "power": power}
    expected = query_by_measure(FixedSegmenter(P), pool, 5, measures.bald, **options)
    got = query_by_measure(FixedSegmenter(P), da.from_array(pool, chunks=(7, 1, 4, 5)), 5, measures.bald,
                           **options)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1])
