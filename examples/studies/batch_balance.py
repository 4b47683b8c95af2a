"""How class-balanced are the batches a strategy queries? Read from a campaign's logs.

A top-b batch of an uncertainty measure can pile onto one confusing pair of
classes; a diverse batch should cover many. For every strategy of a
finished ``skal run`` (or ``compare_strategies.py``) folder this reports,
over seeds, the number of distinct classes in a queried batch and the
entropy of the batch's label histogram divided by log(batch size, classes)
(1 = as spread as a batch can be), for the first three query rounds
(the cold start) and for all of them::

    python examples/studies/batch_balance.py docs/results/strategies_digits_b10 digits

Output: the table on stdout and ``batch_balance.txt`` in the folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from skal.datasets import load_dataset
from skal.experiments import load_results


def batch_spread(labels, n_classes):
    """Distinct classes and normalized label entropy of one batch."""
    counts = np.bincount(labels, minlength=n_classes)
    p = counts[counts > 0] / len(labels)
    ceiling = np.log(min(len(labels), n_classes))
    return len(p), float(-(p * np.log(p)).sum() / ceiling) if ceiling > 0 else 1.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("dataset")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args(argv)
    data = load_dataset(args.dataset, args.data_root)
    classes, y = np.unique(data.y_train, return_inverse=True)
    results = load_results(args.folder)
    rows = {}
    for record in results.records:
        if record["round"] == 0:  # the seed set, not a query
            continue
        spread = batch_spread(y[record["queried"]], len(classes))
        rows.setdefault(record["strategy"], []).append((record["round"], *spread))
    lines = [f"{'strategy':<18}{'classes/batch':>15}{'entropy':>9}{'first 3 rounds':>16}{'entropy':>9}"]
    for name, values in rows.items():
        values = np.array(values)
        early = values[values[:, 0] <= 3]
        lines.append(f"{name:<18}{values[:, 1].mean():>15.2f}{values[:, 2].mean():>9.3f}"
                     f"{early[:, 1].mean():>16.2f}{early[:, 2].mean():>9.3f}")
    table = "\n".join(lines)
    (Path(args.folder) / "batch_balance.txt").write_text(table + "\n", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
