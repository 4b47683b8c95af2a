"""Segmentation through the deep estimators: label maps in, per-pixel samples out.

scikit-learn's estimator checks (``test_estimator_checks.py``) run on these
same estimators as classifiers. They cannot run on segmenters: every check
that fits makes its own data with ``y`` of shape ``(n,)`` (blobs, iris), and
``check_X_y`` rejects targets of shape ``(n, H, W)`` by design. What they
check that still applies is run here on label maps: the checks that need no
data (default constructible, ``get_params``/``set_params``, nothing set in
``__init__``), and by hand a cloned refit giving the same predictions,
input arrays left unmodified, pickling, ``n_features_in_`` at predict
time, and a not-fitted error.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)
from torch import nn

from skal.metrics import mean_iou
from skal.models import BackboneUNet, SmallCNN, SmallUNet

from ._helpers import ESTIMATORS, make_estimator

LABELS = np.array([0, 3, 7])


@pytest.fixture(scope="module")
def maps():
    """6 images 1x8x8 whose label map is the bright squares' class (0, 3 or 7)."""
    rng = np.random.RandomState(0)
    X = rng.rand(6, 1, 8, 8).astype(np.float32) * 0.1
    y = np.zeros((6, 8, 8), dtype=np.int64)
    for i in range(6):
        y[i, 1:4, 1:4] = 3
        y[i, 5:8, 4:8] = 7
        X[i, 0][y[i] > 0] += y[i][y[i] > 0] / 7
    return X, y


def segmenter(name, **params):
    """A tiny seeded segmenter: a SmallUNet unless ``params`` name another module."""
    if "module" not in params:
        params = {"module": SmallUNet, "module__widths": (4, 8), **params}
        if name == "mc_dropout":
            params.setdefault("module__dropout", 0.3)
    return make_estimator(name, **{"max_epochs": 2, **params})


@pytest.mark.parametrize("name", ESTIMATORS)
def test_segmenters_give_per_pixel_samples_label_maps_and_miou(name, maps):
    X, y = maps
    est = segmenter(name).fit(X, y)
    P = est.predict_proba_samples(X[:4])
    S = est.n_samples if hasattr(est, "n_samples") else est.n_estimators  # samples drawn, or members
    assert P.shape == (S, 4, 3, 8, 8)
    np.testing.assert_allclose(P.sum(axis=2), 1.0)
    np.testing.assert_array_equal(est.classes_, LABELS)
    assert est.target_shape_ == (8, 8)
    proba = est.predict_proba(X[:4])
    np.testing.assert_allclose(proba, P.mean(axis=0))
    pred = est.predict(X)
    assert pred.shape == y.shape and set(np.unique(pred)) <= set(LABELS)
    assert est.score(X, y) == pytest.approx(mean_iou(y, pred, labels=LABELS))


@pytest.mark.parametrize("name", ["dpe", "deep_ensemble", "snapshot"])
def test_ensemble_members_predict_maps_on_their_own(name, maps):
    X, y = maps
    est = segmenter(name).fit(X, y)
    member = est.estimators_[1].predict_proba(X[:2])
    assert member.shape == (2, 3, 8, 8)
    np.testing.assert_allclose(member.sum(axis=1), 1.0, rtol=1e-5)  # over the classes, per pixel
    np.testing.assert_allclose(member, est.predict_proba_samples(X[:2])[1], atol=1e-5)
    # the DPE's He prior covers every layer of the reference segmenters
    if name != "snapshot":
        assert est.unregularised_params_ == []


def test_mc_dropout_segmenter_samples_differ_and_are_reproducible(maps):
    X, y = maps
    est = segmenter("mc_dropout", n_samples=5).fit(X, y)
    P = est.predict_proba_samples(X[:2])
    assert not np.allclose(P[0], P[1])
    np.testing.assert_array_equal(P, est.predict_proba_samples(X[:2]))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_a_cloned_segmenter_refits_to_the_same_predictions_without_touching_the_input(name, maps):
    X, y = maps
    X_before, y_before = X.copy(), y.copy()
    first = segmenter(name).fit(X, y)
    second = clone(first).fit(X, y)
    np.testing.assert_allclose(first.predict_proba(X), second.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_allclose(restored.predict_proba(X), first.predict_proba(X))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_the_checks_that_need_no_data_pass_on_segmenters(name):
    est = segmenter(name)
    check_parameters_default_constructible(name, est)
    check_no_attributes_set_in_init(name, est)
    check_get_params_invariance(name, est)
    check_set_params(name, est)


def test_warm_start_goes_on_with_label_maps_of_the_same_shape(maps):
    X, y = maps
    est = segmenter("dpe", warm_start=True).fit(X, y)
    est.fit(X[:4], y[:4])
    assert est.n_train_ == 6  # the same rows: no new ones counted
    with pytest.raises(ValueError, match=r"label maps of shape \(4, 4\).*refit from scratch"):
        est.fit(X, y[:, :4, :4])


class _Downsampling(nn.Module):
    def __init__(self, n_classes=2, in_channels=1):
        super().__init__()
        self.head = nn.Conv2d(in_channels, n_classes, 2, stride=2)

    def forward(self, X):
        return self.head(X)


@pytest.mark.parametrize(
    "params, fit_data, error, match",
    [
        ({"module": _Downsampling}, None, ValueError, r"outputs shape \(3, 4, 4\) per sample but y holds "
         r"label maps of shape \(8, 8\).*must return \(n_samples, 3, 8, 8\) logits"),
        ({"module": nn.Sequential(nn.Flatten(), nn.Linear(64, 3))}, None, ValueError,
         "a segmentation module must return"),
        ({}, "fewer maps", ValueError, "X has 6 samples but y has 5 label maps"),
        ({}, "float maps", ValueError, "Unknown label type"),
        ({}, "nan maps", ValueError, "y contains NaN"),
    ],
    ids=["wrong-size", "classifier-module", "fewer-maps", "continuous", "nan"],
)
def test_bad_segmentation_input_is_rejected_clearly(maps, params, fit_data, error, match):
    X, y = maps
    if fit_data == "fewer maps":
        y = y[:5]
    elif fit_data == "float maps":
        y = y + 0.5
    elif fit_data == "nan maps":
        y = y.astype(float)
        y[0, 0, 0] = np.nan
    with pytest.raises(error, match=match):
        segmenter("deep_ensemble", **params).fit(X, y)


def test_a_segmenter_needs_fitting_and_the_fitted_input_shape(maps):
    X, y = maps
    est = segmenter("deep_ensemble")
    with pytest.raises(NotFittedError):
        est.predict(X)
    est.fit(X, y)
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        est.predict(X[:, :, :4, :4])


@pytest.mark.parametrize(
    "module, shape",
    [
        (SmallUNet(n_classes=4, widths=(4, 8, 16)), (2, 1, 13, 17)),
        (SmallUNet(n_classes=4, in_channels=3, widths=(4,)), (2, 3, 5, 5)),
        (SmallUNet(n_classes=4, widths=(4, 8)), (2, 9, 9)),  # (n, H, W) single channel
        (BackboneUNet(n_classes=4, in_channels=1, stages=2), (2, 1, 12, 10)),
        (BackboneUNet(n_classes=4, in_channels=1, stages=1, small_images=False), (2, 1, 20, 20)),
        (BackboneUNet(n_classes=4, backbone="resnet50", stages=1, decoder_width=8), (1, 3, 8, 8)),
    ],
    ids=["unet-odd", "unet-one-stage", "unet-no-channel", "backbone", "backbone-imagenet-stem",
         "backbone-bottleneck"],
)
def test_reference_segmenters_return_logits_of_the_input_size(module, shape):
    module.eval()
    out = module(torch.randn(*shape))
    assert out.shape == (shape[0], 4) + shape[-2:]
    assert isinstance(module.head, nn.Conv2d) and module.head.kernel_size == (1, 1)
    convs = [m for m in module.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert not convs  # every layer has the DPE's He prior


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: SmallUNet(widths=()), "widths must be a non-empty"),
        (lambda: SmallUNet(widths=(4, 0)), "widths must be a non-empty"),
        (lambda: BackboneUNet(stages=5), "stages must be 1, 2, 3 or 4"),
        (lambda: BackboneUNet(backbone="mobilenet_v2"), "takes a torchvision ResNet"),
        (lambda: SmallUNet()(torch.zeros(2, 64)), r"images of shape \(n, C, H, W\)"),
    ],
)
def test_bad_segmenter_arguments_are_rejected_clearly(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_image_modules_get_their_channels_from_the_data():
    # SmallCNN defaults to 3 channels; one-channel images size it to 1.
    rng = np.random.RandomState(0)
    X = rng.rand(12, 1, 6, 6).astype(np.float32)
    y = np.arange(12) % 2
    est = make_estimator("dpe", module=SmallCNN, module__widths=(4, 8, 8), max_epochs=1).fit(X, y)
    assert est.estimators_[0].module_.body[0].in_channels == 1
    assert est.predict_proba(X).shape == (12, 2)
