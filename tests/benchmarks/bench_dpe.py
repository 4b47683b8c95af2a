"""One training epoch of a DPE or deep ensemble (E members, one vectorised loop) vs E skorch nets in a row.

Run from the repository root::

    .venv/bin/python tests/benchmarks/bench_dpe.py            # CPU, MLP on digits + a larger table
    .venv/bin/python tests/benchmarks/bench_dpe.py --cnn      # also GalCNN on MNIST-sized images

Both sides use skorch's own epoch timer (``history[:, 'dur']``), the same
module, data, optimizer and batch size, in the same process. Reported: the
median epoch over ``--epochs`` epochs (the first, warm-up epoch dropped).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier
from torch import nn

from skal.models import MLP, DeepEnsemble, DeepProbabilisticEnsemble, GalCNN


def median_epoch(history):
    return float(np.median(history[1:, "dur"]))


def sequential_nets(module_factory, X, y, n_members, epochs, batch_size, device):
    """E ordinary skorch nets trained one after another: the baseline."""
    total = 0.0
    for seed in range(n_members):
        torch.manual_seed(seed)
        net = NeuralNetClassifier(
            module_factory(),
            criterion=nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            lr=1e-3,
            max_epochs=epochs,
            batch_size=batch_size,
            train_split=None,
            device=device,
            verbose=0,
        ).fit(X, y)
        total += median_epoch(net.history)
    return total


def ensemble_epoch(estimator, module_factory, X, y, n_members, epochs, batch_size, device):
    """Median epoch of a DPE or deep ensemble (``estimator``: its other parameters)."""
    fitted = clone(estimator).set_params(
        module=module_factory(),
        n_estimators=n_members,
        max_epochs=epochs,
        lr=1e-3,
        batch_size=batch_size,
        device=device,
        random_state=0,
    ).fit(X, y)
    return median_epoch(fitted.net_.history)


def compare(name, module_factory, X, y, *, n_members, epochs, batch_size, device):
    base = sequential_nets(module_factory, X, y, n_members, epochs, batch_size, device)
    rows = [(f"{n_members} skorch nets, one after another", base)]
    for label, estimator in [
        ("DPE, vmap, beta=1", DeepProbabilisticEnsemble(beta=1.0)),
        ("DeepEnsemble, vmap", DeepEnsemble()),
        ("DPE, member loop, beta=1", DeepProbabilisticEnsemble(beta=1.0, vectorize=False)),
    ]:
        seconds = ensemble_epoch(estimator, module_factory, X, y, n_members, epochs, batch_size, device)
        rows.append((label, seconds))
    print(f"\n{name}: {X.shape[0]} rows, E={n_members}, batch {batch_size}, device {device}")
    print(f"  {'':44s} {'s/epoch':>9s} {'speed-up':>9s}")
    for label, sec in rows:
        print(f"  {label:44s} {sec:9.4f} {base / sec:8.2f}x")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--cnn", action="store_true", help="also GalCNN on 28x28 images")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}")

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    compare("MLP(64-128-10) on digits", lambda: MLP(64, 10), X, y,
            n_members=args.members, epochs=args.epochs, batch_size=128, device=args.device)

    rng = np.random.RandomState(0)
    Xl = rng.randn(20_000, 64).astype(np.float32)
    yl = (Xl[:, :10].sum(1) > 0).astype(np.int64) + (Xl[:, 10] > 0.5)
    compare("MLP(64-128-3) on a 20,000-row table", lambda: MLP(64, 3), Xl, yl,
            n_members=args.members, epochs=args.epochs, batch_size=256, device=args.device)

    if args.cnn:
        Xi = rng.rand(4096, 1, 28, 28).astype(np.float32)
        yi = rng.randint(0, 10, len(Xi))
        compare("GalCNN on 4,096 images 28x28", lambda: GalCNN(n_classes=10), Xi, yi,
                n_members=args.members, epochs=args.epochs, batch_size=128, device=args.device)


if __name__ == "__main__":
    main()
