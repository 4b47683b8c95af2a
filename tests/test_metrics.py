"""skal.metrics: IoU of label maps."""

import numpy as np
import pytest
from sklearn.metrics import jaccard_score

from skal.metrics import confusion_counts, iou_from_counts, iou_per_class, mean_iou


def test_mean_iou_is_sklearns_macro_jaccard_over_the_labels_present():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 5, size=(6, 7, 8))
    y_pred = np.where(rng.random((6, 7, 8)) < 0.6, y_true, rng.integers(0, 5, size=(6, 7, 8)))
    present = np.union1d(y_true, y_pred)
    expected = jaccard_score(y_true.ravel(), y_pred.ravel(), labels=present, average="macro")
    assert mean_iou(y_true, y_pred) == pytest.approx(expected)
    np.testing.assert_allclose(
        iou_per_class(y_true, y_pred, present),
        jaccard_score(y_true.ravel(), y_pred.ravel(), labels=present, average=None),
    )


def test_iou_by_hand_labels_absent_everywhere_do_not_count():
    y_true = np.array([[[0, 0], [1, 1]]])
    y_pred = np.array([[[0, 0], [0, 1]]])
    # label 0: TP 2, union 3; label 1: TP 1, union 2; label 9 absent
    np.testing.assert_allclose(iou_per_class(y_true, y_pred, [0, 1, 9]), [2 / 3, 1 / 2, np.nan])
    assert mean_iou(y_true, y_pred, labels=[0, 1, 9]) == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_labels_outside_the_given_ones_are_ignored_and_the_order_is_kept():
    y_true = np.array([[5, 1, 1, 3]])
    y_pred = np.array([[5, 1, 3, 3]])
    counts = confusion_counts(y_true, y_pred, [3, 1])  # 5 is ignored
    np.testing.assert_array_equal(counts, [[1, 0], [1, 1]])
    np.testing.assert_allclose(iou_from_counts(counts), [0.5, 0.5])


def test_sample_weight_weighs_whole_maps():
    y_true = np.array([[0, 1], [1, 1]])
    y_pred = np.array([[0, 0], [1, 1]])
    # the second map twice: a copy of it
    twice = mean_iou(np.vstack([y_true, y_true[1:]]), np.vstack([y_pred, y_pred[1:]]))
    assert mean_iou(y_true, y_pred, sample_weight=[1, 2]) == pytest.approx(twice)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mean_iou(np.zeros((2, 3)), np.zeros((2, 4))), "same shape"),
        (lambda: mean_iou(np.zeros((0, 3)), np.zeros((0, 3))), "empty"),
        (lambda: mean_iou(np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=[1]), "one weight per sample"),
        (lambda: mean_iou(np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=[1, -1]), "non-negative"),
        (lambda: mean_iou(np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=[1, np.nan]),
         "sample_weight contains NaN"),
        (lambda: mean_iou(np.zeros((2, 3)), np.zeros((2, 3)), labels=[4, 5]), "none of the labels"),
        (lambda: confusion_counts(np.zeros(3), np.zeros(3), [1, 1]), "distinct labels"),
    ],
)
def test_bad_input_is_rejected_clearly(call, match):
    with pytest.raises(ValueError, match=match):
        call()
