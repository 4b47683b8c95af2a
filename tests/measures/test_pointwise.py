"""skal.measures._pointwise: each measure against hand-computed values, on NumPy and torch."""

import itertools
import math

import numpy as np
import pytest
import torch

from skal import measures

# Two samples, one point, three classes: p̄ = [0.4, 0.4, 0.2].
P1 = np.array([[[0.7, 0.2, 0.1]], [[0.1, 0.6, 0.3]]])


def H(*p):
    return -sum(x * math.log(x) for x in p if x > 0)


H_MEAN = H(0.4, 0.4, 0.2)
H_EXPECTED = (H(0.7, 0.2, 0.1) + H(0.1, 0.6, 0.3)) / 2
KL = [
    sum(p * math.log(p / q) for p, q in zip(ps, (0.4, 0.4, 0.2)))
    for ps in ((0.7, 0.2, 0.1), (0.1, 0.6, 0.3))
]

HAND = {
    "least_confident": 1 - 0.4,
    "margin": -(0.4 - 0.4),
    "entropy": H_MEAN,
    "consensus_entropy": H_MEAN,
    "vote_entropy": math.log(2),  # one vote for class 0, one for class 1
    "bald": H_MEAN - H_EXPECTED,
    "max_disagreement": max(KL),
    "var_ratios": 1 - 1 / 2,
    "mean_std": (0.3 + 0.2 + 0.1) / 3,  # |p1 - p2| / 2 per class
}
MEASURES = sorted(HAND)


def as_backend(P, backend):
    return torch.as_tensor(P) if backend == "torch" else np.asarray(P)


def to_numpy(x):
    return x.numpy() if torch.is_tensor(x) else x


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name", MEASURES)
def test_hand_computed_value(name, backend):
    out = getattr(measures, name)(as_backend(P1, backend))
    assert torch.is_tensor(out) == (backend == "torch")
    assert out.shape == (1,)
    np.testing.assert_allclose(to_numpy(out), [HAND[name]], atol=1e-12)


def test_mean_kl_identity_is_bald():
    # mean_s KL(p_s || p̄) = H(p̄) - mean_s H(p_s): checked on the hand numbers
    assert sum(KL) / 2 == pytest.approx(H_MEAN - H_EXPECTED, abs=1e-12)


def modal_max_disagreement(P):
    """modAL 0.4.2.1's KL_max_disagreement, spelled out on an (S, n, K) array."""
    from scipy.stats import entropy as scipy_entropy

    consensus = P.mean(axis=0)
    return np.max([scipy_entropy(p.T, qk=consensus.T) for p in P], axis=0)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_max_disagreement_is_modals_max_kl_not_the_mean(backend):
    P = np.array([[[0.9, 0.1]], [[0.5, 0.5]], [[0.5, 0.5]]])
    out = to_numpy(measures.max_disagreement(as_backend(P, backend)))
    np.testing.assert_allclose(out, [0.1863], atol=1e-4)  # modAL's value
    assert abs(out[0] - to_numpy(measures.bald(as_backend(P, backend)))[0]) > 0.09  # not the mean
    rng = np.random.default_rng(7)
    Q = rng.dirichlet(np.full(4, 0.5), size=(5, 50))
    np.testing.assert_allclose(
        to_numpy(measures.max_disagreement(as_backend(Q, backend))), modal_max_disagreement(Q), rtol=1e-10
    )


def test_margin_two_largest_of_three():
    P = np.array([[0.5, 0.2, 0.3]])
    np.testing.assert_allclose(measures.margin(P), [-0.2])
    np.testing.assert_allclose(measures.margin(torch.as_tensor(P)).numpy(), [-0.2])


def test_vote_measures_with_unanimous_and_split_committee():
    # three members: all vote 0 for point 0; votes 0, 1, 2 for point 1
    P = np.array(
        [
            [[0.9, 0.1, 0.0], [0.8, 0.1, 0.1]],
            [[0.6, 0.4, 0.0], [0.1, 0.8, 0.1]],
            [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]],
        ]
    )
    for backend in ("numpy", "torch"):
        np.testing.assert_allclose(
            to_numpy(measures.vote_entropy(as_backend(P, backend))), [0.0, math.log(3)]
        )
        np.testing.assert_allclose(
            to_numpy(measures.var_ratios(as_backend(P, backend))), [0.0, 2 / 3]
        )


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_bald_nonnegative_and_zero_when_samples_agree(backend):
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.full(5, 0.3), size=(6, 200))
    scores = to_numpy(measures.bald(as_backend(P, backend)))
    assert (scores >= 0).all() and (scores > 0).any()
    agree = np.repeat(P[:1], 6, axis=0)
    np.testing.assert_allclose(to_numpy(measures.bald(as_backend(agree, backend))), 0, atol=1e-12)
    np.testing.assert_allclose(
        to_numpy(measures.max_disagreement(as_backend(agree, backend))), 0, atol=1e-12
    )


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name", MEASURES)
def test_one_hot_and_zero_probabilities_give_no_nan(name, backend):
    eye = np.eye(4)
    P = np.stack([eye, eye[::-1], eye])  # confident members, some disagreeing
    P[2, 0] = 0.0  # a member that puts no mass anywhere on one point
    out = to_numpy(getattr(measures, name)(as_backend(P, backend)))
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", MEASURES)
def test_two_dimensional_input_is_one_sample(name):
    p = P1[0]
    np.testing.assert_allclose(
        getattr(measures, name)(p), getattr(measures, name)(p[None]), atol=0
    )


def test_bald_single_sample_is_zero():
    np.testing.assert_allclose(measures.bald(P1[0]), [0.0], atol=1e-15)


def test_bad_shape_names_the_parameter():
    with pytest.raises(ValueError, match=r"proba_samples must have shape \(S, n, K\)"):
        measures.entropy(np.zeros(3))


def test_integer_input_is_read_as_float():
    out = measures.entropy(np.array([[[1, 0], [0, 1]]]))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [0, 0])


def test_inputs_are_not_modified():
    P = np.random.default_rng(1).dirichlet(np.ones(3), size=(4, 5))
    before = P.copy()
    for name in MEASURES:
        getattr(measures, name)(P)
    np.testing.assert_array_equal(P, before)


def test_torch_float32_keeps_dtype():
    out = measures.bald(torch.as_tensor(P1, dtype=torch.float32))
    assert out.dtype == torch.float32


