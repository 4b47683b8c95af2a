import math

import numpy as np
import pytest

from skal.experiments import ExperimentResults, aubc, final_accuracy, labels_to_target


def test_aubc_trapezoid_over_label_span():
    # Area: 10*(0.5+0.7)/2 + 20*(0.7+0.9)/2 = 6 + 16 = 22 over a span of 30.
    assert aubc([10, 20, 40], [0.5, 0.7, 0.9]) == pytest.approx(22 / 30)
    # A flat curve has AUBC equal to its level, whatever the spacing.
    assert aubc([1, 3, 100], [0.8, 0.8, 0.8]) == pytest.approx(0.8)
    assert aubc([5], [0.42]) == pytest.approx(0.42)


def test_final_accuracy_is_last_point_not_best():
    assert final_accuracy([10, 20, 30], [0.5, 0.95, 0.9]) == 0.9


def test_labels_to_target_first_crossing():
    n, acc = [20, 30, 40, 50], [0.6, 0.91, 0.85, 0.96]
    assert labels_to_target(n, acc, 0.9) == 30
    assert labels_to_target(n, acc, 0.95) == 50
    assert labels_to_target(n, acc, 0.6) == 20
    assert labels_to_target(n, acc, 0.97) is None


@pytest.mark.parametrize(
    "n, acc, match",
    [
        ([10, 10], [0.1, 0.2], "strictly increasing"),
        ([10, 20], [0.1], "same length"),
        ([], [], "empty"),
        ([10, 20], [0.1, np.nan], "finite"),
    ],
)
def test_bad_curves(n, acc, match):
    with pytest.raises(ValueError, match=match):
        aubc(n, acc)


def test_bad_target():
    with pytest.raises(ValueError, match="target must be an accuracy"):
        labels_to_target([1, 2], [0.1, 0.2], 90)


def _records(strategy, seed, accs, start=10, step=10):
    return [
        {"strategy": strategy, "seed": seed, "round": r, "n_labels": start + step * r, "accuracy": a,
             "nll": 1.0 - a, "queried": [], "train_seconds": 1.0, "query_seconds": 0.5}
        for r, a in enumerate(accs)
    ]


def test_summary_and_table_over_seeds(tmp_path):
    recs = (
        _records("bald", 0, [0.5, 0.9, 0.95])
        + _records("bald", 1, [0.5, 0.7, 0.91])
        + _records("random", 0, [0.5, 0.6, 0.7])
    )
    res = ExperimentResults(recs)
    rows = {r["strategy"]: r for r in res.summary(targets=(0.9, 0.95))}
    assert rows["bald"]["n_seeds"] == 2
    assert rows["bald"]["aubc"] == pytest.approx(np.mean([aubc([10, 20, 30], [0.5, 0.9, 0.95]),
                                                           aubc([10, 20, 30], [0.5, 0.7, 0.91])]))
    assert rows["bald"]["f_acc"] == pytest.approx(0.93)
    # Both seeds reach 90% (at 20 and 30 labels); one reaches 95%.
    assert rows["bald"]["labels_to_target"][0.9] == 25
    assert rows["bald"]["reached"][0.95] == 1
    assert rows["random"]["labels_to_target"][0.9] is None
    assert rows["bald"]["train_seconds"] == pytest.approx(3.0)

    table = res.format_table(targets=(0.9, 0.95))
    lines = table.splitlines()
    assert lines[0].split()[:5] == ["strategy", "seeds", "AUBC", "F-acc", "F-NLL"]
    bald_line = next(line for line in lines if line.startswith("bald"))
    assert "30 (1/2)" in bald_line
    random_line = next(line for line in lines if line.startswith("random"))
    assert ">30" in random_line

    n, values = res.curves()["bald"]
    np.testing.assert_array_equal(n, [10, 20, 30])
    assert values.shape == (2, 3)

    frame = res.to_frame()
    assert len(frame) == 9 and frame.groupby("strategy")["accuracy"].max()["bald"] == 0.95

    fig = res.plot(tmp_path / "curve.png", title="t")
    assert (tmp_path / "curve.png").stat().st_size > 1000
    assert len(fig.axes[0].lines) == 2
    assert not math.isnan(fig.axes[0].lines[0].get_ydata()[0])
