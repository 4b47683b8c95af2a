"""Measures on pixel maps: per pixel exactly the classification measures, pooled per image."""

import numpy as np
import pytest
import torch

from skal import measures
from skal.measures import PixelPooling, check_pixel_pooling, pixel_scores, pool_pixels, score_images

POINTWISE = [
    measures.least_confident,
    measures.margin,
    measures.entropy,
    measures.consensus_entropy,
    measures.vote_entropy,
    measures.bald,
    measures.expected_entropy,
    measures.max_disagreement,
    measures.var_ratios,
    measures.mean_std,
]


def _pixel_samples(S=4, n=3, K=5, H=2, W=3, seed=0):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(K, 0.5), size=(S, n, H, W))  # (S, n, H, W, K)
    return np.moveaxis(P, -1, 2)  # (S, n, K, H, W)


@pytest.mark.parametrize("measure", POINTWISE, ids=lambda m: m.__name__)
def test_per_pixel_scores_are_the_measure_applied_pixel_by_pixel(measure):
    P = _pixel_samples()
    maps = pixel_scores(measure, P)
    S, n, K, H, W = P.shape
    assert maps.shape == (n, H, W)
    for i in range(n):
        for h in range(H):
            for w in range(W):
                expected = measure(P[:, i : i + 1, :, h, w])[0]
                assert maps[i, h, w] == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("measure", [measures.entropy, measures.bald, measures.var_ratios],
                         ids=lambda m: m.__name__)
def test_per_pixel_scores_of_tensors_equal_numpy(measure):
    P = _pixel_samples(seed=1)
    maps = pixel_scores(measure, torch.from_numpy(P))
    assert isinstance(maps, torch.Tensor)
    np.testing.assert_allclose(maps.numpy(), pixel_scores(measure, P), rtol=1e-12)


def test_pixel_scores_leave_the_samples_untouched():
    P = _pixel_samples()
    before = P.copy()
    pixel_scores(measures.bald, P)
    np.testing.assert_array_equal(P, before)


# Two 2x2 images. Image 0: background (class 0) at 0.1, 0.1, 0.2 and one
# pixel of class 1 at 0.9. Image 1: class 2 everywhere.
MAPS = np.array([[[0.1, 0.1], [0.2, 0.9]], [[0.4, 0.4], [0.4, 0.8]]])
LABELS = np.array([[[0, 0], [0, 1]], [[2, 2], [2, 2]]])


@pytest.mark.parametrize(
    "pooling, expected",
    [
        (PixelPooling("mean"), [0.325, 0.5]),
        (PixelPooling("top_k", top_fraction=0.25), [0.9, 0.8]),
        (PixelPooling("top_k", top_fraction=0.5), [0.55, 0.6]),
        (PixelPooling("top_k", top_fraction=0.3), [0.55, 0.6]),  # ceil(0.3 * 4) = 2 pixels
        (PixelPooling("top_k", top_fraction=1.0), [0.325, 0.5]),
        # image 0: classes 0 (mean 0.4/3) and 1 (0.9) weigh the same
        (PixelPooling("class_balanced"), [(0.4 / 3 + 0.9) / 2, 0.5]),
    ],
    ids=["mean", "top25%", "top50%", "top30%", "top100%", "class_balanced"],
)
def test_pooling_options_on_a_hand_made_example(pooling, expected):
    np.testing.assert_allclose(pooling(MAPS, LABELS), expected)
    torch_scores = pooling(torch.from_numpy(MAPS), torch.from_numpy(LABELS))
    np.testing.assert_allclose(torch_scores.numpy(), expected)


def test_class_balanced_pooling_of_score_images_reads_the_mean_prediction():
    # 1 image of 1x2 pixels, 2 samples, 2 classes: the first pixel is class 0
    # for both samples, the second class 1 on average.
    P = np.zeros((2, 1, 2, 1, 2))
    P[:, 0, :, 0, 0] = [[0.9, 0.1], [0.7, 0.3]]
    P[:, 0, :, 0, 1] = [[0.2, 0.8], [0.4, 0.6]]
    maps = pixel_scores(measures.entropy, P)
    labels = P.mean(0).argmax(1)
    np.testing.assert_array_equal(labels, [[[0, 1]]])
    expected = pool_pixels(maps, "class_balanced", label_maps=labels)
    np.testing.assert_allclose(score_images(measures.entropy, P, "class_balanced"), expected)
    np.testing.assert_allclose(score_images(measures.entropy, P), maps.mean(axis=(1, 2)))


def test_a_callable_pooling_is_used_as_given():
    P = _pixel_samples()
    scores = score_images(measures.entropy, P, lambda maps, labels, K: maps.max(axis=(1, 2)))
    np.testing.assert_allclose(scores, pixel_scores(measures.entropy, P).max(axis=(1, 2)))


@pytest.mark.parametrize(
    "spec, expected",
    [
        (None, PixelPooling("mean")),
        ("top_k", PixelPooling("top_k")),
        ({"method": "top_k", "top_fraction": 0.05}, PixelPooling("top_k", 0.05)),
        (PixelPooling("class_balanced"), PixelPooling("class_balanced")),
    ],
)
def test_check_pixel_pooling_reads_names_and_tables(spec, expected):
    assert check_pixel_pooling(spec) == expected


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: PixelPooling("median"), ValueError, "must be one of mean, top_k, class_balanced"),
        (lambda: PixelPooling("top_k", top_fraction=0), ValueError, "top_fraction"),
        (lambda: PixelPooling("top_k", top_fraction=1.5), ValueError, "top_fraction"),
        (lambda: PixelPooling("top_k", top_fraction="a"), TypeError, "top_fraction"),
        (lambda: check_pixel_pooling(3), TypeError, "pixel_pooling must be"),
        (lambda: check_pixel_pooling({"method": "mean", "k": 3}), TypeError, "'method' and 'top_fraction'"),
        (lambda: pool_pixels(MAPS, "class_balanced"), ValueError, "needs label_maps"),
        (lambda: pool_pixels(MAPS, "class_balanced", label_maps=LABELS[:1]), ValueError, "one predicted class"),
        (lambda: pool_pixels(MAPS, "class_balanced", label_maps=-LABELS - 1), ValueError, "codes 0..K-1"),
        (lambda: pool_pixels(MAPS, "class_balanced", label_maps=LABELS, n_classes=2), ValueError,
         "n_classes=2"),
        (lambda: pool_pixels(np.zeros(3)), ValueError, r"shape \(n, H, W\)"),
        (lambda: pixel_scores(measures.entropy, np.full((2, 3, 4), 0.25)), ValueError, r"\(S, n, K, H, W\)"),
        (lambda: pixel_scores(lambda P: P.sum(), _pixel_samples()), ValueError, "must map"),
    ],
)
def test_bad_pooling_input_is_rejected_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call()
