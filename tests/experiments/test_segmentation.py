"""Campaigns on label maps: the harness records the mean IoU of every round."""

import numpy as np
import pytest
from sklearn.metrics import log_loss

from skal.datasets import make_digit_segmentation
from skal.experiments import ExperimentResults, initial_split, run_experiment
from skal.experiments._segmentation import evaluate_label_maps
from skal.metrics import mean_iou
from skal.models import DeepEnsemble, SmallUNet


@pytest.fixture(scope="module")
def canvases():
    from sklearn.datasets import load_digits

    d = load_digits()
    data = make_digit_segmentation(d.images / 16, d.target, 40, canvas_size=16, digit_size=8,
                                   max_digits=2, random_state=0)
    return data.X, data.y


def _segmenter():
    return DeepEnsemble(module=SmallUNet, module__widths=(4, 8), n_estimators=2, max_epochs=2,
                        classes=list(range(11)), device="cpu", random_state=0)


def test_a_segmentation_campaign_records_miou_and_ranks_by_it(canvases, tmp_path):
    X, y = canvases
    results = run_experiment(
        _segmenter(), X[:30], y[:30], X_test=X[30:], y_test=y[30:],
        strategies={"random": "random", "bald-top": ("bald", {"pixel_pooling": "top_k"})},
        n_initial=4, balanced_initial=False, batch_size=3, budget=10, seeds=[0],
        output_dir=tmp_path, progress=False,
    )
    assert [r["n_labels"] for r in results.records if r["strategy"] == "random"] == [4, 7, 10]
    assert all(0 <= r["miou"] <= 1 and 0 <= r["accuracy"] <= 1 for r in results.records)
    assert results.metric == "miou"
    table = results.format_table(targets=(0.5,))
    assert table.splitlines()[0].split()[:5] == ["strategy", "seeds", "AUBC", "F-mIoU", "F-NLL"]
    row = results.summary(targets=(0.5,))[0]
    mious = [r["miou"] for r in results.records if r["strategy"] == "random"]
    assert row["f_acc"] == pytest.approx(mious[-1])
    fig = results.plot()
    assert fig.axes[0].get_ylabel() == "test mIoU"


def test_evaluation_of_label_maps_matches_the_metrics_on_every_pixel(canvases):
    X, y = canvases
    model = _segmenter().fit(X[:20], y[:20])
    accuracy, nll, miou = evaluate_label_maps(model, X[20:], y[20:], np.arange(11), chunk_images=3)
    proba = model.predict_proba(X[20:])
    pred = proba.argmax(axis=1)
    assert accuracy == pytest.approx(np.mean(pred == y[20:]))
    assert miou == pytest.approx(mean_iou(y[20:], pred, labels=np.arange(11)))
    pixels = np.moveaxis(proba, 1, -1).reshape(-1, 11)
    assert nll == pytest.approx(log_loss(y[20:].ravel(), pixels, labels=np.arange(11)), rel=1e-6)


def test_a_model_that_saw_fewer_classes_is_scored_over_all_of_them(canvases):
    X, y = canvases
    model = DeepEnsemble(module=SmallUNet, module__widths=(4,), n_estimators=2, max_epochs=1,
                         device="cpu", random_state=0).fit(X[:2], y[:2])
    assert len(model.classes_) < 11
    accuracy, nll, miou = evaluate_label_maps(model, X[20:], y[20:], np.arange(11))
    assert 0 <= miou <= 1 and np.isfinite(nll)


def test_a_balanced_seed_set_of_label_maps_is_refused_with_the_fix(canvases):
    _, y = canvases
    with pytest.raises(ValueError, match="balanced_initial=False"):
        initial_split(y, np.arange(len(y)), 4, balanced=True, random_state=0)


def test_classification_records_keep_accuracy_as_the_metric():
    recs = [dict(strategy="s", seed=0, round=r, n_labels=10 * (r + 1), accuracy=a, nll=1.0,
                 queried=[], train_seconds=0.1, query_seconds=0.0) for r, a in enumerate([0.5, 0.7])]
    results = ExperimentResults(recs)
    assert results.metric == "accuracy"
    assert results.format_table(targets=(0.6,)).splitlines()[0].split()[3] == "F-acc"
