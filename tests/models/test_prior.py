"""The He prior and the DPE penalty Ω against closed forms."""

import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from skal.models._prior import (
    NORM_PRIOR_VAR,
    GaussianPrior,
    PriorPenalty,
    omega,
    omega_minimum,
    prior_table,
    sample_from_prior,
)

LAYERS = {
    "linear": (nn.Linear(5, 7), 2.0 / 7),
    "conv1d": (nn.Conv1d(2, 6, kernel_size=3), 2.0 / (6 * 3)),
    "conv2d": (nn.Conv2d(3, 4, kernel_size=(3, 5)), 2.0 / (4 * 3 * 5)),
    "conv3d": (nn.Conv3d(1, 2, kernel_size=2), 2.0 / (2 * 8)),
}
NORMS = {
    "batchnorm1d": nn.BatchNorm1d(6),
    "batchnorm2d": nn.BatchNorm2d(3),
    "batchnorm3d": nn.BatchNorm3d(2),
}


@pytest.mark.parametrize("name", LAYERS)
def test_he_prior_of_weights_and_biases(name):
    layer, var = LAYERS[name]
    table, skipped = prior_table(layer)
    assert skipped == []
    assert table["weight"] == GaussianPrior(0.0, pytest.approx(var))
    assert table["bias"] == GaussianPrior(0.0, pytest.approx(var))


@pytest.mark.parametrize("name", NORMS)
def test_batchnorm_prior(name):
    table, _ = prior_table(NORMS[name])
    assert table["weight"] == GaussianPrior(1.0, NORM_PRIOR_VAR)
    assert table["bias"] == GaussianPrior(0.0, NORM_PRIOR_VAR)


def test_unsupported_layers_are_listed_not_regularised():
    module = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    table, skipped = prior_table(module)
    assert skipped == ["0.weight"]
    assert set(table) == {"1.weight", "1.bias"}


def _stacked(layer, n_members, seed):
    gen = torch.Generator().manual_seed(seed)
    return {
        name: torch.randn((n_members, *p.shape), generator=gen) * 0.3 + 0.1
        for name, p in layer.named_parameters()
    }


@pytest.mark.parametrize("name", [*LAYERS, *NORMS])
def test_omega_equals_twice_gaussian_kl_up_to_its_constant(name):
    layer = LAYERS[name][0] if name in LAYERS else NORMS[name]
    table, _ = prior_table(layer)
    stacked = _stacked(layer, n_members=5, seed=0)
    expected = 0.0
    for pname, prior in table.items():
        p = stacked[pname]
        q = Normal(p.mean(0), p.var(0, correction=0).sqrt())
        prior_dist = Normal(torch.full_like(p[0], prior.mean), math.sqrt(prior.var))
        expected = expected + 2 * kl_divergence(prior_dist, q).sum()
    got = omega(stacked, table) - omega_minimum(stacked, table)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)
    # the fused form the training loop uses gives the same value
    torch.testing.assert_close(PriorPenalty(table)(stacked), expected, rtol=1e-5, atol=1e-4)


def test_the_fused_penalty_has_omegas_gradient():
    module = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.Conv1d(7, 3, 2))
    table, _ = prior_table(module)
    stacked = {name: p.requires_grad_() for name, p in _stacked(module, n_members=4, seed=0).items()}
    omega(stacked, table).backward()
    expected = {name: p.grad for name, p in stacked.items()}
    for p in stacked.values():
        p.grad = None
    PriorPenalty(table)(stacked).backward()
    for name, p in stacked.items():
        torch.testing.assert_close(p.grad, expected[name], msg=name)


def test_omega_is_minimal_and_stationary_at_the_prior():
    table = {"w": GaussianPrior(0.5, 0.04)}
    # Two members at mean ± sd: mean 0.5, population variance 0.04.
    w = torch.tensor([[0.3, 0.5 + 0.2], [0.7, 0.5 - 0.2]], requires_grad=True)
    value = omega({"w": w}, table)
    value.backward()
    torch.testing.assert_close(value.detach(), torch.tensor(omega_minimum({"w": w}, table)))
    torch.testing.assert_close(w.grad, torch.zeros_like(w), atol=1e-5, rtol=0)


def test_omega_needs_a_regularised_layer():
    with pytest.raises(ValueError, match="DeepEnsemble"):
        omega({}, {})
    with pytest.raises(ValueError, match="DeepEnsemble"):
        PriorPenalty({})


def test_members_start_from_independent_prior_draws():
    layer = nn.Linear(50, 40)
    table, _ = prior_table(layer)
    stacked = {n: torch.zeros((400, *p.shape)) for n, p in layer.named_parameters()}
    sample_from_prior(stacked, table, generator=torch.Generator().manual_seed(0))
    w = stacked["weight"]
    assert abs(w.mean().item()) < 0.01
    assert w.var().item() == pytest.approx(2.0 / 40, rel=0.02)
    # independent members: no correlation between two members' draws
    corr = torch.corrcoef(torch.stack([w[0].flatten(), w[1].flatten()]))[0, 1]
    assert abs(corr.item()) < 0.1


@pytest.mark.parametrize("n_members", [2, 3, 8])
def test_moment_matched_draws_put_each_parameter_at_the_prior(n_members):
    layer = nn.Linear(50, 40)
    table, _ = prior_table(layer)
    stacked = {n: torch.zeros((n_members, *p.shape)) for n, p in layer.named_parameters()}
    sample_from_prior(stacked, table, generator=torch.Generator().manual_seed(0), match_moments=True)
    for name, prior in table.items():
        w = stacked[name]
        # across the members, every parameter has exactly the prior's mean and variance ...
        torch.testing.assert_close(w.mean(0), torch.full_like(w[0], prior.mean), atol=1e-6, rtol=0)
        variance = w.var(0, correction=0)
        torch.testing.assert_close(variance, torch.full_like(w[0], prior.var), rtol=1e-5, atol=0)
        # ... so the penalty starts at its minimum (independent draws: ~1e8 for E = 2)
    assert PriorPenalty(table)(stacked).item() == pytest.approx(0.0, abs=1e-3)
    # each member's values keep the prior's spread (He initialisation) and differ between members
    assert stacked["weight"][0].var().item() == pytest.approx(2.0 / 40, rel=0.1)
    assert not torch.equal(stacked["weight"][0], stacked["weight"][1])


def test_independent_draws_of_two_members_start_the_penalty_off_the_scale():
    """Why the DPE draws moment-matched members: Ω of two independent draws.

    The variance of two draws, ``(w1 - w2)**2 / 4``, comes arbitrarily close
    to 0 for some of many parameters, and ``var_p / var`` has no finite mean
    for E <= 3 (``E / (E - 3)`` otherwise).
    """
    layer = nn.Linear(64, 128)
    table, _ = prior_table(layer)
    n_params = sum(p.numel() for p in layer.parameters())
    per_param = {}
    for n_members in (2, 8):
        stacked = {n: torch.zeros((n_members, *p.shape)) for n, p in layer.named_parameters()}
        sample_from_prior(stacked, table, generator=torch.Generator().manual_seed(0))
        per_param[n_members] = PriorPenalty(table)(stacked).item() / n_params
    assert per_param[8] < 1 < 1000 < per_param[2]
