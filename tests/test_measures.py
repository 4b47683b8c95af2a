"""Each measure against hand-computed values, on NumPy and torch inputs."""

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
KL_MEAN = 0.5 * sum(
    sum(p * math.log(p / q) for p, q in zip(ps, (0.4, 0.4, 0.2)))
    for ps in ((0.7, 0.2, 0.1), (0.1, 0.6, 0.3))
)

HAND = {
    "least_confident": 1 - 0.4,
    "margin": -(0.4 - 0.4),
    "entropy": H_MEAN,
    "consensus_entropy": H_MEAN,
    "vote_entropy": math.log(2),  # one vote for class 0, one for class 1
    "bald": H_MEAN - H_EXPECTED,
    "max_disagreement": KL_MEAN,
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


def test_kl_identity_is_bald():
    # mean_s KL(p_s || p̄) = H(p̄) - mean_s H(p_s): checked on the hand numbers
    assert KL_MEAN == pytest.approx(H_MEAN - H_EXPECTED, abs=1e-12)


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


# --------------------------------------------------------------------------- joint entropy
def brute_joint_entropy(P):
    S, n, K = P.shape
    total = 0.0
    for config in itertools.product(range(K), repeat=n):
        p = np.mean([np.prod([P[s, i, c] for i, c in enumerate(config)]) for s in range(S)])
        total -= p * math.log(p) if p > 0 else 0.0
    return total


def test_joint_entropy_exact_matches_enumeration():
    P = np.random.default_rng(2).dirichlet(np.full(3, 0.5), size=(5, 4))
    assert measures.joint_entropy(P) == pytest.approx(brute_joint_entropy(P), abs=1e-10)


def test_joint_entropy_of_copies_and_of_independent_coin_flips():
    coin = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    copies = np.concatenate([coin] * 3, axis=1)
    assert measures.joint_entropy(copies) == pytest.approx(math.log(2))
    fair = np.full((1, 3, 2), 0.5)  # one sample, three independent fair coins
    assert measures.joint_entropy(fair) == pytest.approx(3 * math.log(2))


def test_sampled_joint_entropy_close_to_exact():
    P = np.random.default_rng(3).dirichlet(np.full(4, 0.4), size=(8, 6))  # 4^6 = 4096 configs
    exact = measures.joint_entropy(P)
    sampled = measures.joint_entropy(P, n_configurations=2000, random_state=0)
    assert sampled == pytest.approx(exact, rel=0.03)
    again = measures.joint_entropy(P, n_configurations=2000, random_state=0)
    assert again == sampled  # reproducible through random_state


def test_joint_mutual_information_of_one_point_is_bald():
    P = np.random.default_rng(4).dirichlet(np.ones(3), size=(7, 1))
    assert measures.joint_mutual_information(P) == pytest.approx(float(measures.bald(P)[0]))


@pytest.mark.parametrize("n_configurations", [10_000, 50])
def test_conditional_entropy_matches_joint_difference(n_configurations):
    rng = np.random.default_rng(5)
    P = rng.dirichlet(np.full(3, 0.5), size=(6, 5))
    jc = measures.JointConfigurations(6, 3, n_configurations=n_configurations, random_state=0)
    for i in range(3):
        jc.add(P[:, i])
    assert jc.exact == (n_configurations >= 27)
    cond = jc.conditional_entropy(P[:, 3:])
    expected = [brute_joint_entropy(P[:, [0, 1, 2, j]]) - brute_joint_entropy(P[:, :3]) for j in (3, 4)]
    tol = 1e-9 if jc.exact else 0.1
    np.testing.assert_allclose(cond, expected, atol=tol)
    assert np.isfinite(cond).all()


def test_joint_configurations_checks_shapes():
    jc = measures.JointConfigurations(2, 3)
    with pytest.raises(ValueError, match=r"point_samples must have shape \(2, 3\)"):
        jc.add(np.ones((3, 2)) / 2)
    with pytest.raises(ValueError, match="n_configurations"):
        measures.JointConfigurations(2, 3, n_configurations=0)


def test_sampled_configurations_merge_repeats_without_changing_the_estimate():
    from scipy.special import logsumexp

    rng = np.random.default_rng(6)
    P = 0.96 * np.eye(2)[rng.integers(0, 2, size=(3, 9))] + 0.02  # confident samples
    jc = measures.JointConfigurations(3, 2, n_configurations=50, random_state=0)
    for i in range(8):
        jc.add(P[:, i])
    assert not jc.exact
    omega, W = jc.weights()
    assert W.shape[0] < 50 and omega.sum() == pytest.approx(1.0)
    # the same number from all 50 draws, unmerged
    W_all = np.exp(jc._logQ - logsumexp(jc._logQ, axis=0)).T
    R = W_all @ P[:, 8]
    expected = -(R * np.log(R)).sum(1).mean()
    assert jc.conditional_entropy(P[:, 8:]) == pytest.approx([expected], abs=1e-10)
