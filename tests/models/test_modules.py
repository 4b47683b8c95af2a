import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier
from torch import nn

from skal.models import (
    MLP,
    GalCNN,
    SmallCNN,
    SmallResNet,
    embed,
    find_head,
    torchvision_backbone,
)
from skal.models._embedding import skorch_embed


@pytest.mark.parametrize(
    "module, shape, embedding_dim",
    [
        (MLP(n_features=12, n_classes=3, hidden_units=(16, 8)), (5, 12), 8),
        (GalCNN(n_classes=10), (5, 1, 28, 28), 128),
        (GalCNN(n_classes=10), (5, 784), 128),
        (GalCNN(n_classes=4, in_channels=3, image_size=32), (5, 3, 32, 32), 128),
        (SmallCNN(n_classes=7, widths=(8, 16)), (5, 3, 32, 32), 16),
        (SmallCNN(n_classes=7, in_channels=1, widths=(8,)), (5, 1024), 8),
        (SmallResNet(n_classes=6, widths=(8, 16)), (5, 3, 32, 32), 16),
        (SmallResNet(n_classes=6, widths=(8,), blocks_per_stage=2, dropout=0.3), (5, 3, 32, 32), 8),
    ],
)
def test_reference_modules_return_logits_through_a_linear_head(module, shape, embedding_dim):
    out = module(torch.randn(*shape))
    assert out.shape == (shape[0], module.head.out_features)
    assert isinstance(module.head, nn.Linear)
    assert module.head.in_features == embedding_dim
    assert find_head(module) is module.head


def test_gal_cnn_has_the_published_architecture():
    layers = [type(m) for m in GalCNN().body]
    assert layers == [
        nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Dropout,
        nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout,
    ]
    convs = [m for m in GalCNN().body if isinstance(m, nn.Conv2d)]
    assert all(c.out_channels == 32 and c.kernel_size == (4, 4) for c in convs)
    assert [m.p for m in GalCNN().body if isinstance(m, nn.Dropout)] == [0.25, 0.5]


def test_image_modules_reject_flat_rows_that_are_not_square_images():
    with pytest.raises(ValueError, match="square images"):
        GalCNN()(torch.zeros(2, 780))


def test_small_image_modules_use_batch_norm():
    for module in (SmallCNN(), SmallResNet()):
        assert any(isinstance(m, nn.BatchNorm2d) for m in module.modules())


def test_torchvision_backbone_resnet18_on_small_images():
    net = torchvision_backbone("resnet18", n_classes=10)
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert isinstance(net.head, nn.Linear) and net.head.in_features == 512
    stem = net.body.conv1
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert isinstance(net.body.maxpool, nn.Identity)
    assert isinstance(net.body.fc, nn.Identity)


def test_torchvision_backbone_adapts_channels_and_keeps_stem_for_large_images():
    net = torchvision_backbone("resnet18", n_classes=3, in_channels=1, small_images=False,
                               dropout=0.5)
    assert net.body.conv1.in_channels == 1 and net.body.conv1.kernel_size == (7, 7)
    assert isinstance(net.body.maxpool, nn.MaxPool2d)
    assert net(torch.randn(2, 1, 64, 64)).shape == (2, 3)
    assert net(torch.randn(2, 64 * 64)).shape == (2, 3)


def test_find_head_prefers_head_then_last_linear_and_explains_failure():
    seq = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    assert find_head(seq) is seq[2]
    assert find_head(seq, return_name=True) == ("2", seq[2])
    with pytest.raises(ValueError, match="head"):
        find_head(nn.Sequential(nn.ReLU()))


def _net(module, **kw):
    return NeuralNetClassifier(module, max_epochs=1, train_split=None, verbose=0, **kw)


def test_skorch_embed_returns_the_input_of_the_head():
    X = np.random.RandomState(0).rand(30, 6).astype(np.float32)
    y = np.arange(30) % 3
    net = _net(MLP, module__n_features=6, module__n_classes=3, module__hidden_units=(10,),
               module__dropout=0.5, criterion=nn.CrossEntropyLoss, batch_size=7).fit(X, y)
    phi = skorch_embed(net, X)
    assert phi.shape == (30, 10)
    # Evaluation mode: dropout off, so the features are the body's output.
    net.module_.eval()
    with torch.no_grad():
        expected = net.module_.body(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(phi, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(embed(net, X), phi)


def test_skorch_embed_falls_back_to_the_last_linear_layer():
    X = np.random.RandomState(0).rand(12, 4).astype(np.float32)
    module = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    net = _net(module, criterion=nn.CrossEntropyLoss).initialize()
    assert skorch_embed(net, X).shape == (12, 5)


def test_skorch_embed_flattens_image_features():
    X = np.random.RandomState(0).rand(6, 1, 28, 28).astype(np.float32)
    net = _net(GalCNN, criterion=nn.CrossEntropyLoss).initialize()
    assert skorch_embed(net, X).shape == (6, 128)
