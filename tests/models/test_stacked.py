"""StackedEnsemble: E members as one module (skal/models/_stacked.py)."""

import pytest
import torch
from torch import nn

from skal.models._stacked import StackedEnsemble


class _Member(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.norm = nn.BatchNorm1d(2)
        self.register_buffer("offset", torch.randn(2), persistent=False)

    def forward(self, X, scale=1.0):
        return self.norm(self.linear(X)) * scale + self.offset


@pytest.fixture
def members():
    torch.manual_seed(0)
    members = [_Member().eval() for _ in range(3)]
    for m in members:
        m.norm.running_mean.uniform_()
    return members


@pytest.mark.parametrize("vectorize", [True, False])
def test_forward_runs_every_member_and_passes_keyword_arguments(members, vectorize):
    ensemble = StackedEnsemble(members, vectorize=vectorize).eval()
    X = torch.randn(5, 3)
    with torch.no_grad():
        out = ensemble(X, scale=2.0)
        expected = torch.stack([m(X, scale=2.0) for m in members])
    torch.testing.assert_close(out, expected)


def _tensors(module):
    return dict([*module.named_parameters(), *module.named_buffers()])


def test_member_module_copies_every_parameter_and_buffer(members):
    ensemble = StackedEnsemble(members)
    for e, member in enumerate(members):
        copied, original = _tensors(ensemble.member_module(e)), _tensors(member)
        assert copied.keys() == original.keys()  # "offset" (non-persistent) included
        for name, value in original.items():
            assert torch.equal(copied[name], value), name


def test_member_state_dict_is_a_state_dict(members):
    ensemble = StackedEnsemble(members)
    state = ensemble.member_state_dict(1)
    assert "offset" not in state and "norm.running_mean" in state
    fresh = _Member()
    fresh.load_state_dict(state)  # strict: exactly the persistent keys
    assert torch.equal(fresh.norm.running_mean, members[1].norm.running_mean)
