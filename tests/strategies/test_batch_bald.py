"""BatchBALD: b = 1 is BALD, and batches avoid spending slots on duplicates."""

import numpy as np
import pytest

from skal import measures
from skal.strategies import bald, batch_bald


class PrecomputedSamples:
    """An estimator-like object whose pool rows are indices into fixed samples."""

    def __init__(self, samples):
        self.samples = samples
        self.classes_ = np.arange(samples.shape[2])

    def predict_proba_samples(self, X):
        return self.samples[:, np.asarray(X)[:, 0].astype(int)]


def repeated_pool(seed=0, S=12, K=4, n_other=30, copies=3):
    """One highly informative point repeated ``copies`` times among ordinary ones."""
    rng = np.random.default_rng(seed)
    informative = np.eye(K)[rng.integers(0, K, size=S)][:, None]  # confident, disagreeing
    informative = 0.9 * informative + 0.1 / K
    others = rng.dirichlet(np.full(K, 2.0), size=(S, n_other))
    # make the others informative too, but less so than the repeated point
    others = 0.5 * others + 0.5 * np.eye(K)[rng.integers(0, K, size=(S, n_other))]
    P = np.concatenate([np.repeat(informative, copies, axis=1), others], axis=1)
    return P, np.arange(P.shape[1])[:, None]


def test_b1_equals_bald_on_digits(fitted_models, digits_split):
    _, _, X_pool = digits_split
    for model in ("forest", "committee"):
        for seed in range(3):
            a = batch_bald(fitted_models[model], X_pool, random_state=seed)
            b = bald(fitted_models[model], X_pool, random_state=seed)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_allclose(a[1], b[1])


@pytest.mark.parametrize("n_configurations", [10_000, 40])
def test_batch_beats_bald_top_b_on_duplicates(n_configurations):
    P, X = repeated_pool()
    bald_scores = measures.bald(P)
    assert set(np.argsort(-bald_scores)[:3]) == {0, 1, 2}  # BALD's top-3: the copies
    model = PrecomputedSamples(P)
    top_bald, _ = bald(model, X, n_instances=3, random_state=0)
    batch, gains = batch_bald(
        model, X, n_instances=3, random_state=0, n_configurations=n_configurations
    )
    assert len(set(batch.tolist()) & {0, 1, 2}) == 1  # one copy is enough
    mi_batch = measures.joint_mutual_information(P[:, batch])
    mi_bald = measures.joint_mutual_information(P[:, top_bald])
    assert mi_batch > mi_bald + 0.1
    if n_configurations >= 4**2:  # exact regime: gains add up to the joint MI
        assert gains.sum() == pytest.approx(mi_batch, abs=1e-5)
    assert gains[0] == pytest.approx(bald_scores[batch[0]])


def test_sampled_regime_is_reproducible_and_valid():
    P, X = repeated_pool(seed=1, S=10, K=5, n_other=60)
    model = PrecomputedSamples(P)
    a = batch_bald(model, X, n_instances=6, random_state=7, n_configurations=30)
    b = batch_bald(model, X, n_instances=6, random_state=7, n_configurations=30)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert len(set(a[0].tolist())) == 6
    assert np.isfinite(a[1]).all()


def test_candidate_prefilter():
    P, X = repeated_pool(seed=2, n_other=80)
    model = PrecomputedSamples(P)
    top = set(np.argsort(-measures.bald(P))[:10].tolist())
    idx, _ = batch_bald(model, X, n_instances=4, random_state=0, n_candidates=10, chunk_size=16)
    assert set(idx.tolist()) <= top and len(set(idx.tolist())) == 4
    full = batch_bald(model, X, n_instances=4, random_state=0)
    same = batch_bald(model, X, n_instances=4, random_state=0, n_candidates=len(X) + 5)
    np.testing.assert_array_equal(full[0], same[0])


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"n_candidates": 2}, ValueError, "n_candidates == 2, must be >= 3. Keep at least as many"),
        ({"n_candidates": 0}, ValueError, "n_candidates == 0, must be >= 3"),
        ({"n_candidates": 5.0}, TypeError, "n_candidates must be an instance of int"),
        ({"n_configurations": 0}, ValueError, "n_configurations == 0, must be >= 1"),
        ({"n_configurations": 2.5}, TypeError, "n_configurations must be an instance of int"),
        ({"n_configurations": True}, TypeError, "n_configurations must be an instance of int, not bool"),
    ],
)
def test_bad_options_are_clear_errors(options, error, message):
    P, X = repeated_pool()
    with pytest.raises(error, match=message):
        batch_bald(PrecomputedSamples(P), X, n_instances=3, **options)


def test_one_hot_samples_give_finite_gains():
    K, S = 3, 6
    rng = np.random.default_rng(3)
    P = np.eye(K)[rng.integers(0, K, size=(S, 10))]
    idx, gains = batch_bald(PrecomputedSamples(P), np.arange(10)[:, None], n_instances=5, random_state=0)
    assert np.isfinite(gains).all() and len(set(idx.tolist())) == 5


def full_greedy(P, b):
    """Reference: score every candidate at every step (no lazy pruning)."""
    S, n, K = P.shape
    cond = measures.expected_entropy(P)
    chosen = [int(np.argmax(measures.bald(P)))]
    joint = measures.JointConfigurations(S, K)
    for _ in range(b - 1):
        joint.add(P[:, chosen[-1]])
        gain = joint.conditional_entropy(P) - cond
        gain[chosen] = -np.inf
        chosen.append(int(np.argmax(gain)))
    return chosen


@pytest.mark.parametrize("seed", range(3))
def test_lazy_greedy_matches_scoring_every_candidate(seed):
    rng = np.random.default_rng(seed)
    # correlated samples: each sample is a random linear "model" over shared features
    feats = rng.normal(size=(300, 4))
    weights = rng.normal(size=(10, 4, 3)) * 1.5
    logits = np.einsum("nd,sdk->snk", feats, weights)
    P = np.exp(logits - logits.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    idx, gains = batch_bald(PrecomputedSamples(P), np.arange(300)[:, None], n_instances=5, random_state=0)
    assert idx.tolist() == full_greedy(P, 5)
    assert (np.diff(gains) <= 1e-6).all()  # gains shrink along a greedy batch
