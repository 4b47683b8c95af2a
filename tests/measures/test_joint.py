"""skal.measures._joint: joint entropies of several labels, exact and sampled."""

import itertools
import math

import numpy as np
import pytest

from skal import measures

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
    with pytest.raises(ValueError, match="n_configurations == 0, must be >= 1"):
        measures.JointConfigurations(2, 3, n_configurations=0)
    with pytest.raises(TypeError, match="n_configurations must be an instance of int"):
        measures.JointConfigurations(2, 3, n_configurations=2.5)


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
    # the same number from all 50 draws, unmerged; draw m comes from sample
    # m mod 3, and each sample's stratum (17, 17 and 16 draws) weighs 1/3
    owner = np.arange(50) % 3
    weight = 1 / (3 * np.bincount(owner)[owner])
    W_all = np.exp(jc._logQ - logsumexp(jc._logQ, axis=0)).T
    R = W_all @ P[:, 8]
    expected = (weight * -(R * np.log(R)).sum(1)).sum()
    assert jc.conditional_entropy(P[:, 8:]) == pytest.approx([expected], abs=1e-10)


@pytest.mark.parametrize("n_configurations", [7, 4])  # not a multiple of S = 6; fewer than S
def test_sampled_joint_entropy_is_unbiased_whatever_m_and_s(n_configurations):
    # Regression: configuration m was drawn from sample m mod S but weighted
    # 1/M, which over-weights the first M mod S samples (69 standard errors
    # off at M = 7, S = 6).
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.full(3, 0.3), size=(6, 4))
    exact = measures.joint_entropy(P)
    estimates = [
        measures.joint_entropy(P, n_configurations=n_configurations, random_state=seed)
        for seed in range(3000)
    ]
    standard_error = np.std(estimates) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates) - exact) < 4 * standard_error
