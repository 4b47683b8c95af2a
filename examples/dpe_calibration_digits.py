"""Is the DPE better calibrated than one network? Accuracy, NLL and ECE on digits.

Fits, on the same held-out split of scikit-learn's digits:

* a single MLP (a skorch net, trained alone),
* a deep ensemble (E independent MLPs, ``beta=0``),
* a Deep Probabilistic Ensemble (E MLPs trained jointly towards the He prior),

and prints accuracy, negative log-likelihood, expected calibration error
(15 equal-width confidence bins) and fit time.

    python examples/dpe_calibration_digits.py            # E=8, 100 epochs
    python examples/dpe_calibration_digits.py --epochs 5 --members 2   # smoke run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier
from torch import nn

from skal.models import MLP, DeepEnsemble, DeepProbabilisticEnsemble


def expected_calibration_error(y_true, proba, classes, n_bins=15):
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    confidence = proba.max(axis=1)
    correct = classes[proba.argmax(axis=1)] == y_true
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return ece


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=args.seed, stratify=y)
    settings = dict(max_epochs=args.epochs, lr=1e-3, batch_size=128)

    torch.manual_seed(args.seed)
    models = {
        "single MLP": NeuralNetClassifier(
            MLP(64, 10),
            criterion=nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            train_split=None,
            verbose=0,
            **settings,
        ),
        f"deep ensemble (E={args.members})": DeepEnsemble(
            n_estimators=args.members, random_state=args.seed, **settings
        ),
        f"DPE (E={args.members}, beta={args.beta:g})": DeepProbabilisticEnsemble(
            n_estimators=args.members, beta=args.beta, random_state=args.seed, **settings
        ),
    }
    classes = np.unique(y)
    print(f"digits: {len(Xtr)} train / {len(Xte)} test rows, {args.epochs} epochs")
    print(f"{'model':28s} {'accuracy':>9s} {'NLL':>8s} {'ECE':>8s} {'fit s':>7s}")
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(Xtr, ytr)
        seconds = time.perf_counter() - start
        proba = model.predict_proba(Xte)
        acc = accuracy_score(yte, classes[proba.argmax(axis=1)])
        nll = log_loss(yte, proba, labels=classes)
        ece = expected_calibration_error(yte, proba, classes)
        print(f"{name:28s} {acc:9.4f} {nll:8.4f} {ece:8.4f} {seconds:7.1f}")


if __name__ == "__main__":
    main()
