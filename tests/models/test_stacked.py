"""StackedEnsemble: E members as one module (skal/models/_stacked.py)."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from skal.models import MLP, GalCNN, SmallCNN, SmallResNet
from skal.models._stacked import PATHS, StackedEnsemble, layer_chain


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


@pytest.mark.parametrize("path", ["vmap", "loop"])
def test_forward_runs_every_member_and_passes_keyword_arguments(members, path):
    ensemble = StackedEnsemble(members, path=path).eval()
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


# -- each stacked layer computes what its E members compute ---------------------------
def _randomise(module):
    """Values a fresh module would not have: BatchNorm away from its identity."""
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.weight.data.uniform_(0.5, 1.5)
            layer.bias.data.uniform_(-0.5, 0.5)
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 1.5)
    return module


# Each member's first layer takes the input every member shares; a second
# layer of the same kind takes member-specific input, the other code path.
LAYER_CASES = {
    "linear": (lambda: nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 3, bias=False)), (6, 5)),
    "linear_on_3d_rows": (lambda: nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 3)), (6, 2, 5)),
    "conv1d": (
        lambda: nn.Sequential(
            nn.Conv1d(2, 4, 3, padding=1), nn.Conv1d(4, 4, 3, stride=2, groups=2, bias=False)
        ),
        (6, 2, 9),
    ),
    "conv2d": (
        lambda: nn.Sequential(nn.Conv2d(2, 4, 3), nn.Conv2d(4, 6, 2, dilation=2, groups=2)),
        (6, 2, 9, 9),
    ),
    "batchnorm1d": (lambda: nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 4), nn.BatchNorm1d(4)), (6, 3)),
    "batchnorm2d_cumulative": (
        lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3, momentum=None)),
        (6, 2, 6, 6),
    ),
    "pooling_and_flatten": (
        lambda: nn.Sequential(
            nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.AvgPool2d(1), nn.AdaptiveAvgPool2d(2),
            nn.Flatten(), nn.Linear(8, 3),
        ),
        (6, 1, 9, 9),
    ),
    "elementwise": (
        lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Tanh(), nn.GELU(), nn.Identity(), nn.Linear(4, 2)),
        (6, 3),
    ),
}


@pytest.mark.parametrize("case", LAYER_CASES)
def test_each_stacked_layer_equals_its_members(case):
    factory, shape = LAYER_CASES[case]
    torch.manual_seed(0)
    members = [_randomise(factory()) for _ in range(3)]
    ensemble = StackedEnsemble(copy.deepcopy(members), path="layers")
    X = torch.randn(shape)
    for training in (True, False):  # batch statistics, then the running ones
        ensemble.train(training).zero_grad()
        out = ensemble(X)
        weights = torch.randn(out.shape)  # a loss that weighs every output differently
        (out * weights).sum().backward()
        for e, member in enumerate(members):
            member.train(training).zero_grad()
            expected = member(X)
            (expected * weights[e]).sum().backward()
            torch.testing.assert_close(out[e], expected)
            for name, p in member.named_parameters():
                torch.testing.assert_close(ensemble.params_dict()[name].grad[e], p.grad, msg=name)
            for name, b in member.named_buffers():  # running statistics updated alike
                torch.testing.assert_close(ensemble.buffers_dict()[name][e], b, msg=name)


@pytest.mark.parametrize("first", [True, False])
def test_dropout_draws_a_mask_per_member(first):
    # identical members: only their dropout masks tell them apart
    layers = [nn.Dropout(0.5), nn.Linear(50, 50)] if first else [nn.Linear(50, 50), nn.Dropout(0.5)]
    member = nn.Sequential(*layers)
    ensemble = StackedEnsemble([copy.deepcopy(member) for _ in range(3)])
    assert ensemble.path == "layers"
    X = torch.randn(4, 50)
    out = ensemble.train()(X)
    assert not torch.equal(out[0], out[1]) and not torch.equal(out[1], out[2])
    with torch.no_grad():
        out = ensemble.eval()(X)
        torch.testing.assert_close(out[0], out[2])
        torch.testing.assert_close(out[0], member.eval()(X))


# -- every path computes the same step -------------------------------------------------------
def _member():
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))


@pytest.mark.parametrize("path", PATHS)
def test_a_step_on_every_path_equals_separate_nets(path):
    torch.manual_seed(0)
    members = [_randomise(_member()) for _ in range(3)]
    ensemble = StackedEnsemble(copy.deepcopy(members), path=path).train()
    X, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    logits = ensemble(X)
    F.cross_entropy(logits.transpose(1, 2), y.expand(3, 8), reduction="sum").backward()
    for e, member in enumerate(members):
        F.cross_entropy(member.train()(X), y, reduction="sum").backward()
        torch.testing.assert_close(logits[e], member(X).detach())
        for name, p in member.named_parameters():
            torch.testing.assert_close(ensemble.params_dict()[name].grad[e], p.grad, msg=name)


@pytest.mark.parametrize("path", PATHS)
def test_embedding_is_each_members_head_input(path):
    torch.manual_seed(0)
    members = [_randomise(_member()).eval() for _ in range(3)]
    ensemble = StackedEnsemble(copy.deepcopy(members), path=path).eval()
    X = torch.randn(5, 4)
    with torch.no_grad():
        logits, phi = ensemble(X, return_embedding=True)
        for e, member in enumerate(members):
            torch.testing.assert_close(phi[e], member[:3](X))  # the input of "3", the last Linear
            torch.testing.assert_close(logits[e], member(X))


# -- the automatic choice ------------------------------------------------------------------------
class _ReadsAWeight(nn.Module):
    """Scales its input by a layer's weight before calling the layers: not a chain."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, X):
        return self.head(self.body(X * self.body.weight.mean()))


class _ComputesBetweenLayers(_ReadsAWeight):
    def forward(self, X):
        return self.head(2 * self.body(X))


class _WritesBetweenLayers(_ReadsAWeight):
    def forward(self, X):
        h = self.body(X)
        h[:, 0] = 0.0  # in place: the next layer gets the same object, changed
        return self.head(h)


class _OptionalHead(_ReadsAWeight):
    def forward(self, X, features_only=False):
        h = self.body(X)
        return h if features_only else self.head(h)


# module, input shape, the path picked on a GPU and on CPU (where
# convolutional members run one after another)
MODULES = {
    "mlp": (lambda: MLP(4, 2, hidden_units=(8, 8), dropout=0.1), (2, 4), "layers", "layers"),
    "gal_cnn": (lambda: GalCNN(n_classes=3, image_size=10), (2, 1, 10, 10), "layers", "loop"),
    "gal_cnn_on_flat_rows": (lambda: GalCNN(n_classes=3, image_size=10), (2, 100), "layers", "loop"),
    "small_cnn": (
        lambda: SmallCNN(n_classes=3, in_channels=1, widths=(4, 8)), (2, 1, 8, 8), "layers", "loop"
    ),
    "small_resnet": (lambda: SmallResNet(n_classes=3, widths=(4, 8)), (2, 3, 8, 8), "vmap", "loop"),
    "buffer_outside_layers": (_Member, (2, 3), "vmap", "vmap"),
    "reads_a_weight": (_ReadsAWeight, (2, 4), "vmap", "vmap"),
    "computes_between_layers": (_ComputesBetweenLayers, (2, 4), "vmap", "vmap"),
    "writes_between_layers": (_WritesBetweenLayers, (2, 4), "vmap", "vmap"),
    "unsupported_layer": (
        lambda: nn.Sequential(nn.Linear(4, 4), nn.PReLU(), nn.Linear(4, 2)), (2, 4), "vmap", "vmap"
    ),
}


@pytest.mark.parametrize("name", MODULES)
def test_the_fastest_path_that_applies_is_chosen(name):
    factory, shape, on_gpu, on_cpu = MODULES[name]
    torch.manual_seed(0)
    members = [factory() for _ in range(3)]
    X = torch.randn(shape)
    assert StackedEnsemble(copy.deepcopy(members), example=X).path == on_cpu
    # the choice only; the tensors stay where they are, so it runs here too
    ensemble = StackedEnsemble(copy.deepcopy(members), example=X, device="cuda").eval()
    assert ensemble.path == on_gpu
    with torch.no_grad():
        torch.testing.assert_close(ensemble(X), torch.stack([m.eval()(X) for m in members]))


def test_a_custom_forward_needs_an_example_to_be_probed():
    assert StackedEnsemble([MLP(4, 2), MLP(4, 2)]).path == "vmap"
    assert layer_chain(MLP(4, 2), example=torch.zeros(2, 4)) == ["body.0", "body.1", "head"]
    with pytest.raises(ValueError, match="no chain of the layers"):
        StackedEnsemble([MLP(4, 2), MLP(4, 2)], path="layers")
    with pytest.raises(ValueError, match="path must be one of"):
        StackedEnsemble([MLP(4, 2)], path="fast")


def test_keyword_arguments_take_the_vmap_path():
    # the probe ran the forward without them: they may call other layers
    torch.manual_seed(0)
    members = [_OptionalHead() for _ in range(3)]
    X = torch.randn(5, 4)
    ensemble = StackedEnsemble(copy.deepcopy(members), example=X)
    assert ensemble.path == "layers"
    with torch.no_grad():
        features = ensemble(X, features_only=True)
        torch.testing.assert_close(features, torch.stack([m(X, features_only=True) for m in members]))
