"""One training epoch of an E-member DPE or deep ensemble against one member and against E nets in a row.

Run from the repository root::

    .venv/bin/python tests/benchmarks/bench_dpe.py --threads 1          # CPU: MLP on digits and a 20,000-row table
    .venv/bin/python tests/benchmarks/bench_dpe.py --threads 1 --cnn    # also GalCNN on MNIST-sized images
    .venv/bin/python tests/benchmarks/bench_dpe.py --cnn --device cuda  # the GPU goal

Every row trains the same module on the same data with the same optimizer
(Adam, lr 1e-3) and batch size, in one process. The rows take turns, one
epoch each per round in a new order each round, so that a change of the
machine's load touches them alike; a row's figure is its median epoch over
the rounds (skorch's own timer, ``history[:, 'dur']``), the first round
dropped as warm-up.

Rows:

* one member: a single skorch ``NeuralNetClassifier`` (minibatches shuffled,
  as the ensembles' are): the unit of the "x one member" column.
* E nets one after another: E such nets; a round trains each for one epoch.
* the DPE (``beta=1``) and the :class:`~skal.models.DeepEnsemble`, on the
  path their stacked module picks (``net_.module_.path``).
* "before": the DPE forced onto the ``vmap`` path with torch's default
  optimizer step (no ``fused``/``foreach`` asked for), as the ensembles ran
  before the layer-by-layer path and the one-step optimizer. The loss
  layout and the prior's closed-form gradient, which came in the same
  change, are not reverted, so the true "before" was slower still.
* the DPE with ``vectorize=False`` (a loop over the members), and, where
  the automatic choice is not the layer-by-layer path (a CNN on CPU), the
  DPE forced onto it.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier
from torch import nn

from skal.models import MLP, DeepEnsemble, DeepProbabilisticEnsemble, GalCNN


def skorch_net(module_factory, batch_size, device, seed):
    """One member trained alone: a plain skorch net, one epoch per ``partial_fit``."""
    torch.manual_seed(seed)
    return NeuralNetClassifier(
        module_factory(),
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=1,
        batch_size=batch_size,
        iterator_train__shuffle=True,
        train_split=None,
        device=device,
        verbose=0,
    ).initialize()


def ensemble(estimator, module_factory, X, y, *, n_members, batch_size, device, path=None):
    """``estimator`` built on the data, optionally forced onto ``path``, one epoch per ``partial_fit``."""
    built = clone(estimator).set_params(
        module=module_factory(),
        n_estimators=n_members,
        max_epochs=1,
        lr=1e-3,
        batch_size=batch_size,
        device=device,
        random_state=0,
    )._initialize(X, y)  # built, not trained: max_epochs=0 is refused
    if path is not None:
        built.net_.module_.path = path  # private: the path is otherwise picked from the module
    return built.set_params(max_epochs=1)


def epoch(models, X, y):
    """Seconds of one epoch of each of ``models`` (skorch nets or skal ensembles), summed."""
    total = 0.0
    for model in models:
        model.partial_fit(X, y)
        total += getattr(model, "net_", model).history[-1, "dur"]
    return total


def compare(name, module_factory, X, y, *, n_members, batch_size, device, rounds):
    common = dict(n_members=n_members, batch_size=batch_size, device=device)
    dpe = ensemble(DeepProbabilisticEnsemble(beta=1.0), module_factory, X, y, **common)
    rows = {
        "one member (a skorch net)": [skorch_net(module_factory, batch_size, device, 0)],
        f"{n_members} skorch nets, one after another": [
            skorch_net(module_factory, batch_size, device, seed) for seed in range(n_members)
        ],
        f"DPE, beta=1 ({dpe.net_.module_.path})": [dpe],
        "DeepEnsemble": [ensemble(DeepEnsemble(), module_factory, X, y, **common)],
        "before: DPE, vmap, per-tensor optimizer step": [
            ensemble(
                DeepProbabilisticEnsemble(beta=1.0, optimizer__fused=False),
                module_factory, X, y, path="vmap", **common,
            )
        ],
        "DPE, member loop (vectorize=False)": [
            ensemble(DeepProbabilisticEnsemble(beta=1.0, vectorize=False), module_factory, X, y, **common)
        ],
    }
    if dpe.net_.module_.path != "layers":  # e.g. a CNN on CPU: what the layers path would cost
        try:
            layers = ensemble(DeepProbabilisticEnsemble(beta=1.0), module_factory, X, y, path="layers", **common)
        except ValueError:  # not a chain of stackable layers
            pass
        else:
            rows["DPE, layers path (not picked here)"] = [layers]
    seconds = {label: [] for label in rows}
    order = np.random.RandomState(0)
    for _ in range(rounds + 1):
        # in a new order each round: a row does not always follow the same one
        for label in order.permutation(list(rows)):
            seconds[label].append(epoch(rows[label], X, y))
    median = {label: float(np.median(s[1:])) for label, s in seconds.items()}
    one, sequential = list(median.values())[:2]
    print(f"\n{name}: {X.shape[0]} rows, E={n_members}, batch {batch_size}, device {device}, "
          f"median of {rounds} epochs")
    print(f"  {'':46s} {'s/epoch':>9s} {'x one member':>13s} {'E nets / this':>14s}")
    for label, sec in median.items():
        print(f"  {label:46s} {sec:9.4f} {sec / one:12.2f}x {sequential / sec:13.2f}x")
    return median


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=8, help="timed epochs per row (after a warm-up)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--cnn", action="store_true", help="also GalCNN on 28x28 images")
    parser.add_argument("--images", type=int, default=None,
                        help="images for --cnn (default 4096 on a GPU, 512 on CPU)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}), "
          f"{torch.cuda.get_device_name() if args.device.startswith('cuda') else 'no GPU used'}, "
          f"{time.strftime('%Y-%m-%d')}")
    common = dict(n_members=args.members, device=args.device, rounds=args.rounds)

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    compare("MLP(64-128-10) on digits", lambda: MLP(64, 10), X, y, batch_size=128, **common)

    rng = np.random.RandomState(0)
    Xl = rng.randn(20_000, 64).astype(np.float32)
    yl = (Xl[:, :10].sum(1) > 0).astype(np.int64) + (Xl[:, 10] > 0.5)
    compare("MLP(64-128-3) on a 20,000-row table", lambda: MLP(64, 3), Xl, yl, batch_size=256, **common)

    if args.cnn:
        n_images = args.images or (4096 if args.device.startswith("cuda") else 512)
        Xi = rng.rand(n_images, 1, 28, 28).astype(np.float32)
        yi = rng.randint(0, 10, n_images)
        compare(f"GalCNN on {n_images:,} images 28x28", lambda: GalCNN(n_classes=10), Xi, yi,
                batch_size=128, **common)


if __name__ == "__main__":
    main()
