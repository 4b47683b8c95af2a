"""Does a learning-loss network rank unseen points by their true loss? Spearman's rho on digits.

A :class:`skal.models.LearningLossClassifier` (Yoo & Kweon 2019) is trained
on ``n`` random digits; on the held-out rest, its predicted losses
``l̂(x)`` are compared with the true cross-entropy ``-log p(y|x)`` of the
same network by Spearman's rank correlation (0: no better than chance, 1: the
same order). One row per (network, seed), then the mean:

    nice -n 19 python examples/studies/learning_loss_ranking.py -o docs/results/learning_loss_ranking_digits

The output folder gets ``results.json`` and ``summary.txt``. Everything runs
on one CPU thread.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.datasets import load_digits

from skal.models import MLP, LearningLossClassifier, SmallCNN

#: The networks: skal's MLP on the 64 pixels, and its small CNN on the 8x8 images.
NETWORKS = {
    "mlp": (MLP, {}, False),
    "small-cnn": (SmallCNN, {"module__in_channels": 1, "module__widths": (16, 32)}, True),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="mlp,small-cnn")
    parser.add_argument("--n-train", type=int, default=300)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("-o", "--output", default="skal-results/learning-loss-ranking")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.networks.split(","):
        module, params, images = NETWORKS[name]
        for seed in [int(s) for s in args.seeds.split(",")]:
            order = np.random.RandomState(seed).permutation(len(X))
            train, test = order[: args.n_train], order[args.n_train :]
            Xs = X.reshape(-1, 1, 8, 8) if images else X
            clf = LearningLossClassifier(module, random_state=seed, device="cpu", **params)
            t0 = time.perf_counter()
            clf.fit(Xs[train], y[train])
            seconds = time.perf_counter() - t0
            proba = clf.predict_proba(Xs[test])
            codes = np.searchsorted(clf.classes_, y[test])
            true_loss = -np.log(np.clip(proba[np.arange(len(test)), codes], 1e-12, None))
            rho = float(spearmanr(clf.predict_loss(Xs[test]), true_loss).statistic)
            rows.append({
                "network": name, "seed": seed, "n_train": len(train), "n_test": len(test),
                "spearman": rho, "accuracy": float((codes == proba.argmax(1)).mean()),
                "fit_seconds": seconds,
            })
            print(json.dumps(rows[-1]), flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = [
        f"Spearman rho between predicted and true held-out loss, digits, {args.n_train} training "
        "points (LearningLossClassifier defaults)",
        f"{'network':<10}  {'seed':>4}  {'rho':>6}  {'accuracy':>8}  {'fit s':>6}",
    ]
    for r in rows:
        lines.append(
            f"{r['network']:<10}  {r['seed']:>4}  {r['spearman']:6.3f}  {r['accuracy']:8.3f}  "
            f"{r['fit_seconds']:6.1f}"
        )
    for name in args.networks.split(","):
        rho = np.array([r["spearman"] for r in rows if r["network"] == name])
        lines.append(f"{name:<10}  mean  {rho.mean():6.3f}  (min {rho.min():.3f}, max {rho.max():.3f})")
    text = "\n".join(lines)
    (out / "summary.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
